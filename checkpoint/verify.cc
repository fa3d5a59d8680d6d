#include "checkpoint/verify.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "devices/front_end.h"

namespace xv {
namespace {

std::string Hex(std::span<const uint8_t> bytes) {
  // Little-endian values read most significant byte first.
  std::string out = "0x";
  for (size_t i = bytes.size(); i-- > 0;) {
    out += absl::StrFormat("%02x", bytes[i]);
  }
  return out;
}

absl::Status CompareCpus(Machine& a, Machine& b, Verification& v) {
  auto va = a.CaptureCpu();
  if (!va.ok()) return va.status();
  auto vb = b.CaptureCpu();
  if (!vb.ok()) return vb.status();
  ForEachArchFieldDifference(
      va->arch, vb->arch,
      [&](std::string_view name, std::span<const uint8_t> in_a,
          std::span<const uint8_t> in_b) {
        v.differences.push_back({Difference::Kind::kRegister, std::string(name),
                                 std::nullopt, Hex(in_a), Hex(in_b)});
      });
  return absl::OkStatus();
}

void CompareDevices(const Machine& a, const Machine& b, Verification& v) {
  std::vector<const FrontEnd*> fa = a.platform().front_ends();
  std::vector<const FrontEnd*> fb = b.platform().front_ends();
  for (size_t i = 0; i < std::min(fa.size(), fb.size()); ++i) {
    std::vector<uint8_t> sa = SaveFrontEnd(*fa[i]);
    std::vector<uint8_t> sb = SaveFrontEnd(*fb[i]);
    if (sa != sb) {
      v.differences.push_back({Difference::Kind::kDevice,
                               std::string(fa[i]->name()), std::nullopt,
                               HashBytes(sa).ToHex(), HashBytes(sb).ToHex()});
    }
  }
  if (a.platform().SaveClock() != b.platform().SaveClock()) {
    v.differences.push_back({Difference::Kind::kClock, "virtual clock (ns)",
                             std::nullopt,
                             absl::StrFormat("%d", a.platform().SaveClock()),
                             absl::StrFormat("%d", b.platform().SaveClock())});
  }
}

}  // namespace

std::string Verification::Describe() const {
  if (verified()) {
    return absl::StrFormat("verified at ESN %d (%d pages compared)", esn,
                           pages_compared);
  }
  std::vector<std::string> parts;
  for (size_t i = 0; i < differences.size() && i < 5; ++i) {
    const Difference& d = differences[i];
    parts.push_back(absl::StrFormat("%s: %s vs %s", d.what, d.a, d.b));
  }
  return absl::StrFormat("%d difference(s) at ESN %d: %s%s", differences.size(),
                         esn, absl::StrJoin(parts, "; "),
                         differences.size() > 5 ? "; ..." : "");
}

absl::StatusOr<Verification> VerifyReplicas(Machine& a, Machine& b) {
  Verification v;
  v.esn = a.esn();
  if (a.esn() != b.esn()) {
    v.differences.push_back({Difference::Kind::kPosition, "esn", std::nullopt,
                             absl::StrFormat("%d", a.esn()),
                             absl::StrFormat("%d", b.esn())});
    return v;  // nothing else is comparable at different positions
  }
  if (a.memory().size() != b.memory().size()) {
    return absl::InvalidArgumentError(
        "replicas with different memory sizes cannot be compared");
  }
  if (absl::Status s = a.SyncMemory(); !s.ok()) return s;
  if (absl::Status s = b.SyncMemory(); !s.ok()) return s;
  if (absl::Status s = CompareCpus(a, b, v); !s.ok()) return s;
  CompareDevices(a, b, v);
  DirtyBitmap pages = a.dirty().since_epoch();
  pages.Merge(b.dirty().since_epoch());
  pages.ForEach([&](uint64_t p) {
    ++v.pages_compared;
    const Hash128& ha = a.page_hashes().page(p);
    const Hash128& hb = b.page_hashes().page(p);
    if (ha != hb) {
      v.differences.push_back({Difference::Kind::kPage,
                               absl::StrFormat("page 0x%x", p * kPageSize),
                               p * kPageSize, ha.ToHex(), hb.ToHex()});
    }
  });
  return v;
}

}  // namespace xv
