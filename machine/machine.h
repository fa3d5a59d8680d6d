// Machine: one replica — a CPU from a backend (hypervisor/), its guest memory
// and its PC device front-ends — as the deterministic state machine of
// DESIGN §2. It counts the exit sequence number (ESN) itself, by the rule of
// hypervisor/cpu_exit.h, so every backend yields the same positions.
//
// The Machine never touches the environment: outputs leave through the
// OutputSink given at creation, inputs arrive only through ApplyInput().
// Driving it (when to run, where inputs come from, when to stop) is the
// caller's business: run_loop.h for a live run, the replayer and the replica
// manager later.
#ifndef EXTRAVIRT_MACHINE_MACHINE_H_
#define EXTRAVIRT_MACHINE_MACHINE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "devices/pc_platform.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpu_exit.h"
#include "hypervisor/cpuid.h"
#include "hypervisor/guest_cpu.h"
#include "machine/input_event.h"
#include "machine/multiboot_loader.h"
#include "machine/stop_reason.h"
#include "memshare/dirty_tracker.h"
#include "memshare/guest_memory.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"
#include "memshare/zero_page_reclaimer.h"

namespace xv {

inline constexpr uint64_t kMinMemoryBytes = 2ull << 20;
// Below the 32-bit PCI/APIC hole, so guest RAM is one contiguous slot.
inline constexpr uint64_t kMaxMemoryBytes = 3ull << 30;

struct MachineConfig {
  uint64_t memory_bytes = 256ull << 20;
  PcPlatformConfig platform;
  // The guest's CPUID; unset: the backend's default (what this host's KVM
  // supports). A replay sets the recorded one, so a guest sees the same CPU
  // on every host.
  std::optional<std::vector<CpuidLeaf>> cpuid;
  // Guest memory starts as a private view of this base (a replica's: shared
  // with others, mergeable; a checkpoint's); unset: standalone zero-filled
  // anonymous memory, which cannot be merged. Its size must equal
  // memory_bytes.
  std::shared_ptr<MemoryBase> memory_base;
  // The page digests of memory_base's content, when the caller knows them
  // (a checkpoint does); unset: the base is hashed at creation.
  std::shared_ptr<const PageHashes> memory_base_hashes;
};

// What the exit handler decided.
struct ExitOutcome {
  enum class Action {
    kContinue,  // rendezvous, then re-enter the guest
    kResume,    // a host-caused exit: re-enter at once, no rendezvous
    kHalted,    // HLT: re-enter only once an interrupt can be injected
    kStop,      // the run is over: `reason`, `message`
  };
  Action action = Action::kContinue;
  StopReason reason = StopReason::kDebugExit;
  std::string message;
};

struct ExitStats {
  std::array<uint64_t, kNumExitKinds> by_kind{};
  // PIO exits per front-end name ("unclaimed" for ports nobody decodes).
  std::map<std::string, uint64_t> pio_by_device;
};

class Machine {
 public:
  // `outputs` receives every output of the guest and must outlive the
  // machine.
  static absl::StatusOr<std::unique_ptr<Machine>> Create(
      const Hypervisor& hypervisor, const MachineConfig& config,
      OutputSink* outputs);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Loads a multiboot kernel and puts the vCPU at its entry in 32-bit
  // protected mode, as a multiboot boot loader leaves it.
  absl::StatusOr<LoadedKernel> BootMultiboot(std::span<const uint8_t> image,
                                             std::string_view name,
                                             const MultibootOptions& options);

  // Runs the guest to its next exit; see GuestCpu::Run().
  absl::StatusOr<CpuExit> RunCpu() { return cpu_->Run(); }

  // The exit handler (STYLE #4): counts the exit (hypervisor/cpu_exit.h),
  // forwards device accesses to the front-ends and classifies everything
  // else. Deterministic in the machine's state and the exit; never blocks,
  // never touches the host.
  ExitOutcome HandleExit(const CpuExit& exit);

  // The single entry point of nondeterministic input (DESIGN §2). Rejects an
  // input that is impossible in the current state (time going backwards, a
  // disk completion nobody asked for) without applying it.
  absl::Status ApplyInput(const InputEvent& input);
  // Inputs applied since the machine was created (or restored).
  uint64_t inputs_applied() const { return inputs_applied_; }

  // True when the PIC has an interrupt for the CPU.
  bool InterruptPending() const { return platform_->InterruptPending(); }
  // IF=1 and no interrupt shadow at the last exit.
  bool CanTakeInterrupt() const { return cpu_->CanTakeInterrupt(); }
  // Queues the PIC's pending interrupt on the CPU if there is one and the
  // CPU can take it at this exit. Returns whether it did.
  absl::StatusOr<bool> InjectPendingInterrupt();

  // Hash of the whole replica state: vCPU (deterministic parts), every
  // front-end, the virtual clock and all of guest memory. Syncs memory
  // first, so its cost follows the pages written since the last sync.
  absl::StatusOr<Hash128> StateHash();

