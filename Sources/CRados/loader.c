// Trampolines into librados.so.2, loaded on first use (see include/CRados.h).
#include "CRados.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LR_POINTER(ret, name, params, args) static ret (*p_##name) params;
#define LR_POINTER_VOID(name, params, args) static void (*p_##name) params;
LR_FUNCTIONS(LR_POINTER)
LR_VOID_FUNCTIONS(LR_POINTER_VOID)

// Each trampoline's prototype must be librados' own: a header change breaks the build, not a call.
#define LR_CHECK(ret, name, params, args) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&name), ret (*) params), #name " prototype differs from librados.h");
#define LR_CHECK_VOID(name, params, args) LR_CHECK(void, name, params, args)
LR_FUNCTIONS(LR_CHECK)
LR_VOID_FUNCTIONS(LR_CHECK_VOID)

static pthread_once_t lr_once = PTHREAD_ONCE_INIT;
static char lr_error[512];
static int lr_loaded;

#define LR_RESOLVE(ret, name, params, args) \
    if (!(p_##name = (ret (*) params)dlsym(handle, #name))) { missing = #name; goto fail; }
#define LR_RESOLVE_VOID(name, params, args) LR_RESOLVE(void, name, params, args)

static void lr_load_once(void) {
    const char *missing = NULL;
    void *handle = dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(lr_error, sizeof lr_error, "cannot load librados (install Debian's librados2): %s", e ? e : "unknown error");
        return;
    }
    LR_FUNCTIONS(LR_RESOLVE)
    LR_VOID_FUNCTIONS(LR_RESOLVE_VOID)
    lr_loaded = 1;
    return;
fail:
    snprintf(lr_error, sizeof lr_error, "librados.so.2 lacks %s (too old a librados)", missing);
}

int lr_load(char *err, size_t errlen) {
    pthread_once(&lr_once, lr_load_once);
    if (lr_loaded) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", lr_error);
    return -1;
}

#define LR_TRAMPOLINE(ret, name, params, args) ret lr_##name params { return p_##name args; }
#define LR_TRAMPOLINE_VOID(name, params, args) void lr_##name params { p_##name args; }
LR_FUNCTIONS(LR_TRAMPOLINE)
LR_VOID_FUNCTIONS(LR_TRAMPOLINE_VOID)
