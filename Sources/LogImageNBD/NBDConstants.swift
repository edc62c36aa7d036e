/// Every number of the NBD protocol this server uses, named as in
/// NetworkBlockDevice/nbd `doc/proto.md`; each comment names the section of
/// proto.md that defines the value. All values go on the wire big-endian.
public enum NBD {
    // MARK: Magic numbers

    /// `INIT_PASSWD`, ASCII "NBDMAGIC" ("Newstyle negotiation": first 64 bits the server sends).
    public static let initPasswd: UInt64 = 0x4e42_444d_4147_4943
    /// ASCII "IHAVEOPT" ("Newstyle negotiation": second server magic, and the magic of every option request).
    public static let ihaveopt: UInt64 = 0x4948_4156_454F_5054
    /// Magic of every option reply ("Fixed newstyle negotiation").
    public static let optionReplyMagic: UInt64 = 0x3_e889_0455_65a9
    /// `NBD_REQUEST_MAGIC` ("Request message").
    public static let requestMagic: UInt32 = 0x2560_9513
    /// `NBD_SIMPLE_REPLY_MAGIC` ("Simple reply message").
    public static let simpleReplyMagic: UInt32 = 0x6744_6698
    /// `NBD_STRUCTURED_REPLY_MAGIC` ("Structured reply chunk message").
    public static let structuredReplyMagic: UInt32 = 0x668e_33ef

    /// The IANA port for NBD ("Newstyle negotiation").
    public static let defaultPort = 10809

    // MARK: Handshake flags ("Values" > "Handshake flags"), 16 bits, sent by the server

    public static let flagFixedNewstyle: UInt16 = 1 << 0  // NBD_FLAG_FIXED_NEWSTYLE
    public static let flagNoZeroes: UInt16 = 1 << 1  // NBD_FLAG_NO_ZEROES

    // MARK: Client flags ("Values" > "Client flags"), 32 bits, sent by the client

    public static let clientFlagFixedNewstyle: UInt32 = 1 << 0  // NBD_FLAG_C_FIXED_NEWSTYLE
    public static let clientFlagNoZeroes: UInt32 = 1 << 1  // NBD_FLAG_C_NO_ZEROES

    // MARK: Transmission flags ("Values" > "Transmission flags"), 16 bits

    public static let flagHasFlags: UInt16 = 1 << 0  // NBD_FLAG_HAS_FLAGS: MUST always be 1
    public static let flagReadOnly: UInt16 = 1 << 1  // NBD_FLAG_READ_ONLY
    public static let flagSendFlush: UInt16 = 1 << 2  // NBD_FLAG_SEND_FLUSH
    public static let flagSendFUA: UInt16 = 1 << 3  // NBD_FLAG_SEND_FUA
    public static let flagRotational: UInt16 = 1 << 4  // NBD_FLAG_ROTATIONAL (not set by this server)
    public static let flagSendTrim: UInt16 = 1 << 5  // NBD_FLAG_SEND_TRIM
    public static let flagSendWriteZeroes: UInt16 = 1 << 6  // NBD_FLAG_SEND_WRITE_ZEROES
    public static let flagSendDF: UInt16 = 1 << 7  // NBD_FLAG_SEND_DF: only with structured replies
    public static let flagCanMultiConn: UInt16 = 1 << 8  // NBD_FLAG_CAN_MULTI_CONN
    public static let flagSendResize: UInt16 = 1 << 9  // NBD_FLAG_SEND_RESIZE (experimental; not set)
    public static let flagSendCache: UInt16 = 1 << 10  // NBD_FLAG_SEND_CACHE (not set)
    public static let flagSendFastZero: UInt16 = 1 << 11  // NBD_FLAG_SEND_FAST_ZERO

    // MARK: Option types ("Values" > "Option types")

    public static let optExportName: UInt32 = 1  // NBD_OPT_EXPORT_NAME
    public static let optAbort: UInt32 = 2  // NBD_OPT_ABORT
    public static let optList: UInt32 = 3  // NBD_OPT_LIST
    public static let optPeekExport: UInt32 = 4  // NBD_OPT_PEEK_EXPORT (withdrawn; answered ERR_UNSUP)
    public static let optStartTLS: UInt32 = 5  // NBD_OPT_STARTTLS (NOTLS mode: answered ERR_UNSUP)
    public static let optInfo: UInt32 = 6  // NBD_OPT_INFO
    public static let optGo: UInt32 = 7  // NBD_OPT_GO
    public static let optStructuredReply: UInt32 = 8  // NBD_OPT_STRUCTURED_REPLY
    public static let optListMetaContext: UInt32 = 9  // NBD_OPT_LIST_META_CONTEXT
    public static let optSetMetaContext: UInt32 = 10  // NBD_OPT_SET_META_CONTEXT
    public static let optExtendedHeaders: UInt32 = 11  // NBD_OPT_EXTENDED_HEADERS (experimental; ERR_UNSUP)

