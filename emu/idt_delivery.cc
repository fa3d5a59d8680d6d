#include "emu/idt_delivery.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kCr0Pe;
using x86::kCr0Pg;
using x86::kEferLma;
using x86::kRflagsIf;
using x86::kRflagsNt;
using x86::kRflagsRf;
using x86::kRflagsTf;
using x86::kRflagsVm;

constexpr uint8_t kDe = 0, kDf = 8, kTs = 10, kNp = 11, kSs = 12, kGp = 13,
                  kPf = 14;

bool IsCanonical(uint64_t a) {
  return static_cast<uint64_t>(static_cast<int64_t>(a << 16) >> 16) == a;
}

// Fault-class exceptions (RF=1 in the pushed RFLAGS). #DB is left alone:
// whether it is a fault depends on its cause.
bool IsFaultClass(uint8_t v) {
  switch (v) {
    case 0:
    case 5:
    case 6:
    case 7:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 16:
    case 17:
    case 19:
    case 20:
    case 21:
      return true;
    default:
      return false;
  }
}

enum class Class { kBenign, kContributory, kPageFault, kDoubleFault };
Class ClassOf(const Event& e) {
  if (e.kind != EventKind::kException) return Class::kBenign;
  switch (e.vector) {
    case kDe:
    case kTs:
    case kNp:
    case kSs:
    case kGp:
      return Class::kContributory;
    case kPf:
      return Class::kPageFault;
    case kDf:
      return Class::kDoubleFault;
    default:
      return Class::kBenign;
  }
}

// A fault raised while delivering.
struct Fault {
  uint8_t vector;
  uint32_t error_code;
  std::optional<uint64_t> cr2;
  std::string what;
};

struct Delivered {
  GeneralRegisters regs;
  uint8_t cpl;
  SegmentDescriptor cs, ss;
};

using Outcome = std::variant<Delivered, Fault>;

const char* VectorName(uint8_t v) {
  switch (v) {
    case 0:
      return "#DE";
    case 1:
      return "#DB";
    case 2:
      return "NMI";
    case 3:
      return "#BP";
    case 4:
      return "#OF";
    case 5:
      return "#BR";
    case 6:
      return "#UD";
    case 7:
      return "#NM";
    case 8:
      return "#DF";
    case 10:
      return "#TS";
    case 11:
      return "#NP";
    case 12:
      return "#SS";
    case 13:
      return "#GP";
    case 14:
      return "#PF";
    case 16:
      return "#MF";
    case 17:
      return "#AC";
    case 18:
      return "#MC";
    case 19:
      return "#XM";
    default:
      return "vector";
  }
}

std::string EventString(const Event& e) {
  switch (e.kind) {
    case EventKind::kExternalInterrupt:
      return absl::StrFormat("external interrupt 0x%x", e.vector);
    case EventKind::kSoftwareInterrupt:
      return absl::StrFormat("int 0x%x", e.vector);
    case EventKind::kException:
      if (ExceptionHasErrorCode(e.vector)) {
        return absl::StrFormat("%s(0x%x) (vector %d)", VectorName(e.vector),
                               e.error_code, e.vector);
      }
      return absl::StrFormat("%s (vector %d)", VectorName(e.vector), e.vector);
  }
  return "?";
}

class Attempt {
 public:
  Attempt(const Event& e, const DeliveryState& s, LinearMemory& m)
      : e_(e), s_(s), m_(m), ext_(e.kind != EventKind::kSoftwareInterrupt) {}

  absl::StatusOr<Outcome> Run();

 private:
  Fault Gp(uint32_t code, std::string what) {
    return {kGp, code, std::nullopt, std::move(what)};
  }
  uint32_t IdtCode() const { return e_.vector * 8u + 2u + ext_; }
  uint32_t SelectorCode(uint16_t sel) const { return (sel & 0xfffcu) + ext_; }

