#include "hypervisor/fake_cpu.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "hypervisor/string_io.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kRflagsIf;

using Kind = FakeOp::Kind;

}  // namespace

FakeProgram& FakeProgram::Append(FakeOp op) {
  ops_.push_back(std::move(op));
  return *this;
}

FakeProgram& FakeProgram::Set(std::string_view reg, uint64_t value) {
  return Append({.kind = Kind::kSet, .reg = std::string(reg), .value = value});
}
FakeProgram& FakeProgram::Add(std::string_view reg, uint64_t value) {
  return Append({.kind = Kind::kAdd, .reg = std::string(reg), .value = value});
}
FakeProgram& FakeProgram::And(std::string_view reg, uint64_t value) {
  return Append({.kind = Kind::kAnd, .reg = std::string(reg), .value = value});
}
FakeProgram& FakeProgram::Jump(uint64_t target) {
  return Append({.kind = Kind::kJump, .value = target});
}
FakeProgram& FakeProgram::JumpIfNotZero(std::string_view reg, uint64_t target) {
  return Append(
      {.kind = Kind::kJumpIfNotZero, .reg = std::string(reg), .value = target});
}
FakeProgram& FakeProgram::JumpIfZero(std::string_view reg, uint64_t target) {
  return Append(
      {.kind = Kind::kJumpIfZero, .reg = std::string(reg), .value = target});
}
FakeProgram& FakeProgram::JumpIfEqual(std::string_view reg, uint64_t value,
                                      uint64_t target) {
  return Append({.kind = Kind::kJumpIfEqual,
                 .reg = std::string(reg),
                 .value = value,
                 .target = target});
}
FakeProgram& FakeProgram::Out(uint16_t port, std::string_view reg,
                              uint8_t size) {
  return Append({.kind = Kind::kOut,
                 .reg = std::string(reg),
                 .port = port,
                 .size = size});
}
FakeProgram& FakeProgram::In(uint16_t port, std::string_view reg,
                             uint8_t size) {
  return Append(
      {.kind = Kind::kIn, .reg = std::string(reg), .port = port, .size = size});
}
FakeProgram& FakeProgram::Outs(uint16_t port, uint8_t size) {
  return Append({.kind = Kind::kOuts, .port = port, .size = size});
}
FakeProgram& FakeProgram::Ins(uint16_t port, uint8_t size) {
  return Append({.kind = Kind::kIns, .port = port, .size = size});
}
FakeProgram& FakeProgram::Store(uint64_t gpa, std::string_view reg) {
  return Append({.kind = Kind::kStore, .reg = std::string(reg), .value = gpa});
}
FakeProgram& FakeProgram::Load(std::string_view reg, uint64_t gpa) {
  return Append({.kind = Kind::kLoad, .reg = std::string(reg), .value = gpa});
}
FakeProgram& FakeProgram::HostValue(std::string_view reg) {
  return Append({.kind = Kind::kHostValue, .reg = std::string(reg)});
}
FakeProgram& FakeProgram::Hlt() { return Append({.kind = Kind::kHlt}); }
FakeProgram& FakeProgram::Sti() { return Append({.kind = Kind::kSti}); }
FakeProgram& FakeProgram::Cli() { return Append({.kind = Kind::kCli}); }
FakeProgram& FakeProgram::Iret() { return Append({.kind = Kind::kIret}); }
FakeProgram& FakeProgram::MmioRead(uint64_t gpa, std::string_view reg,
                                   uint8_t size) {
  return Append({.kind = Kind::kMmioRead,
                 .reg = std::string(reg),
                 .value = gpa,
                 .size = size});
}
FakeProgram& FakeProgram::MmioWrite(uint64_t gpa, std::string_view reg,
                                    uint8_t size) {
  return Append({.kind = Kind::kMmioWrite,
                 .reg = std::string(reg),
                 .value = gpa,
                 .size = size});
}
FakeProgram& FakeProgram::Shutdown() {
  return Append({.kind = Kind::kShutdown});
}
FakeProgram& FakeProgram::Fail() { return Append({.kind = Kind::kFail}); }
FakeProgram& FakeProgram::Print(uint16_t port, std::string_view text) {
  for (char c : text) {
    Set("rax", static_cast<uint8_t>(c));
    Out(port, "rax");
  }
  return *this;
}
FakeProgram& FakeProgram::OnInterrupt(uint8_t vector, uint64_t target) {
  vectors_[vector] = target;
  return *this;
}

absl::StatusOr<std::vector<CpuidLeaf>> FakeHypervisor::DefaultCpuid() const {
  // "FakeCpuFake!" as the vendor, nothing else.
  return std::vector<CpuidLeaf>{
      {.function = 0,
       .eax = 1,
       .ebx = 0x656b6146,
       .ecx = 0x21656b61,
       .edx = 0x46757043},
      {.function = 1, .eax = 0x600, .edx = 0x11},
  };
}

