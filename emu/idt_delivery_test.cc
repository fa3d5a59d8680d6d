// DeliverEvent over a hand-built GDT, IDT, TSS and 4-level page tables in a
// GuestMemory: CPL 3 -> 0 through TSS.RSP0, IST stacks, error codes, RF
// and IF, the accessed bit, software-interrupt DPL checks, nested faults
// delivered serially or escalated to #DF, and triple faults.
#include "emu/idt_delivery.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr uint64_t kGdt = 0x1000;
constexpr uint64_t kIdt = 0x2000;
constexpr uint64_t kTss = 0x3000;
constexpr uint64_t kRsp0 = 0x9008;  // aligned down to 0x9000
constexpr uint64_t kIst1 = 0xb000;
constexpr uint64_t kUnmapped = 0x40000;  // no PTE
constexpr uint64_t kPml4 = 0x10000;
constexpr uint64_t kHandler = 0x7fff'8000'1000;  // a canonical high target

constexpr uint64_t kCr0 = 0x80000011;  // PG, ET, PE
constexpr uint64_t kCr4Pae = 1 << 5;
constexpr uint64_t kEfer = 0x500;  // LME, LMA

constexpr uint64_t kTf = 1 << 8, kRf = 1 << 16, kNt = 1 << 14;

uint64_t Descriptor(uint32_t base, uint32_t raw_limit, uint8_t access,
                    uint8_t flags) {
  return (raw_limit & 0xffff) | uint64_t{base & 0xffffff} << 16 |
         uint64_t{access} << 40 | uint64_t{(raw_limit >> 16) & 0xf} << 48 |
         (uint64_t{flags} & 0xf) << 52 | uint64_t{base >> 24} << 56;
}

class IdtDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(1 << 20 << 2);
    ASSERT_TRUE(memory.ok()) << memory.status();
    memory_.emplace(*std::move(memory));
    // Identity map of 0-2 MiB in 4 KiB pages, except kUnmapped.
    Put64(kPml4, (kPml4 + 0x1000) | 3);
    Put64(kPml4 + 0x1000, (kPml4 + 0x2000) | 3);
    Put64(kPml4 + 0x2000, (kPml4 + 0x3000) | 3);
    for (uint64_t page = 0; page < 512; ++page) {
      if (page * 0x1000 == kUnmapped) continue;
      Put64(kPml4 + 0x3000 + 8 * page, page * 0x1000 | 3);
    }
    const uint64_t gdt[] = {
        0,
        Descriptor(0, 0xfffff, 0x9b, 0xa),  // 0x08 kernel code 64
        Descriptor(0, 0xfffff, 0x93, 0xc),  // 0x10 kernel data
        Descriptor(0, 0xfffff, 0xf3, 0xc),  // 0x18 user data
        Descriptor(0, 0xfffff, 0xfb, 0xa),  // 0x20 user code 64
        Descriptor(0, 0xfffff, 0x9b, 0xc),  // 0x28 kernel code 32
        Descriptor(0, 0xfffff, 0x9a, 0xa),  // 0x30 code 64, not accessed
    };
    ASSERT_TRUE(
        memory_
            ->Write(kGdt, {reinterpret_cast<const uint8_t*>(gdt), sizeof gdt})
            .ok());
    Put64(kTss + 4, kRsp0);
    Put64(kTss + 0x24, kIst1);
    for (int v = 0; v < 256; ++v) Gate(v, 0x08, 0xe, 0, 0);

    state_.regs.rip = 0x401234;
    state_.regs.rsp = 0x20ff8;
    state_.regs.rflags = 0x202 | kTf | kNt;
    state_.regs.rax = 42;
    state_.cpl = 3;
    state_.cs = DecodeSegmentDescriptor(0x23, gdt[4]);
    state_.ss = DecodeSegmentDescriptor(0x1b, gdt[3]);
    state_.idtr = {kIdt, 0xfff};
    state_.gdtr = {kGdt, sizeof gdt - 1};
    state_.tr = {0x40, kTss, 0x67};
    state_.cr0 = kCr0;
    state_.cr4 = kCr4Pae;
    state_.efer = kEfer;
    paging_ = {kCr0, kPml4, kCr4Pae, kEfer};
  }

  void Put64(uint64_t gpa, uint64_t v) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<const uint8_t*>(&v), 8}).ok());
  }
  uint64_t Get64(uint64_t gpa) {
    uint64_t v = 0;
    EXPECT_TRUE(memory_->Read(gpa, {reinterpret_cast<uint8_t*>(&v), 8}).ok());
    return v;
  }
  void Gate(int vector, uint16_t selector, unsigned type, unsigned dpl,
            unsigned ist, bool present = true, uint64_t target = 0) {
    if (target == 0) target = kHandler + static_cast<uint64_t>(vector) * 0x10;
    const uint64_t lo = (target & 0xffff) | uint64_t{selector} << 16 |
                        uint64_t{ist} << 32 | uint64_t{type} << 40 |
                        uint64_t{dpl} << 45 | uint64_t{present} << 47 |
                        ((target >> 16) & 0xffff) << 48;
    Put64(kIdt + 16 * static_cast<uint64_t>(vector), lo);
    Put64(kIdt + 16 * static_cast<uint64_t>(vector) + 8, target >> 32);
  }

  DeliveryResult Deliver(const Event& e) {
    GuestLinearMemory linear(*memory_, paging_);
    auto r = DeliverEvent(e, state_, linear);
    EXPECT_TRUE(r.ok()) << r.status();
    written_ = linear.pages_written();
    return r.value_or(DeliveryResult{});
  }

  std::optional<GuestMemory> memory_;
  DeliveryState state_;
  PagingState paging_;
  std::vector<uint64_t> written_;
};

