// QemuStateLayout on this machine's libunicorn: calibration succeeds (once,
// from any thread); loading CPL 3 caches makes privileged instructions and
// DPL checks fault with the error codes LastErrorCode reports; segments
// round-trip through LoadSegments/ReadSegment; hflags follow QEMU's rules;
// and the #DF escalation that ForgetException prevents.
#include "emu/qemu_state_layout.h"

#include <unicorn/unicorn.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hypervisor/segment_descriptor.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kGdt = 0x1000;
constexpr uint64_t kCode = 0x2000;
constexpr uint64_t kUserCode = 0x3000;

uint64_t Descriptor(uint32_t base, uint32_t raw_limit, uint8_t access,
                    uint8_t flags) {
  return (raw_limit & 0xffff) | uint64_t{base & 0xffffff} << 16 |
         uint64_t{access} << 40 | uint64_t{(raw_limit >> 16) & 0xf} << 48 |
         (uint64_t{flags} & 0xf) << 52 | uint64_t{base >> 24} << 56;
}

const uint64_t kGdtEntries[] = {
    0,
    Descriptor(0, 0xfffff, 0x9b, 0xa),  // 0x08 kernel code
    Descriptor(0, 0xfffff, 0x93, 0xc),  // 0x10 kernel data
    Descriptor(0, 0xfffff, 0xf3, 0xc),  // 0x18 user data
    Descriptor(0, 0xfffff, 0xfb, 0xa),  // 0x20 user code
    Descriptor(0, 0xfffff, 0xfb, 0xc),  // 0x28 user 32-bit code
};
const SegmentDescriptor kKernelCs =
    DecodeSegmentDescriptor(0x08, kGdtEntries[1]);
const SegmentDescriptor kKernelSs =
    DecodeSegmentDescriptor(0x10, kGdtEntries[2]);
const SegmentDescriptor kUserSs = DecodeSegmentDescriptor(0x1b, kGdtEntries[3]);
const SegmentDescriptor kUserCs = DecodeSegmentDescriptor(0x23, kGdtEntries[4]);
const SegmentDescriptor kUserCs32 =
    DecodeSegmentDescriptor(0x2b, kGdtEntries[5]);

TEST(QemuStateLayoutTest, CalibratesOnceFromAnyThread) {
  std::vector<const QemuStateLayout*> seen(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] {
      auto layout = QemuStateLayout::Get();
      seen[i] = layout.ok() ? *layout : nullptr;
    });
  }
  for (std::thread& t : threads) t.join();
  auto layout = QemuStateLayout::Get();
  ASSERT_TRUE(layout.ok()) << layout.status();
  for (const QemuStateLayout* l : seen) EXPECT_EQ(l, *layout);
  const QemuStateLayout& l = **layout;
  EXPECT_EQ(l.hflags_offset() + 8, l.segs_offset());
  EXPECT_LT(l.env_offset(), l.hflags_offset());
  EXPECT_LT(l.segs_offset(), l.error_code_offset());
  EXPECT_LT(l.old_exception_offset(), l.context_size());
  RecordProperty("context_size", std::to_string(l.context_size()));
}

struct IntrLog {
  int count = 0;
  uint32_t last = 0;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto layout = QemuStateLayout::Get();
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    uc_engine* uc = nullptr;
    ASSERT_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_.reset(uc);
    ASSERT_EQ(uc_mem_map(uc, 0, 0x10000, UC_PROT_ALL), UC_ERR_OK);
    ASSERT_EQ(uc_mem_write(uc, kGdt, kGdtEntries, sizeof kGdtEntries),
              UC_ERR_OK);
    uc_x86_mmr gdtr{};
    gdtr.base = kGdt;
    gdtr.limit = sizeof kGdtEntries - 1;
    ASSERT_EQ(uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr), UC_ERR_OK);
    uc_hook hook;
    ASSERT_EQ(uc_hook_add(uc, &hook, UC_HOOK_INTR,
                          reinterpret_cast<void*>(&OnIntr), &intr_, 1, 0),
              UC_ERR_OK);
  }

  static void OnIntr(uc_engine* uc, uint32_t intno, void* user) {
    auto* log = static_cast<IntrLog*>(user);
    ++log->count;
    log->last = intno;
    uc_emu_stop(uc);
  }

  // Runs `code` at `at` to its end or the first interrupt.
  void Run(uint64_t at, std::vector<uint8_t> code) {
    intr_ = {};
    ASSERT_EQ(uc_mem_write(uc(), at, code.data(), code.size()), UC_ERR_OK);
    ASSERT_EQ(uc_emu_start(uc(), at, at + code.size(), 0, 0), UC_ERR_OK);
  }
  uint64_t Reg(int reg) {
    uint64_t v = 0;
    EXPECT_EQ(uc_reg_read(uc(), reg, &v), UC_ERR_OK);
    return v;
  }
  void Load(std::vector<std::pair<SegReg, SegmentDescriptor>> segs) {
    absl::Status s = layout_->LoadSegments(uc(), segs);
    ASSERT_TRUE(s.ok()) << s;
  }
  void ToUser() { Load({{SegReg::kCs, kUserCs}, {SegReg::kSs, kUserSs}}); }
  uint32_t ErrorCode() {
    auto code = layout_->LastErrorCode(uc());
    EXPECT_TRUE(code.ok()) << code.status();
    return code.value_or(0xdeadbeef);
  }
  void Forget() {
    absl::Status s = layout_->ForgetException(uc());
    ASSERT_TRUE(s.ok()) << s;
  }

  uc_engine* uc() { return uc_.get(); }

  struct Closer {
    void operator()(uc_engine* uc) const { uc_close(uc); }
  };
  const QemuStateLayout* layout_ = nullptr;
  std::unique_ptr<uc_engine, Closer> uc_;
  IntrLog intr_;
};

