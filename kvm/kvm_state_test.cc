// KVM's vCPU state without KVM: the blob CpuState carries (round trip, and
// refusal of blobs that are not exactly one), ToArchState on a hand-made
// state (XSAVE layout, XCR0, events, debug registers, MSRs), and
// FromArchState rebuilding the segment caches from a GDT in guest memory
// (real mode, protected mode, long mode through page tables) and refusing
// what it cannot rebuild.
#include "kvm/kvm_state.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hypervisor/arch_state.h"
#include "kvm/kvm_uapi.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

using ::testing::IsEmpty;

// Bytes that differ from field to field and from struct to struct.
template <typename T>
void FillPattern(T& value, uint8_t seed) {
  auto* bytes = reinterpret_cast<uint8_t*>(&value);
  for (size_t i = 0; i < sizeof value; ++i) {
    bytes[i] = static_cast<uint8_t>(seed + 13 * i + (i >> 8));
  }
}

template <typename T>
bool SameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

KvmVcpuState PatternState() {
  KvmVcpuState st;
  FillPattern(st.regs, 1);
  FillPattern(st.sregs, 2);
  FillPattern(st.xsave, 3);
  FillPattern(st.xcrs, 4);
  FillPattern(st.events, 5);
  FillPattern(st.debugregs, 6);
  st.msrs = {{0x174, 0x10}, {0xc0000082, 0xffffffff81000000}, {0x10, 7}};
  return st;
}

TEST(KvmStateBlobTest, RoundTripsEveryByte) {
  const KvmVcpuState st = PatternState();
  auto back = ParseKvmState(SerializeKvmState(st));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameBytes(back->regs, st.regs));
  EXPECT_TRUE(SameBytes(back->sregs, st.sregs));
  EXPECT_TRUE(SameBytes(back->xsave, st.xsave));
  EXPECT_TRUE(SameBytes(back->xcrs, st.xcrs));
  EXPECT_TRUE(SameBytes(back->events, st.events));
  EXPECT_TRUE(SameBytes(back->debugregs, st.debugregs));
  EXPECT_EQ(back->msrs, st.msrs);
}

TEST(KvmStateBlobTest, RoundTripsWithoutMsrs) {
  KvmVcpuState st = PatternState();
  st.msrs.clear();
  auto back = ParseKvmState(SerializeKvmState(st));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->msrs.empty());
  EXPECT_TRUE(SameBytes(back->debugregs, st.debugregs));
}

TEST(KvmStateBlobTest, RefusesAnotherTag) {
  std::vector<uint8_t> blob = SerializeKvmState(PatternState());
  blob[7] ^= 1;
  EXPECT_EQ(ParseKvmState(blob).status(),
            absl::InvalidArgumentError("not a KVM vCPU state blob"));
  EXPECT_EQ(ParseKvmState({}).status(),
            absl::InvalidArgumentError("not a KVM vCPU state blob"));
}

TEST(KvmStateBlobTest, RefusesEveryTruncation) {
  const std::vector<uint8_t> blob = SerializeKvmState(PatternState());
  for (size_t n = 0; n < blob.size(); ++n) {
    absl::Status status =
        ParseKvmState(std::span<const uint8_t>(blob.data(), n)).status();
    // Up to the whole tag it is no blob at all; after it, a cut one.
    const absl::Status expected =
        n < 8 ? absl::InvalidArgumentError("not a KVM vCPU state blob")
              : absl::DataLossError("KVM vCPU state blob is truncated");
    ASSERT_EQ(status, expected) << n << " of " << blob.size() << " bytes";
  }
}

TEST(KvmStateBlobTest, RefusesTrailingBytes) {
  std::vector<uint8_t> blob = SerializeKvmState(PatternState());
  blob.insert(blob.end(), {0, 0, 0});
  EXPECT_EQ(ParseKvmState(blob).status(),
            absl::DataLossError("3 bytes follow the KVM vCPU state blob"));
}

