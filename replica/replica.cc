#include "replica/replica.h"

#include "absl/strings/str_format.h"

namespace xv::replica_internal {

const char* RoleName(int role) {
  return role == kLeader ? "leader" : "follower";
}

std::string ReplicaName(int index) {
  if (index < 26) return std::string(1, static_cast<char>('A' + index));
  return absl::StrFormat("R%d", index + 1);
}

void ReplicaSink::Emit(const DeviceOutput& o) {
  GateOutput out = GateOutput::Copy(machine_->esn(), o);
  {
    absl::MutexLock lock(&mu_);
    trail_.push_back(out);
  }
  if (!slot_) return;
  if (!gate_->Submit(*slot_, out.esn, o).ok() && on_divergence_) {
    on_divergence_(out);
  }
}

std::vector<GateOutput> ReplicaSink::trail() const {
  absl::MutexLock lock(&mu_);
  return trail_;
}

void ReplicaSink::ClearTrail() {
  absl::MutexLock lock(&mu_);
  trail_.clear();
}

}  // namespace xv::replica_internal
