// GuestCpu: what a Machine needs from the CPU that runs its guest, whatever
// runs it (KVM, an emulator, a scripted fake in tests). One vCPU, running
// over a GuestMemory the machine owns; every call comes from the thread
// that runs it, except CpuKicker::Kick().
//
// The contract every backend keeps (DESIGN §8):
// * Run() stops exactly after a guest-initiated exit's instruction has done
//   its part (an `in` waits for its data: the handler fills PioExit::data
//   before the next call) and reports string I/O by the rule of
//   cpu_exit.h. Nothing the host does (a kick) is visible to the guest.
// * An interrupt is queued only at a rendezvous where CanTakeInterrupt(),
//   and is delivered through the guest's IDT before its next instruction.
// * State is ArchState; a backend's own representation stays inside it (or
//   in CpuState's blob).
#ifndef EXTRAVIRT_HYPERVISOR_GUEST_CPU_H_
#define EXTRAVIRT_HYPERVISOR_GUEST_CPU_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpu_exit.h"
#include "hypervisor/cpuid.h"
#include "hypervisor/instruction_control.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"

namespace xv {

// Makes a GuestCpu's Run() return (ExitKind::kHostInterrupt) from another
// thread or a signal handler.
class CpuKicker {
 public:
  virtual ~CpuKicker() = default;
  // Async-signal-safe, any thread. The Run() in progress returns promptly;
  // if none is in progress, the next one returns at once. Either way the
  // guest does not notice.
  virtual void Kick() const = 0;
};

// Where a multiboot boot loader leaves the CPU (multiboot spec 3.2): 32-bit
// protected mode, flat 4 GiB code (selector 0x08) and data (0x10)
// segments without a GDT, paging and interrupts off.
struct ProtectedModeEntry {
  uint32_t eip = 0;
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t esp = 0;
};

class GuestCpu {
 public:
  virtual ~GuestCpu() = default;

  // "kvm", "emu", ...: the Hypervisor's name().
  virtual std::string_view backend() const = 0;

  // Puts the CPU in the multiboot entry state.
  virtual absl::Status EnterProtectedMode(const ProtectedModeEntry& entry) = 0;

  // Runs the guest to its next exit. An error only when the backend itself
  // fails (an ioctl); a guest the backend cannot run is an exit
  // (kInternalError, kFailEntry, kUnsupported) with the details.
  virtual absl::StatusOr<CpuExit> Run() = 0;

  // Finishes the instruction of the exit just handled without running any
  // further guest instruction: its `in` data into the register or memory,
  // RIP past it. State read before this may show the instruction
  // unfinished (KVM completes it only at the next entry), and a CPU
  // restored from that state would execute it twice. An exit that
  // finishing it produces (the next batch of a string instruction) is kept
  // for the next Run(). Idempotent.
  virtual absl::Status SettleExit() = 0;

  // IF=1 and no interrupt shadow, at the last exit.
  virtual bool CanTakeInterrupt() const = 0;
  // Queues external interrupt `vector` for delivery before the guest's next
  // instruction. Only when CanTakeInterrupt().
  virtual absl::Status QueueInterrupt(uint8_t vector) = 0;

  // General registers as of the last exit (free: no call into the backend).
  // Before SettleExit() they may show the exit's instruction unfinished, so
  // they are for reading only: ModifyRegs() changes them.
  virtual const GeneralRegisters& regs() const = 0;
  // Settles the last exit, then lets `change` edit the general registers
  // (so an edit never undoes the completion of the exit's instruction).
  virtual absl::Status ModifyRegs(
      absl::FunctionRef<void(GeneralRegisters&)> change) = 0;

  // The full state, after settling the last exit.
  virtual absl::StatusOr<CpuState> CaptureState() = 0;
  // Puts the CPU in `state`. A blob from this same backend restores it
  // exactly; otherwise the backend rebuilds what ArchState leaves out
  // (descriptor caches from the guest's GDT). Either way the CPU's
  // ArchState afterwards equals state.arch, or this fails.
  virtual absl::Status RestoreState(const CpuState& state) = 0;

  // ORs into `pages` (one bit per guest page) every page the guest wrote
  // since the last call — its own stores and the CPU's (page-table
  // accessed/dirty bits, interrupt frames) — and forgets them. Exact only
  // with the last exit settled; pages the VMM wrote are not included
  // (GuestMemory remembers those).
  virtual absl::Status TakeGuestWrites(DirtyBitmap& pages) = 0;

  // The VMM wrote guest memory [gpa, gpa + len) (a loader, a restored page,
  // an injected fault): a backend that caches translated guest code drops
  // what it cached for that range.
  virtual void NoteVmmWrite(uint64_t gpa, uint64_t len) = 0;

  // Guest linear address -> guest-physical, through the guest's page tables
  // as of the last exit.
  virtual absl::StatusOr<uint64_t> Translate(uint64_t linear) const = 0;
  // The linear address of RIP (CS base + RIP outside 64-bit mode).
  virtual absl::StatusOr<uint64_t> LinearRip() const = 0;

  // A kicker for the calling thread, which must be the one calling Run().
  // Valid until destroyed; at most one at a time.
  virtual absl::StatusOr<std::unique_ptr<CpuKicker>> BindKicker() = 0;

  // Instruction-level positions and stops (instruction_control.h), turned
  // on by the first call and from then on for the CPU's life, at a cost
  // in speed; null where the backend cannot offer them (KVM).
  virtual absl::StatusOr<InstructionControl*> EnableInstructionControl() {
    return nullptr;
  }
};

// A CPU backend: what can make a GuestCpu.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  // Recorded in logs ("kvm").
  virtual std::string_view name() const = 0;
  // The CPUID a guest gets when its machine does not fix one.
  virtual absl::StatusOr<std::vector<CpuidLeaf>> DefaultCpuid() const = 0;
  // A CPU over `memory` (which must outlive it), showing the guest `cpuid`.
  // An error names what the backend refused (a CPUID this host cannot
  // offer, say).
  virtual absl::StatusOr<std::unique_ptr<GuestCpu>> CreateCpu(
      GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_GUEST_CPU_H_