  // Reads `out` at `linear`; nullopt when done, else the fault.
  absl::StatusOr<std::optional<Fault>> Read(uint64_t linear,
                                            std::span<uint8_t> out,
                                            const char* what) {
    if (!IsCanonical(linear) || !IsCanonical(linear + out.size() - 1)) {
      return std::optional<Fault>(
          Gp(ext_, absl::StrFormat("%s at non-canonical 0x%x", what, linear)));
    }
    auto access = m_.Read(linear, out);
    if (!access.ok()) return access.status();
    if (access->done) return std::optional<Fault>();
    return std::optional<Fault>(
        Fault{kPf, 0, access->unmapped,
              absl::StrFormat("%s at 0x%x: page 0x%x not mapped", what, linear,
                              access->unmapped)});
  }

  const Event& e_;
  const DeliveryState& s_;
  LinearMemory& m_;
  const uint32_t ext_;
};

absl::StatusOr<Outcome> Attempt::Run() {
  // The gate.
  const uint64_t gate_end = uint64_t{e_.vector} * 16 + 15;
  if (gate_end > s_.idtr.limit) {
    return Gp(IdtCode(), absl::StrFormat("gate %d beyond the IDT limit 0x%x",
                                         e_.vector, s_.idtr.limit));
  }
  uint8_t gate[16];
  const uint64_t gate_at = s_.idtr.base + uint64_t{e_.vector} * 16;
  auto gate_fault = Read(gate_at, gate, "IDT gate");
  if (!gate_fault.ok()) return gate_fault.status();
  if (*gate_fault) return **gate_fault;
  uint64_t lo, hi;
  std::memcpy(&lo, gate, 8);
  std::memcpy(&hi, gate + 8, 8);
  const uint64_t target =
      (lo & 0xffff) | ((lo >> 48) & 0xffff) << 16 | (hi & 0xffffffff) << 32;
  const uint16_t selector = static_cast<uint16_t>(lo >> 16);
  const unsigned ist = (lo >> 32) & 7;
  const unsigned type = (lo >> 40) & 0x1f;  // with S (must be 0)
  const unsigned gate_dpl = (lo >> 45) & 3;
  const bool gate_present = (lo >> 47) & 1;
  if (type != 0xe && type != 0xf) {
    return Gp(IdtCode(), absl::StrFormat("gate %d has type 0x%x, not a "
                                         "64-bit interrupt or trap gate",
                                         e_.vector, type));
  }
  if (e_.kind == EventKind::kSoftwareInterrupt && gate_dpl < s_.cpl) {
    return Gp(IdtCode(),
              absl::StrFormat("int 0x%x at CPL %d through a gate of DPL %d",
                              e_.vector, s_.cpl, gate_dpl));
  }
  if (!gate_present) {
    return Fault{kNp, IdtCode(), std::nullopt,
                 absl::StrFormat("gate %d not present", e_.vector)};
  }

  // The code segment.
  if ((selector & 0xfffc) == 0) {
    return Gp(ext_, absl::StrFormat("gate %d names the null code segment",
                                    e_.vector));
  }
  if (selector & 4) {
    return absl::UnimplementedError(absl::StrFormat(
        "gate %d's code segment 0x%x is in the LDT", e_.vector, selector));
  }
  if ((selector | 7u) > s_.gdtr.limit) {
    return Gp(SelectorCode(selector),
              absl::StrFormat("gate %d's code segment 0x%x is beyond the GDT "
                              "limit 0x%x",
                              e_.vector, selector, s_.gdtr.limit));
  }
  uint8_t raw[8];
  const uint64_t desc_at = s_.gdtr.base + (selector & ~7u);
  auto desc_fault = Read(desc_at, raw, "code segment descriptor");
  if (!desc_fault.ok()) return desc_fault.status();
  if (*desc_fault) return **desc_fault;
  uint64_t d;
  std::memcpy(&d, raw, 8);
  SegmentDescriptor cs = DecodeSegmentDescriptor(selector, d);
  if (!cs.s || !(cs.type & 8) || cs.dpl > s_.cpl) {
    return Gp(
        SelectorCode(selector),
        absl::StrFormat("gate %d's segment 0x%x is not code of DPL <= "
                        "CPL %d (type 0x%x, S %d, DPL %d)",
                        e_.vector, selector, s_.cpl, cs.type, cs.s, cs.dpl));
  }
  if (!cs.l || cs.db) {
    return Gp(SelectorCode(selector),
              absl::StrFormat("gate %d's code segment 0x%x is not 64-bit",
                              e_.vector, selector));
  }
  if (!cs.present) {
    return Fault{kNp, SelectorCode(selector), std::nullopt,
                 absl::StrFormat("gate %d's code segment 0x%x not present",
                                 e_.vector, selector)};
  }
  if (!IsCanonical(target)) {
    return Gp(ext_, absl::StrFormat("gate %d's target 0x%x is non-canonical",
                                    e_.vector, target));
  }
  const uint8_t new_cpl = (cs.type & 4) ? s_.cpl : cs.dpl;  // conforming

  // The stack.
  uint64_t rsp = s_.regs.rsp;
  SegmentDescriptor ss = s_.ss;
  if (new_cpl < s_.cpl || ist != 0) {
    const uint64_t slot = ist != 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
    if (slot + 7 > s_.tr.limit) {
      return Fault{kTs, SelectorCode(s_.tr.selector), std::nullopt,
                   absl::StrFormat("TSS slot 0x%x beyond the TSS limit 0x%x",
                                   slot, s_.tr.limit)};
    }
    uint8_t v[8];
    auto tss_fault = Read(s_.tr.base + slot, v, "TSS stack pointer");
    if (!tss_fault.ok()) return tss_fault.status();
    if (*tss_fault) return **tss_fault;
    std::memcpy(&rsp, v, 8);
    if (new_cpl < s_.cpl) {
      ss = SegmentDescriptor{
          .selector = new_cpl, .dpl = new_cpl, .unusable = true};
    }
  }
  rsp &= ~uint64_t{15};

  const bool with_code =
      e_.kind == EventKind::kException && ExceptionHasErrorCode(e_.vector);
  uint64_t rflags = s_.regs.rflags;
  if (e_.kind == EventKind::kException && IsFaultClass(e_.vector)) {
    rflags |= kRflagsRf;
  }
  uint64_t frame[6];
  size_t n = 0;
  if (with_code) frame[n++] = e_.error_code;
  frame[n++] = s_.regs.rip;
  frame[n++] = s_.cs.selector;
  frame[n++] = rflags;
  frame[n++] = s_.regs.rsp;
  frame[n++] = s_.ss.selector;
  const uint64_t size = n * 8;
  const uint64_t new_rsp = rsp - size;
  if (!IsCanonical(rsp - 1) || !IsCanonical(new_rsp)) {
    return Fault{kSs, ext_, std::nullopt,
                 absl::StrFormat("stack 0x%x is non-canonical", rsp)};
  }
  // The accessed bit of the code segment, as a descriptor load sets it.
  if (!(cs.type & 1)) {
    uint8_t access = raw[5] | 1;
    auto w = m_.Write(desc_at + 5, {&access, 1});
    if (!w.ok()) return w.status();
    if (!w->done) {
      return Fault{kPf, 2, w->unmapped,
                   absl::StrFormat("code segment descriptor at 0x%x: page "
                                   "not mapped",
                                   desc_at)};
    }
    cs.type |= 1;
  }
  auto w = m_.Write(new_rsp, {reinterpret_cast<const uint8_t*>(frame), size});
  if (!w.ok()) return w.status();
  if (!w->done) {
    return Fault{kPf, 2, w->unmapped,
                 absl::StrFormat("interrupt frame at 0x%x: page 0x%x not "
                                 "mapped",
                                 new_rsp, w->unmapped)};
  }

  Delivered out;
  out.regs = s_.regs;
  out.regs.rsp = new_rsp;
  out.regs.rip = target;
  out.regs.rflags &= ~(kRflagsTf | kRflagsNt | kRflagsRf | kRflagsVm);
  if (type == 0xe) out.regs.rflags &= ~kRflagsIf;
  out.cpl = new_cpl;
  cs.selector = (selector & 0xfffc) | new_cpl;
  out.cs = cs;
  out.ss = ss;
  return out;
}

}  // namespace