TEST(KvmStateBlobTest, RefusesOtherStructSizes) {
  std::vector<uint8_t> blob = SerializeKvmState(PatternState());
  blob[8] ^= 8;  // the size of kvm_regs, just after the tag
  EXPECT_EQ(ParseKvmState(blob).status(),
            absl::FailedPreconditionError("the KVM vCPU state blob was made "
                                          "with other kernel struct sizes"));
}

TEST(KvmStateBlobTest, RefusesAnAbsurdMsrCount) {
  KvmVcpuState st = PatternState();
  st.msrs.clear();
  std::vector<uint8_t> blob = SerializeKvmState(st);
  // The count is the blob's last word when there are no MSRs.
  for (uint32_t count : {257u, 0xffffffffu}) {
    std::memcpy(blob.data() + blob.size() - 4, &count, 4);
    EXPECT_EQ(ParseKvmState(blob).status(),
              absl::DataLossError(absl::StrFormat(
                  "KVM vCPU state blob claims %d MSRs", count)));
  }
}

// The names of the fields where `a` and `b` differ, for readable failures.
std::vector<std::string> DifferingFields(const ArchState& a,
                                         const ArchState& b) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> fields;
  ForEachArchField(a, [&](std::string_view name, std::span<const uint8_t> v) {
    fields.push_back({std::string(name), {v.begin(), v.end()}});
  });
  std::vector<std::string> differing;
  size_t i = 0;
  ForEachArchField(b, [&](std::string_view, std::span<const uint8_t> v) {
    if (fields[i].second != std::vector<uint8_t>(v.begin(), v.end())) {
      differing.push_back(fields[i].first);
    }
    ++i;
  });
  return differing;
}

template <typename T>
void StoreAt(kvm_xsave& xsave, size_t offset, T value) {
  std::memcpy(reinterpret_cast<uint8_t*>(xsave.region) + offset, &value,
              sizeof value);
}

template <typename T>
T LoadAt(const kvm_xsave& xsave, size_t offset) {
  T value;
  std::memcpy(&value, reinterpret_cast<const uint8_t*>(xsave.region) + offset,
              sizeof value);
  return value;
}

