#include "debug/recording_diff.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "devices/front_end.h"

namespace xv {
namespace {

// Bytes of a serial stream shown from the first differing one.
constexpr size_t kStreamContext = 16;

std::string Quoted(std::span<const uint8_t> bytes) {
  return "\"" +
         absl::CHexEscape(absl::string_view(
             reinterpret_cast<const char*>(bytes.data()), bytes.size())) +
         "\"";
}

// One input of a kind compared as a sequence (disk and boundary reads,
// clock advances), or one byte of the serial stream.
struct Item {
  uint64_t esn = 0;
  std::string content;  // what the guest is told, for comparison and people
};

std::vector<Item> SerialBytes(const LoggedRecording& r) {
  std::vector<Item> out;
  for (const LoggedInput& in : r.inputs) {
    if (in.input.kind != InputKind::kSerialRx) continue;
    for (uint8_t byte : in.input.data) {
      out.push_back({in.esn, std::string(1, static_cast<char>(byte))});
    }
  }
  return out;
}

std::vector<Item> ItemsOf(const LoggedRecording& r, InputKind kind) {
  std::vector<Item> out;
  for (const LoggedInput& in : r.inputs) {
    if (in.input.kind == kind) out.push_back({in.esn, InputDetail(in.input)});
  }
  return out;
}

// The serial stream from byte `i` on, as people read it.
std::string StreamFrom(const std::vector<Item>& bytes, size_t i) {
  if (i >= bytes.size()) {
    return absl::StrFormat("(the stream ends after %d bytes)", bytes.size());
  }
  std::vector<uint8_t> shown;
  for (size_t k = i; k < bytes.size() && k < i + kStreamContext; ++k) {
    shown.push_back(static_cast<uint8_t>(bytes[k].content[0]));
  }
  return Quoted(shown) + (i + kStreamContext < bytes.size() ? "..." : "");
}

// Walks two sequences; the first index whose content differs (or that
// one lacks) is an input difference, the first whose ESN differs a timing
// one. `clock`: every difference is timing (the clock follows host time).
void CompareSequences(const std::vector<Item>& a, const std::vector<Item>& b,
                      const std::string& name, bool stream, bool clock,
                      std::optional<LoggedDifference>& content,
                      std::optional<LoggedDifference>& timing) {
  using Kind = LoggedDifference::Kind;
  const auto side = [&](const std::vector<Item>& items, size_t i) {
    if (stream) return StreamFrom(items, i);
    return i < items.size()
               ? items[i].content
               : absl::StrFormat("(none: %d in all)", items.size());
  };
  const auto esn_of = [](const std::vector<Item>& items,
                         size_t i) -> std::optional<uint64_t> {
    if (i < items.size()) return items[i].esn;
    return std::nullopt;
  };
  const auto note = [&](std::optional<LoggedDifference>& slot, Kind kind,
                        size_t i) {
    LoggedDifference d{
        .kind = kind,
        .esn_a = esn_of(a, i),
        .esn_b = esn_of(b, i),
        .what = absl::StrFormat("%s %s %d", name, stream ? "byte" : "#", i),
        .a = side(a, i),
        .b = side(b, i)};
    if (!slot || d.esn() < slot->esn()) slot = std::move(d);
  };
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const bool both = i < a.size() && i < b.size();
    if (!both || a[i].content != b[i].content) {
      note(clock ? timing : content, clock ? Kind::kTiming : Kind::kInput, i);
      return;  // later items are shifted: nothing more to learn from them
    }
    if (a[i].esn != b[i].esn) {
      note(timing, Kind::kTiming, i);
      if (clock) return;
    }
  }
}

std::string DigestText(const LoggedDigest& d) {
  return absl::StrFormat("%d outputs, %d bytes, digest %s%s", d.outputs,
                         d.bytes, d.hash.ToHex(),
                         d.at_end ? " (at the end)" : "");
}

std::string EndText(const LoggedEnd& e) {
  std::string out = absl::StrFormat("ESN %d, %s, exit status %d", e.esn,
                                    e.stop_reason, e.exit_status);
  if (e.final_state_hash) {
    absl::StrAppendFormat(&out, ", final state %s",
                          e.final_state_hash->ToHex());
  }
  return out;
}

}  // namespace

