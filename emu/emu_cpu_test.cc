// EmuCpu against hypervisor/'s contract, on tiny hand-assembled guests in
// 32-bit protected mode (the multiboot entry state).
#include "emu/emu_cpu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "emu/emu_hypervisor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hypervisor/string_io.h"
#include "memshare/dirty_bitmap.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kCode = 0x1000;

struct Guest {
  std::unique_ptr<GuestMemory> memory;
  std::unique_ptr<GuestCpu> cpu;
};

// `cpuid` replaces the backend's default table when given.
Guest Boot(std::vector<uint8_t> code, uint64_t ram = 64 << 10,
           std::optional<std::vector<CpuidLeaf>> cpuid = std::nullopt) {
  auto hv = OpenEmuHypervisor();
  EXPECT_TRUE(hv.ok()) << hv.status();
  if (!hv.ok()) return {};
  auto memory = GuestMemory::Create(ram);
  EXPECT_TRUE(memory.ok()) << memory.status();
  Guest g;
  g.memory = std::make_unique<GuestMemory>(std::move(*memory));
  EXPECT_TRUE(g.memory->Write(kCode, code).ok());
  if (!cpuid) {
    auto table = (*hv)->DefaultCpuid();
    EXPECT_TRUE(table.ok()) << table.status();
    if (!table.ok()) return {};
    cpuid = *std::move(table);
  }
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

// Guest code helpers.
void Le32(std::vector<uint8_t>& code, uint32_t v) {
  for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(v >> 8 * i));
}

// Runs to the next exit with a watchdog that kicks the CPU after `limit`:
// a guest the backend never returns from shows as a failure, not a hang.
absl::StatusOr<CpuExit> RunWithWatchdog(
    GuestCpu& cpu, std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto kicker = cpu.BindKicker();
  if (!kicker.ok()) return kicker.status();
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!done.load()) (*kicker)->Kick();
  });
  auto exit = cpu.Run();
  done.store(true);
  watchdog.join();
  if (exit.ok()) {
    EXPECT_NE(exit->kind, ExitKind::kHostInterrupt)
        << "Run() did not return within " << limit.count() << " s";
  }
  return exit;
}

std::vector<uint64_t> Pages(const DirtyBitmap& bitmap) {
  std::vector<uint64_t> pages;
  for (uint64_t p = 0; p < bitmap.pages(); ++p) {
    if (bitmap.Test(p)) pages.push_back(p);
  }
  return pages;
}

// ---- String I/O (string_io.h) ---------------------------------------------

TEST(EmuCpuTest, RepOutsbExitsOncePerElement) {
  // mov esi,0x2000; mov ecx,3; mov dx,0x10; rep outsb; hlt
  std::vector<uint8_t> code = {0xbe};
  Le32(code, 0x2000);
  code.push_back(0xb9);
  Le32(code, 3);
  code.insert(code.end(), {0x66, 0xba, 0x10, 0x00});
  const uint64_t outs = kCode + code.size();
  code.insert(code.end(), {0xf3, 0x6e, 0xf4});
  Guest g = Boot(code);
  ASSERT_NE(g.cpu, nullptr);
  const uint8_t text[] = {'a', 'b', 'c'};
  ASSERT_TRUE(g.memory->Write(0x2000, text).ok());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    auto e = RunWithWatchdog(*g.cpu);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
    EXPECT_FALSE(e->io.in);
    EXPECT_EQ(e->io.port, 0x10);
    EXPECT_EQ(e->io.size, 1);
    ASSERT_EQ(e->io.count, 1u);
    ASSERT_EQ(e->io.data.size(), 1u);
    EXPECT_EQ(e->io.data[0], text[i]);
    // The element is transferred at the exit: no settling needed.
    EXPECT_EQ(g.cpu->regs().rsi, 0x2000u + i + 1);
    EXPECT_EQ(g.cpu->regs().rcx, 2u - i);
    EXPECT_EQ(g.cpu->regs().rip, i < 2 ? outs : outs + 2);
    ASSERT_TRUE(g.cpu->SettleExit().ok());
    EXPECT_EQ(g.cpu->regs().rip, i < 2 ? outs : outs + 2);
    EXPECT_EQ(g.cpu->regs().rcx, 2u - i);
  }
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rip, outs + 3);
}

