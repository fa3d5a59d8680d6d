#include "kvm/kvm_cpu.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "hypervisor/io_instruction.h"
#include "hypervisor/page_walk.h"
#include "hypervisor/x86_bits.h"
#include "kvm/kvm_cpuid.h"
#include "kvm/kvm_kicker.h"
#include "kvm/kvm_state.h"
#include "kvm/vcpu_exit.h"

namespace xv {
namespace {

using x86::kCr0Pe;
using x86::kCr0Pg;
using x86::kEferLma;
using x86::kRflagsRf;
using x86::kRflagsVm;

// Where KVM may put the real-mode TSS on Intel hosts: above any guest RAM
// a machine allows and below 4 GiB.
constexpr uint64_t kTssAddr = 0xfffbd000;

kvm_segment FlatSegment(uint16_t selector, uint8_t type) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = 1;
  s.s = 1;
  s.g = 1;
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvmCpu>> KvmCpu::Create(
    const KvmSystem& kvm, GuestMemory& memory,
    std::span<const CpuidLeaf> cpuid) {
  auto vm = kvm.CreateVm();
  if (!vm.ok()) return vm.status();
  if (absl::Status s = vm->SetTssAddr(kTssAddr); !s.ok()) return s;
  // Dirty logging always: checkpoints, state hashes and merging all work
  // from the pages written since the last sync.
  if (absl::Status s =
          vm->SetMemorySlot(0, 0, memory.host_span(), KVM_MEM_LOG_DIRTY_PAGES);
      !s.ok()) {
    return s;
  }
  auto vcpu = vm->CreateVcpu(0);
  if (!vcpu.ok()) return vcpu.status();
  if (absl::Status s = vcpu->SetCpuid(ToKvmCpuid(cpuid)); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "this host's KVM refuses the guest's CPUID (%s)", s.message()));
  }
  auto supported = kvm.MsrIndexList();
  if (!supported.ok()) return supported.status();
  std::vector<uint32_t> msrs;
  for (const ArchMsr& m : kArchMsrs) {
    if (std::find(supported->begin(), supported->end(), m.index) !=
        supported->end()) {
      msrs.push_back(m.index);
    }
  }
  auto cpu = std::make_unique<KvmCpu>(Key{}, memory, std::move(*vm),
                                      std::move(*vcpu), std::move(msrs));
  cpu->Refresh();
  return cpu;
}

void KvmCpu::Refresh() { regs_ = FromKvmRegs(vcpu_.regs()); }

PagingState KvmCpu::Paging() const {
  const kvm_sregs& s = vcpu_.synced_sregs();
  return {s.cr0, s.cr3, s.cr4, s.efer};
}

CodeMode KvmCpu::Mode() const {
  const kvm_sregs& s = vcpu_.synced_sregs();
  if (!(s.cr0 & kCr0Pe) || (regs_.rflags & kRflagsVm)) return CodeMode::k16;
  if ((s.efer & kEferLma) && s.cs.l) return CodeMode::k64;
  return s.cs.db ? CodeMode::k32 : CodeMode::k16;
}

absl::Status KvmCpu::EnterProtectedMode(const ProtectedModeEntry& entry) {
  held_.reset();
  settled_ = true;
  auto sregs = vcpu_.GetSregs();
  if (!sregs.ok()) return sregs.status();
  sregs->cs = FlatSegment(0x08, 0xb);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss =
      FlatSegment(0x10, 0x3);
  sregs->cr0 = (sregs->cr0 | kCr0Pe) & ~kCr0Pg;
  sregs->efer = 0;
  if (absl::Status s = vcpu_.SetSregs(*sregs); !s.ok()) return s;
  kvm_regs regs{};
  regs.rip = entry.eip;
  regs.rax = entry.eax;
  regs.rbx = entry.ebx;
  regs.rsp = entry.esp;
  regs.rflags = 0x2;
  if (absl::Status s = vcpu_.SetRegs(regs); !s.ok()) return s;
  Refresh();
  return absl::OkStatus();
}

absl::StatusOr<CpuExit> KvmCpu::Run() {
  CpuExit exit;
  if (held_) {
    exit = std::move(*held_);
    held_.reset();
  } else {
    auto exited = vcpu_.RunOnce();
    if (!exited.ok()) return exited.status();
    if (!*exited) {
      // Cleared before the caller looks at why it was kicked, so that a
      // kick landing in between is seen by the next KVM_RUN, not lost.
      // KVM completed any pending exit before it returned.
      vcpu_.ClearImmediateExit();
      settled_ = true;
      Refresh();
      exit.kind = ExitKind::kHostInterrupt;
      return exit;
    }
    exit = DecodeExit(vcpu_.run());
  }
  settled_ = false;
  Refresh();
  last_pio_.reset();
  if (exit.kind == ExitKind::kPio) {
    last_pio_ = exit.io;
    last_pio_->data = {};
    // An OUT has completed at its exit; an IN completes when settled.
    if (!exit.io.in) {
      FinishString(exit.io);
      ClearResumeFlag();
    }
  }
  return exit;
}