TEST_F(IdtDeliveryTest, ExternalInterruptFromUserModeUsesRsp0) {
  const DeliveryResult r = Deliver({0x20, EventKind::kExternalInterrupt});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered, (Event{0x20, EventKind::kExternalInterrupt}));
  EXPECT_EQ(r.cpl, 0);
  EXPECT_EQ(r.regs.rip, kHandler + 0x200);
  EXPECT_EQ(r.regs.rsp, 0x9000u - 40);
  EXPECT_EQ(r.regs.rflags, 0x2u);  // IF, TF, NT cleared
  EXPECT_EQ(r.regs.rax, 42u);
  EXPECT_EQ(r.cs.selector, 0x08);
  EXPECT_EQ(r.cs.l, 1);
  EXPECT_EQ(r.cs.dpl, 0);
  EXPECT_EQ(r.ss, (SegmentDescriptor{.selector = 0, .unusable = true}));
  EXPECT_FALSE(r.cr2.has_value());
  // RIP, CS, RFLAGS, RSP, SS.
  EXPECT_EQ(Get64(0x9000 - 40), 0x401234u);
  EXPECT_EQ(Get64(0x9000 - 32), 0x23u);
  EXPECT_EQ(Get64(0x9000 - 24), 0x202u | kTf | kNt);
  EXPECT_EQ(Get64(0x9000 - 16), 0x20ff8u);
  EXPECT_EQ(Get64(0x9000 - 8), 0x1bu);
  EXPECT_THAT(written_, Contains(0x8u));
}

TEST_F(IdtDeliveryTest, KernelPageFaultPushesErrorCodeAndRf) {
  state_.cpl = 0;
  state_.cs = DecodeSegmentDescriptor(0x08, Get64(kGdt + 8));
  state_.ss = DecodeSegmentDescriptor(0x10, Get64(kGdt + 16));
  state_.regs.rsp = 0x5ff7;  // same stack, aligned down to 0x5ff0
  const DeliveryResult r = Deliver({14, EventKind::kException, 6});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.cpl, 0);
  EXPECT_EQ(r.ss, state_.ss);  // no stack switch
  EXPECT_EQ(r.regs.rsp, 0x5ff0u - 48);
  EXPECT_EQ(Get64(0x5ff0 - 48), 6u);  // error code
  EXPECT_EQ(Get64(0x5ff0 - 40), 0x401234u);
  EXPECT_EQ(Get64(0x5ff0 - 32), 0x08u);
  EXPECT_EQ(Get64(0x5ff0 - 24), 0x202u | kTf | kNt | kRf);  // fault: RF
  EXPECT_EQ(Get64(0x5ff0 - 16), 0x5ff7u);
  EXPECT_EQ(Get64(0x5ff0 - 8), 0x10u);
}

