// The GDB Remote Serial Protocol's framing and payload syntax, with no I/O:
// packet encoding, an incremental decoder for the byte stream gdb sends, hex
// helpers, and one parser per packet kind a stub answers. Everything here
// takes untrusted bytes from the network, so malformed input is an
// absl::Status (or an error event), never a crash.
#ifndef EXTRAVIRT_DEBUG_GDB_PACKET_H_
#define EXTRAVIRT_DEBUG_GDB_PACKET_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace xv {

// `$payload#cs`: `$`, `#`, `}` and `*` escaped as `}` and the byte XOR 0x20
// (a raw `*` would read as run-length encoding), the checksum of the escaped
// payload as two lowercase hex digits.
std::string EncodePacket(std::string_view payload);

// One thing a PacketDecoder recognised in the stream.
struct PacketEvent {
  enum class Kind {
    kPacket,       // payload: unescaped and run-length expanded
    kBadChecksum,  // a whole packet whose checksum did not match: reply `-`
    kAck,          // `+`
    kNack,         // `-`
    kInterrupt,    // 0x03 outside a packet
    kError,        // payload: why a packet was refused (too long, malformed)
  };
  Kind kind;
  std::string payload;
  friend bool operator==(const PacketEvent&, const PacketEvent&) = default;
};

// Splits the byte stream from gdb into events, whatever the chunking.
// Garbage outside packets is skipped; a `$` inside a packet restarts it (the
// protocol escapes `$` in packet data, so a raw one means the previous
// packet was cut off).
class PacketDecoder {
 public:
  static constexpr size_t kDefaultMaxPacketSize = 64 * 1024;

  // Packets longer than `max_packet_size` bytes (between `$` and `#`, or
  // once expanded) become a kError event and their bytes are dropped.
  explicit PacketDecoder(size_t max_packet_size = kDefaultMaxPacketSize)
      : max_packet_size_(max_packet_size) {}

  void Feed(std::string_view bytes);

  // The oldest event not yet taken, if any.
  std::optional<PacketEvent> Take();
  bool HasEvent() const { return !events_.empty(); }

  // Whether a packet has started and not yet ended: for telling a client
  // that disconnected mid-packet from one that closed cleanly.
  bool InPacket() const { return state_ != State::kIdle; }

 private:
  enum class State { kIdle, kData, kDiscard, kChecksum1, kChecksum2 };

  void EndPacket(char second_digit);

  size_t max_packet_size_;
  State state_ = State::kIdle;
  std::string raw_;  // between `$` and `#`, still escaped
  uint8_t sum_ = 0;
  char first_digit_ = 0;
  bool oversized_ = false;
  std::deque<PacketEvent> events_;
};

// The payload of a packet as sent (escaped, possibly run-length encoded)
// -> the data it stands for. Exposed for tests and for stubs that read
// escaped data some other way.
absl::StatusOr<std::string> UnescapePayload(std::string_view raw,
                                            size_t max_size);

// Hex helpers. Hex digits are accepted in either case and produced in lower
// case.
std::string BytesToHex(std::span<const uint8_t> bytes);
std::string BytesToHex(std::string_view bytes);
absl::StatusOr<std::vector<uint8_t>> HexToBytes(std::string_view hex);
// `value`'s low `size` bytes (1..8, clamped), least significant first: how
// registers travel in `g` and `p`.
std::string LittleEndianHex(uint64_t value, int size);
// The inverse: 2 to 16 hex digits, an even number.
absl::StatusOr<uint64_t> ParseLittleEndianHex(std::string_view hex);
// A big-endian hex number as in addresses and lengths ("1f", "0000ffff"):
// 1 or more digits, no prefix or sign, at most 64 bits of value.
absl::StatusOr<uint64_t> ParseHexNumber(std::string_view hex);

// The reply to a qXfer read of `document` at `offset`, at most `length`
// bytes of data: "m" and data when more remains, "l" and data at the end.
std::string XferReadReply(std::string_view document, uint64_t offset,
                          uint64_t length);

// Parsers, one per packet kind. Each takes the whole payload (starting with
// the packet's letter or name) and checks it.

// `m addr,length`
struct MemoryRead {
  uint64_t address;
  uint64_t length;
};
absl::StatusOr<MemoryRead> ParseMemoryRead(std::string_view payload);

// `M addr,length:XX...` (hex data) and `X addr,length:data` (binary data,
// already unescaped by the decoder). The data's size must equal length.
struct MemoryWrite {
  uint64_t address;
  std::vector<uint8_t> data;
};
absl::StatusOr<MemoryWrite> ParseMemoryWriteHex(std::string_view payload);
absl::StatusOr<MemoryWrite> ParseMemoryWriteBinary(std::string_view payload);

// `Z type,addr,kind` and `z type,addr,kind`.
struct BreakpointRequest {
  enum class Type {
    kSoftware = 0,
    kHardware = 1,
    kWriteWatchpoint = 2,
    kReadWatchpoint = 3,
    kAccessWatchpoint = 4,
  };
  bool insert;
  Type type;
  uint64_t address;
  uint64_t kind;  // the breakpoint's length in bytes on x86
};
absl::StatusOr<BreakpointRequest> ParseBreakpoint(std::string_view payload);

// `p n`: the register number.
absl::StatusOr<int> ParseRegisterRead(std::string_view payload);

// `P n=r`: r is the register's value as hex, target byte order (checked to
// be whole bytes of hex here; its size is the register table's business).
struct RegisterWrite {
  int regnum;
  std::string hex;
};
absl::StatusOr<RegisterWrite> ParseRegisterWrite(std::string_view payload);

// `qXfer:object:read:annex:offset,length`.
struct XferRead {
  std::string object;  // "features"
  std::string annex;   // "target.xml"
  uint64_t offset;
  uint64_t length;
};
absl::StatusOr<XferRead> ParseXferRead(std::string_view payload);

// A thread id as in `vCont` and `H`: `tid`, `-1`, or `p`pid[.tid] when
// gdb speaks multiprocess. -1 means all, 0 any.
struct GdbThreadId {
  std::optional<int64_t> pid;
  int64_t tid = -1;
  friend bool operator==(const GdbThreadId&, const GdbThreadId&) = default;
};
absl::StatusOr<GdbThreadId> ParseThreadId(std::string_view text);

// `vCont;action[:thread-id];...` (not `vCont?`, which is a query).
struct VContAction {
  enum class Kind { kContinue, kStep, kStop, kRangeStep };
  Kind kind;
  std::optional<uint8_t> signal;  // `C sig` / `S sig`
  uint64_t range_start = 0;       // `r start,end`: step while in [start, end)
  uint64_t range_end = 0;
  std::optional<GdbThreadId> thread;  // none: every thread not named before
};
absl::StatusOr<std::vector<VContAction>> ParseVCont(std::string_view payload);

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_GDB_PACKET_H_
