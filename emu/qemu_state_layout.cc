#include "emu/qemu_state_layout.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kCr0Pe;
using x86::kCr0Pg;
using x86::kRflagsVm;

constexpr uint32_t kDescB = 1u << 22;
constexpr uint32_t kDescL = 1u << 21;

absl::Status Uc(uc_err err, absl::string_view what) {
  if (err == UC_ERR_OK) return absl::OkStatus();
  return absl::InternalError(
      absl::StrFormat("unicorn: %s: %s", what, uc_strerror(err)));
}

struct UcCloser {
  void operator()(uc_engine* uc) const { uc_close(uc); }
};
using Engine = std::unique_ptr<uc_engine, UcCloser>;

struct ContextFreer {
  void operator()(uc_context* c) const { uc_context_free(c); }
};

// One saved uc_context, as bytes.
class Snapshot {
 public:
  static absl::StatusOr<Snapshot> Save(uc_engine* uc, size_t expected_size) {
    const size_t size = uc_context_size(uc);
    if (expected_size != 0 && size != expected_size) {
      return absl::FailedPreconditionError(
          absl::StrFormat("uc_context_size is %d bytes, not the %d calibrated",
                          size, expected_size));
    }
    uc_context* raw = nullptr;
    if (absl::Status s = Uc(uc_context_alloc(uc, &raw), "uc_context_alloc");
        !s.ok()) {
      return s;
    }
    Snapshot snap(raw, size);
    if (absl::Status s = Uc(uc_context_save(uc, raw), "uc_context_save");
        !s.ok()) {
      return s;
    }
    return snap;
  }
  absl::Status Restore(uc_engine* uc) const {
    return Uc(uc_context_restore(uc, ctx_.get()), "uc_context_restore");
  }

  size_t size() const { return size_; }
  const uint8_t* bytes() const {
    return reinterpret_cast<const uint8_t*>(ctx_.get());
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(ctx_.get()); }

  template <typename T>
  T Get(size_t at) const {
    T v;
    std::memcpy(&v, bytes() + at, sizeof v);
    return v;
  }
  template <typename T>
  void Set(size_t at, T v) {
    std::memcpy(bytes() + at, &v, sizeof v);
  }

 private:
  Snapshot(uc_context* ctx, size_t size) : ctx_(ctx), size_(size) {}
  std::unique_ptr<uc_context, ContextFreer> ctx_;
  size_t size_;
};

struct Cache {
  uint32_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t flags;
  friend bool operator==(const Cache&, const Cache&) = default;
};

Cache GetCache(const Snapshot& s, size_t at) {
  return {s.Get<uint32_t>(at + kQemuCacheSelector),
          s.Get<uint64_t>(at + kQemuCacheBase),
          s.Get<uint32_t>(at + kQemuCacheLimit),
          s.Get<uint32_t>(at + kQemuCacheFlags)};
}
void SetCache(Snapshot& s, size_t at, const Cache& c) {
  s.Set<uint32_t>(at + kQemuCacheSelector, c.selector);
  s.Set<uint64_t>(at + kQemuCacheBase, c.base);
  s.Set<uint32_t>(at + kQemuCacheLimit, c.limit);
  s.Set<uint32_t>(at + kQemuCacheFlags, c.flags);
}
std::string CacheString(const Cache& c) {
  return absl::StrFormat("{selector 0x%x, base 0x%x, limit 0x%x, flags 0x%x}",
                         c.selector, c.base, c.limit, c.flags);
}

}  // namespace

const char* SegRegName(SegReg reg) {
  switch (reg) {
    case SegReg::kEs:
      return "ES";
    case SegReg::kCs:
      return "CS";
    case SegReg::kSs:
      return "SS";
    case SegReg::kDs:
      return "DS";
    case SegReg::kFs:
      return "FS";
    case SegReg::kGs:
      return "GS";
    case SegReg::kLdtr:
      return "LDTR";
    case SegReg::kTr:
      return "TR";
  }
  return "?";
}