  // Settles the last exit (GuestCpu::SettleExit), then harvests the pages
  // written since the last sync (the CPU's record of guest writes plus the
  // VMM's own) and rehashes them. Call with the CPU stopped; page_hashes()
  // and dirty() are exact only right after it.
  absl::Status SyncMemory();
  const PageHashes& page_hashes() const { return page_hashes_; }
  const DirtyTracker& dirty() const { return dirty_; }
  DirtyTracker& dirty() { return dirty_; }

  // The CPU's state (settled), as checkpoints and hashes see it.
  absl::StatusOr<CpuState> CaptureCpu() { return cpu_->CaptureState(); }

  // The last guest-initiated exit, for reports: "pio in port 0x3f8 size 1".
  std::string DescribeLastExit() const;

  // "RIP 0x... (linear 0x..., ESN n), bytes at RIP: .." for reports.
  std::string DescribeGuestPosition() const;

  uint64_t esn() const { return esn_; }
  // For a machine restored from a checkpoint taken at `esn`.
  void set_esn(uint64_t esn) { esn_ = esn; }
  ExitStats stats() const;

  // How far the run loop got with the rendezvous after the last exit
  // (apply inputs, wait while halted, inject, observe). A run stopped in
  // the middle of one (a replica stopped for a vote) leaves it here, and the
  // next RunMachine() finishes it before re-entering the guest.
  enum class RendezvousStep : uint8_t {
    kDone,          // the rendezvous is complete; next is KVM_RUN
    kApply,         // the exit is handled; its inputs are next
    kApplyAndWake,  // the same after a HLT: then wait until wakeable
    kWake,          // halted: waiting until an interrupt can be taken
    kInject,        // inputs applied: inject the pending interrupt
    kObserve,       // the observer's AtRendezvous is next
  };
  RendezvousStep rendezvous_step() const { return rendezvous_step_; }
  void set_rendezvous_step(RendezvousStep step) { rendezvous_step_ = step; }
  // The value the guest wrote to debug-exit, once it did.
  std::optional<uint64_t> debug_exit_value() const { return debug_exit_; }

  // The configuration it was created with.
  const MachineConfig& config() const { return config_; }
  // The CPUID the CPU was given.
  std::span<const CpuidLeaf> cpuid() const { return cpuid_; }
  const PcPlatform& platform() const { return *platform_; }
  PcPlatform& platform() { return *platform_; }
  GuestCpu& cpu() { return *cpu_; }
  const GuestCpu& cpu() const { return *cpu_; }
  // The backend running it ("kvm").
  std::string_view backend() const { return cpu_->backend(); }
  GuestMemory& memory() { return *memory_; }
  const GuestMemory& memory() const { return *memory_; }

 private:
  // Forwards outputs to the caller's sink, noticing debug-exit.
  class OutputTap : public OutputSink {
   public:
    OutputTap(Machine* machine, OutputSink* next)
        : machine_(machine), next_(next) {}
    void Emit(const DeviceOutput& output) override;

   private:
    Machine* machine_;
    OutputSink* next_;
  };

  // Tells the CPU of the VMM's writes to guest memory.
  class VmmWriteTap : public VmmWriteObserver {
   public:
    explicit VmmWriteTap(Machine* machine) : machine_(machine) {}
    void OnVmmWrite(uint64_t gpa, uint64_t len) override {
      if (machine_->cpu_ != nullptr) machine_->cpu_->NoteVmmWrite(gpa, len);
    }

   private:
    Machine* machine_;
  };

  // Only Create() makes one (passkey).
  class Key {
    friend class Machine;
    Key() = default;
  };

 public:
  Machine(Key, std::unique_ptr<GuestMemory> memory, PageHashes hashes,
          std::vector<CpuidLeaf> cpuid, const MachineConfig& config,
          OutputSink* outputs);

 private:
  ExitOutcome HandleIo(const PioExit& io);
  absl::Status Apply(const InputEvent& input);
  ExitOutcome Stop(StopReason reason, std::string message) const;

  // Destroyed last: the CPU references this memory until it goes.
  std::unique_ptr<GuestMemory> memory_;
  VmmWriteTap vmm_write_tap_;
  std::unique_ptr<GuestCpu> cpu_;
  DirtyTracker dirty_;
  PageHashes page_hashes_;
  DirtyBitmap fresh_dirty_;  // scratch for SyncMemory()
  // Stopped before memory_ goes (declared after it).
  std::unique_ptr<ZeroPageReclaimer> reclaimer_;
  std::vector<CpuidLeaf> cpuid_;
  MachineConfig config_;
  OutputTap tap_;
  std::unique_ptr<PcPlatform> platform_;
  std::optional<uint64_t> debug_exit_;
  RendezvousStep rendezvous_step_ = RendezvousStep::kDone;
  uint64_t inputs_applied_ = 0;
  uint64_t esn_ = 0;
  // The last guest-initiated exit (its data spans are not kept).
  CpuExit last_exit_;
  std::array<uint64_t, kNumExitKinds> exits_by_kind_{};
  absl::flat_hash_map<const FrontEnd*, uint64_t> pio_counts_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_MACHINE_H_
