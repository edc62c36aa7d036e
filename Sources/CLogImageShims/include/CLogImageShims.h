// Tiny C shims for logimg: CRC32C with the CPU's CRC instruction, and the few
// Linux calls swift-system does not wrap. Spec/format.md §2 defines the CRC.
#ifndef CLOGIMAGE_SHIMS_H
#define CLOGIMAGE_SHIMS_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from
/// `crc` (pass 0 to start). Uses SSE4.2 or the ARMv8 CRC extension when the
/// CPU has it, and a table otherwise; every path gives the same result.
uint32_t limg_crc32c(uint32_t crc, const void *data, size_t length);

/// The table-driven path alone, for tests that compare the two.
uint32_t limg_crc32c_software(uint32_t crc, const void *data, size_t length);

/// CRC-32C of A followed by a 4096-byte block B, from crc(A) and crc(B):
/// the payload CRC of a record is built from its block CRCs without a second pass.
uint32_t limg_crc32c_extend4k(uint32_t crc_a, uint32_t crc_b);

/// 1 when limg_crc32c runs on the hardware instruction, 0 for the table.
int limg_crc32c_hardware(void);

/// fdatasync(2); returns 0 or errno.
int limg_fdatasync(int fd);

/// fsync(2); returns 0 or errno.
int limg_fsync(int fd);

/// sync_file_range(2) with SYNC_FILE_RANGE_WRITE: starts writeback of the
/// dirty pages in the range and returns without waiting for it (a hint: no
/// durability promise). Returns 0 or errno; ENOSYS where there is none.
int limg_start_writeback(int fd, int64_t offset, int64_t length);

/// fallocate(2) with mode 0 (allocate, keep size grows); returns 0 or errno.
/// Returns EOPNOTSUPP where the file system cannot.
int limg_fallocate(int fd, int64_t offset, int64_t length);

/// flock(2) with LOCK_NB; exclusive != 0 takes LOCK_EX, else LOCK_SH.
/// Returns 0 or errno (EWOULDBLOCK when another holder conflicts).
int limg_flock(int fd, int exclusive);

/// Opens a directory read-only (O_DIRECTORY|O_CLOEXEC); returns fd or -errno.
int limg_open_directory(const char *path);

/// The O_DIRECT flag value on this platform, 0 where there is none.
int limg_o_direct(void);

#endif