    // MARK: Option reply types ("Values" > "Option reply types")

    public static let repAck: UInt32 = 1  // NBD_REP_ACK
    public static let repServer: UInt32 = 2  // NBD_REP_SERVER
    public static let repInfo: UInt32 = 3  // NBD_REP_INFO
    public static let repMetaContext: UInt32 = 4  // NBD_REP_META_CONTEXT
    /// Error replies have bit 31 set.
    public static let repFlagError: UInt32 = 1 << 31
    public static let repErrUnsup: UInt32 = repFlagError + 1  // NBD_REP_ERR_UNSUP
    public static let repErrPolicy: UInt32 = repFlagError + 2  // NBD_REP_ERR_POLICY
    public static let repErrInvalid: UInt32 = repFlagError + 3  // NBD_REP_ERR_INVALID
    public static let repErrPlatform: UInt32 = repFlagError + 4  // NBD_REP_ERR_PLATFORM
    public static let repErrTLSReqd: UInt32 = repFlagError + 5  // NBD_REP_ERR_TLS_REQD
    public static let repErrUnknown: UInt32 = repFlagError + 6  // NBD_REP_ERR_UNKNOWN
    public static let repErrShutdown: UInt32 = repFlagError + 7  // NBD_REP_ERR_SHUTDOWN
    public static let repErrBlockSizeReqd: UInt32 = repFlagError + 8  // NBD_REP_ERR_BLOCK_SIZE_REQD
    public static let repErrTooBig: UInt32 = repFlagError + 9  // NBD_REP_ERR_TOO_BIG

    // MARK: Information types of NBD_REP_INFO ("Option reply types" > `NBD_REP_INFO`)

    public static let infoExport: UInt16 = 0  // NBD_INFO_EXPORT: length 12
    public static let infoName: UInt16 = 1  // NBD_INFO_NAME
    public static let infoDescription: UInt16 = 2  // NBD_INFO_DESCRIPTION
    public static let infoBlockSize: UInt16 = 3  // NBD_INFO_BLOCK_SIZE: length 14

    // MARK: Command flags ("Transmission phase" > "Command flags")

    public static let cmdFlagFUA: UInt16 = 1 << 0  // NBD_CMD_FLAG_FUA
    public static let cmdFlagNoHole: UInt16 = 1 << 1  // NBD_CMD_FLAG_NO_HOLE (WRITE_ZEROES)
    public static let cmdFlagDF: UInt16 = 1 << 2  // NBD_CMD_FLAG_DF (READ, structured replies)
    public static let cmdFlagReqOne: UInt16 = 1 << 3  // NBD_CMD_FLAG_REQ_ONE (BLOCK_STATUS)
    public static let cmdFlagFastZero: UInt16 = 1 << 4  // NBD_CMD_FLAG_FAST_ZERO (WRITE_ZEROES)
    public static let cmdFlagPayloadLen: UInt16 = 1 << 5  // NBD_CMD_FLAG_PAYLOAD_LEN (experimental; refused)

    // MARK: Structured reply flags ("Structured reply flags")

    public static let replyFlagDone: UInt16 = 1 << 0  // NBD_REPLY_FLAG_DONE

    // MARK: Structured reply types ("Structured reply types")

    public static let replyTypeNone: UInt16 = 0  // NBD_REPLY_TYPE_NONE
    public static let replyTypeOffsetData: UInt16 = 1  // NBD_REPLY_TYPE_OFFSET_DATA
    public static let replyTypeOffsetHole: UInt16 = 2  // NBD_REPLY_TYPE_OFFSET_HOLE
    public static let replyTypeBlockStatus: UInt16 = 5  // NBD_REPLY_TYPE_BLOCK_STATUS
    public static let replyTypeError: UInt16 = (1 << 15) + 1  // NBD_REPLY_TYPE_ERROR
    public static let replyTypeErrorOffset: UInt16 = (1 << 15) + 2  // NBD_REPLY_TYPE_ERROR_OFFSET

    // MARK: Request types ("Request types")

    public static let cmdRead: UInt16 = 0  // NBD_CMD_READ
    public static let cmdWrite: UInt16 = 1  // NBD_CMD_WRITE
    public static let cmdDisc: UInt16 = 2  // NBD_CMD_DISC
    public static let cmdFlush: UInt16 = 3  // NBD_CMD_FLUSH
    public static let cmdTrim: UInt16 = 4  // NBD_CMD_TRIM
    public static let cmdCache: UInt16 = 5  // NBD_CMD_CACHE (not advertised: answered as unknown, EINVAL)
    public static let cmdWriteZeroes: UInt16 = 6  // NBD_CMD_WRITE_ZEROES
    public static let cmdBlockStatus: UInt16 = 7  // NBD_CMD_BLOCK_STATUS
    public static let cmdResize: UInt16 = 8  // NBD_CMD_RESIZE (experimental; answered EINVAL)

