#include "replica/fault_spec.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace xv {
namespace {

absl::Status Bad(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "fault '%s': %s (forms: reg:REG:BIT@ESN, mem:GPA:BIT@ESN, hang@ESN, "
      "crash@ESN, each optionally :leader or :follower; random:SEED)",
      spec, why));
}

// Debian's Abseil has its own string_view (base/README.md).
absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }
std::string_view Std(absl::string_view s) { return {s.data(), s.size()}; }

bool ParseU64(std::string_view text, uint64_t& out) {
  if (text.starts_with("0x") || text.starts_with("0X")) {
    return text.size() > 2 && absl::SimpleHexAtoi(Absl(text.substr(2)), &out);
  }
  return absl::SimpleAtoi(Absl(text), &out);
}

std::vector<std::string_view> Split(std::string_view text) {
  std::vector<std::string_view> out;
  for (absl::string_view part : absl::StrSplit(Absl(text), ':')) {
    out.push_back(Std(part));
  }
  return out;
}

bool IsRegister(std::string_view name) {
  return std::find(std::begin(kFaultRegisters), std::end(kFaultRegisters),
                   name) != std::end(kFaultRegisters);
}

FaultSpec Draw(uint64_t seed, const FaultSpace& space) {
  std::mt19937_64 rng(seed);
  FaultSpec f;
  f.replica = rng() % 2 == 0 ? ReplicaRole::kLeader : ReplicaRole::kFollower;
  f.esn = 1 + rng() % std::max<uint64_t>(space.max_esn, 1);
  if (space.memory_bytes == 0 || rng() % 2 == 0) {
    f.kind = FaultKind::kRegisterBit;
    f.reg = std::string(kFaultRegisters[rng() % std::size(kFaultRegisters)]);
    f.bit = static_cast<uint32_t>(rng() % 64);
  } else {
    f.kind = FaultKind::kMemoryBit;
    f.gpa = rng() % space.memory_bytes;
    f.bit = static_cast<uint32_t>(rng() % 8);
  }
  return f;
}

}  // namespace

std::string FaultSpec::ToString() const {
  const char* who = replica == ReplicaRole::kLeader ? "leader" : "follower";
  switch (kind) {
    case FaultKind::kRegisterBit:
      return absl::StrFormat("reg:%s:%d@%d:%s", reg, bit, esn, who);
    case FaultKind::kMemoryBit:
      return absl::StrFormat("mem:0x%x:%d@%d:%s", gpa, bit, esn, who);
    case FaultKind::kHang:
      return absl::StrFormat("hang@%d:%s", esn, who);
    case FaultKind::kCrash:
      return absl::StrFormat("crash@%d:%s", esn, who);
  }
  return "";
}

absl::StatusOr<FaultSpec> ParseFaultSpec(std::string_view spec,
                                         const FaultSpace& space) {
  if (spec.starts_with("random:")) {
    uint64_t seed = 0;
    if (!ParseU64(spec.substr(7), seed))
      return Bad(spec, "SEED is not a number");
    return Draw(seed, space);
  }
  const size_t at = spec.find('@');
  if (at == std::string_view::npos) return Bad(spec, "no @ESN");
  std::vector<std::string_view> where = Split(spec.substr(at + 1));
  FaultSpec f;
  if (where.empty() || !ParseU64(where[0], f.esn) || f.esn == 0) {
    return Bad(spec, "ESN must be a positive number");
  }
  if (where.size() > 2) return Bad(spec, "too many fields after @");
  if (where.size() == 2) {
    if (where[1] == "leader") {
      f.replica = ReplicaRole::kLeader;
    } else if (where[1] == "follower") {
      f.replica = ReplicaRole::kFollower;
    } else {
      return Bad(spec, "the replica is 'leader' or 'follower'");
    }
  }
  std::vector<std::string_view> what = Split(spec.substr(0, at));
  if (what[0] == "hang" || what[0] == "crash") {
    if (what.size() != 1) return Bad(spec, "hang and crash take no arguments");
    f.kind = what[0] == "hang" ? FaultKind::kHang : FaultKind::kCrash;
    return f;
  }
  if (what.size() != 3 || (what[0] != "reg" && what[0] != "mem")) {
    return Bad(spec, "unknown fault kind");
  }
  uint64_t bit = 0;
  if (!ParseU64(what[2], bit)) return Bad(spec, "BIT is not a number");
  if (what[0] == "reg") {
    f.kind = FaultKind::kRegisterBit;
    f.reg = std::string(what[1]);
    if (!IsRegister(f.reg)) return Bad(spec, "unknown register");
    if (bit > 63) return Bad(spec, "a register bit is 0..63");
  } else {
    f.kind = FaultKind::kMemoryBit;
    if (!ParseU64(what[1], f.gpa)) return Bad(spec, "GPA is not a number");
    if (space.memory_bytes != 0 && f.gpa >= space.memory_bytes) {
      return Bad(spec, absl::StrFormat("GPA is outside guest memory (%d bytes)",
                                       space.memory_bytes));
    }
    if (bit > 7) return Bad(spec, "a memory bit is 0..7");
  }
  f.bit = static_cast<uint32_t>(bit);
  return f;
}

}  // namespace xv