bool ExceptionHasErrorCode(uint8_t v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 ||
         v == 30;
}

absl::StatusOr<LinearMemory::Access> GuestLinearMemory::Read(
    uint64_t linear, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = linear + done;
    const size_t chunk =
        std::min<uint64_t>(out.size() - done, kPageSize - at % kPageSize);
    auto gpa = TranslateLinear(paging_, memory_, at);
    if (absl::IsNotFound(gpa.status())) return Access{false, at};
    if (!gpa.ok()) return gpa.status();
    if (absl::Status s = memory_.Read(*gpa, out.subspan(done, chunk));
        !s.ok()) {
      return s;
    }
    done += chunk;
  }
  return Access{};
}

absl::StatusOr<LinearMemory::Access> GuestLinearMemory::Write(
    uint64_t linear, std::span<const uint8_t> data) {
  // Translate every page first: a failed access writes nothing.
  std::vector<std::pair<uint64_t, std::span<const uint8_t>>> pieces;
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t at = linear + done;
    const size_t chunk =
        std::min<uint64_t>(data.size() - done, kPageSize - at % kPageSize);
    auto gpa = TranslateLinear(paging_, memory_, at);
    if (absl::IsNotFound(gpa.status())) return Access{false, at};
    if (!gpa.ok()) return gpa.status();
    pieces.emplace_back(*gpa, data.subspan(done, chunk));
    done += chunk;
  }
  for (const auto& [gpa, piece] : pieces) {
    if (absl::Status s = memory_.Write(gpa, piece); !s.ok()) return s;
    pages_written_.push_back(gpa / kPageSize);
    if (on_page_written_) on_page_written_(gpa / kPageSize);
  }
  return Access{};
}

