#include "devices/serial_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "base/scoped_fd.h"

namespace xv {
namespace {

constexpr std::string_view kFilePrefix = "file:";
constexpr std::string_view kUnixPrefix = "unix:";
constexpr std::string_view kFdPrefix = "fd:";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// An fd used by the back-end: owned (closed with it) or borrowed (stdio).
struct Endpoint {
  ScopedFd owned;
  int fd = -1;
  std::string name;  // "stdout", "file /tmp/x", "unix socket /run/s"
};

// "fd:N": a descriptor the caller keeps open and closes (the C API's
// xv_guest_set_serial_fds). Checked to be open now, so a stale number is a
// clear error rather than a write to whatever gets that number later.
std::optional<absl::StatusOr<Endpoint>> BorrowedFd(const std::string& spec,
                                                   std::string_view role) {
  if (!StartsWith(spec, kFdPrefix)) return std::nullopt;
  int fd = -1;
  if (!absl::SimpleAtoi(spec.substr(kFdPrefix.size()), &fd) || fd < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "serial %s '%s': expected fd:N with N a descriptor number", role,
        spec));
  }
  if (::fcntl(fd, F_GETFD) < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("serial %s: descriptor %d", role, fd));
  }
  Endpoint e;
  e.fd = fd;
  e.name = absl::StrFormat("descriptor %d", fd);
  return e;
}

class FdSerialBackend : public SerialBackend {
 public:
  FdSerialBackend(Endpoint out, Endpoint in, SerialOutputCallback callback)
      : out_(std::move(out)),
        in_(std::move(in)),
        in_closed_(in_.fd < 0),
        callback_(std::move(callback)) {}

  absl::Status Write(std::span<const uint8_t> bytes) override {
    if (callback_) {
      callback_(bytes);
      return absl::OkStatus();
    }
    if (out_.fd < 0) return absl::OkStatus();  // "null"
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::write(out_.fd, bytes.data() + done, bytes.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Someone made the descriptor non-blocking; wait until it drains.
        pollfd p{.fd = out_.fd, .events = POLLOUT, .revents = 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
          return absl::ErrnoToStatus(
              errno, absl::StrFormat("serial output %s: poll", out_.name));
        }
        continue;
      }
      return absl::ErrnoToStatus(
          n < 0 ? errno : EIO,
          absl::StrFormat("serial output %s: write of %d bytes", out_.name,
                          bytes.size() - done));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> ReadAvailable(std::span<uint8_t> out) override {
    if (in_closed_ || out.empty()) return 0;
    // poll() first instead of setting O_NONBLOCK, which on stdin would
    // change the terminal's shared file description for other processes.
    pollfd p{.fd = in_.fd, .events = POLLIN, .revents = 0};
    int ready;
    do {
      ready = ::poll(&p, 1, 0);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrFormat("serial input %s: poll", in_.name));
    }
    if (ready == 0) return 0;
    ssize_t n;
    do {
      n = ::read(in_.fd, out.data(), out.size());
    } while (n < 0 && errno == EINTR);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      in_closed_ = true;
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("serial input %s: read", in_.name));
  }

  int input_fd() const override { return in_closed_ ? -1 : in_.fd; }
  bool input_closed() const override { return in_closed_; }

 private:
  Endpoint out_;
  Endpoint in_;
  bool in_closed_;
  SerialOutputCallback callback_;
};

absl::StatusOr<Endpoint> OpenOutput(const std::string& spec) {
  if (auto borrowed = BorrowedFd(spec, "output")) return std::move(*borrowed);
  Endpoint e;
  if (spec == "stdout") {
    e.fd = STDOUT_FILENO;
    e.name = "stdout";
  } else if (spec == "stderr") {
    e.fd = STDERR_FILENO;
    e.name = "stderr";
  } else if (spec == "null") {
    e.name = "null";
  } else if (StartsWith(spec, kFilePrefix) &&
             spec.size() > kFilePrefix.size()) {
    const std::string path = spec.substr(kFilePrefix.size());
    e.name = "file " + path;
    e.owned = ScopedFd(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!e.owned.valid()) {
      return absl::ErrnoToStatus(
          errno, absl::StrFormat("serial output: cannot create %s", path));
    }
    e.fd = e.owned.get();
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "serial output '%s': expected stdout, stderr, null, file:PATH or "
        "fd:N",
        spec));
  }
  return e;
}

absl::StatusOr<Endpoint> OpenFileInput(const std::string& path) {
  Endpoint e;
  // A FIFO is opened blocking, like `cat fifo`: it waits for a writer, so
  // that end of file means the writer went away, not that it has yet to
  // come. Reads are non-blocking afterwards (poll before read).
  e.owned = ScopedFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!e.owned.valid()) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("serial input: cannot open %s", path));
  }
  struct stat st;
  if (::fstat(e.owned.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrFormat("serial input: fstat %s", path));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("serial input: %s is a directory", path));
  }
  e.fd = e.owned.get();
  e.name = (S_ISFIFO(st.st_mode) ? "fifo " : "file ") + path;
  return e;
}

absl::StatusOr<Endpoint> OpenUnixInput(const std::string& path) {
  Endpoint e;
  e.name = "unix socket " + path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "serial input: unix socket path %s is longer than %d bytes", path,
        sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  e.owned = ScopedFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!e.owned.valid()) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("serial input: socket for %s", path));
  }
  int rc;
  do {
    rc = ::connect(e.owned.get(), reinterpret_cast<const sockaddr*>(&addr),
                   sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrFormat("serial input: connect to unix socket %s", path));
  }
  e.fd = e.owned.get();
  return e;
}

absl::StatusOr<Endpoint> OpenInput(const std::string& spec) {
  if (spec.empty()) return Endpoint{};
  if (auto borrowed = BorrowedFd(spec, "input")) return std::move(*borrowed);
  if (spec == "stdin") {
    Endpoint e;
    e.fd = STDIN_FILENO;
    e.name = "stdin";
    return e;
  }
  if (StartsWith(spec, kFilePrefix) && spec.size() > kFilePrefix.size()) {
    return OpenFileInput(spec.substr(kFilePrefix.size()));
  }
  if (StartsWith(spec, kUnixPrefix) && spec.size() > kUnixPrefix.size()) {
    return OpenUnixInput(spec.substr(kUnixPrefix.size()));
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "serial input '%s': expected nothing, stdin, file:PATH, unix:PATH or "
      "fd:N",
      spec));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SerialBackend>> OpenSerialBackend(
    const SerialBackendSpec& spec) {
  absl::StatusOr<Endpoint> out = OpenOutput(spec.output);
  if (!out.ok()) return out.status();
  absl::StatusOr<Endpoint> in = OpenInput(spec.input);
  if (!in.ok()) return in.status();
  return std::make_unique<FdSerialBackend>(std::move(*out), std::move(*in),
                                           spec.output_callback);
}

}  // namespace xv
