#include "emu/emu_hypervisor.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "emu/emu_cpu.h"
#include "emu/qemu_state_layout.h"

namespace xv {
namespace {

constexpr uint32_t Bit(int n) { return uint32_t{1} << n; }

// What the emulated CPU offers (QEMU's TCG model in Unicorn 2.0.1, without
// the extensions whose CPUID bits that model does not set).
std::vector<CpuidLeaf> EmulatorCpuid() {
  // "AuthenticAMD", as Unicorn's own model says.
  constexpr uint32_t kAuth = 0x68747541, kEnti = 0x69746e65, kCamd = 0x444d4163;
  const uint32_t leaf1_edx =
      Bit(0) /*FPU*/ | Bit(3) /*PSE*/ | Bit(4) /*TSC*/ | Bit(5) /*MSR*/ |
      Bit(6) /*PAE*/ | Bit(8) /*CX8*/ | Bit(9) /*APIC*/ | Bit(11) /*SEP*/ |
      Bit(13) /*PGE*/ | Bit(15) /*CMOV*/ | Bit(16) /*PAT*/ | Bit(19) /*CLFSH*/ |
      Bit(23) /*MMX*/ | Bit(24) /*FXSR*/ | Bit(25) /*SSE*/ | Bit(26) /*SSE2*/;
  return {
      {.function = 0, .eax = 1, .ebx = kAuth, .ecx = kCamd, .edx = kEnti},
      {.function = 1,
       .eax = 0x00000f61,
       .ebx = 0x00010800,  // 1 logical CPU, 64-byte CLFLUSH lines
       .ecx = 0,
       .edx = leaf1_edx},
      {.function = 0x80000000,
       .eax = 0x80000008,
       .ebx = kAuth,
       .ecx = kCamd,
       .edx = kEnti},
      {.function = 0x80000001,
       .edx = Bit(11) /*SYSCALL*/ | Bit(20) /*NX*/ | Bit(29) /*LM*/},
      {.function = 0x80000008, .eax = 0x3028},  // 40-bit physical, 48 linear
  };
}

// The backend's tricks, checked once on a tiny guest: an OUT reported with
// its data and RIP past it, an IN that takes the handler's value when
// settled, and a HLT, each exactly once.
absl::Status SelfCheck() {
  auto memory = GuestMemory::Create(64 << 10);
  if (!memory.ok()) return memory.status();
  // mov al,42; out 0x80,al; in al,0x81; add al,1; out 0x82,al; hlt
  const uint8_t code[] = {0xb0, 0x2a, 0xe6, 0x80, 0xe4, 0x81,
                          0x04, 0x01, 0xe6, 0x82, 0xf4};
  if (absl::Status s = memory->Write(0x1000, code); !s.ok()) return s;
  const std::vector<CpuidLeaf> cpuid = EmulatorCpuid();
  auto cpu = EmuCpu::Create(*memory, cpuid);
  if (!cpu.ok()) return cpu.status();
  if (absl::Status s = (*cpu)->EnterProtectedMode({.eip = 0x1000}); !s.ok()) {
    return s;
  }
  auto fail = [](std::string what) {
    return absl::FailedPreconditionError(
        "the emulator backend's self-check failed (this libunicorn does not "
        "behave like 2.0.1): " +
        what);
  };
  struct Expected {
    ExitKind kind;
    uint16_t port;
    uint8_t value;
    uint64_t rip;
  };
  const Expected expected[] = {{ExitKind::kPio, 0x80, 42, 0x1004},
                               {ExitKind::kPio, 0x81, 0, 0x1004},
                               {ExitKind::kPio, 0x82, 8, 0x100a},
                               {ExitKind::kHlt, 0, 0, 0x100b}};
  for (const Expected& e : expected) {
    auto exit = (*cpu)->Run();
    if (!exit.ok()) return exit.status();
    if (exit->kind != e.kind || (*cpu)->regs().rip != e.rip ||
        (e.kind == ExitKind::kPio &&
         (exit->io.port != e.port || exit->io.count != 1 ||
          (!exit->io.in && exit->io.data[0] != e.value)))) {
      return fail(
          absl::StrFormat("expected %s port 0x%x at RIP 0x%x, got %s "
                          "at RIP 0x%x",
                          ExitKindName(e.kind), e.port, e.rip, exit->Describe(),
                          (*cpu)->regs().rip));
    }
    if (exit->kind == ExitKind::kPio && exit->io.in) exit->io.data[0] = 7;
  }
  return absl::OkStatus();
}

class EmuHypervisor final : public Hypervisor {
 public:
  std::string_view name() const override { return "emu"; }
  absl::StatusOr<std::vector<CpuidLeaf>> DefaultCpuid() const override {
    return EmulatorCpuid();
  }
  absl::StatusOr<std::unique_ptr<GuestCpu>> CreateCpu(
      GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const override {
    auto cpu = EmuCpu::Create(memory, cpuid);
    if (!cpu.ok()) return cpu.status();
    return std::unique_ptr<GuestCpu>(std::move(*cpu));
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenEmuHypervisor() {
  static const absl::Status* const checked = [] {
    absl::Status s = QemuStateLayout::Get().status();
    if (s.ok()) s = SelfCheck();
    return new absl::Status(std::move(s));  // NOLINT: process lifetime
  }();
  if (!checked->ok()) return *checked;
  return std::unique_ptr<Hypervisor>(std::make_unique<EmuHypervisor>());
}

}  // namespace xv
