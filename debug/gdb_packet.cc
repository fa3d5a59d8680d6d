#include "debug/gdb_packet.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace xv {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kEscape = '}';
constexpr uint8_t kEscapeXor = 0x20;
// The repeat count after `*` is sent as the count plus 29 so that it is a
// printable character.
constexpr int kRepeatBias = 29;

bool NeedsEscape(char c) {
  return c == '$' || c == '#' || c == kEscape || c == '*';
}

// 0..15, or -1 for a character that is not a hex digit.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits `text` at the first `sep`: false when there is none.
bool SplitOnce(std::string_view text, char sep, std::string_view& before,
               std::string_view& after) {
  const size_t at = text.find(sep);
  if (at == std::string_view::npos) return false;
  before = text.substr(0, at);
  after = text.substr(at + 1);
  return true;
}

// Messages quote what gdb sent; a hostile client should not be able to
// make them huge.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxQuoted = 64;
  if (text.size() <= kMaxQuoted) return absl::StrFormat("\"%s\"", text);
  return absl::StrFormat("\"%s...\" (%d bytes)", text.substr(0, kMaxQuoted),
                         text.size());
}

// Debian's Abseil has its own string_view: messages come through here.
std::string_view MessageOf(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

absl::Status Malformed(std::string_view what, std::string_view payload,
                       std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrFormat("malformed %s packet %s: %s", what, Quote(payload), why));
}

// "addr,length" -> both numbers.
absl::Status ParseAddressLength(std::string_view text, uint64_t& address,
                                uint64_t& length) {
  std::string_view a, l;
  if (!SplitOnce(text, ',', a, l)) {
    return absl::InvalidArgumentError("expected \"address,length\"");
  }
  absl::StatusOr<uint64_t> parsed_address = ParseHexNumber(a);
  if (!parsed_address.ok()) return parsed_address.status();
  absl::StatusOr<uint64_t> parsed_length = ParseHexNumber(l);
  if (!parsed_length.ok()) return parsed_length.status();
  address = *parsed_address;
  length = *parsed_length;
  return absl::OkStatus();
}

absl::StatusOr<int> ParseRegisterNumber(std::string_view text) {
  absl::StatusOr<uint64_t> n = ParseHexNumber(text);
  if (!n.ok()) return n.status();
  if (*n > static_cast<uint64_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("register number %s is out of range", Quote(text)));
  }
  return static_cast<int>(*n);
}

// A thread id component: hex, or "-1" for all.
absl::StatusOr<int64_t> ParseThreadComponent(std::string_view text) {
  if (text == "-1") return -1;
  absl::StatusOr<uint64_t> n = ParseHexNumber(text);
  if (!n.ok()) return n.status();
  if (*n > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("thread id %s is out of range", Quote(text)));
  }
  return static_cast<int64_t>(*n);
}

absl::StatusOr<VContAction> ParseVContAction(std::string_view text) {
  VContAction action{};
  std::string_view head = text, thread;
  if (SplitOnce(text, ':', head, thread)) {
    absl::StatusOr<GdbThreadId> id = ParseThreadId(thread);
    if (!id.ok()) return id.status();
    action.thread = *id;
  }
  if (head.empty()) return absl::InvalidArgumentError("empty action");
  const std::string_view args = head.substr(1);
  switch (head[0]) {
    case 'c':
    case 's':
    case 't':
      if (!args.empty()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("action %s takes no argument", Quote(head)));
      }
      action.kind = head[0] == 'c'   ? VContAction::Kind::kContinue
                    : head[0] == 's' ? VContAction::Kind::kStep
                                     : VContAction::Kind::kStop;
      return action;
    case 'C':
    case 'S': {
      absl::StatusOr<uint64_t> signal = ParseHexNumber(args);
      if (!signal.ok()) return signal.status();
      if (*signal > 0xff) {
        return absl::InvalidArgumentError(
            absl::StrFormat("signal %s is out of range", Quote(args)));
      }
      action.kind = head[0] == 'C' ? VContAction::Kind::kContinue
                                   : VContAction::Kind::kStep;
      action.signal = static_cast<uint8_t>(*signal);
      return action;
    }
    case 'r': {
      std::string_view start, end;
      if (!SplitOnce(args, ',', start, end)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("range step %s lacks \"start,end\"", Quote(head)));
      }
      absl::StatusOr<uint64_t> s = ParseHexNumber(start);
      if (!s.ok()) return s.status();
      absl::StatusOr<uint64_t> e = ParseHexNumber(end);
      if (!e.ok()) return e.status();
      action.kind = VContAction::Kind::kRangeStep;
      action.range_start = *s;
      action.range_end = *e;
      return action;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown action %s", Quote(head)));
  }
}

}  // namespace