TEST(EmuCpuTest, RepOutsbWithZeroCountMakesNoExit) {
  // mov esi,0x2000; mov ecx,0; mov dx,0x10; rep outsb; hlt
  std::vector<uint8_t> code = {0xbe};
  Le32(code, 0x2000);
  code.push_back(0xb9);
  Le32(code, 0);
  code.insert(code.end(), {0x66, 0xba, 0x10, 0x00});
  const uint64_t outs = kCode + code.size();
  code.insert(code.end(), {0xf3, 0x6e, 0xf4});
  Guest g = Boot(code);
  ASSERT_NE(g.cpu, nullptr);
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rip, outs + 3);
  EXPECT_EQ(g.cpu->regs().rsi, 0x2000u);
  EXPECT_EQ(g.cpu->regs().rcx, 0u);
}

TEST(EmuCpuTest, RepInsbBatchesByTheRuleAndLandsInMemory) {
  // 16 bytes before a page end, 2000 elements: batches of 16 (to the page
  // end), 1024 (the cap), then the 960 left.
  constexpr uint64_t kDest = 0x3000 - 16;
  constexpr uint64_t kCount = 2000;
  ASSERT_EQ(InsBatchElements(kCount, kDest, false, 1), 16u);
  ASSERT_EQ(InsBatchElements(kCount - 16, kDest + 16, false, 1), 1024u);
  // mov edi,kDest; mov ecx,kCount; mov dx,0x20; rep insb; hlt
  std::vector<uint8_t> code = {0xbf};
  Le32(code, kDest);
  code.push_back(0xb9);
  Le32(code, kCount);
  code.insert(code.end(), {0x66, 0xba, 0x20, 0x00});
  const uint64_t ins = kCode + code.size();
  code.insert(code.end(), {0xf3, 0x6c, 0xf4});
  Guest g = Boot(code);
  ASSERT_NE(g.cpu, nullptr);
  DirtyBitmap drained(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(drained).ok());

  const uint32_t batches[] = {16, 1024, 960};
  uint64_t done = 0;
  for (uint32_t batch : batches) {
    SCOPED_TRACE(batch);
    auto e = RunWithWatchdog(*g.cpu);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
    EXPECT_TRUE(e->io.in);
    EXPECT_EQ(e->io.port, 0x20);
    EXPECT_EQ(e->io.size, 1);
    ASSERT_EQ(e->io.count, batch);
    ASSERT_EQ(e->io.data.size(), batch);
    for (uint32_t i = 0; i < batch; ++i) {
      e->io.data[i] = static_cast<uint8_t>((done + i) * 7 + 1);
    }
    ASSERT_TRUE(g.cpu->SettleExit().ok());
    ASSERT_TRUE(g.cpu->SettleExit().ok());  // idempotent
    done += batch;
    EXPECT_EQ(g.cpu->regs().rdi, kDest + done);
    EXPECT_EQ(g.cpu->regs().rcx, kCount - done);
    EXPECT_EQ(g.cpu->regs().rip, done < kCount ? ins : ins + 2);
  }
  std::vector<uint8_t> landed(kCount);
  ASSERT_TRUE(g.memory->Read(kDest, landed).ok());
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(landed[i], static_cast<uint8_t>(i * 7 + 1)) << "byte " << i;
  }
  uint8_t after = 0xff;
  ASSERT_TRUE(g.memory->Read(kDest + kCount, {&after, 1}).ok());
  EXPECT_EQ(after, 0);  // nothing past the last element
  // The pages written by the completed `rep insb`, and nothing else.
  DirtyBitmap written(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(written).ok());
  EXPECT_EQ(Pages(written), (std::vector<uint64_t>{2, 3}));
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
}

// ---- IN into RAX ----------------------------------------------------------

