// One gdb client over TCP: the listening socket, and the connection that
// reads packet events and sends replies with the protocol's acknowledgements
// (`+`/`-`, or none once no-ack mode is agreed), and lets a running target
// check for gdb's interrupt byte without losing a packet that came instead.
#ifndef EXTRAVIRT_DEBUG_GDB_CONNECTION_H_
#define EXTRAVIRT_DEBUG_GDB_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "debug/gdb_packet.h"

namespace xv {

class GdbConnection {
 public:
  // What Next() returns: kPacket, kInterrupt (0x03 while stopped) or kError
  // (a packet refused, already acknowledged: reply with an error). Acks,
  // nacks and bad checksums are the connection's business.
  using Event = PacketEvent;

  // Takes over a connected stream socket (TCP, or a socketpair in tests).
  explicit GdbConnection(
      ScopedFd socket,
      size_t max_packet_size = PacketDecoder::kDefaultMaxPacketSize);

  GdbConnection(GdbConnection&&) noexcept = default;
  GdbConnection& operator=(GdbConnection&&) noexcept = default;

  // Blocks until the next event. After a good packet it sends `+` unless in
  // no-ack mode; after a bad checksum `-` (and goes on reading). Events that
  // arrived earlier (while Send waited for its ack, or during
  // PollInterrupt) come first, in order. absl::UnavailableError once the
  // client disconnected or the socket failed (and from then on).
  absl::StatusOr<Event> Next();

  // Sends one packet. In ack mode, waits for gdb's `+`, resending on `-` at
  // most kMaxResends times (then absl::DataLossError), and gives up after
  // the ack timeout (absl::DeadlineExceededError).
  absl::Status Send(std::string_view payload);

  // No-ack mode (QStartNoAckMode): the stub replies "OK" to the request
  // in ack mode, then turns it on.
  void SetNoAckMode(bool on) { no_ack_mode_ = on; }
  bool no_ack_mode() const { return no_ack_mode_; }

  // How long Send waits for an ack (default kDefaultAckTimeoutSeconds).
  void SetAckTimeout(double seconds) { ack_timeout_seconds_ = seconds; }

  // Without blocking: did the client send 0x03 (the interrupt is consumed)?
  // Also true once the client is gone, so that a running target stops and
  // the next Next() reports the disconnection. Packets read meanwhile are
  // kept for Next().
  bool PollInterrupt();

  // The socket, for poll() alongside other descriptors; still owned here.
  int fd() const { return socket_.get(); }

  static constexpr int kMaxResends = 5;
  static constexpr double kDefaultAckTimeoutSeconds = 30;

 private:
  enum class AckReply { kNone, kAck, kNack };

  // Reads what is available: waits at most `timeout_ms` (-1: blocks until
  // something arrives). False when nothing came in time.
  absl::StatusOr<bool> ReadSome(int timeout_ms);
  // Handles decoded events in order (acknowledging packets, queueing them
  // for Next) and stops after the first ack or nack, which it returns.
  absl::StatusOr<AckReply> ProcessDecoded();
  absl::Status SendRaw(std::string_view bytes);
  absl::Status Disconnected(std::string_view why);

  ScopedFd socket_;
  PacketDecoder decoder_;
  std::deque<Event> pending_;
  bool no_ack_mode_ = false;
  double ack_timeout_seconds_ = kDefaultAckTimeoutSeconds;
  // Set once the connection is unusable; returned from then on.
  absl::Status closed_;
};

class GdbListener {
 public:
  // "HOST:PORT", ":PORT" or "PORT"; "[v6addr]:PORT" for IPv6. No host means
  // the loopback address: a gdb stub reads and writes guest memory for
  // whoever connects, so other machines are let in only when asked for
  // ("0.0.0.0:1234"). Port 0 picks a free port (see port()).
  static absl::StatusOr<GdbListener> Listen(std::string_view host_port);

  GdbListener(GdbListener&&) noexcept = default;
  GdbListener& operator=(GdbListener&&) noexcept = default;

  // Waits for a client, at most `timeout_seconds` when given
  // (absl::DeadlineExceededError).
  absl::StatusOr<GdbConnection> Accept(std::optional<double> timeout_seconds);

  // The port actually bound.
  uint16_t port() const { return port_; }
  // What gdb's `target remote` takes: "127.0.0.1:1234", "[::1]:1234".
  std::string address() const;
  int fd() const { return socket_.get(); }

 private:
  GdbListener(ScopedFd socket, std::string host, uint16_t port)
      : socket_(std::move(socket)), host_(std::move(host)), port_(port) {}

  ScopedFd socket_;
  std::string host_;
  uint16_t port_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_GDB_CONNECTION_H_
