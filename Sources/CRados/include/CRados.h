// librados from Debian's librados2, for the Ceph RADOS segment store
// (LogImageRados, Spec/format.md §3.1), loaded with dlopen on first use
// rather than linked: librados pulls in libceph-common, boost and some thirty
// other libraries, whose relocation made every `logimg` start take 20 ms even
// for a directory image. Only the header (librados-dev) is needed to build.
//
// Each function LogImageRados calls is reached through a trampoline named
// lr_<librados name> with librados' own prototype (checked against the header
// at compile time in loader.c). lr_load() must succeed before any other lr_
// call; RadosConnection calls it before lr_rados_create.
#ifndef LOGIMG_CRADOS_H
#define LOGIMG_CRADOS_H

#include <rados/librados.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/// Loads librados.so.2 once (thread-safe). Returns 0, or -1 with a one-line
/// reason (the dynamic loader's message) copied into err.
int lr_load(char *err, size_t errlen);

// X(return type, librados name, parameters, arguments): functions returning a value.
#define LR_FUNCTIONS(X) \
    X(int, rados_create, (rados_t *cluster, const char *const id), (cluster, id)) \
    X(int, rados_connect, (rados_t cluster), (cluster)) \
    X(int, rados_conf_read_file, (rados_t cluster, const char *path), (cluster, path)) \
    X(int, rados_conf_parse_env, (rados_t cluster, const char *var), (cluster, var)) \
    X(int, rados_conf_set, (rados_t cluster, const char *option, const char *value), (cluster, option, value)) \
    X(int, rados_conf_get, (rados_t cluster, const char *option, char *buf, size_t len), (cluster, option, buf, len)) \
    X(int, rados_ioctx_create, (rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx), (cluster, pool_name, ioctx)) \
    X(int, rados_nobjects_list_open, (rados_ioctx_t io, rados_list_ctx_t *ctx), (io, ctx)) \
    X(int, rados_nobjects_list_next, (rados_list_ctx_t ctx, const char **entry, const char **key, const char **nspace), (ctx, entry, key, nspace)) \
    X(int, rados_write, (rados_ioctx_t io, const char *oid, const char *buf, size_t len, uint64_t off), (io, oid, buf, len, off)) \
    X(int, rados_write_full, (rados_ioctx_t io, const char *oid, const char *buf, size_t len), (io, oid, buf, len)) \
    X(int, rados_read, (rados_ioctx_t io, const char *oid, char *buf, size_t len, uint64_t off), (io, oid, buf, len, off)) \
    X(int, rados_remove, (rados_ioctx_t io, const char *oid), (io, oid)) \
    X(int, rados_trunc, (rados_ioctx_t io, const char *oid, uint64_t size), (io, oid, size)) \
    X(int, rados_stat, (rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime), (io, o, psize, pmtime)) \
    X(int, rados_aio_create_completion2, (void *cb_arg, rados_callback_t cb_complete, rados_completion_t *pc), (cb_arg, cb_complete, pc)) \
    X(int, rados_aio_wait_for_complete, (rados_completion_t c), (c)) \
    X(int, rados_aio_get_return_value, (rados_completion_t c), (c)) \
    X(int, rados_aio_write, (rados_ioctx_t io, const char *oid, rados_completion_t completion, const char *buf, size_t len, uint64_t off), (io, oid, completion, buf, len, off)) \
    X(int, rados_aio_read, (rados_ioctx_t io, const char *oid, rados_completion_t completion, char *buf, size_t len, uint64_t off), (io, oid, completion, buf, len, off)) \
    X(rados_write_op_t, rados_create_write_op, (void), ()) \
    X(int, rados_write_op_operate, (rados_write_op_t write_op, rados_ioctx_t io, const char *oid, time_t *mtime, int flags), (write_op, io, oid, mtime, flags)) \
    X(int, rados_lock_exclusive, (rados_ioctx_t io, const char *oid, const char *name, const char *cookie, const char *desc, struct timeval *duration, uint8_t flags), (io, oid, name, cookie, desc, duration, flags)) \
    X(int, rados_unlock, (rados_ioctx_t io, const char *o, const char *name, const char *cookie), (io, o, name, cookie)) \
    X(ssize_t, rados_list_lockers, (rados_ioctx_t io, const char *o, const char *name, int *exclusive, char *tag, size_t *tag_len, char *clients, size_t *clients_len, char *cookies, size_t *cookies_len, char *addrs, size_t *addrs_len), (io, o, name, exclusive, tag, tag_len, clients, clients_len, cookies, cookies_len, addrs, addrs_len)) \
    X(int, rados_break_lock, (rados_ioctx_t io, const char *o, const char *name, const char *client, const char *cookie), (io, o, name, client, cookie)) \
    X(int, rados_blocklist_add, (rados_t cluster, char *client_address, uint32_t expire_seconds), (cluster, client_address, expire_seconds))

// X(librados name, parameters, arguments): functions returning void.
#define LR_VOID_FUNCTIONS(X) \
    X(rados_shutdown, (rados_t cluster), (cluster)) \
    X(rados_ioctx_destroy, (rados_ioctx_t io), (io)) \
    X(rados_ioctx_set_namespace, (rados_ioctx_t io, const char *nspace), (io, nspace)) \
    X(rados_nobjects_list_close, (rados_list_ctx_t ctx), (ctx)) \
    X(rados_aio_release, (rados_completion_t c), (c)) \
    X(rados_release_write_op, (rados_write_op_t write_op), (write_op)) \
    X(rados_write_op_create, (rados_write_op_t write_op, int exclusive, const char *category), (write_op, exclusive, category))

#define LR_DECLARE(ret, name, params, args) ret lr_##name params;
#define LR_DECLARE_VOID(name, params, args) void lr_##name params;
LR_FUNCTIONS(LR_DECLARE)
LR_VOID_FUNCTIONS(LR_DECLARE_VOID)
#undef LR_DECLARE
#undef LR_DECLARE_VOID

#endif