TEST(ToArchStateTest, ReadsEveryFieldFromWhereKvmKeepsIt) {
  KvmVcpuState k;
  ArchState e;  // what it must give
  k.regs.rax = e.regs.rax = 0x1111;
  k.regs.rbx = e.regs.rbx = 0x2222;
  k.regs.rcx = e.regs.rcx = 0x3333;
  k.regs.rdx = e.regs.rdx = 0x4444;
  k.regs.rsi = e.regs.rsi = 0x5555;
  k.regs.rdi = e.regs.rdi = 0x6666;
  k.regs.rsp = e.regs.rsp = 0x7777;
  k.regs.rbp = e.regs.rbp = 0x8888;
  k.regs.r8 = e.regs.r8 = 0x8;
  k.regs.r9 = e.regs.r9 = 0x9;
  k.regs.r10 = e.regs.r10 = 0x10;
  k.regs.r11 = e.regs.r11 = 0x11;
  k.regs.r12 = e.regs.r12 = 0x12;
  k.regs.r13 = e.regs.r13 = 0x13;
  k.regs.r14 = e.regs.r14 = 0x14;
  k.regs.r15 = e.regs.r15 = 0x15;
  k.regs.rip = e.regs.rip = 0xffffffff81000000;
  k.regs.rflags = e.regs.rflags = 0x246;

  kvm_sregs& s = k.sregs;
  s.cr0 = e.cr0 = 0x80050033;
  s.cr2 = e.cr2 = 0x7f00deadb000;
  s.cr3 = e.cr3 = 0x1234000;
  s.cr4 = e.cr4 = 0x3406f0;
  s.cr8 = e.cr8 = 0xf;
  s.efer = e.efer = 0xd01;
  s.cs.selector = e.cs = 0x10;
  s.ds.selector = e.ds = 0x18;
  s.es.selector = e.es = 0x20;
  s.fs.selector = e.fs = 0x2b;
  s.gs.selector = e.gs = 0x33;
  s.ss.selector = e.ss = 0x18;
  s.fs.base = e.fs_base = 0x7f0012345000;
  s.gs.base = e.gs_base = 0xffff888000001000;
  // Caches that are not architectural state here.
  s.cs.base = 0x999;
  s.ds.limit = 0x1234;
  s.ss.dpl = 3;
  s.gdt.base = e.gdtr.base = 0xfffffe0000001000;
  s.gdt.limit = e.gdtr.limit = 0x7f;
  s.idt.base = e.idtr.base = 0xfffffe0000000000;
  s.idt.limit = e.idtr.limit = 0xfff;
  s.ldt.selector = e.ldtr.selector = 0x50;
  s.ldt.base = e.ldtr.base = 0xffff888000002000;
  s.ldt.limit = e.ldtr.limit = 0x1ff;
  s.tr.selector = e.tr.selector = 0x40;
  s.tr.base = e.tr.base = 0xfffffe0000003000;
  s.tr.limit = e.tr.limit = 0x206f;

  // The XSAVE legacy area and AVX's upper halves.
  StoreAt<uint16_t>(k.xsave, 0, e.fcw = 0x27f);
  StoreAt<uint16_t>(k.xsave, 2, e.fsw = 0x3800);
  StoreAt<uint8_t>(k.xsave, 4, e.ftw = 0x81);
  StoreAt<uint8_t>(k.xsave, 5, 0xee);  // reserved
  StoreAt<uint32_t>(k.xsave, 24, e.mxcsr = 0x1fa0);
  StoreAt<uint32_t>(k.xsave, 28, 0xffff);  // MXCSR_MASK
  for (size_t i = 0; i < 8; ++i) {
    for (size_t b = 0; b < 16; ++b) {
      // Bytes 10-15 of each slot are padding.
      const uint8_t v = b < 10 ? static_cast<uint8_t>(0x10 * i + b + 1) : 0xee;
      StoreAt<uint8_t>(k.xsave, 32 + 16 * i + b, v);
      if (b < 10) e.st[i][b] = v;
    }
  }
  for (size_t i = 0; i < 16; ++i) {
    for (size_t b = 0; b < 16; ++b) {
      e.xmm[i][b] = static_cast<uint8_t>(0x80 + 16 * i + b);
      e.ymm_high[i][b] = static_cast<uint8_t>(3 * i + 7 * b + 1);
      StoreAt<uint8_t>(k.xsave, 160 + 16 * i + b, e.xmm[i][b]);
      StoreAt<uint8_t>(k.xsave, 576 + 16 * i + b, e.ymm_high[i][b]);
    }
  }

  // XCR0 need not come first.
  k.xcrs.nr_xcrs = 2;
  k.xcrs.xcrs[0].xcr = 1;
  k.xcrs.xcrs[0].value = 0x99;
  k.xcrs.xcrs[1].xcr = 0;
  k.xcrs.xcrs[1].value = e.xcr0 = 7;

  k.events.interrupt.injected = 1;
  k.events.interrupt.nr = 0x31;
  k.events.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
  e.queued_interrupt = 0x31;
  e.interrupt_shadow = true;

  for (size_t i = 0; i < 4; ++i) {
    k.debugregs.db[i] = e.dr[i] = 0x1000 * (i + 1);
  }
  k.debugregs.dr6 = 0x4001;  // as a backend may report it: reserved bits off
  e.dr6 = 0xfffe4ff1;
  k.debugregs.dr7 = 0x1;
  e.dr7 = 0x401;

  k.msrs = {{0xc0000082, 0xffffffff81800000},
            {0x10, 0x123456789},  // TSC: not architectural state
            {0x277, 0x0007010600070106},
            {0x174, 0x10}};
  e.msrs[*ArchMsrSlot(0xc0000082)] = 0xffffffff81800000;
  e.msrs[*ArchMsrSlot(0x277)] = 0x0007010600070106;
  e.msrs[*ArchMsrSlot(0x174)] = 0x10;

  const ArchState a = ToArchState(k);
  EXPECT_THAT(DifferingFields(a, e), IsEmpty());
  EXPECT_EQ(a, e);
  // MSRs KVM did not report are at their reset values.
  EXPECT_EQ(a.msrs[*ArchMsrSlot(0xc0000103)], 0u);
  EXPECT_EQ(a.msrs[*ArchMsrSlot(0xc0000081)], 0u);
}

