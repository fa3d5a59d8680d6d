#include "capi/c_status.h"

#include <string>

namespace xv::capi {
namespace {

thread_local std::string last_error;

xv_status CodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return XV_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return XV_E_INVALID_ARGUMENT;
    case absl::StatusCode::kNotFound:
      return XV_E_NOT_FOUND;
    case absl::StatusCode::kUnavailable:
      return XV_E_UNAVAILABLE;
    case absl::StatusCode::kAborted:
      return XV_E_DIVERGED;
    case absl::StatusCode::kDataLoss:
      return XV_E_CORRUPT;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
      return XV_E_UNSUPPORTED;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kUnknown:
      return XV_E_IO;
    default:
      return XV_E_INTERNAL;
  }
}

}  // namespace

xv_status Report(const absl::Status& status) {
  if (status.ok()) return XV_OK;
  last_error = std::string(status.message());
  return CodeFor(status.code());
}

xv_status Report(xv_status code, std::string_view message) {
  last_error.assign(message);
  return code;
}

xv_status ReportLogOpenError(const char* function, const absl::Status& status) {
  const std::string message =
      std::string(function) + ": " + std::string(status.message());
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    return Report(XV_E_CORRUPT, message);
  }
  return Report(absl::Status(status.code(), message));
}

xv_status BadHandle(const char* function, const void* handle) {
  return Report(XV_E_BAD_HANDLE,
                handle == nullptr
                    ? std::string(function) + ": the handle is NULL"
                    : std::string(function) +
                          ": not a live handle of this type (destroyed, "
                          "never created, or of another type)");
}

xv_status NullArgument(const char* function, const char* argument) {
  return Report(XV_E_INVALID_ARGUMENT,
                std::string(function) + ": " + argument + " is NULL");
}

}  // namespace xv::capi

extern "C" {

const char* xv_last_error(void) { return xv::capi::last_error.c_str(); }

const char* xv_status_name(xv_status status) {
  switch (status) {
    case XV_OK:
      return "XV_OK";
    case XV_E_INVALID_ARGUMENT:
      return "XV_E_INVALID_ARGUMENT";
    case XV_E_BAD_HANDLE:
      return "XV_E_BAD_HANDLE";
    case XV_E_NOT_FOUND:
      return "XV_E_NOT_FOUND";
    case XV_E_UNAVAILABLE:
      return "XV_E_UNAVAILABLE";
    case XV_E_DIVERGED:
      return "XV_E_DIVERGED";
    case XV_E_CORRUPT:
      return "XV_E_CORRUPT";
    case XV_E_UNSUPPORTED:
      return "XV_E_UNSUPPORTED";
    case XV_E_PROTOCOL:
      return "XV_E_PROTOCOL";
    case XV_E_IO:
      return "XV_E_IO";
    case XV_E_INTERNAL:
      return "XV_E_INTERNAL";
  }
  return "unknown";
}

}  // extern "C"