absl::StatusOr<bool> KvmCpu::Complete() {
  kvm_run* r = vcpu_.run();
  // A kick that set the flag before us must survive; one landing during
  // this call is lost, which the run loop tolerates (it checks its stop
  // conditions before every Run()).
  const uint8_t kicked = r->immediate_exit;
  r->immediate_exit = 1;
  auto exited = vcpu_.RunOnce();
  r->immediate_exit = kicked;
  if (!exited.ok()) {
    return absl::Status(
        exited.status().code(),
        absl::StrFormat("completing the last exit: %s",
                        std::string(exited.status().message())));
  }
  if (*exited) {
    held_ = DecodeExit(r);
  } else {
    settled_ = true;
  }
  Refresh();
  if (settled_) {
    if (last_pio_ && last_pio_->in) FinishString(*last_pio_);
    ClearResumeFlag();
  }
  return *exited;
}

absl::Status KvmCpu::SettleExit() {
  if (held_ || settled_) return absl::OkStatus();
  return Complete().status();
}

void KvmCpu::FinishString(const PioExit& io) {
  // Cheap filter first: RCX must be 0 under some address size.
  if ((regs_.rcx & 0xffff) != 0) return;
  auto rip = LinearRip();
  if (!rip.ok()) return;
  uint8_t bytes[15];
  auto read = ReadLinear(Paging(), memory_, *rip, bytes);
  // RIP unreadable: it is past a plain `out`, not at a string instruction
  // (the CPU fetched that).
  if (!read.ok()) return;
  const std::optional<IoInstruction> insn =
      DecodeIoInstruction({bytes, *read}, Mode());
  if (!insn || insn->in != io.in || !insn->string || !insn->rep ||
      insn->element_size != io.size || (regs_.rdx & 0xffff) != io.port ||
      MaskToAddressSize(regs_.rcx, insn->address_size) != 0) {
    return;
  }
  // The last element of this `rep outs` (or, settled, the last batch of
  // this `rep ins`): KVM has transferred it and will let the guest run the
  // instruction again with RCX = 0, a no-op; the rule says the
  // instruction is over.
  kvm_regs& r = vcpu_.mutable_regs();
  r.rip += insn->length;
  regs_.rip = r.rip;
}

void KvmCpu::ClearResumeFlag() {
  // The architecture clears RF once an instruction completes. PVM, which
  // carries out a CPL3 port access on the #GP it raises, resumes the guest
  // with the RF=1 of that fault's frame: the instruction after an emulated
  // IN/OUT would start with RF=1 and show it at its own exit, a state no
  // CPU has (and the emulator backend does not). The exit's instruction
  // has completed here, so RF is 0.
  if (!(regs_.rflags & kRflagsRf)) return;
  regs_.rflags &= ~kRflagsRf;
  vcpu_.mutable_regs().rflags = regs_.rflags;
}

absl::Status KvmCpu::QueueInterrupt(uint8_t vector) {
  return vcpu_.InjectInterrupt(vector);
}

absl::Status KvmCpu::ModifyRegs(
    absl::FunctionRef<void(GeneralRegisters&)> change) {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  change(regs_);
  vcpu_.mutable_regs() = ToKvmRegs(regs_);
  return absl::OkStatus();
}

absl::StatusOr<CpuState> KvmCpu::CaptureState() {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  auto k = CaptureKvmState(vcpu_, msr_indices_);
  if (!k.ok()) return k.status();
  return CpuState{ToArchState(*k), "kvm", SerializeKvmState(*k)};
}

absl::Status KvmCpu::RestoreState(const CpuState& state) {
  held_.reset();
  settled_ = true;
  KvmVcpuState target;
  if (state.backend == backend() && !state.blob.empty()) {
    auto parsed = ParseKvmState(state.blob);
    if (!parsed.ok()) return parsed.status();
    target = std::move(*parsed);
  } else {
    auto current = CaptureKvmState(vcpu_, msr_indices_);
    if (!current.ok()) return current.status();
    auto rebuilt = FromArchState(state.arch, *current, memory_);
    if (!rebuilt.ok()) return rebuilt.status();
    target = std::move(*rebuilt);
  }
  if (absl::Status s = RestoreKvmState(vcpu_, target); !s.ok()) return s;
  Refresh();
  auto now = CaptureKvmState(vcpu_, msr_indices_);
  if (!now.ok()) return now.status();
  if (const ArchState got = ToArchState(*now); got != state.arch) {
    return absl::DataLossError(absl::StrFormat(
        "KVM did not take the vCPU state as given (%s differs)%s",
        FirstArchFieldDifference(state.arch, got),
        state.backend == backend() ? ": its KVM blob and its architectural "
                                     "state disagree"
                                   : ""));
  }
  return absl::OkStatus();
}

absl::Status KvmCpu::TakeGuestWrites(DirtyBitmap& pages) {
  if (absl::Status s = vm_.GetDirtyLog(0, dirty_scratch_.words()); !s.ok()) {
    return s;
  }
  pages.Merge(dirty_scratch_);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> KvmCpu::Translate(uint64_t linear) const {
  return TranslateLinear(Paging(), memory_, linear);
}

absl::StatusOr<uint64_t> KvmCpu::LinearRip() const {
  const kvm_sregs& s = vcpu_.synced_sregs();
  if ((s.efer & kEferLma) && s.cs.l) return regs_.rip;
  return (s.cs.base + (regs_.rip & 0xffffffff)) & 0xffffffff;
}

absl::StatusOr<std::unique_ptr<CpuKicker>> KvmCpu::BindKicker() {
  auto kicker = KvmKicker::ForCurrentThread(&vcpu_);
  if (!kicker.ok()) return kicker.status();
  return std::unique_ptr<CpuKicker>(std::move(*kicker));
}

}  // namespace xv