TEST_F(EngineTest, StartsAtCplZeroInLongMode) {
  auto cpl = layout_->Cpl(uc());
  ASSERT_TRUE(cpl.ok()) << cpl.status();
  EXPECT_EQ(*cpl, 0);
  // 2.0.1: CR0 = PE|ET (no paging: linear = physical), EFER = LME|LMA.
  EXPECT_EQ(Reg(UC_X86_REG_CR0), 0x11u);
  uc_x86_msr efer{0xc0000080, 0};
  ASSERT_EQ(uc_reg_read(uc(), UC_X86_REG_MSR, &efer), UC_ERR_OK);
  EXPECT_EQ(efer.value & 0x500, 0x500u);
}

TEST_F(EngineTest, UserModePrivilegedInstructionsFault) {
  ToUser();
  auto cpl = layout_->Cpl(uc());
  ASSERT_TRUE(cpl.ok()) << cpl.status();
  EXPECT_EQ(*cpl, 3);
  EXPECT_EQ(Reg(UC_X86_REG_CS), 0x23u);
  EXPECT_EQ(Reg(UC_X86_REG_SS), 0x1bu);

  // mov rax, cr3
  Run(kUserCode, {0x0f, 0x20, 0xd8});
  EXPECT_EQ(intr_.count, 1);
  EXPECT_EQ(intr_.last, 13u);
  EXPECT_EQ(ErrorCode(), 0u);
  EXPECT_EQ(Reg(UC_X86_REG_RIP), kUserCode);
  Forget();

  // mov eax, 0x10; mov ds, ax: a DPL 0 segment at CPL 3, #GP(0x10).
  Run(kUserCode + 0x10, {0xb8, 0x10, 0, 0, 0, 0x8e, 0xd8});
  EXPECT_EQ(intr_.count, 1);
  EXPECT_EQ(intr_.last, 13u);
  EXPECT_EQ(ErrorCode(), 0x10u);
  Forget();

  // The user data segment loads fine; user code runs on.
  Run(kUserCode + 0x20, {0xb8, 0x1b, 0, 0, 0, 0x8e, 0xd8, 0x48, 0xff, 0xc0});
  EXPECT_EQ(intr_.count, 0);
  EXPECT_EQ(Reg(UC_X86_REG_RAX), 0x1cu);
  EXPECT_EQ(Reg(UC_X86_REG_DS), 0x1bu);
}

TEST_F(EngineTest, BackToKernelMode) {
  ToUser();
  Load({{SegReg::kCs, kKernelCs}, {SegReg::kSs, kKernelSs}});
  auto cpl = layout_->Cpl(uc());
  ASSERT_TRUE(cpl.ok()) << cpl.status();
  EXPECT_EQ(*cpl, 0);
  // mov rax, cr0
  Run(kCode, {0x0f, 0x20, 0xc0});
  EXPECT_EQ(intr_.count, 0);
  EXPECT_EQ(Reg(UC_X86_REG_RAX), 0x11u);
}

