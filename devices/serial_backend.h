// SerialBackend: the environment side of the UART (DESIGN §2 back-end):
// where transmitted bytes go and where received bytes come from.
#ifndef EXTRAVIRT_DEVICES_SERIAL_BACKEND_H_
#define EXTRAVIRT_DEVICES_SERIAL_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xv {

class SerialBackend {
 public:
  virtual ~SerialBackend() = default;
  // Writes all of `bytes`; the error names the destination.
  virtual absl::Status Write(std::span<const uint8_t> bytes) = 0;
  // Reads the input available now, without blocking, up to out.size()
  // bytes; returns 0 when nothing is available.
  virtual absl::StatusOr<size_t> ReadAvailable(std::span<uint8_t> out) = 0;
  // An fd to poll() for readable input, or -1 when there is no input left.
  virtual int input_fd() const = 0;
  // True once input reached end of file, or when there never was any.
  virtual bool input_closed() const = 0;
};

// Receives the transmitted bytes instead of `output`, on the thread that
// runs the machine.
using SerialOutputCallback = std::function<void(std::span<const uint8_t>)>;

struct SerialBackendSpec {
  // "stdout", "stderr", "null", "file:PATH" (created or truncated) or
  // "fd:N" (an open descriptor that stays the caller's).
  std::string output = "stdout";
  // "" (none), "stdin", "file:PATH" (a regular file or a FIFO),
  // "unix:PATH" (connects to a listening Unix stream socket) or "fd:N".
  std::string input;
  // When set, replaces `output`.
  SerialOutputCallback output_callback;
};

absl::StatusOr<std::unique_ptr<SerialBackend>> OpenSerialBackend(
    const SerialBackendSpec& spec);

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_SERIAL_BACKEND_H_
