// The shared schema's conversions: Hash128, CPUID leaves, ArchState (every
// field set away from its default, so a field a conversion forgets shows)
// and CpuState round trip through a Cap'n Proto message; FromSchema refuses
// registers lists of the wrong shape and a wrong MSR set, naming the field.
#include "hypervisor/cpu_state_schema.h"

#include <capnp/message.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpu_state.capnp.h"

namespace xv {
namespace {

// Every field different from ArchState{}'s, and from its neighbours.
ArchState FullState() {
  ArchState s;
  uint64_t next = 0x0101010101010101;
  for (std::string_view name : kGeneralRegisterNames) {
    *GeneralRegister(s.regs, name) = next;
    next += 0x0102030405060708;
  }
  s.cr0 = 0x80050033;
  s.cr2 = 0xffff'8000'dead'b000;
  s.cr3 = 0x1234'5000;
  s.cr4 = 0x3406f0;
  s.cr8 = 0xf;
  s.efer = 0xd01;
  s.xcr0 = 0x7;
  s.cs = 0x10;
  s.ds = 0x18;
  s.es = 0x20;
  s.fs = 0x28;
  s.gs = 0x30;
  s.ss = 0x38;
  s.fs_base = 0x7f00'1234'5000;
  s.gs_base = 0xffff'8880'0000'1000;
  s.gdtr = {0xffff'fe00'0000'1000, 0x7f};
  s.idtr = {0xffff'fe00'0000'0000, 0xfff};
  s.ldtr = {0x40, 0xffff'8880'0000'2000, 0x1ff};
  s.tr = {0x48, 0xffff'fe00'0000'3000, 0x206f};
  s.fcw = 0x27f;
  s.fsw = 0x3800;
  s.ftw = 0x81;
  for (size_t i = 0; i < s.st.size(); ++i) {
    for (size_t b = 0; b < s.st[i].size(); ++b)
      s.st[i][b] = static_cast<uint8_t>(0x10 * i + b + 1);
  }
  s.mxcsr = 0x1fa0;
  for (size_t i = 0; i < s.xmm.size(); ++i) {
    for (size_t b = 0; b < 16; ++b) {
      s.xmm[i][b] = static_cast<uint8_t>(0x80 + 16 * i + b);
      s.ymm_high[i][b] = static_cast<uint8_t>(0x3 * i + 0x7 * b + 1);
    }
  }
  s.dr = {0x1000, 0x2000, 0x3000, 0x4000};
  s.dr6 = NormalizeDr6(0x4001);
  s.dr7 = NormalizeDr7(0x2ff);
  for (size_t i = 0; i < s.msrs.size(); ++i) s.msrs[i] = 0xa0 + i;
  s.queued_interrupt = 0x31;
  s.interrupt_shadow = true;
  return s;
}

TEST(CpuStateSchemaTest, FullStateSetsEveryField) {
  // Keeps the round trips below meaningful.
  std::vector<std::vector<uint8_t>> defaults;
  ForEachArchField(ArchState{},
                   [&](std::string_view, std::span<const uint8_t> v) {
                     defaults.emplace_back(v.begin(), v.end());
                   });
  size_t i = 0;
  ForEachArchField(FullState(), [&](std::string_view name,
                                    std::span<const uint8_t> v) {
    EXPECT_NE(std::vector<uint8_t>(v.begin(), v.end()), defaults[i]) << name;
    ++i;
  });
  EXPECT_EQ(i, defaults.size());
}

TEST(CpuStateSchemaTest, Hash128RoundTrips) {
  const Hash128 hash{.high = 0x0123456789abcdef, .low = 0xfedcba9876543210};
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::Hash128>();
  ToSchema(hash, root);
  EXPECT_EQ(root.getHigh(), hash.high);
  EXPECT_EQ(root.getLow(), hash.low);
  EXPECT_EQ(FromSchema(root.asReader()), hash);
}

TEST(CpuStateSchemaTest, CpuidLeavesRoundTrip) {
  const std::vector<CpuidLeaf> leaves = {
      {.function = 0,
       .index = 0,
       .flags = 0,
       .eax = 0xd,
       .ebx = 0x756e6547,
       .ecx = 0x6c65746e,
       .edx = 0x49656e69},
      {.function = 7,
       .index = 1,
       .flags = kCpuidSubleafSignificant,
       .eax = 0x11,
       .ebx = 0x22,
       .ecx = 0x33,
       .edx = 0x44},
      {.function = 0x80000001,
       .index = 2,
       .flags = 3,
       .eax = 5,
       .ebx = 6,
       .ecx = 7,
       .edx = 8},
  };
  capnp::MallocMessageBuilder message;
  auto list = message.getOrphanage().newOrphan<capnp::List<schema::CpuidEntry>>(
      static_cast<unsigned>(leaves.size()));
  ToSchema(leaves, list.get());
  EXPECT_EQ(FromSchema(list.getReader()), leaves);
}

TEST(CpuStateSchemaTest, EmptyCpuidRoundTrips) {
  capnp::MallocMessageBuilder message;
  auto list =
      message.getOrphanage().newOrphan<capnp::List<schema::CpuidEntry>>(0);
  ToSchema({}, list.get());
  EXPECT_TRUE(FromSchema(list.getReader()).empty());
}

absl::StatusOr<ArchState> RoundTrip(const ArchState& state) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::ArchState>();
  ToSchema(state, root);
  return FromSchema(root.asReader());
}

TEST(CpuStateSchemaTest, FullArchStateRoundTrips) {
  const ArchState state = FullState();
  auto back = RoundTrip(state);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, state);
}

TEST(CpuStateSchemaTest, DefaultArchStateRoundTrips) {
  auto back = RoundTrip(ArchState{});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, ArchState{});
}

TEST(CpuStateSchemaTest, QueuedVectorZeroIsNotNoInterrupt) {
  ArchState zero;
  zero.queued_interrupt = 0;
  auto back = RoundTrip(zero);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->queued_interrupt, std::optional<uint8_t>(0));
  back = RoundTrip(ArchState{});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->queued_interrupt, std::nullopt);
}

TEST(CpuStateSchemaTest, CpuStateRoundTripsWithBackendAndBlob) {
  const CpuState state{FullState(), "kvm", {0x4b, 0, 0x56, 0xff, 0, 0, 0x4d}};
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::CpuState>();
  ToSchema(state, root);
  auto back = FromSchema(root.asReader());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->arch, state.arch);
  EXPECT_EQ(back->backend, state.backend);
  EXPECT_EQ(back->blob, state.blob);
}

