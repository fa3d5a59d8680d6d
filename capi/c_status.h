// How the C API reports: absl::Status → xv_status plus the thread's last
// error message, and the guard that keeps C++ exceptions from crossing into
// C. Every exported function body runs inside Guarded().
#ifndef EXTRAVIRT_CAPI_C_STATUS_H_
#define EXTRAVIRT_CAPI_C_STATUS_H_

#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "extravirt/extravirt.h"

namespace xv::capi {

// Records `status`'s message as this thread's last error and returns its
// code (XV_OK for OK, which leaves the last error alone).
xv_status Report(const absl::Status& status);
// Records `message` and returns `code`.
xv_status Report(xv_status code, std::string_view message);

// An error opening a log to replay it, prefixed with `function`: a file
// that is not a log (InvalidArgument from the reader) is XV_E_CORRUPT.
xv_status ReportLogOpenError(const char* function, const absl::Status& status);

xv_status BadHandle(const char* function, const void* handle);
xv_status NullArgument(const char* function, const char* argument);

// Runs `body` (returning xv_status), turning any exception into
// XV_E_INTERNAL with its message.
template <typename Body>
xv_status Guarded(const char* function, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return Report(XV_E_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    return Report(XV_E_INTERNAL,
                  std::string(function) + ": unknown C++ exception");
  }
}

// A caller's sized struct (extravirt.h "Sized structs"). In: copies what
// the caller's struct_size covers into `out` (zero elsewhere); a larger
// struct from a newer program is accepted when its unknown tail is zero.
template <typename T>
xv_status ReadSized(const char* function, const char* argument, const T* in,
                    T* out) {
  *out = T{};
  if (in == nullptr) return NullArgument(function, argument);
  if (in->struct_size < sizeof(T)) {
    return Report(XV_E_INVALID_ARGUMENT,
                  std::string(function) + ": " + argument +
                      "->struct_size is " + std::to_string(in->struct_size) +
                      ", less than this struct's first version (" +
                      std::to_string(sizeof(T)) + ")");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  for (uint32_t i = sizeof(T); i < in->struct_size; ++i) {
    if (bytes[i] != 0) {
      return Report(XV_E_UNSUPPORTED,
                    std::string(function) + ": " + argument +
                        " sets a field this library version (" +
                        XV_VERSION_STRING + ") does not know");
    }
  }
  std::memcpy(out, in, sizeof(T));
  out->struct_size = sizeof(T);
  return XV_OK;
}

// An optional in-struct (NULL: every field zero, the defaults).
template <typename T>
xv_status ReadOptionalSized(const char* function, const char* argument,
                            const T* in, T* out) {
  if (in != nullptr) return ReadSized(function, argument, in, out);
  *out = T{};
  out->struct_size = sizeof(T);
  return XV_OK;
}

// Out: `caller` must say it has room for at least this version's struct.
template <typename T>
xv_status CheckOutSize(const char* function, const char* argument,
                       const T* caller) {
  if (caller == nullptr) return NullArgument(function, argument);
  if (caller->struct_size < sizeof(T)) {
    return Report(XV_E_INVALID_ARGUMENT,
                  std::string(function) + ": " + argument +
                      "->struct_size is " +
                      std::to_string(caller->struct_size) + ", less than " +
                      std::to_string(sizeof(T)));
  }
  return XV_OK;
}

// An optional out-struct (NULL: not wanted).
template <typename T>
xv_status CheckOptionalOutSize(const char* function, const char* argument,
                               const T* caller) {
  return caller == nullptr ? XV_OK : CheckOutSize(function, argument, caller);
}

// Copies `text` into a fixed buffer, truncated, always NUL-terminated.
template <size_t N>
void CopyText(char (&buf)[N], std::string_view text) {
  const size_t n = text.size() < N - 1 ? text.size() : N - 1;
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_C_STATUS_H_