absl::StatusOr<std::unique_ptr<GuestCpu>> FakeHypervisor::CreateCpu(
    GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const {
  return std::unique_ptr<GuestCpu>(std::make_unique<FakeCpu>(program_, memory));
}

class FakeCpu::Kicker : public CpuKicker {
 public:
  explicit Kicker(std::atomic<bool>* flag) : flag_(flag) {}
  void Kick() const override { flag_->store(true); }

 private:
  std::atomic<bool>* flag_;
};

FakeCpu::FakeCpu(std::shared_ptr<const FakeProgram> program,
                 GuestMemory& memory)
    : program_(std::move(program)), memory_(memory), written_(memory.pages()) {}

absl::Status FakeCpu::EnterProtectedMode(const ProtectedModeEntry& entry) {
  pending_ = {};
  state_ = ArchState{};
  state_.cr0 = 0x11;
  state_.regs.rax = entry.eax;
  state_.regs.rbx = entry.ebx;
  state_.regs.rsp = entry.esp;
  state_.regs.rip = 0;
  return absl::OkStatus();
}

uint64_t* FakeCpu::Reg(const FakeOp& op) {
  return GeneralRegister(state_.regs, op.reg);
}

void FakeCpu::GuestWrite(uint64_t gpa, const uint8_t* data, size_t n) {
  std::span<uint8_t> all = memory_.host_span();
  std::memcpy(all.data() + gpa, data, n);
  const uint64_t first = gpa / kPageSize;
  written_.SetRange(first, (gpa + n - 1) / kPageSize - first + 1);
}

void FakeCpu::Deliver() {
  if (!state_.queued_interrupt) return;
  const uint8_t vector = *state_.queued_interrupt;
  state_.queued_interrupt.reset();
  auto target = program_->vectors().find(vector);
  state_.regs.r14 = state_.regs.rflags;
  state_.regs.r15 = state_.regs.rip;
  state_.regs.rflags &= ~kRflagsIf;
  // No handler: RIP past the program, which the next step reports.
  state_.regs.rip =
      target != program_->vectors().end() ? target->second : UINT64_MAX;
}

absl::StatusOr<CpuExit> FakeCpu::Run() {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  Deliver();
  for (;;) {
    if (kicked_.exchange(false)) {
      CpuExit exit;
      exit.kind = ExitKind::kHostInterrupt;
      return exit;
    }
    bool exited = false;
    auto exit = Step(exited);
    if (!exit.ok() || exited) return exit;
  }
}

absl::StatusOr<CpuExit> FakeCpu::Step(bool& exited) {
  const std::vector<FakeOp>& ops = program_->ops();
  GeneralRegisters& r = state_.regs;
  CpuExit exit;
  exited = true;
  if (r.rip >= ops.size()) {
    exit.kind = ExitKind::kInternalError;
    exit.detail = absl::StrFormat("fake: RIP %d is outside the program", r.rip);
    return exit;
  }
  const FakeOp& op = ops[r.rip];
  uint64_t* reg = op.reg.empty() ? nullptr : Reg(op);
  if (!op.reg.empty() && reg == nullptr) {
    return absl::InvalidArgumentError("fake: no register " + op.reg);
  }
  state_.interrupt_shadow = false;
  auto start = [&](ExitKind kind, uint32_t count) {
    exit.kind = kind;
    pending_ = {true, op, count};
  };
  switch (op.kind) {
    case FakeOp::Kind::kSet:
      *reg = op.value;
      break;
    case FakeOp::Kind::kAdd:
      *reg += op.value;
      break;
    case FakeOp::Kind::kAnd:
      *reg &= op.value;
      break;
    case FakeOp::Kind::kJumpIfZero:
      r.rip = *reg == 0 ? op.value : r.rip + 1;
      exited = false;
      return exit;
    case FakeOp::Kind::kJumpIfEqual:
      r.rip = *reg == op.value ? op.target : r.rip + 1;
      exited = false;
      return exit;
    case FakeOp::Kind::kJump:
      r.rip = op.value;
      exited = false;
      return exit;
    case FakeOp::Kind::kJumpIfNotZero:
      r.rip = *reg != 0 ? op.value : r.rip + 1;
      exited = false;
      return exit;
    case FakeOp::Kind::kOut:
    case FakeOp::Kind::kIn:
      io_data_.assign(op.size, 0);
      if (op.kind == FakeOp::Kind::kOut) {
        std::memcpy(io_data_.data(), reg, op.size);
      }
      start(ExitKind::kPio, 1);
      exit.io = {op.port, op.size, op.kind == FakeOp::Kind::kIn, 1, io_data_};
      return exit;
    case FakeOp::Kind::kOuts:
    case FakeOp::Kind::kIns: {
      if (r.rcx == 0) break;
      const bool in = op.kind == FakeOp::Kind::kIns;
      // The string-I/O rule: outs element by element, ins in batches.
      const uint32_t n = static_cast<uint32_t>(
          in ? InsBatchElements(r.rcx, r.rdi, false, op.size) : 1);
      io_data_.assign(size_t{n} * op.size, 0);
      if (!in) {
        if (absl::Status s = memory_.Read(r.rsi, io_data_); !s.ok()) return s;
      }
      start(ExitKind::kPio, n);
      exit.io = {op.port, op.size, in, n, io_data_};
      return exit;
    }
    case FakeOp::Kind::kStore:
      // Checked as kLoad is: GuestWrite writes the mapping directly.
      if (auto span = memory_.Span(op.value, 8); !span.ok()) {
        return span.status();
      }
      GuestWrite(op.value, reinterpret_cast<const uint8_t*>(reg), 8);
      break;
    case FakeOp::Kind::kLoad:
      if (absl::Status s =
              memory_.Read(op.value, {reinterpret_cast<uint8_t*>(reg), 8});
          !s.ok()) {
        return s;
      }
      break;
    case FakeOp::Kind::kHostValue: {
      // Different at every read, as a TSC is: replay must catch it.
      static std::atomic<uint64_t> host_counter{0x1000};
      *reg = host_counter.fetch_add(17);
      break;
    }
    case FakeOp::Kind::kHlt:
      ++r.rip;
      exit.kind = ExitKind::kHlt;
      return exit;
    case FakeOp::Kind::kSti:
      r.rflags |= kRflagsIf;
      state_.interrupt_shadow = true;
      break;
    case FakeOp::Kind::kCli:
      r.rflags &= ~kRflagsIf;
      break;
    case FakeOp::Kind::kIret:
      r.rip = r.r15;
      r.rflags = r.r14;
      exited = false;
      return exit;
    case FakeOp::Kind::kMmioRead:
    case FakeOp::Kind::kMmioWrite:
      io_data_.assign(op.size, 0);
      if (op.kind == FakeOp::Kind::kMmioWrite) {
        std::memcpy(io_data_.data(), reg, op.size);
      }
      start(ExitKind::kMmio, 1);
      exit.mmio = {op.value, op.kind == FakeOp::Kind::kMmioWrite, io_data_};
      return exit;
    case FakeOp::Kind::kShutdown:
      exit.kind = ExitKind::kShutdown;
      return exit;
    case FakeOp::Kind::kFail:
      exit.kind = ExitKind::kInternalError;
      exit.detail =
          absl::StrFormat("fake: operation %d fails on purpose", r.rip);
      return exit;
  }
  ++r.rip;
  exited = false;
  return exit;
}

absl::Status FakeCpu::SettleExit() {
  if (!pending_.active) return absl::OkStatus();
  pending_.active = false;
  const FakeOp& op = pending_.op;
  GeneralRegisters& r = state_.regs;
  switch (op.kind) {
    case FakeOp::Kind::kIn:
    case FakeOp::Kind::kMmioRead:
      std::memcpy(Reg(op), io_data_.data(), op.size);
      ++r.rip;
      break;
    case FakeOp::Kind::kOuts:
    case FakeOp::Kind::kIns: {
      const uint64_t bytes = uint64_t{pending_.count} * op.size;
      if (op.kind == FakeOp::Kind::kIns) {
        if (r.rdi + bytes > memory_.size()) {
          return absl::OutOfRangeError("fake: rep ins past guest memory");
        }
        GuestWrite(r.rdi, io_data_.data(), bytes);
        r.rdi += bytes;
      } else {
        r.rsi += bytes;
      }
      r.rcx -= pending_.count;
      if (r.rcx == 0) ++r.rip;
      break;
    }
    default:
      ++r.rip;
      break;
  }
  return absl::OkStatus();
}

bool FakeCpu::CanTakeInterrupt() const {
  return (state_.regs.rflags & kRflagsIf) && !state_.interrupt_shadow;
}

absl::Status FakeCpu::QueueInterrupt(uint8_t vector) {
  if (!CanTakeInterrupt() || state_.queued_interrupt) {
    return absl::FailedPreconditionError(
        "fake: interrupt queued where the CPU cannot take one");
  }
  state_.queued_interrupt = vector;
  return absl::OkStatus();
}

absl::Status FakeCpu::ModifyRegs(
    absl::FunctionRef<void(GeneralRegisters&)> change) {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  change(state_.regs);
  return absl::OkStatus();
}

absl::StatusOr<CpuState> FakeCpu::CaptureState() {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  return CpuState{state_, "", {}};
}

absl::Status FakeCpu::RestoreState(const CpuState& state) {
  pending_ = {};
  state_ = state.arch;
  return absl::OkStatus();
}

absl::Status FakeCpu::TakeGuestWrites(DirtyBitmap& pages) {
  pages.Merge(written_);
  written_.Clear();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CpuKicker>> FakeCpu::BindKicker() {
  return std::unique_ptr<CpuKicker>(std::make_unique<Kicker>(&kicked_));
}

}  // namespace xv