TEST(ToArchStateTest, Xcr0IsOneWhenKvmReportsNone) {
  KvmVcpuState k;
  k.xcrs.nr_xcrs = 1;
  k.xcrs.xcrs[0].xcr = 1;
  k.xcrs.xcrs[0].value = 3;
  EXPECT_EQ(ToArchState(k).xcr0, 1u);
  // An entry past nr_xcrs does not count.
  k.xcrs.xcrs[1].xcr = 0;
  k.xcrs.xcrs[1].value = 7;
  EXPECT_EQ(ToArchState(k).xcr0, 1u);
}

TEST(ToArchStateTest, OnlyAnInjectedHardwareInterruptIsQueued) {
  KvmVcpuState k;
  k.events.interrupt.nr = 0x20;
  EXPECT_EQ(ToArchState(k).queued_interrupt, std::nullopt);
  // A software interrupt (INT n being re-executed) is not an external one.
  k.events.interrupt.injected = 1;
  k.events.interrupt.soft = 1;
  EXPECT_EQ(ToArchState(k).queued_interrupt, std::nullopt);
  k.events.interrupt.soft = 0;
  k.events.interrupt.nr = 0;
  EXPECT_EQ(ToArchState(k).queued_interrupt, std::optional<uint8_t>(0));
  EXPECT_FALSE(ToArchState(k).interrupt_shadow);
  k.events.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
  EXPECT_TRUE(ToArchState(k).interrupt_shadow);
}

// --- FromArchState ---------------------------------------------------------

constexpr uint64_t kGdt = 0x1000;
constexpr uint64_t kCr0Pe = 1, kCr0Et = 0x10, kCr0Pg = 1ull << 31;

// Descriptors as an OS writes them.
constexpr uint64_t kCode64 = 0x00af9a000000ffff;      // 0x08
constexpr uint64_t kData32 = 0x00cf92000000ffff;      // 0x10
constexpr uint64_t kUserCode32 = 0x00cffa000000ffff;  // 0x18, DPL 3
// 0x20: base 0x12345678, limit 0xabcd in bytes, type 3, DPL 2, AVL.
constexpr uint64_t kOddData = 0x1210d3345678abcd;
constexpr uint64_t kTss = 0x00008b0020000067;  // 0x28
constexpr uint64_t kLdt = 0x0000820030000fff;  // 0x30

std::string Show(const kvm_segment& s) {
  return absl::StrFormat(
      "sel 0x%x base 0x%x limit 0x%x type 0x%x s %d dpl %d p %d avl %d l %d "
      "db %d g %d unusable %d",
      s.selector, s.base, s.limit, s.type, s.s, s.dpl, s.present, s.avl, s.l,
      s.db, s.g, s.unusable);
}

class FromArchStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(1 << 20);
    ASSERT_TRUE(memory.ok()) << memory.status();
    memory_.emplace(*std::move(memory));
    const uint64_t gdt[] = {0,        kCode64, kData32, kUserCode32,
                            kOddData, kTss,    kLdt};
    ASSERT_TRUE(
        memory_
            ->Write(kGdt, {reinterpret_cast<const uint8_t*>(gdt), sizeof gdt})
            .ok());

    // What KVM holds now: every arch MSR, and what ArchState leaves out.
    for (const ArchMsr& m : kArchMsrs) {
      current_.msrs.push_back({m.index, 0xdead});
    }
    current_.sregs.apic_base = 0xfee00900;
    StoreAt<uint32_t>(current_.xsave, 28, 0xffbf);             // MXCSR_MASK
    StoreAt<uint16_t>(current_.xsave, 6, 0x7ff);               // FOP
    StoreAt<uint64_t>(current_.xsave, 8, 0x1234);              // FIP
    StoreAt<uint8_t>(current_.xsave, 32 + 16 * 7 + 10, 0xee);  // padding
    current_.sregs.interrupt_bitmap[0] = 1;
    current_.events.nmi.pending = 1;
  }

  // Everything but modes and segments away from its default.
  static ArchState Busy() {
    ArchState a;
    uint64_t v = 0x0101010101010101;
    for (std::string_view name : kGeneralRegisterNames) {
      *GeneralRegister(a.regs, name) = v;
      v += 0x0102030405060708;
    }
    a.cr2 = 0x7f00deadb000;
    a.cr8 = 0xf;
    a.xcr0 = 7;
    a.fcw = 0x27f;
    a.fsw = 0x3800;
    a.ftw = 0x81;
    for (size_t i = 0; i < 8; ++i) {
      for (size_t b = 0; b < 10; ++b) {
        a.st[i][b] = static_cast<uint8_t>(0x10 * i + b + 1);
      }
    }
    a.mxcsr = 0x1fa0;
    for (size_t i = 0; i < 16; ++i) {
      for (size_t b = 0; b < 16; ++b) {
        a.xmm[i][b] = static_cast<uint8_t>(0x80 + 16 * i + b);
        a.ymm_high[i][b] = static_cast<uint8_t>(3 * i + 7 * b + 1);
      }
    }
    a.dr = {0x1000, 0x2000, 0x3000, 0x4000};
    a.dr6 = NormalizeDr6(0x4002);
    a.dr7 = NormalizeDr7(0x2ff);
    for (size_t i = 0; i < kArchMsrs.size(); ++i) a.msrs[i] = 0x100 + i;
    a.queued_interrupt = 0x31;
    a.interrupt_shadow = true;
    return a;
  }

  // Protected mode, paging off, flat segments from the GDT above.
  static ArchState Protected() {
    ArchState a = Busy();
    a.cr0 = kCr0Pe | kCr0Et;
    a.gdtr = {kGdt, 7 * 8 - 1};
    a.idtr = {0x2000, 0xfff};
    a.cs = 0x08;
    a.ds = 0x10;
    a.es = 0x22;  // RPL 2
    a.fs = 0x1b;
    a.fs_base = 0x7000;
    a.gs = 0;
    a.gs_base = 0x8000;
    a.ss = 0x10;
    a.tr = {0x28, 0x2400, 0x67};
    a.ldtr = {0x30, 0x3000, 0xfff};
    return a;
  }

  absl::StatusOr<KvmVcpuState> From(const ArchState& a) {
    return FromArchState(a, current_, *memory_);
  }

  std::optional<GuestMemory> memory_;
  KvmVcpuState current_;
};

TEST_F(FromArchStateTest, RealModeSegmentBaseIsSelectorTimesSixteen) {
  ArchState a = Busy();
  a.cs = 0xf000;
  a.ds = 0x1234;
  a.es = 0;
  a.fs = 0x8000;
  a.fs_base = 0x80000;
  a.gs = 0xb800;
  a.gs_base = 0xb8000;
  a.ss = 0x0700;
  a.gdtr = {0, 0xffff};  // no GDT to read
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  const kvm_sregs& s = k->sregs;
  EXPECT_EQ(Show(s.cs),
            "sel 0xf000 base 0xf0000 limit 0xffff type 0xb s 1 "
            "dpl 0 p 1 avl 0 l 0 db 0 g 0 unusable 0");
  EXPECT_EQ(Show(s.ds),
            "sel 0x1234 base 0x12340 limit 0xffff type 0x3 s 1 "
            "dpl 0 p 1 avl 0 l 0 db 0 g 0 unusable 0");
  // A zero selector is usable in real mode.
  EXPECT_EQ(Show(s.es),
            "sel 0x0 base 0x0 limit 0xffff type 0x3 s 1 dpl 0 "
            "p 1 avl 0 l 0 db 0 g 0 unusable 0");
  EXPECT_EQ(s.fs.base, 0x80000u);
  EXPECT_EQ(s.gs.base, 0xb8000u);
  EXPECT_EQ(Show(s.ss),
            "sel 0x700 base 0x7000 limit 0xffff type 0x3 s 1 "
            "dpl 0 p 1 avl 0 l 0 db 0 g 0 unusable 0");
  // LDTR and TR keep a usable cache as after reset (VMX refuses to enter a
  // guest whose TR is unusable), with ArchState's base and limit.
  EXPECT_EQ(Show(s.ldt),
            "sel 0x0 base 0x0 limit 0xffff type 0x2 s 0 dpl 0 p 1 avl 0 l 0 "
            "db 0 g 0 unusable 0");
  EXPECT_EQ(Show(s.tr),
            "sel 0x0 base 0x0 limit 0xffff type 0xb s 0 dpl 0 p 1 avl 0 l 0 "
            "db 0 g 0 unusable 0");
  EXPECT_THAT(DifferingFields(ToArchState(*k), a), IsEmpty());
  EXPECT_EQ(ToArchState(*k), a);
}