TEST(CpuStateSchemaTest, CpuStateWithoutBlobRoundTrips) {
  const CpuState state{FullState(), "", {}};
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::CpuState>();
  ToSchema(state, root);
  auto back = FromSchema(root.asReader());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->arch, state.arch);
  EXPECT_EQ(back->backend, "");
  EXPECT_TRUE(back->blob.empty());
}

// A message holding FullState(), for the error cases to spoil.
class SpoiltStateTest : public ::testing::Test {
 protected:
  // Held by pointer: MallocMessageBuilder's destructor may throw, which a
  // member would impose on ~Test().
  SpoiltStateTest()
      : message_(std::make_unique<capnp::MallocMessageBuilder>()),
        root_(message_->initRoot<schema::ArchState>()) {
    ToSchema(FullState(), root_);
  }

  absl::Status Read() { return FromSchema(root_.asReader()).status(); }

  // `count` registers of `size` bytes, but register `odd` of `odd_size`.
  static void FillBytesList(capnp::List<capnp::Data>::Builder list, size_t size,
                            unsigned odd, size_t odd_size) {
    const std::vector<uint8_t> bytes(32, 0x5a);
    for (unsigned i = 0; i < list.size(); ++i) {
      list.set(i,
               capnp::Data::Reader(bytes.data(), i == odd ? odd_size : size));
    }
  }

  // The MSRs with these indexes, values 1, 2, ...
  void SetMsrs(const std::vector<uint32_t>& indexes) {
    auto msrs = root_.initMsrs(static_cast<unsigned>(indexes.size()));
    for (unsigned i = 0; i < indexes.size(); ++i) {
      msrs[i].setIndex(indexes[i]);
      msrs[i].setValue(i + 1);
    }
  }
  static std::vector<uint32_t> AllMsrIndexes() {
    std::vector<uint32_t> indexes;
    for (const ArchMsr& m : kArchMsrs) indexes.push_back(m.index);
    return indexes;
  }

  std::unique_ptr<capnp::MallocMessageBuilder> message_;
  schema::ArchState::Builder root_;
};

TEST_F(SpoiltStateTest, UnspoiltStateReads) {
  // The fixture itself is readable: each error below is the spoiling's.
  EXPECT_TRUE(Read().ok()) << Read();
}

