// ReplaySession: a replay of a recording that can be moved anywhere in it,
// one instruction at a time, forwards and backwards — what `xvirt inspect`,
// `xvirt diff` and the gdb stub stand on.
//
// Time is the number of instructions begun since boot (InstructionControl's
// count, so only a backend that has one, the emulator, can run a session);
// a Position (ESN, steps) is the same point named by the log's exits. The
// session replays the log's inputs at their ESNs exactly as the replayer
// does, and keeps in-memory snapshots (checkpoints of the whole machine)
// as it goes: one every `snapshot_interval` instructions, thinned so that
// they lie densest just before the present and never exceed the limits.
// Going back restores the last snapshot before the target and re-executes
// up to it: determinism makes that the same state.
//
// One thread drives a session; controller() may stop a long run from
// another thread or a signal handler.
#ifndef EXTRAVIRT_DEBUG_REPLAY_SESSION_H_
#define EXTRAVIRT_DEBUG_REPLAY_SESSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/checkpoint.h"
#include "debug/position.h"
#include "devices/output_sink.h"
#include "hypervisor/guest_cpu.h"
#include "hypervisor/instruction_control.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "memshare/memory_base.h"
#include "replay/log_records.h"

namespace xv {

struct SessionOptions {
  // Instructions between two snapshots taken while running forward.
  uint64_t snapshot_interval = 2'000'000;
  // At most this many snapshots, and this many bytes in them (the memory
  // pages each holds a copy of); the first (boot) is always kept.
  size_t max_snapshots = 128;
  uint64_t max_snapshot_bytes = uint64_t{1} << 30;
};

// Why a movement of the session stopped.
struct SessionStop {
  enum class Kind : uint8_t {
    kReached,       // the requested point
    kBreakpoint,    // before the instruction at `address`
    kWatchpoint,    // forward: after a write into a watched range at
                    // `address`; backward: before the instruction that
                    // made it
    kEnd,           // the recording ends here (`message` says how)
    kHistoryStart,  // going backward reached the boot: nothing before it
    kInterrupted,   // controller().RequestStop()
  };
  Kind kind = Kind::kReached;
  uint64_t address = 0;
  std::string message;
};

class ReplaySession {
 public:
  // Reads the whole log at `path` (inputs and end), boots its kernel on
  // `hypervisor` and checks the initial state against the recording's.
  static absl::StatusOr<std::unique_ptr<ReplaySession>> Open(
      const Hypervisor& hypervisor, const std::string& path,
      const SessionOptions& options = {});
  ~ReplaySession();

  const RecordedMachine& recording() const { return header_; }
  // The End record, if the recording has one (a torn log does not).
  const std::optional<LoggedEnd>& recorded_end() const { return end_; }
  const std::vector<LoggedInput>& inputs() const { return inputs_; }
  // Faults the recording injected on purpose (log.capnp's Fault): the
  // session applies each at its rendezvous, every time it passes it.
  const std::vector<LoggedFault>& faults() const { return faults_; }

  // The machine at the present point. Replaced when the session goes
  // back: do not keep the reference across a movement.
  Machine& machine() { return *machine_; }
  const Machine& machine() const { return *machine_; }

  // Instructions since boot, at the present point.
  uint64_t time() const { return control_->retired(); }
  Position position() const;
  // The time of the rendezvous after exit `esn`, once the session has run
  // past it.
  std::optional<uint64_t> ExitTime(uint64_t esn) const;
  // The guest stopped for good here (debug-exit, a triple fault, the end
  // of the recording): forward movements return kEnd at once.
  bool at_end() const { return ended_.has_value(); }

  // Reads guest-linear memory at the present point through the guest's
  // page tables into `out`; returns how many bytes from the start could be
  // read (a page that does not translate ends it).
  size_t ReadLinear(uint64_t linear, std::span<uint8_t> out) const;

  // Breakpoints (guest-linear addresses) and write watchpoints that
  // Continue() and ReverseContinue() stop at.
  void set_breakpoints(std::vector<uint64_t> linear_addresses);
  void set_watchpoints(std::vector<LinearRange> ranges);