TEST_F(IdtDeliveryTest, IstStackAndTrapGate) {
  Gate(3, 0x08, 0xf, 3, 1);  // int3: trap gate, DPL 3, IST1
  state_.regs.rflags = 0x202 | kRf;
  const DeliveryResult r = Deliver({3, EventKind::kSoftwareInterrupt});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered.vector, 3);
  EXPECT_EQ(r.regs.rsp, kIst1 - 40);
  EXPECT_EQ(r.regs.rflags, 0x202u);  // trap gate keeps IF; RF cleared
  EXPECT_EQ(Get64(kIst1 - 24), 0x202u | kRf);
  EXPECT_EQ(r.cpl, 0);
  EXPECT_TRUE(r.ss.unusable);
}

TEST_F(IdtDeliveryTest, IstAtTheSamePrivilegeKeepsSs) {
  Gate(2, 0x08, 0xe, 0, 1);
  state_.cpl = 0;
  state_.cs = DecodeSegmentDescriptor(0x08, Get64(kGdt + 8));
  state_.ss = DecodeSegmentDescriptor(0x10, Get64(kGdt + 16));
  const DeliveryResult r = Deliver({2, EventKind::kException});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.regs.rsp, kIst1 - 40);
  EXPECT_EQ(r.ss, state_.ss);
}

TEST_F(IdtDeliveryTest, SoftwareInterruptDplCheck) {
  // Gate 0x80 has DPL 0: from CPL 3, #GP(0x80*8+2) instead.
  DeliveryResult r = Deliver({0x80, EventKind::kSoftwareInterrupt});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x402}));
  EXPECT_EQ(r.regs.rip, kHandler + uint64_t{13} * 0x10);
  EXPECT_EQ(Get64(0x9000 - 48), 0x402u);
  EXPECT_EQ(Get64(0x9000 - 40), 0x401234u);

  Gate(0x80, 0x08, 0xe, 3, 0);
  r = Deliver({0x80, EventKind::kSoftwareInterrupt});
  EXPECT_EQ(r.delivered, (Event{0x80, EventKind::kSoftwareInterrupt}));
  EXPECT_EQ(r.regs.rsp, 0x9000u - 40);  // no error code
  // An external interrupt ignores the gate's DPL.
  Gate(0x81, 0x08, 0xe, 0, 0);
  r = Deliver({0x81, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered.vector, 0x81);
}

TEST_F(IdtDeliveryTest, BeyondTheIdtLimit) {
  state_.idtr.limit = 16 * 0x30 - 1;
  DeliveryResult r = Deliver({0x40, EventKind::kSoftwareInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x40 * 8 + 2}));
  // From an external event the EXT bit is set.
  r = Deliver({0x40, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x40 * 8 + 3}));
}

TEST_F(IdtDeliveryTest, NotPresentGateOfAnInterruptIsNp) {
  Gate(0x21, 0x08, 0xe, 0, 0, /*present=*/false);
  const DeliveryResult r = Deliver({0x21, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{11, EventKind::kException, 0x21 * 8 + 3}));
}

TEST_F(IdtDeliveryTest, NotPresentGateOfAFaultEscalatesToDoubleFault) {
  Gate(13, 0x08, 0xe, 0, 0, /*present=*/false);
  Gate(8, 0x08, 0xe, 0, 1);
  const DeliveryResult r = Deliver({13, EventKind::kException, 0});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered, (Event{8, EventKind::kException, 0}));
  EXPECT_EQ(r.regs.rip, kHandler + uint64_t{8} * 0x10);
  EXPECT_EQ(r.regs.rsp, kIst1 - 48);
  EXPECT_EQ(Get64(kIst1 - 48), 0u);  // #DF's error code
}

TEST_F(IdtDeliveryTest, TripleFault) {
  Gate(13, 0x08, 0xe, 0, 0, /*present=*/false);
  Gate(8, 0x08, 0xe, 0, 0, /*present=*/false);
  const DeliveryResult r = Deliver({13, EventKind::kException, 0});
  EXPECT_TRUE(r.shutdown);
  EXPECT_THAT(r.shutdown_reason, HasSubstr("triple fault"));
  EXPECT_THAT(r.shutdown_reason, HasSubstr("gate 8 not present"));
}

