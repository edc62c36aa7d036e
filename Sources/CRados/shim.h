// librados from Debian's librados-dev, for the Ceph RADOS segment store
// (LogImageRados, Spec/format.md §3.1). The package ships no
// pkg-config file, so the module map names the library itself (link "rados").
#include <rados/librados.h>