uint32_t QemuSegmentFlags(const SegmentDescriptor& d) {
  if (d.unusable) return uint32_t{d.dpl & 3u} << 13;
  const uint32_t raw_limit = d.g ? d.limit >> 12 : d.limit;
  return static_cast<uint32_t>((d.base >> 16) & 0xff) |
         uint32_t{d.type & 0xfu} << 8 | uint32_t{d.s & 1u} << 12 |
         uint32_t{d.dpl & 3u} << 13 | uint32_t{d.present & 1u} << 15 |
         ((raw_limit >> 16) & 0xf) << 16 | uint32_t{d.avl & 1u} << 20 |
         uint32_t{d.l & 1u} << 21 | uint32_t{d.db & 1u} << 22 |
         uint32_t{d.g & 1u} << 23 |
         static_cast<uint32_t>((d.base >> 24) & 0xff) << 24;
}

SegmentDescriptor SegmentFromQemuCache(uint16_t selector, uint64_t base,
                                       uint32_t limit, uint32_t flags) {
  SegmentDescriptor d;
  d.selector = selector;
  d.dpl = (flags >> 13) & 3;
  d.present = (flags >> 15) & 1;
  if (!d.present && (selector & ~3u) == 0) {
    d.unusable = true;
    return d;
  }
  d.base = base;
  d.limit = limit;
  d.type = (flags >> 8) & 0xf;
  d.s = (flags >> 12) & 1;
  d.avl = (flags >> 20) & 1;
  d.l = (flags >> 21) & 1;
  d.db = (flags >> 22) & 1;
  d.g = (flags >> 23) & 1;
  return d;
}

size_t QemuStateLayout::CacheOffset(SegReg reg) const {
  switch (reg) {
    case SegReg::kLdtr:
      return ldt_;
    case SegReg::kTr:
      return tr_;
    default:
      return segs_ + kQemuCacheSize * static_cast<size_t>(reg);
  }
}

absl::StatusOr<SegmentDescriptor> QemuStateLayout::ReadSegment(
    uc_engine* uc, SegReg reg) const {
  auto snap = Snapshot::Save(uc, context_size_);
  if (!snap.ok()) return snap.status();
  const Cache c = GetCache(*snap, CacheOffset(reg));
  return SegmentFromQemuCache(static_cast<uint16_t>(c.selector), c.base,
                              c.limit, c.flags);
}

absl::Status QemuStateLayout::LoadSegments(
    uc_engine* uc,
    std::span<const std::pair<SegReg, SegmentDescriptor>> segments) const {
  for (const auto& [reg, d] : segments) {
    if (d.unusable && (d.selector & ~3u) != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("cannot load %s: unusable with the non-null "
                          "selector 0x%x",
                          SegRegName(reg), d.selector));
    }
  }
  auto cr0 = uint64_t{0};
  auto rflags = uint64_t{0};
  if (absl::Status s = Uc(uc_reg_read(uc, UC_X86_REG_CR0, &cr0), "read CR0");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Uc(uc_reg_read(uc, UC_X86_REG_RFLAGS, &rflags), "read RFLAGS");
      !s.ok()) {
    return s;
  }
  auto snap = Snapshot::Save(uc, context_size_);
  if (!snap.ok()) return snap.status();
  uint32_t hflags = snap->Get<uint32_t>(hflags_);
  if (hflags & kHfMpxEn) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot load segments: MPX is enabled (hflags 0x%x), whose bound "
        "configuration would depend on the CPL",
        hflags));
  }
  bool cs = false, ss = false, data = false;
  for (const auto& [reg, d] : segments) {
    // LDTR's and TR's base and limit are architectural state (ArchState
    // keeps them) even with a null selector; a code or data segment's are
    // not.
    const bool system = reg == SegReg::kLdtr || reg == SegReg::kTr;
    const bool keep = !d.unusable || system;
    SetCache(*snap, CacheOffset(reg),
             {d.selector, keep ? d.base : 0, keep ? d.limit : 0,
              QemuSegmentFlags(d)});
    cs |= reg == SegReg::kCs;
    ss |= reg == SegReg::kSs;
    data |= reg != SegReg::kLdtr && reg != SegReg::kTr;
  }
  // cpu_x86_load_seg_cache's hflags update for every register loaded. Its
  // result depends only on the final caches, so applying it once after all
  // of them equals applying it after each.
  auto flags_of = [&](SegReg reg) {
    return snap->Get<uint32_t>(CacheOffset(reg) + kQemuCacheFlags);
  };
  auto base_of = [&](SegReg reg) {
    return snap->Get<uint64_t>(CacheOffset(reg) + kQemuCacheBase);
  };
  if (cs) {
    const uint32_t f = flags_of(SegReg::kCs);
    if ((hflags & kHfLma) && (f & kDescL)) {
      hflags |= kHfCs32 | kHfSs32 | kHfCs64;
      hflags &= ~kHfAddseg;
    } else {
      hflags = (hflags & ~(kHfCs32 | kHfCs64)) | ((f & kDescB) ? kHfCs32 : 0);
    }
  }
  if (ss) {
    hflags = (hflags & ~kHfCplMask) | ((flags_of(SegReg::kSs) >> 13) & 3);
  }
  if (data) {
    uint32_t add = (flags_of(SegReg::kSs) & kDescB) ? kHfSs32 : 0;
    // Long mode: DS, ES and SS have zero bases. Otherwise segment bases
    // are added unless in flat 32-bit protected mode.
    const bool flat32 =
        (cr0 & kCr0Pe) && !(rflags & kRflagsVm) && (hflags & kHfCs32) &&
        (base_of(SegReg::kDs) | base_of(SegReg::kEs) | base_of(SegReg::kSs)) ==
            0;
    if (!(hflags & kHfCs64) && !flat32) add |= kHfAddseg;
    hflags = (hflags & ~(kHfSs32 | kHfAddseg)) | add;
  }
  snap->Set<uint32_t>(hflags_, hflags);
  return snap->Restore(uc);
}