TEST_F(IdtDeliveryTest, UnmappedStackPageFaultsThenDoubleFaults) {
  Put64(kTss + 4, kUnmapped + 0x100);
  Gate(8, 0x08, 0xe, 0, 1);
  // #GP then #PF (pushing the frame): serial, so #PF; its frame faults
  // again: #PF during #PF = #DF, delivered on IST1.
  const DeliveryResult r = Deliver({13, EventKind::kException, 0});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered, (Event{8, EventKind::kException, 0}));
  ASSERT_TRUE(r.cr2.has_value());
  EXPECT_EQ(*r.cr2 & ~0xfffull, kUnmapped);
  EXPECT_EQ(r.regs.rsp, kIst1 - 48);
}

TEST_F(IdtDeliveryTest, UnmappedStackOfAnInterruptIsAPageFault) {
  Put64(kTss + 4, kUnmapped + 0x100);
  Gate(14, 0x08, 0xe, 0, 1);
  const DeliveryResult r = Deliver({0x30, EventKind::kExternalInterrupt});
  ASSERT_FALSE(r.shutdown) << r.shutdown_reason;
  EXPECT_EQ(r.delivered, (Event{14, EventKind::kException, 2}));
  EXPECT_EQ(r.cr2, kUnmapped + 0x100 - 40);
}

TEST_F(IdtDeliveryTest, UnmappedIdtIsTripleFaultForAFault) {
  state_.idtr.base = kUnmapped;
  const DeliveryResult r = Deliver({13, EventKind::kException, 0});
  EXPECT_TRUE(r.shutdown);
  // #GP -> #PF (gate 13) -> #PF (gate 14) = #DF -> #PF (gate 8): shutdown.
  EXPECT_EQ(r.cr2, kUnmapped + uint64_t{8} * 16);
  EXPECT_THAT(r.shutdown_reason, HasSubstr("#DF(0) -> IDT gate at 0x40080"));
}

TEST_F(IdtDeliveryTest, BadCodeSegments) {
  Gate(0x22, 0x28, 0xe, 0, 0);  // 32-bit code
  DeliveryResult r = Deliver({0x22, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x29}));
  Gate(0x23, 0x10, 0xe, 0, 0);  // data
  r = Deliver({0x23, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x11}));
  Gate(0x24, 0x78, 0xe, 0, 0);  // beyond the GDT
  r = Deliver({0x24, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x79}));
  Gate(0x25, 0x08, 0x6, 0, 0);  // a 32-bit interrupt gate type
  r = Deliver({0x25, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered, (Event{13, EventKind::kException, 0x25 * 8 + 3}));
}

TEST_F(IdtDeliveryTest, SetsTheAccessedBit) {
  Gate(0x26, 0x30, 0xe, 0, 0);
  const DeliveryResult r = Deliver({0x26, EventKind::kExternalInterrupt});
  EXPECT_EQ(r.delivered.vector, 0x26);
  EXPECT_EQ(r.cs.selector, 0x30);
  EXPECT_EQ(r.cs.type, 0xb);
  EXPECT_EQ((Get64(kGdt + 0x30) >> 40) & 0xff, 0x9bu);
  EXPECT_THAT(written_, Contains(kGdt / 0x1000));
}

TEST_F(IdtDeliveryTest, RefusesOutsideLongMode) {
  state_.efer = 0;
  GuestLinearMemory linear(*memory_, paging_);
  auto r = DeliverEvent({0x20, EventKind::kExternalInterrupt}, state_, linear);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(r.status().message(), HasSubstr("outside long mode"));
}

TEST(ExceptionHasErrorCodeTest, Vectors) {
  std::vector<int> with;
  for (int v = 0; v < 32; ++v) {
    if (ExceptionHasErrorCode(v)) with.push_back(v);
  }
  EXPECT_EQ(with, (std::vector<int>{8, 10, 11, 12, 13, 14, 17, 21, 29, 30}));
}

}  // namespace
}  // namespace xv