TEST(EmuCpuTest, InEaxReplacesRaxAndNarrowerInsKeepTheRest) {
  // in al,0x11; in ax,0x11; in eax,0x11; hlt
  Guest g = Boot({0xe4, 0x11, 0x66, 0xe5, 0x11, 0xe5, 0x11, 0xf4});
  ASSERT_NE(g.cpu, nullptr);
  ASSERT_TRUE(
      g.cpu->ModifyRegs([](GeneralRegisters& r) { r.rax = 0xdeadbeef11223344; })
          .ok());
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
  ASSERT_EQ(e->io.size, 1);
  e->io.data[0] = 0xaa;
  ASSERT_TRUE(g.cpu->SettleExit().ok());
  EXPECT_EQ(g.cpu->regs().rax, 0xdeadbeef112233aau);

  e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
  ASSERT_EQ(e->io.size, 2);
  e->io.data[0] = 0xcd;
  e->io.data[1] = 0xab;
  ASSERT_TRUE(g.cpu->SettleExit().ok());
  EXPECT_EQ(g.cpu->regs().rax, 0xdeadbeef1122abcdu);

  e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
  ASSERT_EQ(e->io.size, 4);
  const uint8_t value[] = {0x0d, 0xf0, 0xfe, 0xca};
  std::memcpy(e->io.data.data(), value, 4);
  ASSERT_TRUE(g.cpu->SettleExit().ok());
  EXPECT_EQ(g.cpu->regs().rax, 0xcafef00du);
}

// ---- CPUID ------------------------------------------------------------------

TEST(EmuCpuTest, CpuidComesFromTheTableAndAMissingLeafIsZero) {
  std::vector<uint8_t> code = {0xb8};  // mov eax,0x40001234
  Le32(code, 0x40001234);
  code.insert(code.end(), {0x31, 0xc9, 0x0f, 0xa2, 0xf4});  // xor; cpuid; hlt
  code.push_back(0xb8);  // mov eax,0x40005678
  Le32(code, 0x40005678);
  for (uint8_t op : {0xbb, 0xb9, 0xba}) {  // mov ebx/ecx/edx,1
    code.push_back(op);
    Le32(code, 1);
  }
  code.insert(code.end(), {0x0f, 0xa2, 0xf4});  // cpuid; hlt
  Guest g =
      Boot(code, 64 << 10,
           std::vector<CpuidLeaf>{
               {.function = 0, .eax = 0x40001234, .ebx = 1, .ecx = 2, .edx = 3},
               {.function = 0x40001234,
                .eax = 0x11111111,
                .ebx = 0x22222222,
                .ecx = 0x33333333,
                .edx = 0x44444444}});
  ASSERT_NE(g.cpu, nullptr);
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rax, 0x11111111u);
  EXPECT_EQ(g.cpu->regs().rbx, 0x22222222u);
  EXPECT_EQ(g.cpu->regs().rcx, 0x33333333u);
  EXPECT_EQ(g.cpu->regs().rdx, 0x44444444u);
  e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rax, 0u);
  EXPECT_EQ(g.cpu->regs().rbx, 0u);
  EXPECT_EQ(g.cpu->regs().rcx, 0u);
  EXPECT_EQ(g.cpu->regs().rdx, 0u);
}

// ---- Kicks
// --------------------------------------------------------------------

TEST(EmuCpuTest, KickStopsASpinningGuestPromptlyAndInvisibly) {
  Guest g = Boot({0xeb, 0xfe});  // jmp $
  ASSERT_NE(g.cpu, nullptr);
  auto before = g.cpu->CaptureState();
  ASSERT_TRUE(before.ok()) << before.status();
  DirtyBitmap drained(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(drained).ok());
  auto kicker = g.cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  std::atomic<int64_t> kicked_at_ns{0};
  std::thread kick([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    kicked_at_ns = std::chrono::steady_clock::now().time_since_epoch() /
                   std::chrono::nanoseconds(1);
    (*kicker)->Kick();
  });
  auto e = g.cpu->Run();
  const int64_t returned_at_ns =
      std::chrono::steady_clock::now().time_since_epoch() /
      std::chrono::nanoseconds(1);
  kick.join();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHostInterrupt) << e->Describe();
  EXPECT_FALSE(IsGuestInitiated(e->kind));
  EXPECT_LT(returned_at_ns - kicked_at_ns.load(), 1'000'000'000)
      << "Run() took too long to notice the kick";
  EXPECT_EQ(g.cpu->regs().rip, kCode);
  auto after = g.cpu->CaptureState();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->arch == before->arch)
      << FirstArchFieldDifference(before->arch, after->arch);
  DirtyBitmap written(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(written).ok());
  EXPECT_TRUE(written.Empty());
}