TEST_F(FromArchStateTest, ProtectedModeSegmentsComeFromTheGdt) {
  const ArchState a = Protected();
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  const kvm_sregs& s = k->sregs;
  EXPECT_EQ(Show(s.cs),
            "sel 0x8 base 0x0 limit 0xffffffff type 0xa s 1 "
            "dpl 0 p 1 avl 0 l 1 db 0 g 1 unusable 0");
  EXPECT_EQ(Show(s.ds),
            "sel 0x10 base 0x0 limit 0xffffffff type 0x2 s 1 "
            "dpl 0 p 1 avl 0 l 0 db 1 g 1 unusable 0");
  EXPECT_EQ(Show(s.es),
            "sel 0x22 base 0x12345678 limit 0xabcd type 0x3 s 1 dpl 2 p 1 "
            "avl 1 l 0 db 0 g 0 unusable 0");
  // FS and GS bases are ArchState's, not the descriptor's.
  EXPECT_EQ(Show(s.fs),
            "sel 0x1b base 0x7000 limit 0xffffffff type 0xa s 1 "
            "dpl 3 p 1 avl 0 l 0 db 1 g 1 unusable 0");
  EXPECT_EQ(s.gs.unusable, 1);
  EXPECT_EQ(s.gs.selector, 0);
  EXPECT_EQ(s.gs.base, 0x8000u);
  // Outside long mode a null SS stays unusable; this one is not null.
  EXPECT_EQ(Show(s.ss), Show(s.ds));
  // TR and LDTR: base and limit from ArchState, the rest from the GDT.
  EXPECT_EQ(Show(s.tr),
            "sel 0x28 base 0x2400 limit 0x67 type 0xb s 0 dpl 0 "
            "p 1 avl 0 l 0 db 0 g 0 unusable 0");
  EXPECT_EQ(Show(s.ldt),
            "sel 0x30 base 0x3000 limit 0xfff type 0x2 s 0 "
            "dpl 0 p 1 avl 0 l 0 db 0 g 0 unusable 0");
  EXPECT_EQ(s.gdt.base, kGdt);
  EXPECT_EQ(s.gdt.limit, 0x37);
  EXPECT_EQ(s.idt.base, 0x2000u);
  EXPECT_EQ(s.idt.limit, 0xfff);
  EXPECT_THAT(DifferingFields(ToArchState(*k), a), IsEmpty());
  EXPECT_EQ(ToArchState(*k), a);
}

