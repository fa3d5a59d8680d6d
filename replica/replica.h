// One replica of a replicated run as the replica manager holds it (DESIGN
// §4): a machine, the outputs it made since the last verified checkpoint,
// its place in the retained log. Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_REPLICA_H_
#define EXTRAVIRT_REPLICA_REPLICA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "devices/output_sink.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/fault_injector.h"
#include "replica/hang_detector.h"
#include "replica/output_gate.h"

namespace xv::replica_internal {

// Roles index the two-element arrays of the manager, numbered as the hang
// detector numbers them.
inline constexpr int kLeader = HangDetector::kLeader;
inline constexpr int kFollower = HangDetector::kFollower;

const char* RoleName(int role);

// "A", "B", ... "Z", then "R27", "R28", ... (a long run may rebuild many).
std::string ReplicaName(int index);

// A replica's outputs: recorded since the last verified checkpoint (the
// vote compares them) and, once it has a gate slot, submitted there.
class ReplicaSink : public OutputSink {
 public:
  explicit ReplicaSink(OutputGate* gate) : gate_(gate) {}
  void set_machine(const Machine* m) { machine_ = m; }
  void set_slot(std::optional<int> slot) { slot_ = slot; }
  std::optional<int> slot() const { return slot_; }
  // Called when the gate refuses an output (it diverged).
  void set_on_divergence(std::function<void(const GateOutput&)> f) {
    on_divergence_ = std::move(f);
  }

  void Emit(const DeviceOutput& o) override;

  std::vector<GateOutput> trail() const;
  void ClearTrail();

 private:
  OutputGate* gate_;
  const Machine* machine_ = nullptr;
  std::optional<int> slot_;
  std::function<void(const GateOutput&)> on_divergence_;
  mutable absl::Mutex mu_;
  std::vector<GateOutput> trail_ ABSL_GUARDED_BY(mu_);
};

struct Replica {
  std::string name;  // "A", "B", "C", ... for reports
  std::unique_ptr<ReplicaSink> sink;
  std::unique_ptr<Machine> machine;  // after `sink`: it emits into it
  int reader = -1;                   // RetainedLog reader while a follower
  // Log position of its first input: with Machine::inputs_applied(), where
  // it is in the log by what it applied (a reader's position also counts
  // inputs it took but could not apply).
  uint64_t log_offset = 0;
  // The run's injected faults that target this replica, in order.
  std::vector<FaultInjector*> injectors;
  // The last run's result, when it ended rather than being stopped.
  std::optional<RunResult> ended;
  // The last run failed on its own (not stopped by the manager): whatever
  // the vote finds, it cannot go on.
  bool failed = false;
};

// The two replicas that run; recovery replaces one or swaps their roles.
struct ReplicaPair {
  std::unique_ptr<Replica> leader;
  std::unique_ptr<Replica> follower;

  std::unique_ptr<Replica>& of(int role) {
    return role == kLeader ? leader : follower;
  }
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_REPLICA_H_
