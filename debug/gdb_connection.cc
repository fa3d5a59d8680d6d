#include "debug/gdb_connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace xv {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds -> a poll() timeout, rounded up so that a short wait never
// becomes a non-blocking check.
int TimeoutMs(double seconds) {
  if (seconds <= 0) return 0;
  const double ms = std::ceil(seconds * 1000);
  return ms >= INT_MAX ? INT_MAX : static_cast<int>(ms);
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  return TimeoutMs(std::chrono::duration<double>(left).count());
}

Clock::time_point DeadlineAfter(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(std::string_view spec) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gdb listen address \"%s\": %s (expected HOST:PORT, :PORT or PORT)",
        spec, why));
  };
  HostPort result;
  std::string_view port = spec;
  if (!spec.empty() && spec[0] == '[') {
    const size_t close = spec.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    result.host = std::string(spec.substr(1, close - 1));
    if (spec.substr(close + 1, 1) != ":") return bad("no ':PORT' after ']'");
    port = spec.substr(close + 2);
  } else if (const size_t colon = spec.rfind(':');
             colon != std::string_view::npos) {
    result.host = std::string(spec.substr(0, colon));
    if (result.host.find(':') != std::string::npos) {
      return bad("put an IPv6 address in brackets");
    }
    port = spec.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad("the port is not a number");
  }
  if (std::stoul(std::string(port)) > 65535) return bad("port out of range");
  result.port = std::string(port);
  if (result.host.empty()) result.host = "127.0.0.1";
  return result;
}

absl::StatusOr<uint16_t> BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::InternalError(
        absl::StrFormat("getsockname: %s", std::strerror(errno)));
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

}  // namespace

GdbConnection::GdbConnection(ScopedFd socket, size_t max_packet_size)
    : socket_(std::move(socket)), decoder_(max_packet_size) {}

absl::Status GdbConnection::Disconnected(std::string_view why) {
  if (closed_.ok()) {
    closed_ = absl::UnavailableError(
        absl::StrFormat("gdb client disconnected (%s)", why));
  }
  return closed_;
}

absl::StatusOr<bool> GdbConnection::ReadSome(int timeout_ms) {
  if (!closed_.ok()) return closed_;
  if (timeout_ms >= 0) {
    pollfd p = {.fd = socket_.get(), .events = POLLIN};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      return Disconnected(absl::StrFormat("poll: %s", std::strerror(errno)));
    }
    if (ready <= 0) return false;
  }
  char buffer[4096];
  const ssize_t n = recv(socket_.get(), buffer, sizeof buffer,
                         timeout_ms >= 0 ? MSG_DONTWAIT : 0);
  if (n > 0) {
    decoder_.Feed(std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }
  if (n == 0) {
    return Disconnected(decoder_.InPacket() ? "closed in the middle of a packet"
                                            : "closed");
  }
  if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return false;
  return Disconnected(absl::StrFormat("recv: %s", std::strerror(errno)));
}

absl::Status GdbConnection::SendRaw(std::string_view bytes) {
  if (!closed_.ok()) return closed_;
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a client gone away must be an error here, not a
    // SIGPIPE that kills the whole VMM.
    const ssize_t n =
        send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Disconnected(absl::StrFormat("send: %s", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<GdbConnection::AckReply> GdbConnection::ProcessDecoded() {
  while (std::optional<Event> event = decoder_.Take()) {
    switch (event->kind) {
      case Event::Kind::kAck:
        return AckReply::kAck;
      case Event::Kind::kNack:
        return AckReply::kNack;
      case Event::Kind::kBadChecksum:
        // Without acks there is no retransmission to ask for.
        if (!no_ack_mode_) {
          if (absl::Status s = SendRaw("-"); !s.ok()) return s;
        }
        break;
      case Event::Kind::kPacket:
      case Event::Kind::kError:
        // A refused packet arrived intact: a `-` would only bring it back.
        if (!no_ack_mode_) {
          if (absl::Status s = SendRaw("+"); !s.ok()) return s;
        }
        pending_.push_back(*std::move(event));
        break;
      case Event::Kind::kInterrupt:
        pending_.push_back(*std::move(event));
        break;
    }
  }
  return AckReply::kNone;
}

absl::StatusOr<GdbConnection::Event> GdbConnection::Next() {
  while (true) {
    // Acks nobody waits for (a late duplicate) are dropped here.
    while (decoder_.HasEvent()) {
      if (absl::StatusOr<AckReply> r = ProcessDecoded(); !r.ok()) {
        return r.status();
      }
    }
    if (!pending_.empty()) {
      Event event = std::move(pending_.front());
      pending_.pop_front();
      return event;
    }
    if (absl::StatusOr<bool> r = ReadSome(-1); !r.ok()) return r.status();
  }
}

absl::Status GdbConnection::Send(std::string_view payload) {
  const std::string packet = EncodePacket(payload);
  if (absl::Status s = SendRaw(packet); !s.ok()) return s;
  if (no_ack_mode_) return absl::OkStatus();
  int resends = 0;
  Clock::time_point deadline = DeadlineAfter(ack_timeout_seconds_);
  while (true) {
    absl::StatusOr<AckReply> reply = ProcessDecoded();
    if (!reply.ok()) return reply.status();
    if (*reply == AckReply::kAck) return absl::OkStatus();
    if (*reply == AckReply::kNack) {
      if (++resends > kMaxResends) {
        return absl::DataLossError(absl::StrFormat(
            "gdb client rejected packet \"%.40s\" %d times", payload, resends));
      }
      if (absl::Status s = SendRaw(packet); !s.ok()) return s;
      deadline = DeadlineAfter(ack_timeout_seconds_);
      continue;
    }
    const int wait_ms = RemainingMs(deadline);
    if (wait_ms == 0) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "gdb client did not acknowledge packet \"%.40s\" within %g s",
          payload, ack_timeout_seconds_));
    }
    if (absl::StatusOr<bool> r = ReadSome(wait_ms); !r.ok()) {
      return r.status();
    }
  }
}