TEST_F(FromArchStateTest, LongModeReadsTheGdtThroughThePageTables) {
  // The GDT at a higher-half linear address: PML4[0] and PML4[256] share
  // a PDPT that leads to one 2 MiB page at 0.
  const uint64_t pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000;
  const uint64_t entries[][2] = {{pml4, pdpt | 3},
                                 {pml4 + uint64_t{256} * 8, pdpt | 3},
                                 {pdpt, pd | 3},
                                 {pd, 0 | 0x80 | 3}};
  for (const auto& [gpa, value] : entries) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<const uint8_t*>(&value), 8})
            .ok());
  }
  ArchState a = Protected();
  a.cr0 = kCr0Pg | kCr0Pe | kCr0Et;
  a.cr3 = pml4;
  a.cr4 = 1 << 5;  // PAE
  a.efer = 0x500;  // LME, LMA
  a.gdtr.base = 0xffff800000000000 + kGdt;
  a.ss = 0;  // null SS, as 64-bit kernels run
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  const kvm_sregs& s = k->sregs;
  EXPECT_EQ(Show(s.cs),
            "sel 0x8 base 0x0 limit 0xffffffff type 0xa s 1 "
            "dpl 0 p 1 avl 0 l 1 db 0 g 1 unusable 0");
  EXPECT_EQ(s.es.base, 0x12345678u);
  // KVM wants the null SS of 64-bit mode present, writable, with DPL = CPL.
  EXPECT_EQ(Show(s.ss),
            "sel 0x0 base 0x0 limit 0x0 type 0x3 s 1 dpl 0 p 1 "
            "avl 0 l 0 db 1 g 0 unusable 0");
  EXPECT_THAT(DifferingFields(ToArchState(*k), a), IsEmpty());
  EXPECT_EQ(ToArchState(*k), a);
}

TEST_F(FromArchStateTest, NullSsInLongModeTakesTheCplAsDpl) {
  const uint64_t pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000;
  const uint64_t entries[][2] = {
      {pml4, pdpt | 3}, {pdpt, pd | 3}, {pd, 0 | 0x80 | 3}};
  for (const auto& [gpa, value] : entries) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<const uint8_t*>(&value), 8})
            .ok());
  }
  ArchState a = Protected();
  a.cr0 = kCr0Pg | kCr0Pe | kCr0Et;
  a.cr3 = pml4;
  a.cr4 = 1 << 5;
  a.efer = 0x500;
  a.cs = 0x1b;  // user code, CPL 3
  a.ss = 0x3;   // null with RPL 3
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->sregs.ss.dpl, 3);
  EXPECT_EQ(k->sregs.ss.unusable, 0);
  EXPECT_EQ(k->sregs.ss.selector, 3);
}

TEST_F(FromArchStateTest, WritesTheXsaveImageAndKeepsWhatArchStateLacks) {
  ArchState a = Protected();
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(LoadAt<uint16_t>(k->xsave, 0), 0x27f);
  EXPECT_EQ(LoadAt<uint8_t>(k->xsave, 4), 0x81);
  EXPECT_EQ(LoadAt<uint32_t>(k->xsave, 24), 0x1fa0u);
  EXPECT_EQ(LoadAt<uint8_t>(k->xsave, 32 + 16 * 7 + 9), a.st[7][9]);
  EXPECT_EQ(LoadAt<uint8_t>(k->xsave, 32 + 16 * 7 + 10), 0);
  EXPECT_EQ(LoadAt<uint8_t>(k->xsave, 160 + 16 * 15 + 15), a.xmm[15][15]);
  EXPECT_EQ(LoadAt<uint8_t>(k->xsave, 576 + 16 * 15 + 15), a.ymm_high[15][15]);
  // XSTATE_BV: x87, SSE, and AVX as XCR0 enables it; standard format.
  EXPECT_EQ(LoadAt<uint64_t>(k->xsave, kXsaveHeaderOffset), 7u);
  EXPECT_EQ(LoadAt<uint64_t>(k->xsave, kXsaveHeaderOffset + 8), 0u);
  a.xcr0 = 3;
  k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(LoadAt<uint64_t>(k->xsave, kXsaveHeaderOffset), 3u);
  // FOP and FIP are no state here; MXCSR_MASK and the APIC base are KVM's.
  EXPECT_EQ(LoadAt<uint16_t>(k->xsave, 6), 0);
  EXPECT_EQ(LoadAt<uint64_t>(k->xsave, 8), 0u);
  EXPECT_EQ(LoadAt<uint32_t>(k->xsave, 28), 0xffbfu);
  EXPECT_EQ(k->sregs.apic_base, 0xfee00900u);
  EXPECT_EQ(k->sregs.interrupt_bitmap[0], 0u);
  // XCR0 is the one XCR.
  EXPECT_EQ(k->xcrs.nr_xcrs, 1u);
  EXPECT_EQ(k->xcrs.xcrs[0].xcr, 0u);
  EXPECT_EQ(k->xcrs.xcrs[0].value, 3u);
}