std::vector<HeaderDifference> CompareHeaders(const RecordedMachine& a,
                                             const RecordedMachine& b) {
  std::vector<HeaderDifference> out;
  const auto field = [&](const char* name, const auto& x, const auto& y,
                         auto show) {
    if (x != y) out.push_back({name, show(x), show(y)});
  };
  const auto number = [](auto v) { return absl::StrFormat("%d", v); };
  const auto text = [](const std::string& s) { return "'" + s + "'"; };
  field("kernel", HashBytes(a.kernel_image), HashBytes(b.kernel_image),
        [](const Hash128& h) { return h.ToHex(); });
  field("kernel_name", a.kernel_name, b.kernel_name, text);
  field("cmdline", a.cmdline, b.cmdline, text);
  field("memory_bytes", a.memory_bytes, b.memory_bytes, number);
  field("disk_sectors", a.disk_sectors, b.disk_sectors, number);
  field("rtc_epoch_seconds", a.rtc_epoch_seconds, b.rtc_epoch_seconds, number);
  field("cpuid_entries", a.cpuid.size(), b.cpuid.size(), number);
  if (a.cpuid.size() == b.cpuid.size() && a.cpuid != b.cpuid) {
    out.push_back({"cpuid", "(differs)", "(differs)"});
  }
  field("initial_state_hash", a.initial_state_hash, b.initial_state_hash,
        [](const Hash128& h) { return h.ToHex(); });
  return out;
}

bool StatesComparable(const RecordedMachine& a, const RecordedMachine& b) {
  return a.kernel_image == b.kernel_image && a.memory_bytes == b.memory_bytes &&
         a.disk_sectors == b.disk_sectors;
}

uint64_t LoggedDifference::esn() const {
  return std::min(esn_a.value_or(UINT64_MAX), esn_b.value_or(UINT64_MAX));
}

std::string_view DifferenceKindName(LoggedDifference::Kind kind) {
  switch (kind) {
    case LoggedDifference::Kind::kInput:
      return "input";
    case LoggedDifference::Kind::kTiming:
      return "timing";
    case LoggedDifference::Kind::kOutput:
      return "output";
    case LoggedDifference::Kind::kCheckpoint:
      return "checkpoint";
    case LoggedDifference::Kind::kEnd:
      return "end";
    case LoggedDifference::Kind::kFault:
      return "fault";
  }
  return "?";
}