  // Forward until `until` (a time), a breakpoint or watchpoint, or the end.
  absl::StatusOr<SessionStop> Continue(
      std::optional<uint64_t> until = std::nullopt);
  // One instruction forward (breakpoints are not checked).
  absl::StatusOr<SessionStop> StepInstruction();
  // To time `t`, forward or backward (breakpoints are not checked). The
  // point at a time where an exit's rendezvous also lies is the
  // rendezvous. kEnd when the recording ends before `t`.
  absl::StatusOr<SessionStop> SeekTime(uint64_t t);
  // To `position`; an error when the recording never reaches it (exit
  // esn+1 comes sooner, or the recording ends first).
  absl::StatusOr<SessionStop> SeekPosition(const Position& position);
  // One instruction back; kHistoryStart at time 0.
  absl::StatusOr<SessionStop> ReverseStepInstruction();
  // Back to the last breakpoint or watchpoint hit before the present
  // point, found by re-executing the intervals between snapshots from the
  // latest backwards; kHistoryStart (at time 0) when there is none.
  absl::StatusOr<SessionStop> ReverseContinue();

  // Lets another thread or a signal handler stop a long movement.
  RunController& controller() { return *controller_; }

  size_t snapshot_count() const { return snapshots_.size(); }
  uint64_t snapshot_bytes() const { return snapshot_bytes_; }

 private:
  struct Snapshot {
    Checkpoint checkpoint;
    uint64_t time = 0;
    size_t next_input = 0;
    // Taken at an exit's rendezvous (else between two instructions).
    bool at_rendezvous = false;
    uint64_t bytes = 0;
  };
  class Driver;
  // A breakpoint or watchpoint hit met while re-executing, at the point
  // going backward stops at.
  struct Hit {
    uint64_t time = 0;
    SessionStop stop;
  };

  ReplaySession(const Hypervisor& hypervisor, const SessionOptions& options);

  // Runs forward. `until`: stop there; `rendezvous_first`: at a time where
  // a rendezvous lies, stop at the rendezvous rather than after the
  // interrupt it injects was delivered. `debug`: breakpoints and
  // watchpoints are armed.
  absl::StatusOr<SessionStop> RunForward(std::optional<uint64_t> until,
                                         bool rendezvous_first, bool debug);
  absl::StatusOr<SessionStop> SeekTimeImpl(uint64_t t, bool rendezvous_first);
  // Re-executes from the snapshot at `start` to `end` and returns the last
  // hit before `now` (an interruption is returned as a hit whose stop says
  // so).
  absl::StatusOr<std::optional<Hit>> LastHitBetween(uint64_t start,
                                                    uint64_t end, uint64_t now);
  // `arrival`: the snapshot before the point a backward seek goes to (see
  // arrival_snapshot_), taken even close to a later one.
  absl::Status TakeSnapshot(bool at_rendezvous, bool arrival = false);
  absl::Status Restore(const Snapshot& snapshot);
  void Thin();
  absl::Status AttachControl();
  void ArmDebug(bool on);

  const Hypervisor& hypervisor_;
  SessionOptions options_;
  RecordedMachine header_;
  std::vector<LoggedInput> inputs_;
  std::vector<LoggedFault> faults_;
  std::optional<LoggedEnd> end_;
  std::shared_ptr<MemoryBase> base_;

  std::unique_ptr<Driver> driver_;
  std::unique_ptr<RunController> controller_;
  std::unique_ptr<Machine> machine_;
  InstructionControl* control_ = nullptr;
  size_t next_input_ = 0;
  bool at_rendezvous_ = true;
  std::optional<std::string> ended_;
  std::vector<uint64_t> exit_time_;  // by ESN, as far as run
  std::vector<uint64_t> breakpoints_;
  std::vector<LinearRange> watchpoints_;

  std::map<uint64_t, Snapshot> snapshots_;  // by time
  uint64_t snapshot_bytes_ = 0;
  uint64_t last_snapshot_time_ = 0;
  // Off while ReverseContinue() re-executes intervals between snapshots.
  bool taking_snapshots_ = true;
  // While a backward seek re-executes from an older snapshot: the time of
  // the extra snapshot to take just before its target.
  std::optional<uint64_t> arrival_snapshot_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_REPLAY_SESSION_H_