std::string EncodePacket(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  out.push_back('$');
  uint8_t sum = 0;
  auto put = [&](char c) {
    out.push_back(c);
    sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  };
  for (char c : payload) {
    if (NeedsEscape(c)) {
      put(kEscape);
      put(static_cast<char>(static_cast<uint8_t>(c) ^ kEscapeXor));
    } else {
      put(c);
    }
  }
  out.push_back('#');
  out.push_back(kHexDigits[sum >> 4]);
  out.push_back(kHexDigits[sum & 0xf]);
  return out;
}

void PacketDecoder::Feed(std::string_view bytes) {
  for (char c : bytes) {
    switch (state_) {
      case State::kIdle:
        if (c == '$') {
          state_ = State::kData;
        } else if (c == '+') {
          events_.push_back({PacketEvent::Kind::kAck, ""});
        } else if (c == '-') {
          events_.push_back({PacketEvent::Kind::kNack, ""});
        } else if (c == '\x03') {
          events_.push_back({PacketEvent::Kind::kInterrupt, ""});
        }
        break;
      case State::kData:
      case State::kDiscard:
        if (c == '$') {
          raw_.clear();
          sum_ = 0;
          oversized_ = false;
          state_ = State::kData;
        } else if (c == '#') {
          state_ = State::kChecksum1;
        } else {
          sum_ = static_cast<uint8_t>(sum_ + static_cast<uint8_t>(c));
          if (state_ == State::kData) {
            if (raw_.size() >= max_packet_size_) {
              // Keep counting nothing: the rest of the packet only has to
              // be skipped, and memory must not grow with it.
              oversized_ = true;
              std::string().swap(raw_);
              state_ = State::kDiscard;
            } else {
              raw_.push_back(c);
            }
          }
        }
        break;
      case State::kChecksum1:
        first_digit_ = c;
        state_ = State::kChecksum2;
        break;
      case State::kChecksum2:
        EndPacket(c);
        break;
    }
  }
}

void PacketDecoder::EndPacket(char second_digit) {
  const int high = HexValue(first_digit_);
  const int low = HexValue(second_digit);
  if (oversized_) {
    events_.push_back(
        {PacketEvent::Kind::kError,
         absl::StrFormat("packet longer than %d bytes", max_packet_size_)});
  } else if (high < 0 || low < 0 || ((high << 4) | low) != sum_) {
    events_.push_back({PacketEvent::Kind::kBadChecksum, ""});
  } else {
    absl::StatusOr<std::string> payload =
        UnescapePayload(raw_, max_packet_size_);
    if (payload.ok()) {
      events_.push_back({PacketEvent::Kind::kPacket, *std::move(payload)});
    } else {
      events_.push_back(
          {PacketEvent::Kind::kError, std::string(payload.status().message())});
    }
  }
  raw_.clear();
  sum_ = 0;
  oversized_ = false;
  state_ = State::kIdle;
}

std::optional<PacketEvent> PacketDecoder::Take() {
  if (events_.empty()) return std::nullopt;
  PacketEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

absl::StatusOr<std::string> UnescapePayload(std::string_view raw,
                                            size_t max_size) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == kEscape) {
      if (i + 1 == raw.size()) {
        return absl::InvalidArgumentError("packet ends in an escape ('}')");
      }
      out.push_back(
          static_cast<char>(static_cast<uint8_t>(raw[++i]) ^ kEscapeXor));
    } else if (c == '*') {
      if (out.empty()) {
        return absl::InvalidArgumentError(
            "run-length marker ('*') with nothing to repeat");
      }
      if (i + 1 == raw.size()) {
        return absl::InvalidArgumentError(
            "run-length marker ('*') without a count");
      }
      const auto count_char = static_cast<uint8_t>(raw[++i]);
      if (count_char < ' ' || count_char > '~') {
        return absl::InvalidArgumentError(absl::StrFormat(
            "run-length count 0x%02x is not a printable character",
            count_char));
      }
      const size_t count = count_char - kRepeatBias;
      if (out.size() + count > max_size) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "packet longer than %d bytes once expanded", max_size));
      }
      out.append(count, out.back());
    } else {
      out.push_back(c);
    }
    if (out.size() > max_size) {
      return absl::InvalidArgumentError(
          absl::StrFormat("packet longer than %d bytes", max_size));
    }
  }
  return out;
}

std::string BytesToHex(std::span<const uint8_t> bytes) {
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (uint8_t b : bytes) {
    hex.push_back(kHexDigits[b >> 4]);
    hex.push_back(kHexDigits[b & 0xf]);
  }
  return hex;
}

std::string BytesToHex(std::string_view bytes) {
  return BytesToHex(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

absl::StatusOr<std::vector<uint8_t>> HexToBytes(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("hex data %s has an odd number of digits", Quote(hex)));
  }
  std::vector<uint8_t> bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("hex data %s has a non-hex character at %d",
                          Quote(hex), high < 0 ? 2 * i : 2 * i + 1));
    }
    bytes[i] = static_cast<uint8_t>((high << 4) | low);
  }
  return bytes;
}