std::vector<LoggedDifference> CompareLogged(const LoggedRecording& a,
                                            const LoggedRecording& b) {
  using Kind = LoggedDifference::Kind;
  std::optional<LoggedDifference> input, timing, output, checkpoint, end;
  CompareSequences(SerialBytes(a), SerialBytes(b), "serial_rx", true, false,
                   input, timing);
  for (InputKind kind :
       {InputKind::kDiskReadCompletion, InputKind::kBoundaryRead}) {
    CompareSequences(ItemsOf(a, kind), ItemsOf(b, kind),
                     std::string(InputKindName(kind)), false, false, input,
                     timing);
  }
  CompareSequences(ItemsOf(a, InputKind::kClockAdvance),
                   ItemsOf(b, InputKind::kClockAdvance),
                   std::string(InputKindName(InputKind::kClockAdvance)), false,
                   true, input, timing);

  // Output digests, device by device, in the order logged.
  std::map<std::string, std::pair<std::vector<const LoggedDigest*>,
                                  std::vector<const LoggedDigest*>>>
      by_device;
  for (const LoggedDigest& d : a.digests)
    by_device[d.device].first.push_back(&d);
  for (const LoggedDigest& d : b.digests)
    by_device[d.device].second.push_back(&d);
  for (const auto& [device, sides] : by_device) {
    const auto& [da, db] = sides;
    for (size_t i = 0; i < std::max(da.size(), db.size()); ++i) {
      const LoggedDigest* x = i < da.size() ? da[i] : nullptr;
      const LoggedDigest* y = i < db.size() ? db[i] : nullptr;
      if (x && y && x->outputs == y->outputs && x->bytes == y->bytes &&
          x->hash == y->hash) {
        continue;
      }
      LoggedDifference d{.kind = Kind::kOutput,
                         .esn_a = x ? std::optional(x->esn) : std::nullopt,
                         .esn_b = y ? std::optional(y->esn) : std::nullopt,
                         .what = device + " outputs",
                         .a = x ? DigestText(*x) : "(no digest)",
                         .b = y ? DigestText(*y) : "(no digest)"};
      if (!output || d.esn() < output->esn()) output = std::move(d);
      break;
    }
  }

  std::map<uint64_t, Hash128> checkpoints_b;
  for (const LoggedCheckpoint& c : b.checkpoints) {
    checkpoints_b[c.esn] = c.state_hash;
  }
  for (const LoggedCheckpoint& c : a.checkpoints) {
    auto it = checkpoints_b.find(c.esn);
    if (it == checkpoints_b.end() || it->second == c.state_hash) continue;
    checkpoint = LoggedDifference{.kind = Kind::kCheckpoint,
                                  .esn_a = c.esn,
                                  .esn_b = c.esn,
                                  .what = "state hash",
                                  .a = c.state_hash.ToHex(),
                                  .b = it->second.ToHex()};
    break;
  }

  if (a.end.has_value() != b.end.has_value() ||
      (a.end &&
       (a.end->esn != b.end->esn || a.end->exit_status != b.end->exit_status ||
        a.end->stop_reason != b.end->stop_reason ||
        a.end->final_state_hash != b.end->final_state_hash))) {
    end = LoggedDifference{
        .kind = Kind::kEnd,
        .esn_a = a.end ? std::optional(a.end->esn) : std::nullopt,
        .esn_b = b.end ? std::optional(b.end->esn) : std::nullopt,
        .what = "end",
        .a = a.end ? EndText(*a.end) : "(torn: no End record)",
        .b = b.end ? EndText(*b.end) : "(torn: no End record)"};
  }

  std::optional<LoggedDifference> fault;
  for (size_t i = 0; i < std::max(a.faults.size(), b.faults.size()); ++i) {
    const LoggedFault* x = i < a.faults.size() ? &a.faults[i] : nullptr;
    const LoggedFault* y = i < b.faults.size() ? &b.faults[i] : nullptr;
    if (x && y && *x == *y) continue;
    fault = LoggedDifference{.kind = Kind::kFault,
                             .esn_a = x ? std::optional(x->esn) : std::nullopt,
                             .esn_b = y ? std::optional(y->esn) : std::nullopt,
                             .what = "injected fault",
                             .a = x ? DescribeFault(*x) : "(none)",
                             .b = y ? DescribeFault(*y) : "(none)"};
    break;
  }

  std::vector<LoggedDifference> out;
  for (auto* d : {&fault, &input, &timing, &output, &checkpoint, &end}) {
    if (*d) out.push_back(std::move(**d));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LoggedDifference& x, const LoggedDifference& y) {
                     return x.esn() < y.esn();
                   });
  return out;
}

absl::StatusOr<StateDifference> DescribeStateDifference(ReplaySession& a,
                                                        ReplaySession& b) {
  StateDifference d;
  d.time = a.time();
  d.position_a = a.position();
  d.position_b = b.position();
  // StateHash syncs memory: page_hashes() is exact afterwards.
  for (ReplaySession* s : {&a, &b}) {
    if (auto h = s->machine().StateHash(); !h.ok()) return h.status();
  }
  auto ca = a.machine().CaptureCpu();
  if (!ca.ok()) return ca.status();
  auto cb = b.machine().CaptureCpu();
  if (!cb.ok()) return cb.status();
  ArchState& x = ca->arch;
  ArchState& y = cb->arch;
  for (size_t i = 0; i < kGeneralRegisterNames.size(); ++i) {
    uint64_t& va = x.regs.*kGeneralRegisterMembers[i];
    uint64_t& vb = y.regs.*kGeneralRegisterMembers[i];
    if (va != vb) {
      d.registers.push_back({std::string(kGeneralRegisterNames[i]), va, vb});
    }
  }
  const std::array<std::pair<const char*, uint64_t ArchState::*>, 7> system = {
      {{"cr0", &ArchState::cr0},
       {"cr2", &ArchState::cr2},
       {"cr3", &ArchState::cr3},
       {"cr4", &ArchState::cr4},
       {"efer", &ArchState::efer},
       {"fs_base", &ArchState::fs_base},
       {"gs_base", &ArchState::gs_base}}};
  for (const auto& [name, member] : system) {
    if (x.*member != y.*member)
      d.registers.push_back({name, x.*member, y.*member});
  }
  // The rest of the CPU state: equal once the listed registers are made
  // equal, or not.
  ArchState y_rest = y;
  y_rest.regs = x.regs;
  for (const auto& [name, member] : system) y_rest.*member = x.*member;
  Hasher hx, hy;
  HashArchState(x, hx);
  HashArchState(y_rest, hy);
  d.other_cpu_state = hx.Digest() != hy.Digest();

  const PageHashes& pa = a.machine().page_hashes();
  const PageHashes& pb = b.machine().page_hashes();
  std::vector<uint8_t> page_a(kPageSize), page_b(kPageSize);
  for (uint64_t p = 0; p < std::min(pa.pages(), pb.pages()); ++p) {
    if (pa.page(p) == pb.page(p)) continue;
    ++d.pages_differing;
    if (d.pages.size() >= kMaxPagesShown) continue;
    PageDifference page{.gpa = p * kPageSize};
    if (absl::Status s = a.machine().memory().Read(page.gpa, page_a); !s.ok()) {
      return s;
    }
    if (absl::Status s = b.machine().memory().Read(page.gpa, page_b); !s.ok()) {
      return s;
    }
    for (uint32_t off = 0; off < kPageSize; ++off) {
      if (page_a[off] == page_b[off]) continue;
      ++page.bytes_differing;
      if (page.offsets.size() < kMaxOffsetsShown) page.offsets.push_back(off);
    }
    d.pages.push_back(std::move(page));
  }

  const std::vector<const FrontEnd*> fa =
      std::as_const(a.machine()).platform().front_ends();
  const std::vector<const FrontEnd*> fb =
      std::as_const(b.machine()).platform().front_ends();
  for (size_t i = 0; i < std::min(fa.size(), fb.size()); ++i) {
    if (fa[i]->name() != fb[i]->name()) continue;  // not the same machine
    std::vector<DeviceFieldDifference> fields =
        CompareFrontEnds(*fa[i], *fb[i]);
    if (!fields.empty()) {
      d.devices.push_back({std::string(fa[i]->name()), std::move(fields)});
    }
  }
  d.clock =
      a.machine().platform().SaveClock() != b.machine().platform().SaveClock();
  return d;
}

