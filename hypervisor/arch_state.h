// ArchState: a vCPU's architectural state as the x86-64 architecture defines
// it — never a backend's representation of it (KVM's XSAVE image and event
// structures, segment `unusable` bits, a host-dependent MSR list). It is
// what a state hash covers, what checkpoint verification compares field by
// field, and what a fault flips; so two backends running the same guest
// produce the same ArchState, and a state hash means the same on both.
//
// What is deliberately not here:
// * segment descriptor caches other than the bases long mode uses (FS, GS,
//   TR, LDTR): how a backend keeps them (accessed bits, `unusable`, limits
//   long mode ignores) differs while the guest sees no difference;
// * the x87 FIP/FDP/FOP (deprecated, and AMD CPUs save them only while an
//   x87 exception is pending: host-dependent);
// * the TSC and every MSR that moves with host time;
// * state components beyond AVX (a backend's opaque blob carries them for an
//   exact restore on that backend, see CpuState).
#ifndef EXTRAVIRT_HYPERVISOR_ARCH_STATE_H_
#define EXTRAVIRT_HYPERVISOR_ARCH_STATE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "base/hash128.h"

namespace xv {

struct GeneralRegisters {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0;
  uint64_t rsi = 0, rdi = 0, rsp = 0, rbp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0;
  uint64_t r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0;
  uint64_t rflags = 0x2;
  friend bool operator==(const GeneralRegisters&,
                         const GeneralRegisters&) = default;
};

// The 18 registers above by name ("rax" ... "r15", "rip", "rflags"), in
// that order: what a fault specification names.
inline constexpr std::array<std::string_view, 18> kGeneralRegisterNames = {
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",
    "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"};
// The same registers as members, in the same order.
inline constexpr std::array<uint64_t GeneralRegisters::*, 18>
    kGeneralRegisterMembers = {
        &GeneralRegisters::rax, &GeneralRegisters::rbx,
        &GeneralRegisters::rcx, &GeneralRegisters::rdx,
        &GeneralRegisters::rsi, &GeneralRegisters::rdi,
        &GeneralRegisters::rsp, &GeneralRegisters::rbp,
        &GeneralRegisters::r8,  &GeneralRegisters::r9,
        &GeneralRegisters::r10, &GeneralRegisters::r11,
        &GeneralRegisters::r12, &GeneralRegisters::r13,
        &GeneralRegisters::r14, &GeneralRegisters::r15,
        &GeneralRegisters::rip, &GeneralRegisters::rflags};
// The register called `name` in `regs`, or nullptr.
uint64_t* GeneralRegister(GeneralRegisters& regs, std::string_view name);

struct DescriptorTable {
  uint64_t base = 0;
  uint16_t limit = 0xffff;
  friend bool operator==(const DescriptorTable&,
                         const DescriptorTable&) = default;
};

// LDTR and TR: the selector and the base and limit loaded from the
// descriptor (long mode delivers interrupts through TR's base).
struct SystemSegment {
  uint16_t selector = 0;
  uint64_t base = 0;
  uint32_t limit = 0xffff;
  friend bool operator==(const SystemSegment&, const SystemSegment&) = default;
};

using Bytes16 = std::array<uint8_t, 16>;
using Float80 = std::array<uint8_t, 10>;

// The MSRs that are architectural state: fixed, the same on every host and
// backend, each with the value it has at reset. A backend that cannot hold
// one reports its reset value (and refuses to restore any other).
struct ArchMsr {
  uint32_t index;
  std::string_view name;
  uint64_t reset_value;
};
inline constexpr std::array<ArchMsr, 10> kArchMsrs = {{
    {0x174, "SYSENTER_CS", 0},
    {0x175, "SYSENTER_ESP", 0},
    {0x176, "SYSENTER_EIP", 0},
    {0x277, "PAT", 0x0007040600070406},
    {0xc0000081, "STAR", 0},
    {0xc0000082, "LSTAR", 0},
    {0xc0000083, "CSTAR", 0},
    {0xc0000084, "SFMASK", 0},
    {0xc0000102, "KERNEL_GS_BASE", 0},
    {0xc0000103, "TSC_AUX", 0},
}};
// Position of `index` in kArchMsrs, or nullopt.
std::optional<size_t> ArchMsrSlot(uint32_t index);

struct ArchState {
  GeneralRegisters regs;

