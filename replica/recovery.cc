#include "replica/recovery.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "replica/vote.h"

namespace xv::replica_internal {
namespace {

// Recoveries in a row without a verified checkpoint in between before the
// run gives up (a fault the vote keeps misjudging must not loop forever).
constexpr int kMaxRecoveriesPerCheckpoint = 3;

}  // namespace

absl::StatusOr<RecoveryOutcome> Recovery::Recover(const Trigger& trigger,
                                                  ReplicaPair& replicas,
                                                  uint64_t start_ns) {
  RecoveryOutcome out{
      .event = {.esn = trigger.esn,
                .trigger = trigger.kind,
                .detail = trigger.detail,
                .detected_at_ms = (trigger.detected_ns - start_ns) / 1e6}};
  auto report = [&](ReplicaEventKind kind, std::string line) {
    hooks_.report({.kind = kind, .esn = trigger.esn, .line = std::move(line)});
  };
  report(ReplicaEventKind::kDivergence,
         absl::StrFormat("divergence at ESN %d (%s): %s", trigger.esn,
                         DivergenceTriggerName(trigger.kind), trigger.detail));
  auto give_up = [&](absl::string_view why) {
    report(ReplicaEventKind::kFailSafe,
           absl::StrCat("no majority, stopping fail-safe: ", why));
    out.fail_safe = absl::StrFormat("%s; %s", trigger.detail, why);
    return out;
  };
  if (++recoveries_since_verified_ > kMaxRecoveriesPerCheckpoint) {
    return give_up("too many recoveries without a verified checkpoint");
  }

  const VotePlan plan = PlanVote(
      trigger,
      {replicas.leader->machine->esn(), replicas.follower->machine->esn()},
      log_.FirstCheckpointAfter(checkpoints_.verified_esn()));
  auto rebuilt = Rebuild(plan.point);
  if (!rebuilt.ok()) return give_up(rebuilt.status().message());
  Replica& c = *rebuilt->replica;
  auto agrees = Vote(trigger, plan, c, rebuilt->replay, replicas);
  if (!agrees.ok()) return agrees.status();
  const std::optional<int> survivor = Survivor(*agrees);
  if (!survivor) {
    return give_up((*agrees)[kLeader]
                       ? "the rebuilt replica agrees with both"
                       : "the rebuilt replica agrees with neither");
  }
  const int loser = 1 - *survivor;
  out.event.voted_out =
      loser == kLeader ? ReplicaRole::kLeader : ReplicaRole::kFollower;
  report(
      ReplicaEventKind::kVote,
      absl::StrFormat(
          "replica %s rebuilt from the checkpoint at ESN %d agrees with the %s "
          "(%s); the %s (%s) is voted out",
          c.name, checkpoints_.verified_esn(), RoleName(*survivor),
          replicas.of(*survivor)->name, RoleName(loser),
          replicas.of(loser)->name));

  if (absl::Status s = Replace(replicas, loser, *rebuilt); !s.ok()) {
    return give_up(s.message());
  }
  out.event.recovered = true;
  out.event.recovery_ms = MsSince(trigger.detected_ns);
  report(
      ReplicaEventKind::kRecovered,
      absl::StrFormat(
          "recovered in %.1f ms; replicas %s (leader) and %s (follower) go on",
          *out.event.recovery_ms, replicas.leader->name,
          replicas.follower->name));
  return out;
}

absl::StatusOr<Recovery::Rebuilt> Recovery::Rebuild(const VotePoint& point) {
  Rebuilt out;
  out.replica = hooks_.new_replica();
  Checkpoint& checkpoint = checkpoints_.last();
  if (checkpoint.page_hashes == nullptr) {
    if (absl::Status s = RehashCheckpointPages(checkpoint); !s.ok()) return s;
  }
  auto c = RestoreCheckpoint(hypervisor_, checkpoint, out.replica->sink.get());
  if (!c.ok()) return c.status();
  out.replica->machine = std::move(*c);
  out.replica->sink->set_machine(out.replica->machine.get());
  out.replica->log_offset = log_.Begin();
  auto replay =
      ReplayToVotePoint(*out.replica->machine, log_.EntriesFrom(log_.Begin()),
                        point, hooks_.seconds_left());
  if (!replay.ok()) return replay.status();
  out.replay = *replay;
  out.position =
      out.replica->log_offset + out.replica->machine->inputs_applied();
  return out;
}

absl::Status Recovery::Replace(ReplicaPair& replicas, int loser, Rebuilt& c) {
  if (absl::Status s = HandOverSlot(*replicas.of(loser), *c.replica); !s.ok()) {
    return s;
  }
  if (loser == kLeader) {
    if (absl::Status s = PromoteFollower(replicas, c.position); !s.ok()) {
      return s;
    }
  } else {
    log_.RemoveReader(replicas.follower->reader);
  }
  replicas.follower = std::move(c.replica);
  replicas.follower->reader = log_.AddReader(c.position);
  return absl::OkStatus();
}

// C takes the loser's gate slot and re-submits what it emitted since the
// checkpoint; what was released already is checked, not re-released.
absl::Status Recovery::HandOverSlot(Replica& loser, Replica& c) {
  const int slot = *loser.sink->slot();
  loser.sink->set_slot(std::nullopt);
  gate_.ReplaceSlot(slot);
  if (gate_.diverged()) gate_.ClearDivergence();
  c.sink->set_slot(slot);
  for (const GateOutput& o : c.sink->trail()) {
    if (!gate_.Submit(slot, o.esn, o.view()).ok()) {
      return absl::AbortedError(
          "the rebuilt replica's outputs disagree with the gate: " +
          (gate_.divergence() ? gate_.divergence()->ToString()
                              : std::string("?")));
    }
  }
  return absl::OkStatus();
}

// What the follower had not taken from the log yet was placed by the
// faulty leader: back to the back-ends' queue, for it as the new leader.
absl::Status Recovery::PromoteFollower(ReplicaPair& replicas,
                                       uint64_t rebuilt_position) {
  Replica& follower = *replicas.follower;
  const Machine& f = *follower.machine;
  // Where the promoted follower is in its rendezvous says what of the log
  // it has seen: the inputs at its exit once it applied them (more may
  // come while it waits halted), the marks once it took them.
  using Step = Machine::RendezvousStep;
  const Step step = f.rendezvous_step();
  const bool applied =
      step == Step::kInject || step == Step::kObserve || step == Step::kDone;
  const bool took = step != Step::kApply && step != Step::kApplyAndWake;
  const uint64_t finished = applied ? f.esn() : f.esn() - 1;
  const uint64_t marks_through = took ? f.esn() : f.esn() - 1;
  const uint64_t cut = follower.log_offset + f.inputs_applied();
  if (rebuilt_position > cut) {
    return absl::FailedPreconditionError(
        "the rebuilt replica is ahead of the promoted follower");
  }
  env_.Requeue(log_.TruncateAt(cut, finished, marks_through));
  log_.RemoveReader(follower.reader);
  follower.reader = -1;
  replicas.leader = std::move(replicas.follower);
  return absl::OkStatus();
}

}  // namespace xv::replica_internal