absl::StatusOr<std::optional<StateDifference>> LocateStateDifference(
    ReplaySession& a, ReplaySession& b,
    absl::FunctionRef<void(uint64_t)> progress) {
  // Equal: the same point of both runs, and the same state there.
  const auto same = [&]() -> absl::StatusOr<bool> {
    if (a.time() != b.time() || a.position() != b.position()) return false;
    auto ha = a.machine().StateHash();
    if (!ha.ok()) return ha.status();
    auto hb = b.machine().StateHash();
    if (!hb.ok()) return hb.status();
    return *ha == *hb;
  };
  const auto seek_both = [&](uint64_t t) -> absl::Status {
    for (ReplaySession* s : {&a, &b}) {
      auto stop = s->SeekTime(t);
      if (!stop.ok()) return stop.status();
    }
    return absl::OkStatus();
  };
  const auto describe =
      [&]() -> absl::StatusOr<std::optional<StateDifference>> {
    auto d = DescribeStateDifference(a, b);
    if (!d.ok()) return d.status();
    return std::optional<StateDifference>(std::move(*d));
  };

  auto equal = same();
  if (!equal.ok()) return equal.status();
  if (!*equal) return describe();  // they boot differently
  for (uint64_t esn = 0;; ++esn) {
    // The rendezvous of the next exit, on both sides.
    auto sa = a.SeekPosition({.esn = esn + 1, .steps = 0});
    auto sb = b.SeekPosition({.esn = esn + 1, .steps = 0});
    for (const auto* s : {&sa, &sb}) {
      if (!s->ok() && !absl::IsOutOfRange(s->status())) return s->status();
    }
    // Both ended at exit `esn` (its point was compared): equal throughout.
    if (!sa.ok() && !sb.ok()) return std::nullopt;
    // One ended sooner: it stands at its end, where the other does not.
    const bool a_there = sa.ok() || a.at_end();
    const bool b_there = sb.ok() || b.at_end();
    progress(esn + 1);
    equal = a_there && b_there ? same() : absl::StatusOr<bool>(false);
    if (!equal.ok()) return equal.status();
    if (*equal) continue;
    // Equal at the rendezvous of `esn`, different at the next point either
    // side reaches: bisect the instructions between.
    uint64_t lo = *a.ExitTime(esn);
    uint64_t hi = std::min(a.time(), b.time());
    while (hi - lo > 1) {
      const uint64_t mid = lo + (hi - lo) / 2;
      if (absl::Status s = seek_both(mid); !s.ok()) return s;
      equal = same();
      if (!equal.ok()) return equal.status();
      (*equal ? lo : hi) = mid;
    }
    if (absl::Status s = seek_both(hi); !s.ok()) return s;
    return describe();
  }
}

}  // namespace xv