TEST_F(FromArchStateTest, WritesEventsAndMsrs) {
  ArchState a = Protected();
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->events.interrupt.injected, 1);
  EXPECT_EQ(k->events.interrupt.nr, 0x31);
  EXPECT_EQ(k->events.interrupt.shadow, KVM_X86_SHADOW_INT_STI);
  EXPECT_EQ(k->events.flags, static_cast<uint32_t>(KVM_VCPUEVENT_VALID_SHADOW));
  EXPECT_EQ(k->events.nmi.pending, 0);
  ASSERT_EQ(k->msrs.size(), kArchMsrs.size());
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    EXPECT_EQ(k->msrs[i].index, kArchMsrs[i].index);
    EXPECT_EQ(k->msrs[i].value, 0x100 + i);
  }
  a.queued_interrupt.reset();
  a.interrupt_shadow = false;
  k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->events.interrupt.injected, 0);
  EXPECT_EQ(k->events.interrupt.shadow, 0);
}

TEST_F(FromArchStateTest, NullSelectorIsUnusable) {
  ArchState a = Protected();
  a.ds = 0x3;  // null, whatever the RPL
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->sregs.ds.unusable, 1);
  EXPECT_EQ(k->sregs.ds.present, 0);
  EXPECT_EQ(k->sregs.ds.selector, 3);
  EXPECT_EQ(ToArchState(*k).ds, 3);
}

TEST_F(FromArchStateTest, LdtSelectorIsRefused) {
  ArchState a = Protected();
  a.ds = 0x14;
  EXPECT_EQ(From(a).status(),
            absl::UnimplementedError(
                "DS selector 0x14 refers to the LDT, which a state without a "
                "KVM blob cannot be restored from"));
}

TEST_F(FromArchStateTest, SelectorBeyondTheGdtLimitIsRefused) {
  ArchState a = Protected();
  a.ldtr = {0, 0, 0xffff};  // so that TR is the highest selector
  // The whole 8-byte descriptor must lie within the limit.
  a.gdtr.limit = 0x2f;
  EXPECT_TRUE(From(a).ok());
  a.gdtr.limit = 0x2e;
  EXPECT_EQ(From(a).status(),
            absl::FailedPreconditionError(
                "TR selector 0x28 is beyond the GDT limit 0x2e"));
  a = Protected();
  a.ss = 0x3b;
  EXPECT_EQ(From(a).status(),
            absl::FailedPreconditionError(
                "SS selector 0x3b is beyond the GDT limit 0x37"));
}

TEST_F(FromArchStateTest, UnreadableDescriptorIsRefused) {
  ArchState a = Protected();
  a.gdtr.base = 2 << 20;  // past the end of guest memory
  EXPECT_EQ(From(a).status(),
            absl::FailedPreconditionError(
                "cannot read the descriptor of CS selector 0x8 at linear "
                "0x200008"));
}

TEST_F(FromArchStateTest, MsrKvmDoesNotHoldMustBeAtReset) {
  current_.msrs.erase(current_.msrs.begin() + *ArchMsrSlot(0xc0000103));
  ArchState a = Protected();
  a.msrs[*ArchMsrSlot(0xc0000103)] = 5;
  EXPECT_EQ(From(a).status(),
            absl::FailedPreconditionError(
                "the state sets MSR 0xc0000103 (TSC_AUX) to 0x5, which this "
                "host's KVM does not support"));
  // At its reset value it is no loss.
  a.msrs[*ArchMsrSlot(0xc0000103)] = 0;
  auto k = From(a);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->msrs.size(), kArchMsrs.size() - 1);
  EXPECT_EQ(ToArchState(*k), a);
}

}  // namespace
}  // namespace xv
