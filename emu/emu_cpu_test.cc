// EmuCpu against hypervisor/'s contract, on tiny hand-assembled guests in
// 32-bit protected mode (the multiboot entry state).
#include "emu/emu_cpu.h"

#include <cstring>
#include <vector>

#include "emu/emu_hypervisor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint64_t kCode = 0x1000;

struct Guest {
  std::unique_ptr<GuestMemory> memory;
  std::unique_ptr<GuestCpu> cpu;
};

Guest Boot(std::vector<uint8_t> code, uint64_t ram = 64 << 10) {
  auto hv = OpenEmuHypervisor();
  EXPECT_TRUE(hv.ok()) << hv.status();
  if (!hv.ok()) return {};
  auto memory = GuestMemory::Create(ram);
  EXPECT_TRUE(memory.ok()) << memory.status();
  Guest g;
  g.memory = std::make_unique<GuestMemory>(std::move(*memory));
  EXPECT_TRUE(g.memory->Write(kCode, code).ok());
  auto cpuid = (*hv)->DefaultCpuid();
  auto cpu = (*hv)->CreateCpu(*g.memory, *cpuid);
  EXPECT_TRUE(cpu.ok()) << cpu.status();
  if (!cpu.ok()) return {};
  g.cpu = std::move(*cpu);
  EXPECT_TRUE(g.cpu->EnterProtectedMode({.eip = kCode, .esp = 0x8000}).ok());
  return g;
}

TEST(EmuCpuTest, OpensAndPassesItsSelfCheck) {
  auto hv = OpenEmuHypervisor();
  ASSERT_TRUE(hv.ok()) << hv.status();
  EXPECT_EQ((*hv)->name(), "emu");
}

TEST(EmuCpuTest, PlainOutAndInExitLikeKvm) {
  // mov al,5; out 0x10,al; in al,0x11; out 0x12,al; hlt
  Guest g = Boot({0xb0, 0x05, 0xe6, 0x10, 0xe4, 0x11, 0xe6, 0x12, 0xf4});
  ASSERT_NE(g.cpu, nullptr);
  auto e = g.cpu->Run();
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
  EXPECT_EQ(e->io.port, 0x10);
  EXPECT_FALSE(e->io.in);
  EXPECT_EQ(e->io.data[0], 5);
  EXPECT_EQ(g.cpu->regs().rip, kCode + 4);  // past a plain OUT
  e = g.cpu->Run();
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->kind, ExitKind::kPio);
  EXPECT_TRUE(e->io.in);
  EXPECT_EQ(g.cpu->regs().rip, kCode + 4);  // at a plain IN until settled
  e->io.data[0] = 0x77;
  ASSERT_TRUE(g.cpu->SettleExit().ok());
  EXPECT_EQ(g.cpu->regs().rip, kCode + 6);
  EXPECT_EQ(g.cpu->regs().rax & 0xff, 0x77u);
  e = g.cpu->Run();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->io.port, 0x12);
  EXPECT_EQ(e->io.data[0], 0x77);
  e = g.cpu->Run();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, ExitKind::kHlt);
  EXPECT_EQ(g.cpu->regs().rip, kCode + 9);
}

}  // namespace
}  // namespace xv