TEST_F(EngineTest, SegmentsRoundTrip) {
  SegmentDescriptor data =
      DecodeSegmentDescriptor(0x1b, Descriptor(0x89abcdef, 0x12345, 0xf3, 0x4));
  SegmentDescriptor fs = data;
  fs.base = 0xffff800012345678;  // 64-bit FS base
  const SegmentDescriptor null_ss{.selector = 3, .dpl = 3, .unusable = true};
  const SegmentDescriptor null_gs{.selector = 0, .unusable = true};
  const SegmentDescriptor tr{.selector = 0x40,
                             .base = 0xffff888000001000,
                             .limit = 0x2067,
                             .type = 0xb,
                             .present = 1};
  const SegmentDescriptor ldtr{.selector = 0x48,
                               .base = 0x5000,
                               .limit = 0xfff,
                               .type = 2,
                               .present = 1};
  const std::vector<std::pair<SegReg, SegmentDescriptor>> segs = {
      {SegReg::kEs, data},    {SegReg::kCs, kUserCs}, {SegReg::kSs, null_ss},
      {SegReg::kDs, kUserSs}, {SegReg::kFs, fs},      {SegReg::kGs, null_gs},
      {SegReg::kLdtr, ldtr},  {SegReg::kTr, tr}};
  Load(segs);
  for (const auto& [reg, want] : segs) {
    auto got = layout_->ReadSegment(uc(), reg);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << SegRegName(reg);
  }
  // The CPL follows SS's DPL, as in QEMU (null SS at CPL 3 after
  // delivery... here simply loaded).
  auto cpl = layout_->Cpl(uc());
  ASSERT_TRUE(cpl.ok()) << cpl.status();
  EXPECT_EQ(*cpl, 3);
  // The API sees what was loaded.
  EXPECT_EQ(Reg(UC_X86_REG_FS_BASE), fs.base);
  uc_x86_mmr tr_reg{};
  ASSERT_EQ(uc_reg_read(uc(), UC_X86_REG_TR, &tr_reg), UC_ERR_OK);
  EXPECT_EQ(tr_reg.base, tr.base);
  EXPECT_EQ(tr_reg.selector, tr.selector);
}

TEST_F(EngineTest, HflagsFollowQemusRules) {
  auto hflags = [&] {
    auto h = layout_->Hflags(uc());
    EXPECT_TRUE(h.ok()) << h.status();
    return h.value_or(0);
  };
  const uint32_t start = hflags();
  EXPECT_EQ(start & (kHfCs64 | kHfCs32 | kHfSs32 | kHfLma | kHfPe),
            kHfCs64 | kHfCs32 | kHfSs32 | kHfLma | kHfPe);

  // Compatibility mode: 32-bit code at CPL 3, a DS with a base -> ADDSEG.
  SegmentDescriptor ds = kUserSs;
  ds.base = 0x1000;
  Load({{SegReg::kCs, kUserCs32}, {SegReg::kSs, kUserSs}, {SegReg::kDs, ds}});
  uint32_t h = hflags();
  EXPECT_EQ(h & kHfCplMask, 3u);
  EXPECT_EQ(h & kHfCs64, 0u);
  EXPECT_NE(h & kHfCs32, 0u);
  EXPECT_NE(h & kHfSs32, 0u);
  EXPECT_NE(h & kHfAddseg, 0u);

  // Zero bases: no ADDSEG.
  Load({{SegReg::kDs, kUserSs}});
  EXPECT_EQ(hflags() & kHfAddseg, 0u);

  // Back to 64-bit code at CPL 0: exactly the starting flags.
  Load({{SegReg::kCs, kKernelCs}, {SegReg::kSs, kKernelSs}});
  EXPECT_EQ(hflags(), start);
}

TEST_F(EngineTest, UnforgottenFaultsEscalateToDoubleFault) {
  // mov eax, 0x1238; mov ds, ax: #GP(0x1238) (beyond the GDT limit).
  Run(kCode, {0xb8, 0x38, 0x12, 0, 0, 0x8e, 0xd8});
  EXPECT_EQ(intr_.last, 13u);
  EXPECT_EQ(ErrorCode(), 0x1238u);
  // Again without ForgetException: QEMU takes it for a fault during
  // delivery of the first one.
  Run(kCode, {0xb8, 0x38, 0x12, 0, 0, 0x8e, 0xd8});
  EXPECT_EQ(intr_.last, 8u);
  EXPECT_EQ(ErrorCode(), 0u);
  Forget();
  Run(kCode, {0xb8, 0x38, 0x12, 0, 0, 0x8e, 0xd8});
  EXPECT_EQ(intr_.last, 13u);
  EXPECT_EQ(ErrorCode(), 0x1238u);
  Forget();
  // int 0x80: a software interrupt, no error code, RIP after it.
  Run(kCode + 0x10, {0xcd, 0x80});
  EXPECT_EQ(intr_.last, 0x80u);
  EXPECT_EQ(ErrorCode(), 0u);
  EXPECT_EQ(Reg(UC_X86_REG_RIP), kCode + 0x12);
}

TEST_F(EngineTest, RefusesUnusableWithSelector) {
  const std::pair<SegReg, SegmentDescriptor> bad[] = {
      {SegReg::kDs, SegmentDescriptor{.selector = 0x10, .unusable = true}}};
  absl::Status s = layout_->LoadSegments(uc(), bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("DS"));
}

TEST(QemuSegmentFlagsTest, IsTheDescriptorsHighDword) {
  const uint64_t d = Descriptor(0xa1b2c3d4, 0x5e6f7, 0xf3, 0xd);
  const SegmentDescriptor s = DecodeSegmentDescriptor(0x1b, d);
  EXPECT_EQ(QemuSegmentFlags(s), static_cast<uint32_t>(d >> 32));
  EXPECT_EQ(SegmentFromQemuCache(0x1b, s.base, s.limit, QemuSegmentFlags(s)),
            s);
}

}  // namespace
}  // namespace xv