absl::StatusOr<uint32_t> QemuStateLayout::Hflags(uc_engine* uc) const {
  auto snap = Snapshot::Save(uc, context_size_);
  if (!snap.ok()) return snap.status();
  return snap->Get<uint32_t>(hflags_);
}

absl::StatusOr<uint8_t> QemuStateLayout::Cpl(uc_engine* uc) const {
  auto hflags = Hflags(uc);
  if (!hflags.ok()) return hflags.status();
  return static_cast<uint8_t>(*hflags & kHfCplMask);
}

absl::StatusOr<uint32_t> QemuStateLayout::LastErrorCode(uc_engine* uc) const {
  auto snap = Snapshot::Save(uc, context_size_);
  if (!snap.ok()) return snap.status();
  return snap->Get<uint32_t>(error_code_);
}

absl::Status QemuStateLayout::ForgetException(uc_engine* uc) const {
  auto snap = Snapshot::Save(uc, context_size_);
  if (!snap.ok()) return snap.status();
  snap->Set<int32_t>(old_exception_, -1);
  return snap->Restore(uc);
}

// ---------------------------------------------------------------------------
// Calibration.

namespace {

// Scratch machine: paging off (as UC_MODE_64 starts), so linear = physical.
constexpr uint64_t kMemSize = 0x10000;
constexpr uint64_t kGdt = 0x1000;
constexpr uint16_t kGdtLimit = 0x47;
constexpr uint64_t kCode = 0x2000;
constexpr uint64_t kUserCode = 0x3000;
constexpr uint64_t kKernelStack = 0x8000;
constexpr uint64_t kUserStack = 0x9000;

constexpr uint16_t kUserDataSel = 0x1b;
constexpr uint16_t kUserCodeSel = 0x23;
constexpr uint16_t kFsProbeSel = 0x2b;
constexpr uint16_t kGsProbeSel = 0x30;

uint64_t MakeDescriptor(uint32_t base, uint32_t raw_limit, uint8_t access,
                        uint8_t flags) {
  return (raw_limit & 0xffff) | uint64_t{base & 0xffffff} << 16 |
         uint64_t{access} << 40 | uint64_t{(raw_limit >> 16) & 0xf} << 48 |
         (uint64_t{flags} & 0xf) << 52 | uint64_t{base >> 24} << 56;
}

// The GDT: null, kernel code/data, user data/code (DPL 3, 64-bit code),
// and two data descriptors with distinctive bases and limits.
const uint64_t kGdtEntries[] = {
    0,
    MakeDescriptor(0, 0xfffff, 0x9b, 0xa),           // 0x08 kernel code (L, G)
    MakeDescriptor(0, 0xfffff, 0x93, 0xc),           // 0x10 kernel data
    MakeDescriptor(0, 0xfffff, 0xf3, 0xc),           // 0x18 user data
    MakeDescriptor(0, 0xfffff, 0xfb, 0xa),           // 0x20 user code
    MakeDescriptor(0x6b5a4930, 0x4d3c2, 0xf3, 0x5),  // 0x28 FS probe
    MakeDescriptor(0x2e1f0a90, 0x8a7b6, 0x93, 0x1),  // 0x30 GS probe
};

uint32_t HighDword(uint64_t d) { return static_cast<uint32_t>(d >> 32); }
uint32_t ExpandedLimit(uint64_t d) {
  const uint32_t raw =
      static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
  return (d >> 55) & 1 ? raw << 12 | 0xfff : raw;
}
uint64_t DescBase(uint64_t d) {
  return ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
}

absl::Status Mismatch(std::string what) {
  return absl::FailedPreconditionError(absl::StrCat(
      "this libunicorn's CPU state is not laid out as the emulator backend "
      "needs (calibrated for Unicorn 2.0.1): ",
      what));
}

// The offsets (multiples of `align`) where `snap` holds `value` (as a
// little-endian integer of `width` bytes) and `before` did not.
std::vector<size_t> FindChanged(const Snapshot& before, const Snapshot& snap,
                                uint64_t value, size_t width, size_t align,
                                size_t from) {
  std::vector<size_t> found;
  for (size_t at = from; at + width <= snap.size(); at += align) {
    uint64_t now = 0, was = 0;
    std::memcpy(&now, snap.bytes() + at, width);
    std::memcpy(&was, before.bytes() + at, width);
    if (now == value && was != value) found.push_back(at);
  }
  return found;
}

absl::StatusOr<size_t> FindUnique(const Snapshot& before, const Snapshot& snap,
                                  uint64_t value, size_t width,
                                  absl::string_view what, size_t from = 0) {
  std::vector<size_t> found = FindChanged(before, snap, value, width, 4, from);
  if (found.size() != 1) {
    return Mismatch(absl::StrFormat(
        "%s (0x%x) found at %d places in the saved context, not one [%s]", what,
        value, found.size(), absl::StrJoin(found, ", ")));
  }
  return found[0];
}

struct IntrLog {
  int count = 0;
  uint32_t last = 0;
};

void OnIntr(uc_engine* uc, uint32_t intno, void* user) {
  auto* log = static_cast<IntrLog*>(user);
  ++log->count;
  log->last = intno;
  uc_emu_stop(uc);
}

class Scratch {
 public:
  static absl::StatusOr<Scratch> Open() {
    uc_engine* raw = nullptr;
    if (absl::Status s =
            Uc(uc_open(UC_ARCH_X86, UC_MODE_64, &raw), "uc_open (scratch)");
        !s.ok()) {
      return s;
    }
    Scratch s(raw);
    if (absl::Status st =
            Uc(uc_mem_map(raw, 0, kMemSize, UC_PROT_ALL), "map scratch memory");
        !st.ok()) {
      return st;
    }
    if (absl::Status st = s.Write(kGdt, kGdtEntries, sizeof kGdtEntries);
        !st.ok()) {
      return st;
    }
    uc_x86_mmr gdtr{};
    gdtr.base = kGdt;
    gdtr.limit = kGdtLimit;
    if (absl::Status st = s.Reg(UC_X86_REG_GDTR, &gdtr, "GDTR"); !st.ok()) {
      return st;
    }
    uc_hook hook;
    if (absl::Status st = Uc(
            uc_hook_add(raw, &hook, UC_HOOK_INTR,
                        reinterpret_cast<void*>(&OnIntr), s.intr_.get(), 1, 0),
            "add the scratch interrupt hook");
        !st.ok()) {
      return st;
    }
    return s;
  }

