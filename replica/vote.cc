#include "replica/vote.h"

#include <algorithm>
#include <vector>

#include "checkpoint/verify.h"
#include "replica/output_gate.h"

namespace xv::replica_internal {
namespace {

// The trail up to and including exit `esn`.
std::vector<GateOutput> TrailThrough(const std::vector<GateOutput>& trail,
                                     uint64_t esn) {
  std::vector<GateOutput> out;
  for (const GateOutput& o : trail) {
    if (o.esn <= esn) out.push_back(o);
  }
  return out;
}

// Does C agree with `r` at the vote point? (`states`: compare states.)
absl::StatusOr<bool> Agrees(Replica& c, Replica& r, uint64_t through_esn,
                            bool states) {
  if (TrailThrough(c.sink->trail(), through_esn) !=
      TrailThrough(r.sink->trail(), through_esn)) {
    return false;
  }
  if (!states) return true;
  auto v = VerifyReplicas(*c.machine, *r.machine);
  if (!v.ok()) return v.status();
  return v->verified();
}

// The log divergence: C could not follow the log there either (no input to
// wake it, or one that does not fit), so the leader's log is wrong; or C
// went on, so the follower is.
absl::StatusOr<std::array<bool, 2>> VoteOnTheLog(const Trigger& trigger,
                                                 const VotePlan& plan,
                                                 Replica& c,
                                                 const VoteReplay& replay,
                                                 ReplicaPair& replicas) {
  std::array<bool, 2> agrees = {false, false};
  if (replay.starved && c.machine->esn() == trigger.esn) {
    auto a = Agrees(c, *replicas.follower, plan.through, /*states=*/true);
    if (!a.ok()) return a.status();
    agrees[kFollower] = *a;
  } else if (replay.at_point) {
    auto a = Agrees(c, *replicas.leader, plan.through, /*states=*/false);
    if (!a.ok()) return a.status();
    agrees[kLeader] = *a;
  }
  return agrees;
}

std::array<bool, 2> Candidates(const Trigger& trigger, ReplicaPair& replicas) {
  std::array<bool, 2> candidate = {true, true};
  if (trigger.culprit) candidate[*trigger.culprit] = false;
  for (int role : {kLeader, kFollower}) {
    if (replicas.of(role)->failed) candidate[role] = false;
  }
  return candidate;
}

}  // namespace

VotePlan PlanVote(const Trigger& trigger,
                  const std::array<uint64_t, 2>& reached,
                  std::optional<uint64_t> pending_checkpoint) {
  VotePlan plan;
  switch (trigger.kind) {
    case DivergenceTrigger::kCheckpoint:
      plan.point.before_checkpoint_at = trigger.esn;
      plan.through = trigger.esn;
      plan.compare_states = true;
      break;
    case DivergenceTrigger::kEnd:
      // The follower may be an exit past the leader's end (it runs on to
      // its next exit before it learns of the end).
      plan.point.stop_at = std::max(reached[kLeader], reached[kFollower]);
      plan.through = UINT64_MAX;
      plan.compare_states = true;
      break;
    case DivergenceTrigger::kLog:
      plan.point.before_inputs_of = trigger.esn + 1;
      plan.through = trigger.esn;
      break;
    case DivergenceTrigger::kOutput:
    case DivergenceTrigger::kCrash:
    case DivergenceTrigger::kHang:
      // Never past the survivor when it is the follower: C then follows
      // it as the new leader.
      plan.through = std::min(reached[kLeader], reached[kFollower]);
      plan.point.before_inputs_of = plan.through;
      break;
  }
  // A checkpoint the leader marked but nobody verified yet is where the
  // leader waits for its follower: C, which may become that follower, must
  // stop before it and meet the leader in that barrier, not replay past it.
  if (pending_checkpoint &&
      (!plan.point.before_checkpoint_at ||
       *pending_checkpoint < *plan.point.before_checkpoint_at)) {
    plan.point.before_checkpoint_at = pending_checkpoint;
  }
  return plan;
}

absl::StatusOr<std::array<bool, 2>> Vote(const Trigger& trigger,
                                         const VotePlan& plan, Replica& c,
                                         const VoteReplay& replay,
                                         ReplicaPair& replicas) {
  if (trigger.kind == DivergenceTrigger::kLog) {
    return VoteOnTheLog(trigger, plan, c, replay, replicas);
  }
  const std::array<bool, 2> candidate = Candidates(trigger, replicas);
  std::array<bool, 2> agrees = {false, false};
  for (int role : {kLeader, kFollower}) {
    if (!candidate[role]) continue;
    Replica& r = *replicas.of(role);
    if (trigger.kind == DivergenceTrigger::kEnd &&
        (r.ended.has_value() != replay.ended.has_value() ||
         c.machine->esn() != r.machine->esn())) {
      // Not where C is: only a replica that ended (or stopped) at the
      // same exit as C can agree with it.
      continue;
    }
    // A replica that ended is where its run left it, and its state is
    // compared. One still running when the end mismatch was found (the
    // leader going on past the follower's early end) was stopped wherever
    // it was, between two exits or inside a rendezvous: its state need not
    // be C's at the rendezvous C stopped at, so its outputs decide. C not
    // ending where the follower did already shows the follower wrong.
    const bool states =
        plan.compare_states &&
        !(trigger.kind == DivergenceTrigger::kEnd && !r.ended.has_value());
    auto a = Agrees(c, r, plan.through, states);
    if (!a.ok()) return a.status();
    agrees[role] = *a;
  }
  return agrees;
}

std::optional<int> Survivor(const std::array<bool, 2>& agrees) {
  if (agrees[kLeader] == agrees[kFollower]) return std::nullopt;
  return agrees[kLeader] ? kLeader : kFollower;
}

}  // namespace xv::replica_internal
