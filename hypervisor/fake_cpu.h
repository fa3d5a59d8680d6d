// A scripted CPU backend for tests: no hypervisor, no emulator. Its "guest"
// is a FakeProgram — a list of operations (port I/O, string I/O, stores,
// HLT, interrupts, failures, jumps) executed one by one with RIP as the
// index of the next operation — run with the same contract as a real
// backend (guest_cpu.h): exits stop after their operation did its part, an
// `in` takes its data at the next Run() or SettleExit(), string I/O follows
// the rule of string_io.h (the direction flag taken as clear), interrupts are
// delivered through a vector table, guest writes are tracked per page, kicks
// stop it between operations. So the exit handler, the run loop, the recorder
// and replayer, checkpoints and the replica manager run on it everywhere,
// deterministically.
#ifndef EXTRAVIRT_HYPERVISOR_FAKE_CPU_H_
#define EXTRAVIRT_HYPERVISOR_FAKE_CPU_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hypervisor/guest_cpu.h"

namespace xv {

struct FakeOp {
  enum class Kind : uint8_t {
    kSet,            // reg = value
    kAdd,            // reg += value
    kAnd,            // reg &= value
    kJump,           // rip = target
    kJumpIfNotZero,  // if (reg != 0) rip = target
    kJumpIfZero,     // if (reg == 0) rip = target
    kJumpIfEqual,    // if (reg == value) rip = target
    kOut,            // port <- low `size` bytes of reg
    kIn,             // low `size` bytes of reg <- port
    kOuts,           // rep outs: RCX elements from [RSI] (RSI, RCX move)
    kIns,            // rep ins: RCX elements to [RDI] (RDI, RCX move)
    kStore,          // 8 bytes at guest-physical `value` <- reg
    kLoad,           // reg <- 8 bytes at guest-physical `value`
    kHostValue,      // reg <- a value from the host (a TSC read)
    kHlt,
    kSti,        // IF = 1, with a one-operation interrupt shadow
    kCli,        // IF = 0
    kIret,       // back to the interrupted operation (saved in R15)
    kMmioRead,   // reg <- `size` bytes of MMIO at `value`
    kMmioWrite,  // MMIO at `value` <- reg
    kShutdown,   // a triple fault
    kFail,       // the backend cannot run this (kInternalError)
  };
  Kind kind = Kind::kJump;
  std::string reg;     // a kGeneralRegisterNames name
  uint64_t value = 0;  // immediate, target, or guest-physical address
  uint16_t port = 0;
  uint8_t size = 1;
  uint64_t target = 0;  // kJumpIfEqual
};

// Builds a program; each call appends one operation. Labels are indexes
// (here()).
class FakeProgram {
 public:
  FakeProgram& Set(std::string_view reg, uint64_t value);
  FakeProgram& Add(std::string_view reg, uint64_t value);
  FakeProgram& And(std::string_view reg, uint64_t value);
  FakeProgram& Jump(uint64_t target);
  FakeProgram& JumpIfNotZero(std::string_view reg, uint64_t target);
  FakeProgram& JumpIfZero(std::string_view reg, uint64_t target);
  FakeProgram& JumpIfEqual(std::string_view reg, uint64_t value,
                           uint64_t target);
  FakeProgram& Out(uint16_t port, std::string_view reg, uint8_t size = 1);
  FakeProgram& In(uint16_t port, std::string_view reg, uint8_t size = 1);
  FakeProgram& Outs(uint16_t port, uint8_t size = 1);
  FakeProgram& Ins(uint16_t port, uint8_t size = 1);
  FakeProgram& Store(uint64_t gpa, std::string_view reg);
  FakeProgram& Load(std::string_view reg, uint64_t gpa);
  FakeProgram& HostValue(std::string_view reg);
  FakeProgram& Hlt();
  FakeProgram& Sti();
  FakeProgram& Cli();
  FakeProgram& Iret();
  FakeProgram& MmioRead(uint64_t gpa, std::string_view reg, uint8_t size = 4);
  FakeProgram& MmioWrite(uint64_t gpa, std::string_view reg, uint8_t size = 4);
  FakeProgram& Shutdown();
  FakeProgram& Fail();
  // Writes each byte of `text` to `port` (through RAX).
  FakeProgram& Print(uint16_t port, std::string_view text);
  // Interrupt `vector` runs the operations from `target` (which end with
  // Iret()).
  FakeProgram& OnInterrupt(uint8_t vector, uint64_t target);

  // The index of the next operation appended.
  uint64_t here() const { return ops_.size(); }
  const std::vector<FakeOp>& ops() const { return ops_; }
  const std::map<uint8_t, uint64_t>& vectors() const { return vectors_; }

 private:
  FakeProgram& Append(FakeOp op);
  std::vector<FakeOp> ops_;
  std::map<uint8_t, uint64_t> vectors_;
};

class FakeHypervisor : public Hypervisor {
 public:
  explicit FakeHypervisor(FakeProgram program)
      : program_(std::make_shared<const FakeProgram>(std::move(program))) {}

  std::string_view name() const override { return "fake"; }
  absl::StatusOr<std::vector<CpuidLeaf>> DefaultCpuid() const override;
  absl::StatusOr<std::unique_ptr<GuestCpu>> CreateCpu(
      GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const override;

 private:
  std::shared_ptr<const FakeProgram> program_;
};

class FakeCpu : public GuestCpu {
 public:
  FakeCpu(std::shared_ptr<const FakeProgram> program, GuestMemory& memory);

  std::string_view backend() const override { return "fake"; }
  // The program starts at operation 0 whatever the entry; the registers
  // are set as given.
  absl::Status EnterProtectedMode(const ProtectedModeEntry& entry) override;
  absl::StatusOr<CpuExit> Run() override;
  absl::Status SettleExit() override;
  bool CanTakeInterrupt() const override;
  absl::Status QueueInterrupt(uint8_t vector) override;
  const GeneralRegisters& regs() const override { return state_.regs; }
  absl::Status ModifyRegs(
      absl::FunctionRef<void(GeneralRegisters&)> change) override;
  absl::StatusOr<CpuState> CaptureState() override;
  absl::Status RestoreState(const CpuState& state) override;
  absl::Status TakeGuestWrites(DirtyBitmap& pages) override;
  void NoteVmmWrite(uint64_t gpa, uint64_t len) override {
    ++vmm_writes_noted_;
  }
  absl::StatusOr<uint64_t> Translate(uint64_t linear) const override {
    return linear;
  }
  absl::StatusOr<uint64_t> LinearRip() const override {
    return state_.regs.rip;
  }
  absl::StatusOr<std::unique_ptr<CpuKicker>> BindKicker() override;

  // How often the VMM said it wrote guest memory.
  uint64_t vmm_writes_noted() const { return vmm_writes_noted_; }

 private:
  class Kicker;
  // What the last exit left to finish (the `in` data, RIP past the
  // operation, a string batch's register moves).
  struct Pending {
    bool active = false;
    FakeOp op;
    uint32_t count = 0;
  };
  absl::StatusOr<CpuExit> Step(bool& exited);
  uint64_t* Reg(const FakeOp& op);
  void GuestWrite(uint64_t gpa, const uint8_t* data, size_t n);
  void Deliver();

  std::shared_ptr<const FakeProgram> program_;
  GuestMemory& memory_;
  ArchState state_;
  Pending pending_;
  std::vector<uint8_t> io_data_;
  DirtyBitmap written_;
  std::atomic<bool> kicked_{false};
  uint64_t vmm_writes_noted_ = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_FAKE_CPU_H_
