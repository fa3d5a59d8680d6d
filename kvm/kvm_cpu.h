// KvmCpu: the KVM backend's GuestCpu — one KVM VM with one vCPU over a
// GuestMemory (memory slot 0, dirty-logged), a userspace irqchip (no
// KVM_CREATE_IRQCHIP, ever: DESIGN §2).
//
// What KVM leaves to userspace and this class does:
// * Settling: KVM completes an exit's instruction (an `in`'s data, a `rep
//   ins` batch) only at the next KVM_RUN; SettleExit() runs one with
//   immediate_exit, keeping any exit that produces for the next Run().
// * The string-I/O rule (hypervisor/string_io.h) is what KVM does, but for
//   one detail of PVM: after the last element of a `rep outs` (and the
//   settled last batch of a `rep ins`) it leaves RIP at the instruction
//   (RCX = 0) for the guest to run again as a no-op. The instruction at
//   RIP, decoded through the guest's page tables with the segment
//   registers KVM syncs into kvm_run at every exit, tells, and RIP is put
//   past it.
// * RF: PVM resumes the instruction after a CPL3 port access it carried
//   out with RF=1; at an exit whose instruction has completed RF is
//   cleared, as the architecture has it (ClearResumeFlag).
#ifndef EXTRAVIRT_KVM_KVM_CPU_H_
#define EXTRAVIRT_KVM_KVM_CPU_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "hypervisor/guest_cpu.h"
#include "hypervisor/io_instruction.h"
#include "hypervisor/page_walk.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_uapi.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace xv {

class KvmCpu : public GuestCpu {
 public:
  // A VM over `memory` with one vCPU showing `cpuid`.
  static absl::StatusOr<std::unique_ptr<KvmCpu>> Create(
      const KvmSystem& kvm, GuestMemory& memory,
      std::span<const CpuidLeaf> cpuid);

  std::string_view backend() const override { return "kvm"; }
  absl::Status EnterProtectedMode(const ProtectedModeEntry& entry) override;
  absl::StatusOr<CpuExit> Run() override;
  absl::Status SettleExit() override;
  bool CanTakeInterrupt() const override { return vcpu_.CanTakeInterrupt(); }
  absl::Status QueueInterrupt(uint8_t vector) override;
  const GeneralRegisters& regs() const override { return regs_; }
  absl::Status ModifyRegs(
      absl::FunctionRef<void(GeneralRegisters&)> change) override;
  absl::StatusOr<CpuState> CaptureState() override;
  absl::Status RestoreState(const CpuState& state) override;
  absl::Status TakeGuestWrites(DirtyBitmap& pages) override;
  void NoteVmmWrite(uint64_t gpa, uint64_t len) override {}
  absl::StatusOr<uint64_t> Translate(uint64_t linear) const override;
  absl::StatusOr<uint64_t> LinearRip() const override;
  absl::StatusOr<std::unique_ptr<CpuKicker>> BindKicker() override;

  // For tests and benchmarks about KVM itself.
  Vcpu& vcpu() { return vcpu_; }

  // Only Create() can make one (passkey).
  class Key {
    friend class KvmCpu;
    Key() = default;
  };
  KvmCpu(Key, GuestMemory& memory, Vm vm, Vcpu vcpu,
         std::vector<uint32_t> msr_indices)
      : memory_(memory),
        vm_(std::move(vm)),
        vcpu_(std::move(vcpu)),
        msr_indices_(std::move(msr_indices)),
        dirty_scratch_(memory.pages()) {}

 private:
  // Copies the general registers the last KVM_RUN synced (segment registers
  // are read where KVM syncs them: vcpu_.synced_sregs()).
  void Refresh();
  PagingState Paging() const;
  CodeMode Mode() const;
  // After the last element of a `rep outs`, or the settled last batch of a
  // `rep ins`, RIP past it (class comment).
  void FinishString(const PioExit& io);
  void ClearResumeFlag();
  // A KVM_RUN with immediate_exit: completes the pending exit; returns
  // whether KVM came back with another exit (kept in held_).
  absl::StatusOr<bool> Complete();

  GuestMemory& memory_;
  Vm vm_;
  Vcpu vcpu_;
  std::vector<uint32_t> msr_indices_;
  GeneralRegisters regs_;
  // An exit Complete() received, for the next Run().
  std::optional<CpuExit> held_;
  // The last port exit (without its data), for settling it.
  std::optional<PioExit> last_pio_;
  // The last exit's instruction has been completed: nothing is pending.
  bool settled_ = true;
  DirtyBitmap dirty_scratch_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_CPU_H_