  uint64_t cr0 = 0x60000010;
  uint64_t cr2 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t cr8 = 0;
  uint64_t efer = 0;
  uint64_t xcr0 = 1;

  // Segment selectors.
  uint16_t cs = 0, ds = 0, es = 0, fs = 0, gs = 0, ss = 0;
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
  DescriptorTable gdtr;
  DescriptorTable idtr;
  SystemSegment ldtr;
  SystemSegment tr;

  // x87 and SSE (AVX's upper halves in ymm_high).
  uint16_t fcw = 0x37f;
  uint16_t fsw = 0;
  uint8_t ftw = 0;  // abridged tag word: bit i set = st(i) not empty
  std::array<Float80, 8> st{};
  uint32_t mxcsr = 0x1f80;
  std::array<Bytes16, 16> xmm{};
  std::array<Bytes16, 16> ymm_high{};

  // Debug registers, normalised (NormalizeDr6/NormalizeDr7).
  std::array<uint64_t, 4> dr{};
  uint64_t dr6 = 0xffff0ff0;
  uint64_t dr7 = 0x400;

  // In kArchMsrs order.
  std::array<uint64_t, kArchMsrs.size()> msrs = [] {
    std::array<uint64_t, kArchMsrs.size()> v{};
    for (size_t i = 0; i < kArchMsrs.size(); ++i)
      v[i] = kArchMsrs[i].reset_value;
    return v;
  }();

  // An external interrupt queued for delivery at the next entry (the
  // machine injects only at a rendezvous; it is delivered before the next
  // guest instruction).
  std::optional<uint8_t> queued_interrupt;
  // The instruction just executed blocks interrupts for one more (STI, MOV
  // SS).
  bool interrupt_shadow = false;

  friend bool operator==(const ArchState&, const ArchState&) = default;
};

// DR6 and DR7 with their reserved bits at the values the architecture
// fixes, so that backends agree on them.
uint64_t NormalizeDr6(uint64_t dr6);
uint64_t NormalizeDr7(uint64_t dr7);

// Calls visit(name, value bytes) for every field, in a fixed order: what the
// state hash covers and what verification compares, by name ("rbx", "cr3",
// "xmm3", "msr 0xc0000082 (LSTAR)"). Integers are little-endian.
using ArchFieldVisitor =
    absl::FunctionRef<void(std::string_view, std::span<const uint8_t>)>;
void ForEachArchField(const ArchState& state, const ArchFieldVisitor& visit);

// Feeds every field into `hasher`, field by field.
void HashArchState(const ArchState& state, Hasher& hasher);

// Calls visit(name, a's value, b's value) for every field whose value
// differs between `a` and `b`, in ForEachArchField's order.
using ArchFieldDifferenceVisitor = absl::FunctionRef<void(
    std::string_view, std::span<const uint8_t>, std::span<const uint8_t>)>;
void ForEachArchFieldDifference(const ArchState& a, const ArchState& b,
                                const ArchFieldDifferenceVisitor& visit);
// The name of the first field that differs, or "(none)": for reports.
std::string FirstArchFieldDifference(const ArchState& a, const ArchState& b);

// The architectural state plus, optionally, a backend's own image of the
// same state for an exact restore on that backend (descriptor caches, state
// components beyond AVX, pending exceptions...). Hashes and verification
// never look at the blob.
struct CpuState {
  ArchState arch;
  // The backend that made `blob` ("kvm"); empty when there is none.
  std::string backend;
  std::vector<uint8_t> blob;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_ARCH_STATE_H_
