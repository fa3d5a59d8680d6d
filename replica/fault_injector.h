// FaultInjector: applies one FaultSpec to the machine it watches, once, at
// the rendezvous of the fault's ESN — a transient hardware fault as the
// replica manager must detect and survive it (issue 5). It sits in a run's
// observer chain, forwarding everything to `next`.
//
// Register and memory bits are flipped through the vCPU's register view and
// GuestMemory::Write (so dirty tracking sees the page, as it would see a
// real corrupted store). A crash ends the replica's run with an error; a
// hang blocks its thread at that rendezvous until ReleaseHang().
#ifndef EXTRAVIRT_REPLICA_FAULT_INJECTOR_H_
#define EXTRAVIRT_REPLICA_FAULT_INJECTOR_H_

#include <atomic>
#include <string>

#include "absl/synchronization/notification.h"
#include "machine/run_loop.h"
#include "replica/fault_spec.h"

namespace xv {

class FaultInjector : public RunObserver {
 public:
  explicit FaultInjector(FaultSpec spec, RunObserver* next = nullptr)
      : spec_(std::move(spec)), next_(next) {}

  absl::Status OnInput(const Machine& machine,
                       const InputEvent& input) override;
  absl::Status AtRendezvous(Machine& machine) override;
  bool StopHere(const Machine& machine) override;

  // The fault was applied (or the hang/crash began).
  bool injected() const { return injected_.load(); }
  // What was done, for reports: "rbx bit 3 flipped at ESN 5 (leader)".
  std::string description() const { return description_; }
  // Lets a hung replica's thread go on (its run then ends: kCancelled).
  void ReleaseHang() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  // When the fault was applied (HostClock::MonotonicNs), 0 before.
  uint64_t injected_at_ns() const { return injected_at_ns_.load(); }
  // The observer it forwards to (a replica manager changes it when the
  // replica changes role).
  void set_next(RunObserver* next) { next_ = next; }

 private:
  absl::Status Apply(Machine& machine);

  const FaultSpec spec_;
  RunObserver* next_;
  std::atomic<bool> injected_{false};
  std::atomic<uint64_t> injected_at_ns_{0};
  std::string description_;
  absl::Notification release_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_FAULT_INJECTOR_H_
