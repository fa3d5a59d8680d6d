// XV_CHECK: invariant checks that stay on in optimised builds. A failed check
// is a bug in this project, never bad input: input errors are absl::Status.
#ifndef EXTRAVIRT_BASE_CHECK_H_
#define EXTRAVIRT_BASE_CHECK_H_

namespace xv::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond,
                              const char* msg);
}  // namespace xv::internal

#define XV_CHECK(cond, msg)                                          \
  do {                                                               \
    if (!(cond)) [[unlikely]]                                        \
      ::xv::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#endif  // EXTRAVIRT_BASE_CHECK_H_
