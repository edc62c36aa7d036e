/// Every number of the NBD protocol this server uses, named as in
/// NetworkBlockDevice/nbd `doc/proto.md`; each comment names the section of
/// proto.md that defines the value. All values go on the wire big-endian.
///
/// `package`, not public: the server, the `logimg` tool, LogImageNBDTesting
/// and the tests use them; a library user configures a server without them.
package enum NBD {
    // MARK: Magic numbers

    /// `INIT_PASSWD`, ASCII "NBDMAGIC" ("Newstyle negotiation": first 64 bits the server sends).
    package static let initPasswd: UInt64 = 0x4e42_444d_4147_4943
    /// ASCII "IHAVEOPT" ("Newstyle negotiation": second server magic, and the magic of every option request).
    package static let ihaveopt: UInt64 = 0x4948_4156_454F_5054
    /// Magic of every option reply ("Fixed newstyle negotiation").
    package static let optionReplyMagic: UInt64 = 0x3_e889_0455_65a9
    /// `NBD_REQUEST_MAGIC` ("Request message").
    package static let requestMagic: UInt32 = 0x2560_9513
    /// `NBD_SIMPLE_REPLY_MAGIC` ("Simple reply message").
    package static let simpleReplyMagic: UInt32 = 0x6744_6698
    /// `NBD_STRUCTURED_REPLY_MAGIC` ("Structured reply chunk message").
    package static let structuredReplyMagic: UInt32 = 0x668e_33ef

    /// The IANA port for NBD ("Newstyle negotiation").
    package static let defaultPort = 10809

    // MARK: Handshake flags ("Values" > "Handshake flags"), 16 bits, sent by the server

    package static let flagFixedNewstyle: UInt16 = 1 << 0  // NBD_FLAG_FIXED_NEWSTYLE
    package static let flagNoZeroes: UInt16 = 1 << 1  // NBD_FLAG_NO_ZEROES

    // MARK: Client flags ("Values" > "Client flags"), 32 bits, sent by the client

    package static let clientFlagFixedNewstyle: UInt32 = 1 << 0  // NBD_FLAG_C_FIXED_NEWSTYLE
    package static let clientFlagNoZeroes: UInt32 = 1 << 1  // NBD_FLAG_C_NO_ZEROES

    // MARK: Transmission flags ("Values" > "Transmission flags"), 16 bits

    package static let flagHasFlags: UInt16 = 1 << 0  // NBD_FLAG_HAS_FLAGS: MUST always be 1
    package static let flagReadOnly: UInt16 = 1 << 1  // NBD_FLAG_READ_ONLY
    package static let flagSendFlush: UInt16 = 1 << 2  // NBD_FLAG_SEND_FLUSH
    package static let flagSendFUA: UInt16 = 1 << 3  // NBD_FLAG_SEND_FUA
    package static let flagRotational: UInt16 = 1 << 4  // NBD_FLAG_ROTATIONAL (not set by this server)
    package static let flagSendTrim: UInt16 = 1 << 5  // NBD_FLAG_SEND_TRIM
    package static let flagSendWriteZeroes: UInt16 = 1 << 6  // NBD_FLAG_SEND_WRITE_ZEROES
    package static let flagSendDF: UInt16 = 1 << 7  // NBD_FLAG_SEND_DF: only with structured replies
    package static let flagCanMultiConn: UInt16 = 1 << 8  // NBD_FLAG_CAN_MULTI_CONN
    package static let flagSendResize: UInt16 = 1 << 9  // NBD_FLAG_SEND_RESIZE (experimental; not set)
    package static let flagSendCache: UInt16 = 1 << 10  // NBD_FLAG_SEND_CACHE (not set)
    package static let flagSendFastZero: UInt16 = 1 << 11  // NBD_FLAG_SEND_FAST_ZERO

    // MARK: Option types ("Values" > "Option types")

    package static let optExportName: UInt32 = 1  // NBD_OPT_EXPORT_NAME
    package static let optAbort: UInt32 = 2  // NBD_OPT_ABORT
    package static let optList: UInt32 = 3  // NBD_OPT_LIST
    package static let optPeekExport: UInt32 = 4  // NBD_OPT_PEEK_EXPORT (withdrawn; answered ERR_UNSUP)
    package static let optStartTLS: UInt32 = 5  // NBD_OPT_STARTTLS (NOTLS mode: answered ERR_UNSUP)
    package static let optInfo: UInt32 = 6  // NBD_OPT_INFO
    package static let optGo: UInt32 = 7  // NBD_OPT_GO
    package static let optStructuredReply: UInt32 = 8  // NBD_OPT_STRUCTURED_REPLY
    package static let optListMetaContext: UInt32 = 9  // NBD_OPT_LIST_META_CONTEXT
    package static let optSetMetaContext: UInt32 = 10  // NBD_OPT_SET_META_CONTEXT
    package static let optExtendedHeaders: UInt32 = 11  // NBD_OPT_EXTENDED_HEADERS (experimental; ERR_UNSUP)

    // MARK: Option reply types ("Values" > "Option reply types")

    package static let repAck: UInt32 = 1  // NBD_REP_ACK
    package static let repServer: UInt32 = 2  // NBD_REP_SERVER
    package static let repInfo: UInt32 = 3  // NBD_REP_INFO
    package static let repMetaContext: UInt32 = 4  // NBD_REP_META_CONTEXT
    /// Error replies have bit 31 set.
    package static let repFlagError: UInt32 = 1 << 31
    package static let repErrUnsup: UInt32 = repFlagError + 1  // NBD_REP_ERR_UNSUP
    package static let repErrPolicy: UInt32 = repFlagError + 2  // NBD_REP_ERR_POLICY
    package static let repErrInvalid: UInt32 = repFlagError + 3  // NBD_REP_ERR_INVALID
    package static let repErrPlatform: UInt32 = repFlagError + 4  // NBD_REP_ERR_PLATFORM
    package static let repErrTLSReqd: UInt32 = repFlagError + 5  // NBD_REP_ERR_TLS_REQD
    package static let repErrUnknown: UInt32 = repFlagError + 6  // NBD_REP_ERR_UNKNOWN
    package static let repErrShutdown: UInt32 = repFlagError + 7  // NBD_REP_ERR_SHUTDOWN
    package static let repErrBlockSizeReqd: UInt32 = repFlagError + 8  // NBD_REP_ERR_BLOCK_SIZE_REQD
    package static let repErrTooBig: UInt32 = repFlagError + 9  // NBD_REP_ERR_TOO_BIG

    // MARK: Information types of NBD_REP_INFO ("Option reply types" > `NBD_REP_INFO`)

    package static let infoExport: UInt16 = 0  // NBD_INFO_EXPORT: length 12
    package static let infoName: UInt16 = 1  // NBD_INFO_NAME
    package static let infoDescription: UInt16 = 2  // NBD_INFO_DESCRIPTION
    package static let infoBlockSize: UInt16 = 3  // NBD_INFO_BLOCK_SIZE: length 14

    // MARK: Command flags ("Transmission phase" > "Command flags")

    package static let cmdFlagFUA: UInt16 = 1 << 0  // NBD_CMD_FLAG_FUA
    package static let cmdFlagNoHole: UInt16 = 1 << 1  // NBD_CMD_FLAG_NO_HOLE (WRITE_ZEROES)
    package static let cmdFlagDF: UInt16 = 1 << 2  // NBD_CMD_FLAG_DF (READ, structured replies)
    package static let cmdFlagReqOne: UInt16 = 1 << 3  // NBD_CMD_FLAG_REQ_ONE (BLOCK_STATUS)
    package static let cmdFlagFastZero: UInt16 = 1 << 4  // NBD_CMD_FLAG_FAST_ZERO (WRITE_ZEROES)
    package static let cmdFlagPayloadLen: UInt16 = 1 << 5  // NBD_CMD_FLAG_PAYLOAD_LEN (experimental; refused)

    // MARK: Structured reply flags ("Structured reply flags")

    package static let replyFlagDone: UInt16 = 1 << 0  // NBD_REPLY_FLAG_DONE

    // MARK: Structured reply types ("Structured reply types")

    package static let replyTypeNone: UInt16 = 0  // NBD_REPLY_TYPE_NONE
    package static let replyTypeOffsetData: UInt16 = 1  // NBD_REPLY_TYPE_OFFSET_DATA
    package static let replyTypeOffsetHole: UInt16 = 2  // NBD_REPLY_TYPE_OFFSET_HOLE
    package static let replyTypeBlockStatus: UInt16 = 5  // NBD_REPLY_TYPE_BLOCK_STATUS
    package static let replyTypeError: UInt16 = (1 << 15) + 1  // NBD_REPLY_TYPE_ERROR
    package static let replyTypeErrorOffset: UInt16 = (1 << 15) + 2  // NBD_REPLY_TYPE_ERROR_OFFSET

    // MARK: Request types ("Request types")

    package static let cmdRead: UInt16 = 0  // NBD_CMD_READ
    package static let cmdWrite: UInt16 = 1  // NBD_CMD_WRITE
    package static let cmdDisc: UInt16 = 2  // NBD_CMD_DISC
    package static let cmdFlush: UInt16 = 3  // NBD_CMD_FLUSH
    package static let cmdTrim: UInt16 = 4  // NBD_CMD_TRIM
    package static let cmdCache: UInt16 = 5  // NBD_CMD_CACHE (not advertised: answered as unknown, EINVAL)
    package static let cmdWriteZeroes: UInt16 = 6  // NBD_CMD_WRITE_ZEROES
    package static let cmdBlockStatus: UInt16 = 7  // NBD_CMD_BLOCK_STATUS
    package static let cmdResize: UInt16 = 8  // NBD_CMD_RESIZE (experimental; answered EINVAL)

    // MARK: Error values ("Error values")

    package static let EPERM: UInt32 = 1  // NBD_EPERM: write or trim on a read-only export
    package static let EIO: UInt32 = 5  // NBD_EIO
    package static let ENOMEM: UInt32 = 12  // NBD_ENOMEM (SHOULD NOT be used)
    package static let EINVAL: UInt32 = 22  // NBD_EINVAL: bad alignment, flag, command; read/trim past the end
    package static let ENOSPC: UInt32 = 28  // NBD_ENOSPC: write/write-zeroes past the end; disk full
    package static let EOVERFLOW: UInt32 = 75  // NBD_EOVERFLOW: DF read too long to send unfragmented
    package static let ENOTSUP: UInt32 = 95  // NBD_ENOTSUP: only for FAST_ZERO
    package static let ESHUTDOWN: UInt32 = 108  // NBD_ESHUTDOWN: the server is shutting down

    // MARK: base:allocation ("Metadata querying" > "`base:allocation` metadata context")

    /// The one metadata context this server offers.
    package static let baseAllocation = "base:allocation"
    package static let stateHole: UInt32 = 1 << 0  // NBD_STATE_HOLE
    package static let stateZero: UInt32 = 1 << 1  // NBD_STATE_ZERO
    /// Most descriptors in one NBD_REPLY_TYPE_BLOCK_STATUS chunk ("SHOULD NOT send more than 2^20").
    package static let maxBlockStatusDescriptors = 1 << 20

    // MARK: Size constraints ("Size constraints"), as this server advertises them in NBD_INFO_BLOCK_SIZE

    /// Minimum block size: the image's sector (LogImage offsets and lengths are multiples of 512).
    package static let minimumBlockSize: UInt32 = 512
    /// Preferred block size: the image's 4 KiB checksum block.
    package static let preferredBlockSize: UInt32 = 4096
    /// Maximum payload: 2^25 (32 MiB), the size every client may assume.
    package static let maximumPayloadSize: UInt32 = 1 << 25

    /// Longest string the protocol allows ("Conventions": MUST be no longer than 4096 bytes).
    package static let maxStringLength = 4096
    /// Reserved bytes after NBD_OPT_EXPORT_NAME's reply unless NO_ZEROES ("Newstyle negotiation").
    package static let exportNameZeroes = 124

    /// Name of an NBD error value, for logs and messages.
    package static func errorName(_ e: UInt32) -> String {
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
    package static func optionName(_ o: UInt32) -> String {
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
    package static func commandName(_ c: UInt16) -> String {
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