TEST(EmuCpuTest, KickBeforeRunReturnsAtOnceAndOnlyOnce) {
  Guest g = Boot({0xf4});  // hlt
  ASSERT_NE(g.cpu, nullptr);
  auto before = g.cpu->CaptureState();
  ASSERT_TRUE(before.ok()) << before.status();
  auto kicker = g.cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  (*kicker)->Kick();
  auto e = g.cpu->Run();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHostInterrupt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rip, kCode);  // the hlt not executed
  auto after = g.cpu->CaptureState();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->arch == before->arch)
      << FirstArchFieldDifference(before->arch, after->arch);
  kicker->reset();
  e = RunWithWatchdog(*g.cpu);  // the kick was consumed
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  EXPECT_EQ(g.cpu->regs().rip, kCode + 1);
}

// ---- Guest writes
// -------------------------------------------------------------

TEST(EmuCpuTest, TakeGuestWritesReportsExactlyTheStoredPages) {
  // mov [0x5000],al; push eax (ESP 0x8000 -> page 7); hlt
  Guest g = Boot({0xa2, 0x00, 0x50, 0x00, 0x00, 0x50, 0xf4});
  ASSERT_NE(g.cpu, nullptr);
  DirtyBitmap drained(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(drained).ok());
  EXPECT_TRUE(drained.Empty()) << drained.Count();
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  DirtyBitmap written(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(written).ok());
  EXPECT_EQ(Pages(written), (std::vector<uint64_t>{5, 7}));
  DirtyBitmap again(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(again).ok());
  EXPECT_TRUE(again.Empty()) << "the pages were not forgotten";
}

// QEMU's walker sets accessed and dirty bits in the page tables (page 6
// here) with stores no hook sees: TakeGuestWrites must count them.
TEST(EmuCpuTest, TakeGuestWritesIncludesPageTablesWithPagingOn) {
  // 32-bit paging: page directory at 0x4000, one page table at 0x6000
  // identity-mapping the 16 pages of RAM.
  Guest g = Boot({
      0xb8, 0x00, 0x40, 0x00, 0x00,  // mov eax,0x4000
      0x0f, 0x22, 0xd8,              // mov cr3,eax
      0x0f, 0x20, 0xc0,              // mov eax,cr0
      0x0d, 0x00, 0x00, 0x00, 0x80,  // or eax,0x80000000
      0x0f, 0x22, 0xc0,              // mov cr0,eax
      0xa2, 0x00, 0x90, 0x00, 0x00,  // mov [0x9000],al
      0xf4,                          // hlt
  });
  ASSERT_NE(g.cpu, nullptr);
  const uint32_t pde = 0x6000 | 7;
  ASSERT_TRUE(
      g.memory->Write(0x4000, {reinterpret_cast<const uint8_t*>(&pde), 4})
          .ok());
  for (uint32_t i = 0; i < 16; ++i) {
    const uint32_t pte = i * 0x1000 | 7;
    ASSERT_TRUE(
        g.memory
            ->Write(0x6000 + 4 * i, {reinterpret_cast<const uint8_t*>(&pte), 4})
            .ok());
  }
  g.cpu->NoteVmmWrite(0, g.memory->size());
  DirtyBitmap drained(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(drained).ok());
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kHlt) << e->Describe();
  // The walker set the accessed and dirty bits of the PTE it used for the
  // store: the page table was written by the CPU.
  uint32_t pte9 = 0;
  ASSERT_TRUE(
      g.memory->Read(0x6000 + 4 * 9, {reinterpret_cast<uint8_t*>(&pte9), 4})
          .ok());
  EXPECT_EQ(pte9 & 0x60, 0x60u) << std::hex << pte9;
  DirtyBitmap written(g.memory->pages());
  ASSERT_TRUE(g.cpu->TakeGuestWrites(written).ok());
  EXPECT_EQ(Pages(written), (std::vector<uint64_t>{4, 6, 9}));
}

