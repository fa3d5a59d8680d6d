#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace xv::internal {

void CheckFailed(const char* file, int line, const char* cond,
                 const char* msg) {
  std::fprintf(stderr,
               "xvirt: internal error at %s:%d: check '%s' failed: %s\n", file,
               line, cond, msg);
  std::abort();
}

}  // namespace xv::internal
