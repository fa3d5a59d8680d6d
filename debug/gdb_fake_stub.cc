// gdb_fake_stub --port-file PATH: a test-only gdb stub over a fixed ArchState
// and all-zero memory, built from the debug/ protocol classes alone, so that
// gdb_integration_test can show a real gdb accepting the target description
// and the `g` layout. Listens on 127.0.0.1 (a free port, written to PATH),
// serves one client, and exits 0 when gdb kills, detaches or disconnects.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "debug/gdb_connection.h"
#include "debug/gdb_packet.h"
#include "debug/x86_64_gdb_registers.h"
#include "hypervisor/arch_state.h"

namespace xv {
namespace {

// Values the integration test looks for in gdb's output.
ArchState TestState() {
  ArchState s;
  s.regs.rax = 0x1122334455667788;
  s.regs.rsp = 0x7ffff000;
  s.regs.rip = 0x401000;
  s.regs.rflags = 0x246;
  s.cs = 0x10;
  s.ss = 0x18;
  for (int b = 0; b < 16; ++b) s.xmm[1][b] = static_cast<uint8_t>(b);
  // st0 = 1.0: exponent 0x3fff, explicit integer bit.
  s.st[0] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
  s.ftw = 0x01;
  s.fs_base = 0x7f0000001000;
  s.cr0 = 0x80050033;
  s.cr3 = 0x1000;
  s.cr4 = 0x6a0;
  s.efer = 0xd01;
  return s;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

void Log(const absl::Status& status) {
  std::fprintf(stderr, "gdb_fake_stub: %s\n", status.ToString().c_str());
}

std::string ErrorReply(const absl::Status& status) {
  Log(status);
  return "E01";
}

int Fail(const absl::Status& status) {
  Log(status);
  return 1;
}

// The reply to `packet`, or nullopt to end the session.
std::optional<std::string> Reply(GdbConnection& connection, ArchState& state,
                                 const std::string& packet) {
  if (StartsWith(packet, "qSupported")) {
    return "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+";
  }
  if (packet == "?") return "S05";
  if (packet == "g") return EncodeRegisters(state);
  if (StartsWith(packet, "G")) {
    absl::Status s = SetRegisters(state, std::string_view(packet).substr(1));
    return s.ok() ? "OK" : ErrorReply(s);
  }
  if (StartsWith(packet, "p")) {
    absl::StatusOr<int> regnum = ParseRegisterRead(packet);
    if (!regnum.ok()) return ErrorReply(regnum.status());
    absl::StatusOr<std::string> value = EncodeRegister(state, *regnum);
    return value.ok() ? *value : ErrorReply(value.status());
  }
  if (StartsWith(packet, "P")) {
    absl::StatusOr<RegisterWrite> write = ParseRegisterWrite(packet);
    if (!write.ok()) return ErrorReply(write.status());
    absl::Status s = SetRegister(state, write->regnum, write->hex);
    return s.ok() ? "OK" : ErrorReply(s);
  }
  if (StartsWith(packet, "m")) {
    absl::StatusOr<MemoryRead> read = ParseMemoryRead(packet);
    if (!read.ok()) return ErrorReply(read.status());
    constexpr uint64_t kMaxRead = 0x1000;
    return std::string(2 * std::min(read->length, kMaxRead), '0');
  }
  if (StartsWith(packet, "qXfer:")) {
    absl::StatusOr<XferRead> xfer = ParseXferRead(packet);
    if (!xfer.ok()) return ErrorReply(xfer.status());
    if (xfer->object != "features" || xfer->annex != "target.xml") return "";
    return XferReadReply(X86_64TargetXml(), xfer->offset, xfer->length);
  }
  if (packet == "k") return std::nullopt;
  if (StartsWith(packet, "D")) {
    (void)connection.Send("OK");
    return std::nullopt;
  }
  return "";  // not supported
}

int Main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--port-file") {
    std::fprintf(stderr, "usage: %s --port-file PATH\n", argv[0]);
    return 2;
  }
  absl::StatusOr<GdbListener> listener = GdbListener::Listen("127.0.0.1:0");
  if (!listener.ok()) return Fail(listener.status());
  // Written under a temporary name and renamed: the test must never read
  // half a port number.
  const std::string temporary = std::string(argv[2]) + ".tmp";
  FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) return 1;
  std::fprintf(file, "%d\n", listener->port());
  if (std::fclose(file) != 0 || std::rename(temporary.c_str(), argv[2]) != 0) {
    return 1;
  }
  absl::StatusOr<GdbConnection> connection = listener->Accept(30.0);
  if (!connection.ok()) return Fail(connection.status());
  ArchState state = TestState();
  while (true) {
    absl::StatusOr<GdbConnection::Event> event = connection->Next();
    if (absl::IsUnavailable(event.status())) return 0;
    if (!event.ok()) return Fail(event.status());
    if (event->kind == GdbConnection::Event::Kind::kInterrupt) continue;
    if (event->kind == GdbConnection::Event::Kind::kError) {
      Log(absl::InvalidArgumentError(event->payload));
      if (!connection->Send("E01").ok()) return 1;
      continue;
    }
    std::fprintf(stderr, "gdb_fake_stub: <- %.60s\n", event->payload.c_str());
    if (event->payload == "QStartNoAckMode") {
      if (!connection->Send("OK").ok()) return 1;
      connection->SetNoAckMode(true);
      continue;
    }
    std::optional<std::string> reply =
        Reply(*connection, state, event->payload);
    if (!reply.has_value()) return 0;
    if (absl::Status s = connection->Send(*reply); !s.ok()) {
      return Fail(s);
    }
  }
}

}  // namespace
}  // namespace xv

int main(int argc, char** argv) { return xv::Main(argc, argv); }