  uc_engine* uc() const { return engine_.get(); }
  const IntrLog& intr() const { return *intr_; }

  absl::Status Write(uint64_t at, const void* data, size_t len) {
    return Uc(uc_mem_write(uc(), at, data, len), "write scratch memory");
  }
  absl::Status Reg(int reg, const void* value, absl::string_view what) {
    return Uc(uc_reg_write(uc(), reg, value),
              absl::StrCat("write ", what, " (scratch)"));
  }
  absl::Status Reg64(int reg, uint64_t value, absl::string_view what) {
    return Reg(reg, &value, what);
  }
  absl::StatusOr<uint64_t> Read64(int reg, absl::string_view what) {
    uint64_t v = 0;
    if (absl::Status s = Uc(uc_reg_read(uc(), reg, &v),
                            absl::StrCat("read ", what, " (scratch)"));
        !s.ok()) {
      return s;
    }
    return v;
  }
  // Runs `code` at `at` until `until` or an interrupt.
  absl::Status Run(uint64_t at, std::span<const uint8_t> code, uint64_t until) {
    if (absl::Status s = Write(at, code.data(), code.size()); !s.ok()) return s;
    intr_->count = 0;
    return Uc(uc_emu_start(uc(), at, until, 0, 0), "run scratch code");
  }