absl::StatusOr<DeliveryResult> DeliverEvent(const Event& event,
                                            const DeliveryState& state,
                                            LinearMemory& memory) {
  if (!(state.cr0 & kCr0Pe) || !(state.cr0 & kCr0Pg) ||
      !(state.efer & kEferLma)) {
    return absl::UnimplementedError(
        absl::StrFormat("delivering %s outside long mode (CR0 0x%x, EFER 0x%x)",
                        EventString(event), state.cr0, state.efer));
  }
  DeliveryResult result;
  Event current = event;
  std::string trail = EventString(event);
  // Benign -> contributory/#PF -> #DF -> shutdown: at most four rounds.
  for (int round = 0; round < 4; ++round) {
    auto outcome = Attempt(current, state, memory).Run();
    if (!outcome.ok()) return outcome.status();
    if (auto* done = std::get_if<Delivered>(&*outcome)) {
      result.delivered = current;
      result.regs = done->regs;
      result.cpl = done->cpl;
      result.cs = done->cs;
      result.ss = done->ss;
      return result;
    }
    const Fault& fault = std::get<Fault>(*outcome);
    if (fault.cr2) result.cr2 = fault.cr2;
    const Event next_fault{fault.vector, EventKind::kException,
                           fault.error_code};
    absl::StrAppend(&trail, " -> ", fault.what, ": ", EventString(next_fault));
    const Class first = ClassOf(current);
    const Class second = ClassOf(next_fault);
    if (first == Class::kDoubleFault) {
      result.shutdown = true;
      result.shutdown_reason = absl::StrCat("triple fault: ", trail);
      return result;
    }
    const bool escalate =
        (first == Class::kContributory && second == Class::kContributory) ||
        (first == Class::kPageFault &&
         (second == Class::kContributory || second == Class::kPageFault));
    if (escalate) {
      current = Event{kDf, EventKind::kException, 0};
      absl::StrAppend(&trail, " -> #DF(0)");
    } else {
      current = next_fault;
    }
  }
  result.shutdown = true;
  result.shutdown_reason = absl::StrCat("no delivery after: ", trail);
  return result;
}

}  // namespace xv