bool GdbConnection::PollInterrupt() {
  // Bounded, so that a client that never stops sending cannot keep the
  // target from running.
  constexpr int kMaxReads = 16;
  for (int i = 0; i < kMaxReads && closed_.ok(); ++i) {
    absl::StatusOr<bool> r = ReadSome(0);
    if (!r.ok() || !*r) break;
  }
  while (decoder_.HasEvent()) {
    if (!ProcessDecoded().ok()) break;
  }
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->kind == Event::Kind::kInterrupt) {
      pending_.erase(it);
      return true;
    }
  }
  return !closed_.ok();
}

absl::StatusOr<GdbListener> GdbListener::Listen(std::string_view host_port) {
  absl::StatusOr<HostPort> spec = SplitHostPort(host_port);
  if (!spec.ok()) return spec.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  if (const int rc =
          getaddrinfo(spec->host.c_str(), spec->port.c_str(), &hints, &raw);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("gdb listen address \"%s\": getaddrinfo: %s", host_port,
                        gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, AddrInfoDeleter> addresses(raw);
  std::string failure = "no address";
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    ScopedFd fd(
        socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) {
      failure = absl::StrFormat("socket: %s", std::strerror(errno));
      continue;
    }
    // A stub restarted right after a session must get its port back
    // although the old connection lingers in TIME_WAIT.
    const int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      failure =
          absl::StrFormat("setsockopt(SO_REUSEADDR): %s", std::strerror(errno));
      continue;
    }
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      failure = absl::StrFormat("bind: %s", std::strerror(errno));
      continue;
    }
    if (listen(fd.get(), 1) != 0) {
      failure = absl::StrFormat("listen: %s", std::strerror(errno));
      continue;
    }
    absl::StatusOr<uint16_t> port = BoundPort(fd.get());
    if (!port.ok()) return port.status();
    return GdbListener(std::move(fd), spec->host, *port);
  }
  return absl::UnavailableError(absl::StrFormat(
      "cannot listen for gdb on \"%s\": %s", host_port, failure));
}

std::string GdbListener::address() const {
  if (host_.find(':') != std::string::npos) {
    return absl::StrFormat("[%s]:%d", host_, port_);
  }
  return absl::StrFormat("%s:%d", host_, port_);
}

absl::StatusOr<GdbConnection> GdbListener::Accept(
    std::optional<double> timeout_seconds) {
  if (timeout_seconds.has_value()) {
    if (!(*timeout_seconds >= 0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "gdb accept timeout %g s is not a non-negative number",
          *timeout_seconds));
    }
    const Clock::time_point deadline = DeadlineAfter(*timeout_seconds);
    while (true) {
      pollfd p = {.fd = socket_.get(), .events = POLLIN};
      const int ready = poll(&p, 1, RemainingMs(deadline));
      if (ready > 0) break;
      if (ready < 0 && errno != EINTR) {
        return absl::InternalError(absl::StrFormat(
            "poll on gdb port %d: %s", port_, std::strerror(errno)));
      }
      if (ready == 0) {
        return absl::DeadlineExceededError(
            absl::StrFormat("no gdb client connected to port %d within %g s",
                            port_, *timeout_seconds));
      }
    }
  }
  int fd;
  do {
    fd = accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrFormat("accept on gdb port %d: %s",
                                                  port_, std::strerror(errno)));
  }
  ScopedFd connection(fd);
  // Every exchange is a short request and a short reply: Nagle's delay
  // would stall each one.
  const int one = 1;
  if (setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &one,
                 sizeof one) != 0) {
    return absl::InternalError(
        absl::StrFormat("setsockopt(TCP_NODELAY) on gdb port %d: %s", port_,
                        std::strerror(errno)));
  }
  return GdbConnection(std::move(connection));
}

}  // namespace xv
