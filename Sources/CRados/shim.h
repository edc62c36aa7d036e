// librados from Debian's librados-dev (issue 7). The package ships no
// pkg-config file, so the module map names the library itself (link "rados").
#include <rados/librados.h>