std::string LittleEndianHex(uint64_t value, int size) {
  const int n = std::clamp(size, 0, 8);
  std::string hex;
  hex.reserve(2 * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<uint8_t>(value >> (8 * i));
    hex.push_back(kHexDigits[b >> 4]);
    hex.push_back(kHexDigits[b & 0xf]);
  }
  return hex;
}

absl::StatusOr<uint64_t> ParseLittleEndianHex(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "little-endian hex %s must have 2 to 16 digits", Quote(hex)));
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = HexToBytes(hex);
  if (!bytes.ok()) return bytes.status();
  uint64_t value = 0;
  for (size_t i = 0; i < bytes->size(); ++i) {
    value |= uint64_t{(*bytes)[i]} << (8 * i);
  }
  return value;
}

absl::StatusOr<uint64_t> ParseHexNumber(std::string_view hex) {
  if (hex.empty()) {
    return absl::InvalidArgumentError("expected a hex number, found nothing");
  }
  uint64_t value = 0;
  for (char c : hex) {
    const int digit = HexValue(c);
    if (digit < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s is not a hex number", Quote(hex)));
    }
    if (value >> 60 != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("hex number %s does not fit 64 bits", Quote(hex)));
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

std::string XferReadReply(std::string_view document, uint64_t offset,
                          uint64_t length) {
  if (offset >= document.size()) return "l";
  const std::string_view chunk = document.substr(offset, length);
  const bool last = offset + chunk.size() >= document.size();
  std::string reply(last ? "l" : "m");
  reply.append(chunk);
  return reply;
}

absl::StatusOr<MemoryRead> ParseMemoryRead(std::string_view payload) {
  if (payload.empty() || payload[0] != 'm') {
    return Malformed("m", payload, "does not start with 'm'");
  }
  MemoryRead read{};
  if (absl::Status s =
          ParseAddressLength(payload.substr(1), read.address, read.length);
      !s.ok()) {
    return Malformed("m", payload, MessageOf(s));
  }
  return read;
}

absl::StatusOr<MemoryWrite> ParseMemoryWriteHex(std::string_view payload) {
  std::string_view header, data;
  if (payload.empty() || payload[0] != 'M') {
    return Malformed("M", payload, "does not start with 'M'");
  }
  if (!SplitOnce(payload.substr(1), ':', header, data)) {
    return Malformed("M", payload, "no ':' before the data");
  }
  MemoryWrite write{};
  uint64_t length = 0;
  if (absl::Status s = ParseAddressLength(header, write.address, length);
      !s.ok()) {
    return Malformed("M", payload, MessageOf(s));
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = HexToBytes(data);
  if (!bytes.ok()) return Malformed("M", payload, MessageOf(bytes.status()));
  if (bytes->size() != length) {
    return Malformed("M", payload,
                     absl::StrFormat("length %d but %d bytes of data", length,
                                     bytes->size()));
  }
  write.data = *std::move(bytes);
  return write;
}

absl::StatusOr<MemoryWrite> ParseMemoryWriteBinary(std::string_view payload) {
  std::string_view header, data;
  if (payload.empty() || payload[0] != 'X') {
    return Malformed("X", payload, "does not start with 'X'");
  }
  // The header has no ':', the data may: the first one separates them.
  if (!SplitOnce(payload.substr(1), ':', header, data)) {
    return Malformed("X", payload, "no ':' before the data");
  }
  MemoryWrite write{};
  uint64_t length = 0;
  if (absl::Status s = ParseAddressLength(header, write.address, length);
      !s.ok()) {
    return Malformed("X", payload, MessageOf(s));
  }
  if (data.size() != length) {
    return Malformed(
        "X", payload,
        absl::StrFormat("length %d but %d bytes of data", length, data.size()));
  }
  write.data.assign(data.begin(), data.end());
  return write;
}

absl::StatusOr<BreakpointRequest> ParseBreakpoint(std::string_view payload) {
  if (payload.empty() || (payload[0] != 'Z' && payload[0] != 'z')) {
    return Malformed("Z/z", payload, "does not start with 'Z' or 'z'");
  }
  const std::string what = std::string(1, payload[0]);
  std::string_view type_text, rest;
  if (!SplitOnce(payload.substr(1), ',', type_text, rest)) {
    return Malformed(what, payload, "expected \"type,address,kind\"");
  }
  // We do not offer ConditionalBreakpoints or BreakpointCommands; a
  // condition ignored would make the breakpoint stop where it should not.
  if (rest.find(';') != std::string_view::npos) {
    return Malformed(what, payload,
                     "breakpoint conditions and commands are not supported");
  }
  absl::StatusOr<uint64_t> type = ParseHexNumber(type_text);
  if (!type.ok()) return Malformed(what, payload, MessageOf(type.status()));
  if (*type > 4) {
    return Malformed(what, payload,
                     absl::StrFormat("unknown breakpoint type %d", *type));
  }
  BreakpointRequest request{};
  request.insert = payload[0] == 'Z';
  request.type = static_cast<BreakpointRequest::Type>(*type);
  if (absl::Status s = ParseAddressLength(rest, request.address, request.kind);
      !s.ok()) {
    return Malformed(what, payload, MessageOf(s));
  }
  return request;
}

absl::StatusOr<int> ParseRegisterRead(std::string_view payload) {
  if (payload.empty() || payload[0] != 'p') {
    return Malformed("p", payload, "does not start with 'p'");
  }
  absl::StatusOr<int> n = ParseRegisterNumber(payload.substr(1));
  if (!n.ok()) return Malformed("p", payload, MessageOf(n.status()));
  return *n;
}

absl::StatusOr<RegisterWrite> ParseRegisterWrite(std::string_view payload) {
  if (payload.empty() || payload[0] != 'P') {
    return Malformed("P", payload, "does not start with 'P'");
  }
  std::string_view number, value;
  if (!SplitOnce(payload.substr(1), '=', number, value)) {
    return Malformed("P", payload, "expected \"n=value\"");
  }
  absl::StatusOr<int> n = ParseRegisterNumber(number);
  if (!n.ok()) return Malformed("P", payload, MessageOf(n.status()));
  if (value.empty()) return Malformed("P", payload, "no value");
  if (absl::StatusOr<std::vector<uint8_t>> bytes = HexToBytes(value);
      !bytes.ok()) {
    return Malformed("P", payload, MessageOf(bytes.status()));
  }
  return RegisterWrite{*n, std::string(value)};
}

absl::StatusOr<XferRead> ParseXferRead(std::string_view payload) {
  constexpr std::string_view kPrefix = "qXfer:";
  constexpr std::string_view kRead = "read:";
  if (payload.substr(0, kPrefix.size()) != kPrefix) {
    return Malformed("qXfer", payload, "does not start with \"qXfer:\"");
  }
  std::string_view object, rest;
  if (!SplitOnce(payload.substr(kPrefix.size()), ':', object, rest) ||
      object.empty()) {
    return Malformed("qXfer", payload, "no object name");
  }
  if (rest.substr(0, kRead.size()) != kRead) {
    return Malformed("qXfer", payload, "not a read");
  }
  rest.remove_prefix(kRead.size());
  const size_t last_colon = rest.rfind(':');
  if (last_colon == std::string_view::npos) {
    return Malformed("qXfer", payload, "expected \"annex:offset,length\"");
  }
  XferRead read{};
  read.object = std::string(object);
  read.annex = std::string(rest.substr(0, last_colon));
  if (absl::Status s = ParseAddressLength(rest.substr(last_colon + 1),
                                          read.offset, read.length);
      !s.ok()) {
    return Malformed("qXfer", payload, MessageOf(s));
  }
  return read;
}

absl::StatusOr<GdbThreadId> ParseThreadId(std::string_view text) {
  GdbThreadId id;
  if (!text.empty() && text[0] == 'p') {
    std::string_view pid = text.substr(1), tid;
    const bool has_tid = SplitOnce(text.substr(1), '.', pid, tid);
    absl::StatusOr<int64_t> p = ParseThreadComponent(pid);
    if (!p.ok()) return p.status();
    id.pid = *p;
    if (has_tid) {
      absl::StatusOr<int64_t> t = ParseThreadComponent(tid);
      if (!t.ok()) return t.status();
      id.tid = *t;
    }
    return id;
  }
  absl::StatusOr<int64_t> t = ParseThreadComponent(text);
  if (!t.ok()) return t.status();
  id.tid = *t;
  return id;
}

absl::StatusOr<std::vector<VContAction>> ParseVCont(std::string_view payload) {
  constexpr std::string_view kPrefix = "vCont;";
  if (payload == "vCont?") {
    return Malformed("vCont", payload, "is the query, not an action list");
  }
  if (payload.substr(0, kPrefix.size()) != kPrefix) {
    return Malformed("vCont", payload, "does not start with \"vCont;\"");
  }
  std::vector<VContAction> actions;
  std::string_view rest = payload.substr(kPrefix.size());
  while (true) {
    std::string_view action_text = rest, next;
    const bool more = SplitOnce(rest, ';', action_text, next);
    absl::StatusOr<VContAction> action = ParseVContAction(action_text);
    if (!action.ok()) {
      return Malformed("vCont", payload, MessageOf(action.status()));
    }
    actions.push_back(*action);
    if (!more) break;
    rest = next;
  }
  return actions;
}

}  // namespace xv
