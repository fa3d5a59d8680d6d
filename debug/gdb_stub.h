// GdbStub: serves one gdb client over the remote protocol on a
// ReplaySession — registers, memory, software and hardware breakpoints,
// write watchpoints, stepi and continue, and reverse execution (`bs`, `bc`,
// with `replaylog:begin`/`end` stop replies where the history ends).
//
// The replay is read-only: writes to registers or memory are refused (a
// recording cannot take them without diverging). The target is one thread;
// addresses are guest-linear, translated through the guest's page tables.
// A Ctrl-C from gdb stops a long continue in either direction.
#ifndef EXTRAVIRT_DEBUG_GDB_STUB_H_
#define EXTRAVIRT_DEBUG_GDB_STUB_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "debug/gdb_connection.h"
#include "debug/replay_session.h"

namespace xv {

class GdbStub {
 public:
  GdbStub(ReplaySession& session, GdbConnection& connection)
      : session_(session), connection_(connection) {}

  // Answers packets until gdb detaches or kills, or disconnects (then OK
  // too: the session is left where it was). Errors are failures of the
  // session itself.
  absl::Status Serve();

 private:
  // The reply to one packet; `done` once the client said goodbye.
  absl::StatusOr<std::string> Handle(std::string_view packet, bool& done);
  absl::StatusOr<std::string> Query(std::string_view packet);
  // `monitor CMD` in gdb (qRcmd, CMD hex-encoded): the reply is text.
  absl::StatusOr<std::string> MonitorCommand(std::string_view hex);
  absl::StatusOr<std::string> ReadMemory(std::string_view packet);
  std::string SetBreakpoint(std::string_view packet);
  enum class Movement { kContinue, kStep, kReverseContinue, kReverseStep };
  // Runs a movement of the session with Ctrl-C watched, and describes
  // where it stopped as a stop reply.
  absl::StatusOr<std::string> Move(Movement how);
  std::string StopReply(const SessionStop& stop) const;
  void ArmSession();

  ReplaySession& session_;
  GdbConnection& connection_;
  // Breakpoints and watchpoints by address -> length (software and
  // hardware breakpoints are the same thing on the emulator).
  std::map<uint64_t, uint64_t> breakpoints_;
  std::map<uint64_t, uint64_t> watchpoints_;
  SessionStop last_stop_{.kind = SessionStop::Kind::kReached};
  // QStartNoAckMode was answered: no acks once the answer is out.
  bool start_no_ack_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_GDB_STUB_H_