 private:
  explicit Scratch(uc_engine* uc)
      : engine_(uc), intr_(std::make_unique<IntrLog>()) {}
  Engine engine_;
  std::unique_ptr<IntrLog> intr_;
};

}  // namespace

class LayoutCalibration {
 public:
  static absl::StatusOr<QemuStateLayout> Run();

 private:
  static absl::Status Segments(QemuStateLayout& l);
  static absl::Status PrivilegeChange(const QemuStateLayout& l);
  static absl::Status Exceptions(QemuStateLayout& l);
  static absl::Status RestoreToUserMode(const QemuStateLayout& l);
};

// Selectors, descriptor caches, hflags: where they are and what a real
// descriptor load leaves in them.
absl::Status LayoutCalibration::Segments(QemuStateLayout& l) {
  auto scratch = Scratch::Open();
  if (!scratch.ok()) return scratch.status();
  auto cr0 = scratch->Read64(UC_X86_REG_CR0, "CR0");
  if (!cr0.ok()) return cr0.status();
  if ((*cr0 & kCr0Pg) || !(*cr0 & kCr0Pe)) {
    return Mismatch(absl::StrFormat(
        "a 64-bit engine starts with CR0 0x%x, not protected mode without "
        "paging",
        *cr0));
  }
  auto before = Snapshot::Save(scratch->uc(), 0);
  if (!before.ok()) return before.status();
  l.context_size_ = before->size();

  constexpr uint64_t kRax = 0x8a7e3c1d5b924f06, kRcx = 0x1f2e3d4c5b6a7988;
  constexpr uint16_t kEs = 0xe5e0, kCs = 0xc5c8, kSs = 0x55a8, kDs = 0xd5d0;
  uc_x86_mmr ldtr{0x48, 0x7edcba9876543210, 0x1357, 0x8200};
  uc_x86_mmr tr{0x50, 0x0123456789abcdef, 0x2067, 0x8b00};
  const std::pair<int, uint64_t> writes[] = {
      {UC_X86_REG_RAX, kRax},       {UC_X86_REG_RCX, kRcx},
      {UC_X86_REG_ES, kEs},         {UC_X86_REG_CS, kCs},
      {UC_X86_REG_SS, kSs},         {UC_X86_REG_DS, kDs},
      {UC_X86_REG_FS, kFsProbeSel}, {UC_X86_REG_GS, kGsProbeSel}};
  for (const auto& [reg, value] : writes) {
    if (absl::Status s = scratch->Reg64(reg, value, "a calibration register");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = scratch->Reg(UC_X86_REG_LDTR, &ldtr, "LDTR"); !s.ok()) {
    return s;
  }
  if (absl::Status s = scratch->Reg(UC_X86_REG_TR, &tr, "TR"); !s.ok()) {
    return s;
  }
  auto after = Snapshot::Save(scratch->uc(), l.context_size_);
  if (!after.ok()) return after.status();

  auto rax = FindUnique(*before, *after, kRax, 8, "RAX");
  if (!rax.ok()) return rax.status();
  l.env_ = *rax;
  if (after->Get<uint64_t>(l.env_ + 8) != kRcx) {
    return Mismatch("RCX does not follow RAX (regs[] in QEMU's order)");
  }
  auto es = FindUnique(*before, *after, kEs, 4, "the ES selector");
  if (!es.ok()) return es.status();
  l.segs_ = *es;
  l.hflags_ = l.segs_ - 8;  // uint32_t hflags, hflags2; then segs[]
  l.ldt_ = l.segs_ + 6 * kQemuCacheSize;
  l.tr_ = l.ldt_ + kQemuCacheSize;
  const size_t gdt = l.tr_ + kQemuCacheSize;
  if (gdt + kQemuCacheSize > l.context_size_) {
    return Mismatch("the segment caches run past the saved context");
  }

  const std::pair<SegReg, uint16_t> selectors[] = {
      {SegReg::kCs, kCs}, {SegReg::kSs, kSs}, {SegReg::kDs, kDs}};
  for (const auto& [reg, sel] : selectors) {
    const uint32_t got = after->Get<uint32_t>(l.CacheOffset(reg));
    if (got != sel) {
      return Mismatch(absl::StrFormat(
          "the %s selector is not at segs[%d] (found 0x%x, wrote 0x%x)",
          SegRegName(reg), static_cast<int>(reg), got, sel));
    }
  }
  // FS and GS were loaded from the GDT: the whole cache must be what the
  // descriptor says, with the high dword as flags.
  const std::pair<SegReg, uint16_t> loaded[] = {{SegReg::kFs, kFsProbeSel},
                                                {SegReg::kGs, kGsProbeSel}};
  for (const auto& [reg, sel] : loaded) {
    const uint64_t d = kGdtEntries[sel >> 3];
    const Cache want{sel, DescBase(d), ExpandedLimit(d), HighDword(d)};
    const Cache got = GetCache(*after, l.CacheOffset(reg));
    if (got != want) {
      return Mismatch(absl::StrFormat(
          "the %s cache after loading 0x%x is %s, "
          "not %s",
          SegRegName(reg), sel, CacheString(got), CacheString(want)));
    }
  }
  const std::tuple<SegReg, const uc_x86_mmr*> system[] = {
      {SegReg::kLdtr, &ldtr}, {SegReg::kTr, &tr}};
  for (const auto& [reg, mmr] : system) {
    const Cache want{mmr->selector, mmr->base, mmr->limit, mmr->flags};
    const Cache got = GetCache(*after, l.CacheOffset(reg));
    if (got != want) {
      return Mismatch(absl::StrFormat("the %s cache is %s, not %s",
                                      SegRegName(reg), CacheString(got),
                                      CacheString(want)));
    }
  }
  if (after->Get<uint64_t>(gdt + kQemuCacheBase) != kGdt ||
      after->Get<uint32_t>(gdt + kQemuCacheLimit) != kGdtLimit) {
    return Mismatch("GDTR does not follow TR");
  }
  // Loading FS and GS recomputed SS32 from SS's cache (all zero here).
  const uint32_t hflags = after->Get<uint32_t>(l.hflags_);
  const uint32_t want = kHfCs32 | kHfPe | kHfLma | kHfCs64;
  if ((hflags & (want | kHfSs32 | kHfCplMask | kHfAddseg)) != want) {
    return Mismatch(absl::StrFormat(
        "hflags of a 64-bit engine after loading FS and GS is 0x%x: not CPL "
        "0 in 64-bit code (expected bits 0x%x set; CPL, SS32 and ADDSEG "
        "clear)",
        hflags, want));
  }
  return absl::OkStatus();
}

// An iretq to CPL 3 loads CS and SS caches and CPL as calibrated.
absl::Status LayoutCalibration::PrivilegeChange(const QemuStateLayout& l) {
  auto scratch = Scratch::Open();
  if (!scratch.ok()) return scratch.status();
  const uint64_t frame[] = {kUserCode, kUserCodeSel, 0x2, kUserStack,
                            kUserDataSel};
  const uint64_t rsp = kKernelStack - sizeof frame;
  if (absl::Status s = scratch->Write(rsp, frame, sizeof frame); !s.ok()) {
    return s;
  }
  if (absl::Status s = scratch->Reg64(UC_X86_REG_RSP, rsp, "RSP"); !s.ok()) {
    return s;
  }
  auto before = Snapshot::Save(scratch->uc(), l.context_size_);
  if (!before.ok()) return before.status();
  const uint8_t iretq[] = {0x48, 0xcf};
  if (absl::Status s = scratch->Run(kCode, iretq, kUserCode); !s.ok()) {
    return s;
  }
  if (scratch->intr().count != 0) {
    return Mismatch(absl::StrFormat("iretq to CPL 3 raised exception %d",
                                    scratch->intr().last));
  }
  auto after = Snapshot::Save(scratch->uc(), l.context_size_);
  if (!after.ok()) return after.status();
  const uint32_t was = before->Get<uint32_t>(l.hflags_);
  const uint32_t now = after->Get<uint32_t>(l.hflags_);
  if ((now & kHfCplMask) != 3 || (was ^ now) != 3) {
    return Mismatch(absl::StrFormat(
        "iretq to CPL 3 changed hflags from 0x%x to 0x%x, not only its CPL "
        "bits from 0 to 3",
        was, now));
  }
  const std::pair<SegReg, uint16_t> loaded[] = {{SegReg::kCs, kUserCodeSel},
                                                {SegReg::kSs, kUserDataSel}};
  for (const auto& [reg, sel] : loaded) {
    const uint64_t d = kGdtEntries[sel >> 3];
    const Cache want{sel, DescBase(d), ExpandedLimit(d), HighDword(d)};
    const Cache got = GetCache(*after, l.CacheOffset(reg));
    if (got != want) {
      return Mismatch(absl::StrFormat(
          "after iretq to CPL 3 the %s cache is %s, not %s", SegRegName(reg),
          CacheString(got), CacheString(want)));
    }
  }
  return absl::OkStatus();
}

// error_code and old_exception, from faults with known error codes.
absl::Status LayoutCalibration::Exceptions(QemuStateLayout& l) {
  auto scratch = Scratch::Open();
  if (!scratch.ok()) return scratch.status();
  constexpr uint64_t kDr0 = 0x5ac3e1f0d2b4a697;
  if (absl::Status s = scratch->Reg64(UC_X86_REG_DR0, kDr0, "DR0"); !s.ok()) {
    return s;
  }
  auto before = Snapshot::Save(scratch->uc(), l.context_size_);
  if (!before.ok()) return before.status();
  // mov eax, 0x1238; mov ds, ax: beyond the GDT limit, #GP(0x1238).
  const uint8_t load_ds[] = {0xb8, 0x38, 0x12, 0, 0, 0x8e, 0xd8};
  if (absl::Status s = scratch->Run(kCode, load_ds, kCode + sizeof load_ds);
      !s.ok()) {
    return s;
  }
  if (scratch->intr().count != 1 || scratch->intr().last != 13) {
    return Mismatch(absl::StrFormat(
        "loading DS with a selector beyond the GDT limit gave %d "
        "interrupts (last %d), not one #GP",
        scratch->intr().count, scratch->intr().last));
  }
  auto after = Snapshot::Save(scratch->uc(), l.context_size_);
  if (!after.ok()) return after.status();
  auto error_code =
      FindUnique(*before, *after, 0x1238, 4,
                 "the #GP error code (past the general registers)", l.segs_);
  if (!error_code.ok()) return error_code.status();
  l.error_code_ = *error_code;
  // int error_code, exception_is_int; target_ulong exception_next_eip,
  // dr[8]; four pointers; int old_exception.
  if (after->Get<uint64_t>(l.error_code_ + 16) != kDr0) {
    return Mismatch("DR0 is not 16 bytes after the error code");
  }
  auto old = FindUnique(*before, *after, 13, 4, "the exception in flight",
                        l.error_code_);
  if (!old.ok()) return old.status();
  l.old_exception_ = *old;
  if (l.old_exception_ != l.error_code_ + 16 + 8 * 8 + 4 * 8 ||
      before->Get<int32_t>(l.old_exception_) != -1) {
    return Mismatch(absl::StrFormat(
        "the exception in flight is at +0x%x from the error code and was "
        "%d before: not QEMU's old_exception",
        l.old_exception_ - l.error_code_,
        before->Get<int32_t>(l.old_exception_)));
  }

  // Forgotten, a second #GP is reported as #GP with its own error code.
  if (absl::Status s = l.ForgetException(scratch->uc()); !s.ok()) return s;
  const uint8_t load_es[] = {0xb8, 0x60, 0x24, 0, 0, 0x8e, 0xc0};
  if (absl::Status s =
          scratch->Run(kCode + 0x100, load_es, kCode + 0x100 + sizeof load_es);
      !s.ok()) {
    return s;
  }
  auto code = l.LastErrorCode(scratch->uc());
  if (!code.ok()) return code.status();
  if (scratch->intr().count != 1 || scratch->intr().last != 13 ||
      *code != 0x2460) {
    return Mismatch(absl::StrFormat(
        "after forgetting a #GP, a second one came as vector %d with error "
        "code 0x%x, not #GP(0x2460)",
        scratch->intr().last, *code));
  }
  return absl::OkStatus();
}

// The point of it all: a patched restore puts the CPU at CPL 3 in 64-bit
// code, where `cli` (IOPL 0) faults; back at CPL 0 it does not.
absl::Status LayoutCalibration::RestoreToUserMode(const QemuStateLayout& l) {
  auto scratch = Scratch::Open();
  if (!scratch.ok()) return scratch.status();
  const SegmentDescriptor user_cs =
      DecodeSegmentDescriptor(kUserCodeSel, kGdtEntries[kUserCodeSel >> 3]);
  const SegmentDescriptor user_ss =
      DecodeSegmentDescriptor(kUserDataSel, kGdtEntries[kUserDataSel >> 3]);
  const std::pair<SegReg, SegmentDescriptor> to_user[] = {
      {SegReg::kCs, user_cs}, {SegReg::kSs, user_ss}};
  if (absl::Status s = l.LoadSegments(scratch->uc(), to_user); !s.ok()) {
    return s;
  }
  auto cpl = l.Cpl(scratch->uc());
  if (!cpl.ok()) return cpl.status();
  uint64_t cs = 0;
  if (absl::Status s = Uc(uc_reg_read(scratch->uc(), UC_X86_REG_CS, &cs),
                          "read CS (scratch)");
      !s.ok()) {
    return s;
  }
  if (*cpl != 3 || (cs & 0xffff) != kUserCodeSel) {
    return Mismatch(absl::StrFormat(
        "after a patched restore to CPL 3 the CPL is %d and CS 0x%x", *cpl,
        cs));
  }
  const uint8_t cli[] = {0xfa};
  if (absl::Status s = scratch->Run(kUserCode, cli, kUserCode + 1); !s.ok()) {
    return s;
  }
  auto code = l.LastErrorCode(scratch->uc());
  if (!code.ok()) return code.status();
  if (scratch->intr().count != 1 || scratch->intr().last != 13 || *code != 0) {
    return Mismatch(absl::StrFormat(
        "cli at CPL 3 after a patched restore gave %d interrupts (last "
        "vector %d, error code 0x%x), not #GP(0)",
        scratch->intr().count, scratch->intr().last, *code));
  }
  if (absl::Status s = l.ForgetException(scratch->uc()); !s.ok()) return s;
  const SegmentDescriptor kernel_cs =
      DecodeSegmentDescriptor(0x08, kGdtEntries[1]);
  const SegmentDescriptor kernel_ss =
      DecodeSegmentDescriptor(0x10, kGdtEntries[2]);
  const std::pair<SegReg, SegmentDescriptor> to_kernel[] = {
      {SegReg::kCs, kernel_cs}, {SegReg::kSs, kernel_ss}};
  if (absl::Status s = l.LoadSegments(scratch->uc(), to_kernel); !s.ok()) {
    return s;
  }
  if (absl::Status s = scratch->Run(kCode, cli, kCode + 1); !s.ok()) return s;
  if (scratch->intr().count != 0) {
    return Mismatch(
        absl::StrFormat("cli at CPL 0 after a patched restore raised vector %d",
                        scratch->intr().last));
  }
  return absl::OkStatus();
}

absl::StatusOr<QemuStateLayout> LayoutCalibration::Run() {
  QemuStateLayout l;
  if (absl::Status s = Segments(l); !s.ok()) return s;
  if (absl::Status s = PrivilegeChange(l); !s.ok()) return s;
  if (absl::Status s = Exceptions(l); !s.ok()) return s;
  if (absl::Status s = RestoreToUserMode(l); !s.ok()) return s;
  return l;
}

absl::StatusOr<const QemuStateLayout*> QemuStateLayout::Get() {
  static const absl::StatusOr<QemuStateLayout>* const layout =
      new absl::StatusOr<QemuStateLayout>(LayoutCalibration::Run());
  if (!layout->ok()) return layout->status();
  return &**layout;
}

}  // namespace xv