// ---- Guests the backend cannot run
// -------------------------------------------

TEST(EmuCpuTest, MemoryOutsideRamIsAnUnsupportedExitNamingIt) {
  for (bool write : {false, true}) {
    SCOPED_TRACE(write ? "write" : "read");
    // mov eax,[0x20000000] / mov [0x20000000],eax; hlt
    Guest g = Boot(
        {write ? uint8_t{0xa3} : uint8_t{0xa1}, 0x00, 0x00, 0x00, 0x20, 0xf4});
    ASSERT_NE(g.cpu, nullptr);
    auto e = RunWithWatchdog(*g.cpu);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(e->kind, ExitKind::kUnsupported) << e->Describe();
    EXPECT_THAT(e->detail, HasSubstr("MMIO"));
    EXPECT_THAT(e->detail, HasSubstr(write ? "MMIO write" : "MMIO read"));
    EXPECT_THAT(e->detail, HasSubstr("0x20000000"));
    EXPECT_EQ(e->detail.find('\n'), std::string::npos);
  }
}

TEST(EmuCpuTest, AnInstructionTheEmulatorLacksIsAnInternalError) {
  // SHA-NI: Unicorn 2.0.1 (QEMU 5.0's TCG) has no SHA instructions,
  // Capstone decodes them. With SSE enabled, a real CPU with SHA runs it.
  Guest g = Boot({
      0x0f, 0x20, 0xe0,              // mov eax,cr4
      0x0d, 0x00, 0x06, 0x00, 0x00,  // or eax,0x600 (OSFXSR|OSXMMEXCPT)
      0x0f, 0x22, 0xe0,              // mov cr4,eax
      0x0f, 0x38, 0xcb, 0xc1,        // sha256rnds2 xmm0,xmm1
      0xf4,                          // hlt
  });
  ASSERT_NE(g.cpu, nullptr);
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->kind, ExitKind::kInternalError) << e->Describe();
  EXPECT_THAT(e->detail, HasSubstr("unsupported instruction 'sha256rnds2"));
  EXPECT_THAT(e->detail, HasSubstr("RIP 0x100b"));
  EXPECT_EQ(g.cpu->regs().rip, kCode + 11);
}

TEST(EmuCpuTest, Ud2WithoutAnIdtEndsTheRun) {
  Guest g = Boot({0x0f, 0x0b});  // ud2, no IDT loaded
  ASSERT_NE(g.cpu, nullptr);
  auto e = RunWithWatchdog(*g.cpu);
  ASSERT_TRUE(e.ok()) << e.status();
  // The reset IDT (base 0) over zeroed memory has no present gate for #UD
  // nor for #DF: a triple fault, as on KVM.
  ASSERT_EQ(e->kind, ExitKind::kShutdown) << e->Describe();
  EXPECT_THAT(e->detail, HasSubstr("vector 6"));
  // Not an instruction the emulator lacks: the guest's own #UD.
  EXPECT_THAT(e->detail, ::testing::Not(HasSubstr("unsupported instruction")));
}

// ---- State
// ----------------------------------------------------------------------

// A second CPU over a copy of `g`'s memory, in the state `g`'s CPU is in.
Guest CloneAt(Guest& g) {
  auto state = g.cpu->CaptureState();
  EXPECT_TRUE(state.ok()) << state.status();
  if (!state.ok()) return {};
  auto hv = OpenEmuHypervisor();
  EXPECT_TRUE(hv.ok()) << hv.status();
  if (!hv.ok()) return {};
  auto memory = GuestMemory::Create(g.memory->size());
  EXPECT_TRUE(memory.ok()) << memory.status();
  if (!memory.ok()) return {};
  Guest c;
  c.memory = std::make_unique<GuestMemory>(std::move(*memory));
  EXPECT_TRUE(c.memory->Write(0, g.memory->host_span()).ok());
  auto cpuid = (*hv)->DefaultCpuid();
  EXPECT_TRUE(cpuid.ok());
  if (!cpuid.ok()) return {};
  auto cpu = (*hv)->CreateCpu(*c.memory, *cpuid);
  EXPECT_TRUE(cpu.ok()) << cpu.status();
  if (!cpu.ok()) return {};
  c.cpu = std::move(*cpu);
  absl::Status restored = c.cpu->RestoreState(*state);
  EXPECT_TRUE(restored.ok()) << restored;
  if (!restored.ok()) return {};
  auto now = c.cpu->CaptureState();
  EXPECT_TRUE(now.ok()) << now.status();
  if (now.ok()) {
    EXPECT_TRUE(now->arch == state->arch)
        << FirstArchFieldDifference(state->arch, now->arch);
  }
  return c;
}

