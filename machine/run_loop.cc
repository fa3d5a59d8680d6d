#include "machine/run_loop.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"
#include "devices/host_clock.h"

namespace xv {

namespace {

// Kicks the vCPU once the deadline has passed, and again every 100 ms until
// the run loop notices, so a guest spinning without exits cannot outlive
// --timeout.
class Watchdog {
 public:
  Watchdog(const CpuKicker* kicker, uint64_t deadline_ns)
      : thread_([this, kicker, deadline_ns] {
          std::unique_lock lock(mu_);
          auto deadline = std::chrono::steady_clock::time_point(
              std::chrono::nanoseconds(deadline_ns));
          while (!done_) {
            if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
              kicker->Kick();
              deadline = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(100);
            }
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

class RunLoop {
 public:
  RunLoop(Machine& machine, InputSource& inputs, const RunLimits& limits,
          RunController* controller)
      : machine_(machine),
        inputs_(inputs),
        controller_(controller),
        observer_(limits.observer),
        start_ns_(HostClock::MonotonicNs()) {
    if (limits.timeout_seconds) {
      deadline_ns_ =
          start_ns_ + static_cast<uint64_t>(*limits.timeout_seconds * 1e9);
    }
  }

  absl::StatusOr<RunResult> Run() {
    auto kicker = machine_.cpu().BindKicker();
    if (!kicker.ok()) return kicker.status();
    if (controller_ != nullptr) controller_->kicker_.store(kicker->get());
    std::optional<Watchdog> watchdog;
    if (deadline_ns_ != UINT64_MAX) {
      watchdog.emplace(kicker->get(), deadline_ns_);
    }
    absl::StatusOr<RunResult> result = Loop();
    if (controller_ != nullptr) controller_->kicker_.store(nullptr);
    watchdog.reset();
    return result;
  }

 private:
  absl::StatusOr<RunResult> Loop() {
    using Step = Machine::RendezvousStep;
    for (;;) {
      if (machine_.rendezvous_step() == Step::kDone) {
        if (std::optional<RunResult> r = CheckHostStop()) return *r;
        auto exit = machine_.RunCpu();
        if (!exit.ok()) return exit.status();
        ExitOutcome outcome = machine_.HandleExit(*exit);
        if (outcome.action == ExitOutcome::Action::kStop) {
          between_exits_ = false;
          return Finish(outcome.reason, std::move(outcome.message));
        }
        // A kick: the guest may have run on past its last exit, so this is
        // no position of the ESN and gets no rendezvous.
        between_exits_ = outcome.action == ExitOutcome::Action::kResume;
        if (between_exits_) continue;
        machine_.set_rendezvous_step(
            outcome.action == ExitOutcome::Action::kHalted ? Step::kApplyAndWake
                                                           : Step::kApply);
      }
      absl::StatusOr<std::optional<RunResult>> stopped = FinishRendezvous();
      if (!stopped.ok()) return stopped.status();
      if (*stopped) return **stopped;
    }
  }

  // The rendezvous after an exit, from wherever an earlier run left it. An
  // error or a stop leaves the step where it happened, so that a later run
  // takes it up again (an input source must fail before consuming inputs).
  absl::StatusOr<std::optional<RunResult>> FinishRendezvous() {
    using Step = Machine::RendezvousStep;
    const Step step = machine_.rendezvous_step();
    if (step == Step::kApply || step == Step::kApplyAndWake) {
      if (absl::Status s = Apply(/*wait=*/false); !s.ok()) return s;
      machine_.set_rendezvous_step(step == Step::kApplyAndWake ? Step::kWake
                                                               : Step::kInject);
    }
    if (machine_.rendezvous_step() == Step::kWake) {
      absl::StatusOr<std::optional<RunResult>> woke = WaitUntilWakeable();
      if (!woke.ok() || *woke) return woke;
      machine_.set_rendezvous_step(Step::kInject);
    }
    if (machine_.rendezvous_step() == Step::kInject) {
      auto injected = machine_.InjectPendingInterrupt();
      if (!injected.ok()) return injected.status();
      machine_.set_rendezvous_step(Step::kObserve);
    }
    if (observer_ != nullptr) {
      if (absl::Status s = observer_->AtRendezvous(machine_); !s.ok()) {
        return s;
      }
    }
    machine_.set_rendezvous_step(Step::kDone);
    return std::optional<RunResult>();
  }

  // Applies the source's inputs (after polling, or after waiting).
  absl::Status Apply(bool wait) {
    pending_.clear();
    absl::Status s =
        wait ? inputs_.WaitForWakeup(machine_, deadline_ns_, pending_)
             : inputs_.Poll(machine_, pending_);
    if (!s.ok()) return s;
    for (const InputEvent& input : pending_) {
      if (observer_ != nullptr) {
        if (absl::Status o = observer_->OnInput(machine_, input); !o.ok()) {
          return o;
        }
      }
      if (absl::Status a = machine_.ApplyInput(input); !a.ok()) {
        absl::Status why = absl::InvalidArgumentError(absl::StrFormat(
            "input %s at ESN %d rejected: %s", InputKindName(input.kind),
            machine_.esn(), a.message()));
        return observer_ != nullptr
                   ? observer_->OnRejectedInput(machine_, input, why)
                   : why;
      }
    }
    return absl::OkStatus();
  }

  // HLT: the vCPU may re-enter only when it can take an interrupt.
  absl::StatusOr<std::optional<RunResult>> WaitUntilWakeable() {
    while (!machine_.InterruptPending()) {
      if (!machine_.CanTakeInterrupt()) {
        return Finish(StopReason::kHaltedForever,
                      absl::StrFormat("guest halted with interrupts disabled "
                                      "at %s; it can never wake up",
                                      machine_.DescribeGuestPosition()));
      }
      if (std::optional<RunResult> r = CheckHostStop()) return r;
      absl::Status s = Apply(/*wait=*/true);
      if (absl::IsFailedPrecondition(s)) {
        return Finish(
            StopReason::kHaltedForever,
            absl::StrFormat("the guest waits for an interrupt that cannot "
                            "come (%s); halted at %s",
                            s.message(), machine_.DescribeGuestPosition()));
      }
      if (!s.ok()) return s;
    }
    return std::optional<RunResult>();
  }

  std::optional<RunResult> CheckHostStop() {
    if (observer_ != nullptr &&
        (between_exits_ ? observer_->StopBetweenExits(machine_)
                        : observer_->StopHere(machine_))) {
      return Finish(
          StopReason::kStopPoint,
          absl::StrFormat("stopped at %s", machine_.DescribeGuestPosition()));
    }
    if (controller_ != nullptr && controller_->stop_requested()) {
      return Finish(StopReason::kInterrupted,
                    absl::StrFormat("run interrupted at %s",
                                    machine_.DescribeGuestPosition()));
    }
    if (HostClock::MonotonicNs() >= deadline_ns_) {
      return Finish(
          StopReason::kTimeout,
          absl::StrFormat("timeout: the guest was still running after %.1f s "
                          "(%s, %d exits so far)",
                          (deadline_ns_ - start_ns_) / 1e9,
                          machine_.DescribeGuestPosition(), machine_.esn()));
    }
    return std::nullopt;
  }

  RunResult Finish(StopReason reason, std::string message) const {
    RunResult r;
    r.reason = reason;
    r.message = std::move(message);
    r.debug_exit_value = machine_.debug_exit_value().value_or(0);
    r.exit_status = StopExitStatus(reason, r.debug_exit_value);
    r.esn = machine_.esn();
    r.wall_seconds = (HostClock::MonotonicNs() - start_ns_) / 1e9;
    r.stopped_at_exit_boundary = !between_exits_;
    return r;
  }

  Machine& machine_;
  InputSource& inputs_;
  RunController* controller_;
  RunObserver* observer_;
  uint64_t start_ns_;
  // The last Run() returned because the host kicked it: the guest may have
  // run on past its last exit.
  bool between_exits_ = false;
  uint64_t deadline_ns_ = UINT64_MAX;
  std::vector<InputEvent> pending_;
};

absl::StatusOr<RunResult> RunMachine(Machine& machine, InputSource& inputs,
                                     const RunLimits& limits,
                                     RunController* controller) {
  return RunLoop(machine, inputs, limits, controller).Run();
}

}  // namespace xv
