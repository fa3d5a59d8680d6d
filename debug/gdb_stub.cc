#include "debug/gdb_stub.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "debug/gdb_packet.h"
#include "debug/x86_64_gdb_registers.h"

namespace xv {
namespace {

// gdb reads and writes errno-like numbers after `E`; it shows none of them
// to the user, so they only need to be distinct.
constexpr std::string_view kErrorBadPacket = "E01";
constexpr std::string_view kErrorReadOnly = "E02";
constexpr std::string_view kErrorUnreadable = "E14";
constexpr std::string_view kErrorSession = "E05";

constexpr int kSigInt = 2;
constexpr int kSigTrap = 5;

}  // namespace

absl::Status GdbStub::Serve() {
  for (;;) {
    auto event = connection_.Next();
    if (!event.ok()) {
      // gdb went away: nothing more to serve, and nothing lost.
      if (absl::IsUnavailable(event.status())) return absl::OkStatus();
      return event.status();
    }
    std::string reply;
    bool done = false;
    switch (event->kind) {
      case PacketEvent::Kind::kPacket: {
        auto r = Handle(event->payload, done);
        if (!r.ok()) {
          if (absl::IsUnavailable(r.status())) return absl::OkStatus();
          return r.status();
        }
        reply = std::move(*r);
        break;
      }
      case PacketEvent::Kind::kInterrupt:
        // Stopped already: say so again.
        reply = absl::StrFormat("T%02x", kSigInt);
        break;
      default:
        reply = std::string(kErrorBadPacket);
        break;
    }
    if (absl::Status s = connection_.Send(reply); !s.ok()) {
      if (absl::IsUnavailable(s)) return absl::OkStatus();
      return s;
    }
    if (start_no_ack_) {
      connection_.SetNoAckMode(true);
      start_no_ack_ = false;
    }
    if (done) return absl::OkStatus();
  }
}

absl::StatusOr<std::string> GdbStub::Handle(std::string_view packet,
                                            bool& done) {
  if (packet.empty()) return std::string();
  switch (packet[0]) {
    case '?':
      return StopReply(last_stop_);
    case 'q':
    case 'Q':
      return Query(packet);
    case 'H':  // one thread: any choice is that thread
    case 'T':
      return std::string("OK");
    case 'g': {
      auto cpu = session_.machine().CaptureCpu();
      if (!cpu.ok()) return std::string(kErrorSession);
      return EncodeRegisters(cpu->arch);
    }
    case 'p': {
      auto regnum = ParseRegisterRead(packet);
      if (!regnum.ok()) return std::string(kErrorBadPacket);
      auto cpu = session_.machine().CaptureCpu();
      if (!cpu.ok()) return std::string(kErrorSession);
      auto value = EncodeRegister(cpu->arch, *regnum);
      if (!value.ok()) return std::string(kErrorBadPacket);
      return *value;
    }
    case 'G':
    case 'P':
    case 'M':
    case 'X':
      // A replay cannot take a change without leaving its recording.
      return std::string(kErrorReadOnly);
    case 'm':
      return ReadMemory(packet);
    case 'Z':
    case 'z':
      return SetBreakpoint(packet);
    case 'c':
      return Move(Movement::kContinue);
    case 's':
      return Move(Movement::kStep);
    case 'b':
      if (packet == "bc") return Move(Movement::kReverseContinue);
      if (packet == "bs") return Move(Movement::kReverseStep);
      return std::string();
    case 'v':
      if (packet == "vCont?") return std::string("vCont;c;C;s;S");
      if (packet.starts_with("vCont;")) {
        auto actions = ParseVCont(packet);
        if (!actions.ok() || actions->empty()) {
          return std::string(kErrorBadPacket);
        }
        switch ((*actions)[0].kind) {
          case VContAction::Kind::kContinue:
            return Move(Movement::kContinue);
          case VContAction::Kind::kStep:
            return Move(Movement::kStep);
          default:
            return std::string(kErrorBadPacket);
        }
      }
      if (packet.starts_with("vKill")) {
        done = true;
        return std::string("OK");
      }
      return std::string();  // vMustReplyEmpty and the like
    case 'D':                // detach
    case 'k':                // kill: the recording stays as it is either way
      done = true;
      return std::string("OK");
    default:
      return std::string();  // unsupported: gdb copes with an empty reply
  }
}

absl::StatusOr<std::string> GdbStub::Query(std::string_view packet) {
  if (packet.starts_with("qSupported")) {
    return absl::StrFormat(
        "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;"
        "ReverseStep+;ReverseContinue+;QStartNoAckMode+",
        PacketDecoder::kDefaultMaxPacketSize);
  }
  if (packet == "QStartNoAckMode") {
    // The reply still travels in ack mode; the switch follows it.
    start_no_ack_ = true;
    return std::string("OK");
  }
  if (packet.starts_with("qXfer:features:read:")) {
    auto xfer = ParseXferRead(packet);
    if (!xfer.ok() || xfer->annex != "target.xml") {
      return std::string(kErrorBadPacket);
    }
    return XferReadReply(X86_64TargetXml(), xfer->offset, xfer->length);
  }
  if (packet == "qC") return std::string("QC1");
  if (packet == "qfThreadInfo") return std::string("m1");
  if (packet == "qsThreadInfo") return std::string("l");
  if (packet == "qAttached") return std::string("1");
  if (packet == "qSymbol::") return std::string("OK");
  if (packet.starts_with("qRcmd,")) return MonitorCommand(packet.substr(6));
  return std::string();
}

absl::StatusOr<std::string> GdbStub::MonitorCommand(std::string_view hex) {
  auto bytes = HexToBytes(hex);
  if (!bytes.ok()) return std::string(kErrorBadPacket);
  const std::string command(bytes->begin(), bytes->end());
  std::string text;
  if (command == "stats") {
    // One line a script can parse: where the session is and what its
    // snapshots hold (the reverse-execution benchmark reads it).
    text = absl::StrFormat(
        "time=%d position=%d+%d snapshots=%d snapshot_bytes=%d\n",
        session_.time(), session_.position().esn, session_.position().steps,
        session_.snapshot_count(), session_.snapshot_bytes());
  } else {
    text = absl::StrFormat(
        "unknown monitor command '%s'; known: stats (the session's time, "
        "position, snapshot count and bytes)\n",
        command);
  }
  return BytesToHex(std::string_view(text));
}

absl::StatusOr<std::string> GdbStub::ReadMemory(std::string_view packet) {
  auto request = ParseMemoryRead(packet);
  if (!request.ok()) return std::string(kErrorBadPacket);
  // gdb asks for whatever it likes; the reply is at most one packet.
  const uint64_t length = std::min<uint64_t>(
      request->length, PacketDecoder::kDefaultMaxPacketSize / 2 - 16);
  std::vector<uint8_t> bytes(length);
  bytes.resize(session_.ReadLinear(request->address, bytes));
  // Partial reads are answered with what could be read (gdb asks again for
  // the rest and then gets the error).
  if (bytes.empty() && length > 0) return std::string(kErrorUnreadable);
  return BytesToHex(bytes);
}

std::string GdbStub::SetBreakpoint(std::string_view packet) {
  auto request = ParseBreakpoint(packet);
  if (!request.ok()) return std::string(kErrorBadPacket);
  using Type = BreakpointRequest::Type;
  switch (request->type) {
    case Type::kSoftware:
    case Type::kHardware:
      if (request->insert) {
        breakpoints_[request->address] = 1;
      } else {
        breakpoints_.erase(request->address);
      }
      break;
    case Type::kWriteWatchpoint:
      if (request->insert) {
        watchpoints_[request->address] = std::max<uint64_t>(1, request->kind);
      } else {
        watchpoints_.erase(request->address);
      }
      break;
    default:
      return std::string();  // read and access watchpoints: unsupported
  }
  return std::string("OK");
}

void GdbStub::ArmSession() {
  std::vector<uint64_t> breaks;
  for (const auto& [address, length] : breakpoints_) breaks.push_back(address);
  std::vector<LinearRange> watches;
  for (const auto& [address, length] : watchpoints_) {
    watches.push_back({.begin = address, .end = address + length});
  }
  session_.set_breakpoints(std::move(breaks));
  session_.set_watchpoints(std::move(watches));
}

absl::StatusOr<std::string> GdbStub::Move(Movement how) {
  ArmSession();
  // gdb's Ctrl-C arrives as a byte on the connection while the session
  // runs on this thread: another thread watches for it.
  std::atomic<bool> running{true};
  std::thread watcher([&] {
    while (running.load()) {
      if (connection_.PollInterrupt()) {
        session_.controller().RequestStop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  absl::StatusOr<SessionStop> stop;
  switch (how) {
    case Movement::kContinue:
      stop = session_.Continue();
      break;
    case Movement::kStep:
      stop = session_.StepInstruction();
      break;
    case Movement::kReverseContinue:
      stop = session_.ReverseContinue();
      break;
    case Movement::kReverseStep:
      stop = session_.ReverseStepInstruction();
      break;
  }
  running.store(false);
  watcher.join();
  if (!stop.ok()) return stop.status();
  last_stop_ = *stop;
  return StopReply(*stop);
}

std::string GdbStub::StopReply(const SessionStop& stop) const {
  using Kind = SessionStop::Kind;
  switch (stop.kind) {
    case Kind::kBreakpoint:
      return absl::StrFormat("T%02xswbreak:;", kSigTrap);
    case Kind::kWatchpoint:
      return absl::StrFormat("T%02xwatch:%x;", kSigTrap, stop.address);
    case Kind::kHistoryStart:
      return absl::StrFormat("T%02xreplaylog:begin;", kSigTrap);
    case Kind::kEnd:
      return absl::StrFormat("T%02xreplaylog:end;", kSigTrap);
    case Kind::kInterrupted:
      return absl::StrFormat("T%02x", kSigInt);
    case Kind::kReached:
      break;
  }
  return absl::StrFormat("T%02x", kSigTrap);
}

}  // namespace xv