void ExpectSameNextExit(Guest& a, Guest& b) {
  auto ea = RunWithWatchdog(*a.cpu);
  auto eb = RunWithWatchdog(*b.cpu);
  ASSERT_TRUE(ea.ok()) << ea.status();
  ASSERT_TRUE(eb.ok()) << eb.status();
  EXPECT_EQ(ea->Describe(), eb->Describe());
  EXPECT_TRUE(std::equal(ea->io.data.begin(), ea->io.data.end(),
                         eb->io.data.begin(), eb->io.data.end()));
  EXPECT_TRUE(a.cpu->regs() == b.cpu->regs());
  auto sa = a.cpu->CaptureState();
  auto sb = b.cpu->CaptureState();
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_TRUE(sa->arch == sb->arch)
      << FirstArchFieldDifference(sa->arch, sb->arch);
}

TEST(EmuCpuTest, InstructionControlCountsCodeRunBeforeIt) {
  // L0: out 0x10,al; mov ecx,3; L1: dec ecx; jnz L1; jmp L0 — run (and so
  // translated) before counting starts. Only the block with the OUT holds
  // an exit point; the loop's blocks, translated without any hook, must
  // count all the same.
  Guest g = Boot(
      {0xe6, 0x10, 0xb9, 0x03, 0x00, 0x00, 0x00, 0x49, 0x75, 0xfd, 0xeb, 0xf4});
  ASSERT_NE(g.cpu, nullptr);
  for (int i = 0; i < 2; ++i) {
    auto e = RunWithWatchdog(*g.cpu);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(e->kind, ExitKind::kPio) << e->Describe();
  }
  auto control = g.cpu->EnableInstructionControl();
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_NE(*control, nullptr);
  (*control)->set_limit(4);  // mov, dec, jnz, dec
  // Uncounted, the run would go on to the next OUT: no watchdog needed.
  auto e = g.cpu->Run();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ExitKind::kHostInterrupt) << e->Describe();
  EXPECT_EQ((*control)->retired(), 4u);
  EXPECT_EQ((*control)->TakeStop(),
            (DebugStop{.kind = DebugStop::Kind::kLimit}));
  EXPECT_EQ(g.cpu->regs().rip, kCode + 8);  // at the second jnz
}

TEST(EmuCpuTest, StateMovesToASecondCpuAndBothContinueAlike) {
  // mov al,5; add al,3; out 0x10,al; inc ebx; mov al,9; out 0x11,al; hlt
  const std::vector<uint8_t> code = {0xb0, 0x05, 0x04, 0x03, 0xe6, 0x10,
                                     0x43, 0xb0, 0x09, 0xe6, 0x11, 0xf4};
  Guest a = Boot(code);
  ASSERT_NE(a.cpu, nullptr);
  // At the multiboot entry state (ESN 0).
  Guest b = CloneAt(a);
  ASSERT_NE(b.cpu, nullptr);
  EXPECT_EQ(b.cpu->regs().rip, kCode);
  ExpectSameNextExit(a, b);
  EXPECT_EQ(a.cpu->regs().rip, kCode + 6);
  // And mid-run, after an exit.
  Guest c = CloneAt(a);
  ASSERT_NE(c.cpu, nullptr);
  ExpectSameNextExit(a, c);
  EXPECT_EQ(a.cpu->regs().rip, kCode + 11);
  ExpectSameNextExit(a, c);
}

}  // namespace
}  // namespace xv
