// Applying a logged fault (log.capnp's Fault) to a machine: what the run
// that injected it did, and what every replay of its log does at the same
// point, so the faulty run replays exactly.
#ifndef EXTRAVIRT_REPLAY_APPLY_FAULT_H_
#define EXTRAVIRT_REPLAY_APPLY_FAULT_H_

#include "absl/status/status.h"
#include "machine/machine.h"
#include "replay/log_records.h"

namespace xv {

// Flips the fault's register bit in `machine`'s vCPU (stopped at the
// rendezvous after exit fault.esn). InvalidArgument for a name that is no
// general register or a bit past 63.
absl::Status ApplyFault(Machine& machine, const LoggedFault& fault);

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_APPLY_FAULT_H_