TEST_F(SpoiltStateTest, WrongNumberOfStRegisters) {
  FillBytesList(root_.initSt(7), 10, 99, 0);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state's st has 7 registers, not 8"));
  FillBytesList(root_.initSt(9), 10, 99, 0);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state's st has 9 registers, not 8"));
}

TEST_F(SpoiltStateTest, WrongSizeOfAnStRegister) {
  FillBytesList(root_.initSt(8), 10, 3, 16);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state's st[3] is 16 bytes, not 10"));
}

TEST_F(SpoiltStateTest, WrongNumberOfXmmRegisters) {
  FillBytesList(root_.initXmm(8), 16, 99, 0);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state's xmm has 8 registers, not 16"));
}

TEST_F(SpoiltStateTest, WrongSizeOfAnXmmRegister) {
  FillBytesList(root_.initXmm(16), 16, 0, 15);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state's xmm[0] is 15 bytes, not 16"));
}

TEST_F(SpoiltStateTest, WrongNumberOfYmmHighRegisters) {
  FillBytesList(root_.initYmmHigh(17), 16, 99, 0);
  EXPECT_EQ(Read(), absl::DataLossError(
                        "the CPU state's ymmHigh has 17 registers, not 16"));
}

TEST_F(SpoiltStateTest, WrongSizeOfAYmmHighRegister) {
  FillBytesList(root_.initYmmHigh(16), 16, 15, 32);
  EXPECT_EQ(Read(), absl::DataLossError(
                        "the CPU state's ymmHigh[15] is 32 bytes, not 16"));
}

TEST_F(SpoiltStateTest, WrongNumberOfDebugRegisters) {
  root_.initDr(3);
  EXPECT_EQ(Read(), absl::DataLossError("the CPU state has 3 of DR0-DR3"));
  root_.initDr(5);
  EXPECT_EQ(Read(), absl::DataLossError("the CPU state has 5 of DR0-DR3"));
}

TEST_F(SpoiltStateTest, DuplicateMsr) {
  std::vector<uint32_t> indexes = AllMsrIndexes();
  indexes.push_back(0xc0000082);
  SetMsrs(indexes);
  EXPECT_EQ(Read(),
            absl::DataLossError("the CPU state holds MSR 0xc0000082 twice"));
}

TEST_F(SpoiltStateTest, UnknownMsr) {
  std::vector<uint32_t> indexes = AllMsrIndexes();
  indexes.insert(indexes.begin() + 2, 0x10);  // the TSC
  SetMsrs(indexes);
  EXPECT_EQ(Read(), absl::DataLossError("the CPU state holds MSR 0x10 which "
                                        "is not architectural state here"));
}

TEST_F(SpoiltStateTest, MissingMsr) {
  std::vector<uint32_t> indexes = AllMsrIndexes();
  indexes.erase(indexes.begin() + 3);  // PAT
  SetMsrs(indexes);
  EXPECT_EQ(Read(), absl::DataLossError("the CPU state lacks MSR 0x277 (PAT)"));
}

TEST_F(SpoiltStateTest, MsrsInAnyOrderRead) {
  std::vector<uint32_t> indexes = AllMsrIndexes();
  std::reverse(indexes.begin(), indexes.end());
  SetMsrs(indexes);
  auto state = FromSchema(root_.asReader());
  ASSERT_TRUE(state.ok()) << state.status();
  // Value i + 1 went to the i-th index listed.
  EXPECT_EQ(state->msrs[kArchMsrs.size() - 1], 1u);
  EXPECT_EQ(state->msrs[0], kArchMsrs.size());
}

TEST(CpuStateSchemaTest, AStateWithoutRegistersListsIsRefused) {
  // What a writer that stored nothing leaves: empty lists, not defaults.
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::ArchState>();
  EXPECT_EQ(FromSchema(root.asReader()).status(),
            absl::DataLossError("the CPU state's st has 0 registers, not 8"));
}

TEST(CpuStateSchemaTest, CpuStateCarriesTheArchStateError) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::CpuState>();
  ToSchema(CpuState{FullState(), "kvm", {1, 2, 3}}, root);
  root.getArch().initDr(2);
  EXPECT_EQ(FromSchema(root.asReader()).status(),
            absl::DataLossError("the CPU state has 2 of DR0-DR3"));
}

}  // namespace
}  // namespace xv
