#define _GNU_SOURCE
#include "CLogImageShims.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- CRC-32C ----------------------------------------------------------- */

static uint32_t crc_table[8][256];

static void crc_build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
}

static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static uint32_t crc_software(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&crc_table_once, crc_build_table);
    while (n >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        w ^= crc; /* little-endian load */
        crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
              crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
              crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
              crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2")))
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
static int have_hardware(void) { return __builtin_cpu_supports("sse4.2"); }

/* Three independent CRC streams hide the instruction's 3-cycle latency.
 * A 4080-byte stretch is split into three 1360-byte lanes; the lanes' raw
 * CRC states are joined with "shift by N zero bytes" tables: the raw CRC of
 * A||B is shift(crc(A), |B|) ^ crc(B) started from zero, since the
 * register update without the final XOR is linear. */
#define LANE 1360
static uint32_t shift1[4][256], shift2[4][256];

__attribute__((target("sse4.2")))
static uint32_t raw_zeros(uint32_t c, size_t n) {
    uint64_t c64 = c;
    for (size_t i = 0; i < n / 8; i++) c64 = _mm_crc32_u64(c64, 0);
    return (uint32_t)c64;
}

static void build_shift_tables(void) {
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            shift1[k][b] = raw_zeros(b << (8 * k), LANE);
            shift2[k][b] = raw_zeros(b << (8 * k), 2 * LANE);
        }
}

static inline uint32_t shift(uint32_t t[4][256], uint32_t c) {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc_hardware3(uint32_t crc, const unsigned char *p, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_shift_tables);
    while (n >= 3 * LANE) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < LANE; i += 8) {
            uint64_t wa, wb, wc;
            __builtin_memcpy(&wa, p + i, 8);
            __builtin_memcpy(&wb, p + LANE + i, 8);
            __builtin_memcpy(&wc, p + 2 * LANE + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        crc = shift(shift2, (uint32_t)a) ^ shift(shift1, (uint32_t)b) ^ (uint32_t)c;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    return crc_hardware(crc, p, n);
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
__attribute__((target("+crc")))
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        crc = __builtin_aarch64_crc32cx(crc, w);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __builtin_aarch64_crc32cb(crc, *p++);
    return crc;
}
static int have_hardware(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#else
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) { return crc_software(crc, p, n); }
static int have_hardware(void) { return 0; }
#endif

static int hw_state = -1; /* -1 unknown, 0 no, 1 yes */

uint32_t limg_crc32c_software(uint32_t crc, const void *data, size_t length) {
    return ~crc_software(~crc, (const unsigned char *)data, length);
}

/* ---- Joining CRCs: crc(A||B) = shift_|B|(crc(A)) ^ crc(B) -------------- */

static uint32_t shift4k[4][256];

/* The raw register advanced over n zero bytes, bit by bit (slow; tables only). */
static uint32_t zeros_slow(uint32_t c, size_t n) {
    for (size_t i = 0; i < n * 8; i++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    return c;
}

static void build_shift4k(void) {
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) shift4k[k][b] = zeros_slow(b << (8 * k), 4096);
}

static pthread_once_t shift4k_once = PTHREAD_ONCE_INIT;

uint32_t limg_crc32c_extend4k(uint32_t crc_a, uint32_t crc_b) {
    pthread_once(&shift4k_once, build_shift4k);
    uint32_t s = shift4k[0][crc_a & 0xff] ^ shift4k[1][(crc_a >> 8) & 0xff] ^
                 shift4k[2][(crc_a >> 16) & 0xff] ^ shift4k[3][crc_a >> 24];
    return s ^ crc_b;
}

int limg_crc32c_hardware(void) {
    int s = __atomic_load_n(&hw_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = have_hardware() ? 1 : 0;
        __atomic_store_n(&hw_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

uint32_t limg_crc32c(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
#if defined(__x86_64__)
    crc = limg_crc32c_hardware() ? crc_hardware3(crc, p, length) : crc_software(crc, p, length);
#else
    crc = limg_crc32c_hardware() ? crc_hardware(crc, p, length) : crc_software(crc, p, length);
#endif
    return ~crc;
}

/* ---- Linux calls ------------------------------------------------------- */

int limg_fdatasync(int fd) {
    int r;
    do { r = fdatasync(fd); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}

int limg_start_writeback(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    int r;
    do { r = sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)length;
    return ENOSYS;
#endif
}

int limg_fsync(int fd) {
    int r;
    do { r = fsync(fd); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}

int limg_fallocate(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    int r;
    do { r = fallocate(fd, 0, (off_t)offset, (off_t)length); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)length;
    return EOPNOTSUPP;
#endif
}

int limg_flock(int fd, int exclusive) {
    int r;
    do { r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB); } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}

int limg_open_directory(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int limg_o_direct(void) {
#ifdef O_DIRECT
    return O_DIRECT;
#else
    return 0;
#endif
}
