// EmuCpu: a GuestCpu on a Unicorn engine, keeping hypervisor/'s contract
// the way KVM does (guest_cpu.h, cpu_exit.h, string_io.h):
// * Exit instructions (port I/O, HLT) are never executed by Unicorn. A
//   block hook decodes each new block once and puts a code hook in front
//   of each exit instruction; there the engine stops with the instruction
//   not yet executed, and the backend carries it out itself: an OUT at
//   once, an IN when settled (after the handler supplied its data). So
//   exits land exactly where KVM's do, and no effect is ever repeated
//   (stopping inside an I/O callback would: EMULATOR-NOTES.md).
// * Interrupts and exceptions are delivered through the guest's IDT by the
//   backend (idt_delivery.h); Unicorn only reports them.
// * Guest RAM is the GuestMemory mapping itself (uc_mem_map_ptr), so COW
//   replica views, merging and the VMM's writes need no copying; the pages
//   the guest writes are caught by a write hook.
#ifndef EXTRAVIRT_EMU_EMU_CPU_H_
#define EXTRAVIRT_EMU_EMU_CPU_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "emu/exit_instruction_scanner.h"
#include "emu/idt_delivery.h"
#include "emu/qemu_state_layout.h"
#include "emu/unicorn_engine.h"
#include "hypervisor/guest_cpu.h"
#include "hypervisor/instruction_control.h"
#include "hypervisor/io_instruction.h"
#include "hypervisor/page_walk.h"

namespace xv {

class EmuCpu final : public GuestCpu, public InstructionControl {
 public:
  static absl::StatusOr<std::unique_ptr<EmuCpu>> Create(
      GuestMemory& memory, std::span<const CpuidLeaf> cpuid);
  ~EmuCpu() override;

  std::string_view backend() const override { return "emu"; }
  absl::Status EnterProtectedMode(const ProtectedModeEntry& entry) override;
  absl::StatusOr<CpuExit> Run() override;
  absl::Status SettleExit() override;
  bool CanTakeInterrupt() const override;
  absl::Status QueueInterrupt(uint8_t vector) override;
  const GeneralRegisters& regs() const override { return regs_; }
  absl::Status ModifyRegs(
      absl::FunctionRef<void(GeneralRegisters&)> change) override;
  absl::StatusOr<CpuState> CaptureState() override;
  absl::Status RestoreState(const CpuState& state) override;
  absl::Status TakeGuestWrites(DirtyBitmap& pages) override;
  void NoteVmmWrite(uint64_t gpa, uint64_t len) override;
  absl::StatusOr<uint64_t> Translate(uint64_t linear) const override;
  absl::StatusOr<uint64_t> LinearRip() const override;
  absl::StatusOr<std::unique_ptr<CpuKicker>> BindKicker() override;
  // A code hook on every instruction (about 2.6x slower, EMULATOR-NOTES.md)
  // counts them and stops where asked (instruction_control.h).
  absl::StatusOr<InstructionControl*> EnableInstructionControl() override;

  // InstructionControl.
  uint64_t retired() const override { return retired_; }
  void set_retired(uint64_t n) override { retired_ = n; }
  void set_limit(std::optional<uint64_t> limit) override { limit_ = limit; }
  void set_breakpoints(std::vector<uint64_t> linear_addresses) override;
  void set_watchpoints(std::vector<LinearRange> ranges) override {
    watchpoints_ = std::move(ranges);
  }
  std::optional<DebugStop> TakeStop() override;

 private:
  struct Key {};
  friend struct EmuCpuHooks;

 public:
  // MMIO callbacks get offsets into their region; the user data says where
  // the region starts.
  struct MmioRegion {
    EmuCpu* cpu;
    uint64_t base;
  };

  EmuCpu(Key, GuestMemory& memory, UcEngine uc, ExitInstructionScanner scanner,
         std::vector<CpuidLeaf> cpuid, const QemuStateLayout* layout);

 private:
  // Why the engine stopped, as the hooks saw it.
  struct Stop {
    enum class Kind : uint8_t {
      kNone,             // uc_emu_start returned by itself
      kRescan,           // a block was instrumented: run it again
      kExitInstruction,  // in front of an exit instruction
      kEvent,            // an exception or software interrupt to deliver
      kInvalidOpcode,    // Unicorn found no instruction it can run
      kKick,
      kMmio,
      kDebug,  // InstructionControl: see `debug`
    };
    Kind kind = Kind::kNone;
    uint64_t rip = 0;
    uint32_t vector = 0;
    uint64_t mmio_gpa = 0;
    bool mmio_write = false;
    unsigned mmio_size = 0;
    DebugStop debug;
  };
  // An exit instruction the block hook found, with the code hook in front
  // of it.
  struct ExitPoint {
    ExitInstruction insn;
    uc_hook hook = 0;
  };
  // The exit instruction of the last exit, carried out up to what the
  // handler must supply.
  struct OpenExit {
    IoInstruction io;
    uint64_t elements = 0;
    bool settled = true;
  };

  absl::Status InstallHooks();
  absl::Status MapMemory();
  absl::Status Refresh();
  absl::StatusOr<PagingState> Paging() const;
  absl::StatusOr<CodeMode> Mode() const;

