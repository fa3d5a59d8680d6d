// RecordWithFault: what a recorded guest would have done had one register
// bit flipped after one exit — a run of the recording's inputs with that
// fault injected, itself recorded. The new log carries the fault (log.capnp's
// Fault), so it replays and verifies like any other, and `xvirt diff` can
// set it beside the original: the two share every input, so the first
// state difference is the fault's.
//
// Inputs are applied at the ESNs the source logged them, whatever the
// faulty guest does: the run is not checked against the source, it is a
// different run. It ends where the guest stops, where it halts with no
// logged input to wake it, or at the timeout.
#ifndef EXTRAVIRT_REPLAY_WHAT_IF_RUN_H_
#define EXTRAVIRT_REPLAY_WHAT_IF_RUN_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "devices/output_sink.h"
#include "hypervisor/guest_cpu.h"
#include "machine/run_loop.h"
#include "replay/log_recorder.h"
#include "replay/log_records.h"

namespace xv {

struct WhatIfOptions {
  std::optional<double> timeout_seconds;
  // Receives the guest's outputs (to show them); optional.
  OutputSink* outputs = nullptr;
  // Lets a signal handler stop the run; optional.
  RunController* controller = nullptr;
};

struct WhatIfOutcome {
  RunResult result;
  RecorderStats recorded;
  // The run reached the fault's exit and flipped the bit.
  bool fault_applied = false;
};

// Runs the recording at `source_log` on `hypervisor` with `fault` injected,
// recording the run to `out_log`. Errors: the source cannot be read or
// already carries a fault, the fault names no register bit, the host fails.
absl::StatusOr<WhatIfOutcome> RecordWithFault(const Hypervisor& hypervisor,
                                              const std::string& source_log,
                                              const LoggedFault& fault,
                                              const std::string& out_log,
                                              const WhatIfOptions& options);

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_WHAT_IF_RUN_H_