    // MARK: Error values ("Error values")

    public static let EPERM: UInt32 = 1  // NBD_EPERM: write or trim on a read-only export
    public static let EIO: UInt32 = 5  // NBD_EIO
    public static let ENOMEM: UInt32 = 12  // NBD_ENOMEM (SHOULD NOT be used)
    public static let EINVAL: UInt32 = 22  // NBD_EINVAL: bad alignment, flag, command; read/trim past the end
    public static let ENOSPC: UInt32 = 28  // NBD_ENOSPC: write/write-zeroes past the end; disk full
    public static let EOVERFLOW: UInt32 = 75  // NBD_EOVERFLOW: DF read too long to send unfragmented
    public static let ENOTSUP: UInt32 = 95  // NBD_ENOTSUP: only for FAST_ZERO
    public static let ESHUTDOWN: UInt32 = 108  // NBD_ESHUTDOWN: the server is shutting down

    // MARK: base:allocation ("Metadata querying" > "`base:allocation` metadata context")

    /// The one metadata context this server offers.
    public static let baseAllocation = "base:allocation"
    public static let stateHole: UInt32 = 1 << 0  // NBD_STATE_HOLE
    public static let stateZero: UInt32 = 1 << 1  // NBD_STATE_ZERO
    /// Most descriptors in one NBD_REPLY_TYPE_BLOCK_STATUS chunk ("SHOULD NOT send more than 2^20").
    public static let maxBlockStatusDescriptors = 1 << 20

    // MARK: Size constraints ("Size constraints"), as this server advertises them in NBD_INFO_BLOCK_SIZE

    /// Minimum block size: the image's sector (LogImage offsets and lengths are multiples of 512).
    public static let minimumBlockSize: UInt32 = 512
    /// Preferred block size: the image's 4 KiB checksum block.
    public static let preferredBlockSize: UInt32 = 4096
    /// Maximum payload: 2^25 (32 MiB), the size every client may assume.
    public static let maximumPayloadSize: UInt32 = 1 << 25

    /// Longest string the protocol allows ("Conventions": MUST be no longer than 4096 bytes).
    public static let maxStringLength = 4096
    /// Reserved bytes after NBD_OPT_EXPORT_NAME's reply unless NO_ZEROES ("Newstyle negotiation").
    public static let exportNameZeroes = 124

    /// Name of an NBD error value, for logs and messages.
    public static func errorName(_ e: UInt32) -> String {
        switch e {
        case 0: return "OK"
        case EPERM: return "EPERM"
        case EIO: return "EIO"
        case ENOMEM: return "ENOMEM"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case EOVERFLOW: return "EOVERFLOW"
        case ENOTSUP: return "ENOTSUP"
        case ESHUTDOWN: return "ESHUTDOWN"
        default: return "error \(e)"
        }
    }

    /// Name of an option, for logs.
    public static func optionName(_ o: UInt32) -> String {
        switch o {
        case optExportName: return "NBD_OPT_EXPORT_NAME"
        case optAbort: return "NBD_OPT_ABORT"
        case optList: return "NBD_OPT_LIST"
        case optPeekExport: return "NBD_OPT_PEEK_EXPORT"
        case optStartTLS: return "NBD_OPT_STARTTLS"
        case optInfo: return "NBD_OPT_INFO"
        case optGo: return "NBD_OPT_GO"
        case optStructuredReply: return "NBD_OPT_STRUCTURED_REPLY"
        case optListMetaContext: return "NBD_OPT_LIST_META_CONTEXT"
        case optSetMetaContext: return "NBD_OPT_SET_META_CONTEXT"
        case optExtendedHeaders: return "NBD_OPT_EXTENDED_HEADERS"
        default: return "option \(o)"
        }
    }

    /// Name of a command, for logs.
    public static func commandName(_ c: UInt16) -> String {
        switch c {
        case cmdRead: return "NBD_CMD_READ"
        case cmdWrite: return "NBD_CMD_WRITE"
        case cmdDisc: return "NBD_CMD_DISC"
        case cmdFlush: return "NBD_CMD_FLUSH"
        case cmdTrim: return "NBD_CMD_TRIM"
        case cmdCache: return "NBD_CMD_CACHE"
        case cmdWriteZeroes: return "NBD_CMD_WRITE_ZEROES"
        case cmdBlockStatus: return "NBD_CMD_BLOCK_STATUS"
        case cmdResize: return "NBD_CMD_RESIZE"
        default: return "command \(c)"
        }
    }
}