  // Hook bodies.
  void OnBlock(uint64_t address, uint32_t size);
  void OnExitPoint(uint64_t address);
  void OnInstruction(uint64_t address);
  void OnInterrupt(uint32_t vector);
  bool OnInvalidInstruction();
  int OnCpuid();
  void OnGuestWrite(uint64_t address, int size);
  uint64_t OnMmio(uint64_t gpa, unsigned size, bool write, uint64_t value);
  void RequestStop(const Stop& stop);

  void ForgetCodeAt(uint64_t first_page, uint64_t pages);
  absl::StatusOr<std::optional<CpuExit>> ExitAt(uint64_t rip);
  absl::StatusOr<std::optional<CpuExit>> StartPortIo(const IoInstruction& io);
  absl::Status AdvanceStringRegisters(const IoInstruction& io,
                                      uint64_t elements);
  // Delivers `event` through the guest's IDT; an exit when that shuts the
  // CPU down (triple fault) or cannot be done.
  absl::StatusOr<std::optional<CpuExit>> Deliver(const Event& event);
  // Outside long mode: whether the IDT has a present gate for `vector`.
  bool GatePresent(const PagingState& paging, const uc_x86_mmr& idtr,
                   uint8_t vector) const;
  absl::StatusOr<std::optional<CpuExit>> DeliverFault(const Stop& stop);
  absl::StatusOr<std::optional<CpuExit>> DeliverInvalidOpcode(uint64_t rip);
  // Puts the CPU in `arch` with these descriptor caches (CS, SS, DS, ES,
  // FS, GS, LDTR, TR), switching long mode on or off as needed.
  absl::Status Apply(
      const ArchState& arch,
      std::span<const std::pair<SegReg, SegmentDescriptor>> segments);
  absl::Status SwitchLongMode(bool on);
  absl::Status MarkSegmentsAccessed();
  // OK when the CPU now holds `arch`; DataLoss naming a field otherwise.
  absl::Status CheckRestored(const ArchState& arch);
  CpuExit Failure(ExitKind kind, std::string what) const;
  absl::Status WriteLinear(uint64_t linear, std::span<const uint8_t> data);
  void MarkPagingStructures(DirtyBitmap& pages) const;

  GuestMemory& memory_;
  UcEngine uc_;
  ExitInstructionScanner scanner_;
  std::vector<CpuidLeaf> cpuid_;
  const QemuStateLayout* layout_;

  GeneralRegisters regs_;
  std::optional<uint8_t> queued_interrupt_;
  OpenExit open_;
  std::array<uint8_t, 4096> io_data_{};
  std::array<uint8_t, 8> mmio_data_{};

  Stop stop_;
  // The GDT and selectors whose descriptors MarkSegmentsAccessed() last
  // saw to.
  struct LoadedSelectors {
    uint64_t gdt_base = 0;
    uint32_t gdt_limit = 0;
    uint16_t cs = 0;
    uint16_t ss = 0;
    friend bool operator==(const LoadedSelectors&,
                           const LoadedSelectors&) = default;
  };
  LoadedSelectors accessed_marked_;
  absl::flat_hash_map<uint64_t, ExitPoint> exit_points_;  // by address
  // Pages holding code the block hook has scanned -> the block starts.
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> scanned_by_page_;
  absl::flat_hash_map<uint64_t, uint32_t> scanned_blocks_;  // start -> size
  // A cache in front of scanned_blocks_: start << 16 | size of blocks
  // known scanned (RAM ends below 4 GiB, blocks are shorter than 64 KiB).
  static constexpr uint64_t kNotSeen = ~uint64_t{0};
  std::array<uint64_t, 1024> recently_seen_ = [] {
    std::array<uint64_t, 1024> a;
    a.fill(kNotSeen);
    return a;
  }();
  DirtyBitmap guest_written_;
  DirtyBitmap code_pages_;
  std::atomic<bool> kicked_{false};
  bool kicker_bound_ = false;
  std::vector<uc_hook> hooks_to_delete_;
  std::array<MmioRegion, 3> mmio_regions_{};

  // Run() ran guest code on this engine: it may hold translations of it.
  // (The mode-switch trampoline, which restoring a long-mode state runs,
  // lies outside guest RAM and is no guest instruction.)
  bool translated_code_ = false;

  // InstructionControl (only once EnableInstructionControl() was called).
  bool counting_ = false;
  uint64_t retired_ = 0;
  std::optional<uint64_t> limit_;
  absl::flat_hash_set<uint64_t> breakpoints_;
  std::vector<LinearRange> watchpoints_;
  // A watched range written by the instruction in progress: the stop
  // comes before the next one begins.
  std::optional<uint64_t> watch_hit_;
  // No instruction begun yet in this Run(), which started at this RIP: a
  // breakpoint there does not stop it.
  bool run_starting_ = false;
  uint64_t run_start_rip_ = 0;
  // Why the last Run() stopped for the InstructionControl, until taken.
  std::optional<DebugStop> debug_stop_;
};

}  // namespace xv

#endif  // EXTRAVIRT_EMU_EMU_CPU_H_
