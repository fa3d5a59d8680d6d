#include "machine/machine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "kvm/vcpu_state.h"
#include "machine/state_hash.h"

namespace xv {
namespace {

// Where KVM may put the real-mode TSS on Intel hosts: above any guest RAM
// we allow (kMaxMemoryBytes) and below 4 GiB.
constexpr uint64_t kTssAddr = 0xfffbd000;
// Initial stack for kernels that push before setting up their own: the top
// of conventional memory, which the memory map reports as available.
constexpr uint64_t kBootStack = 0x9f000;

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

void Machine::OutputTap::Emit(const DeviceOutput& output) {
  if (output.kind == OutputKind::kDebugExit && !machine_->debug_exit_) {
    machine_->debug_exit_ = output.arg;
  }
  next_->Emit(output);
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Create(
    const KvmSystem& kvm, const MachineConfig& config, OutputSink* outputs) {
  if (config.memory_bytes < kMinMemoryBytes ||
      config.memory_bytes > kMaxMemoryBytes ||
      config.memory_bytes % kPageSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory must be a whole number of pages between %d MiB and %d "
        "MiB, not %d bytes",
        kMinMemoryBytes >> 20, kMaxMemoryBytes >> 20, config.memory_bytes));
  }
  if (config.memory_base != nullptr &&
      config.memory_base->size() != config.memory_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the memory base holds %d bytes, the machine wants %d",
                        config.memory_base->size(), config.memory_bytes));
  }
  auto memory = config.memory_base != nullptr
                    ? GuestMemory::MapReplica(config.memory_base)
                    : GuestMemory::Create(config.memory_bytes);
  if (!memory.ok()) return memory.status();
  PageHashes hashes(memory->pages());
  if (config.memory_base_hashes != nullptr) {
    if (config.memory_base_hashes->pages() != memory->pages()) {
      return absl::InvalidArgumentError(
          "the memory base's page digests are for another memory size");
    }
    hashes = *config.memory_base_hashes;
  } else if (config.memory_base != nullptr) {
    auto of_base = PageHashes::OfBase(*config.memory_base);
    if (!of_base.ok()) return of_base.status();
    hashes = std::move(*of_base);
  }
  auto vm = kvm.CreateVm();
  if (!vm.ok()) return vm.status();
  if (absl::Status s = vm->SetTssAddr(kTssAddr); !s.ok()) return s;
  // Dirty logging always: checkpoints, state hashes and merging all work
  // from the pages written since the last sync.
  if (absl::Status s =
          vm->SetMemorySlot(0, 0, memory->host_span(), KVM_MEM_LOG_DIRTY_PAGES);
      !s.ok()) {
    return s;
  }
  auto vcpu = vm->CreateVcpu(0);
  if (!vcpu.ok()) return vcpu.status();
  std::vector<kvm_cpuid_entry2> cpuid;
  if (config.cpuid) {
    cpuid = *config.cpuid;
  } else {
    auto supported = kvm.SupportedCpuid();
    if (!supported.ok()) return supported.status();
    cpuid = std::move(*supported);
  }
  if (absl::Status s = vcpu->SetCpuid(cpuid); !s.ok()) {
    return config.cpuid ? absl::FailedPreconditionError(absl::StrFormat(
                              "this host's KVM refuses the recorded CPUID (%s)",
                              s.message()))
                        : s;
  }
  auto msrs = DeterministicMsrIndices(kvm);
  if (!msrs.ok()) return msrs.status();
  return std::unique_ptr<Machine>(new Machine(
      std::move(*memory), std::move(hashes), std::move(*vm), std::move(*vcpu),
      std::move(*msrs), std::move(cpuid), config, outputs));
}

Machine::Machine(GuestMemory memory, PageHashes hashes, Vm vm, Vcpu vcpu,
                 std::vector<uint32_t> msr_indices,
                 std::vector<kvm_cpuid_entry2> cpuid,
                 const MachineConfig& config, OutputSink* outputs)
    : memory_(std::move(memory)),
      vm_(std::move(vm)),
      vcpu_(std::move(vcpu)),
      dirty_(&vm_, 0, &memory_),
      page_hashes_(std::move(hashes)),
      fresh_dirty_(memory_.pages()),
      msr_indices_(std::move(msr_indices)),
      cpuid_(std::move(cpuid)),
      config_(config),
      tap_(this, outputs),
      platform_(std::make_unique<PcPlatform>(config.platform, &tap_)) {
  config_.memory_base_hashes.reset();  // used once, above
  if (memory_.shares_base() && config.memory_base->reclaims_zero_pages()) {
    reclaimer_ = std::make_unique<ZeroPageReclaimer>(
        &memory_, std::chrono::milliseconds(250));
  }
}

Machine::~Machine() = default;

absl::StatusOr<LoadedKernel> Machine::BootMultiboot(
    std::span<const uint8_t> image, std::string_view name,
    const MultibootOptions& options) {
  auto kernel = LoadMultibootKernel(image, name, options, memory_);
  if (!kernel.ok()) return kernel.status();

  // Multiboot machine state (spec 3.2): 32-bit protected mode, flat 4 GiB
  // segments, paging off, interrupts off, EAX = magic, EBX = info.
  auto sregs = vcpu_.GetSregs();
  if (!sregs.ok()) return sregs.status();
  sregs->cs = FlatSegment(0x08, 0xb);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss =
      FlatSegment(0x10, 0x3);
  sregs->cr0 = (sregs->cr0 | 0x1) & ~(1ull << 31);
  sregs->efer = 0;
  if (absl::Status s = vcpu_.SetSregs(*sregs); !s.ok()) return s;
  kvm_regs regs{};
  regs.rip = kernel->entry;
  regs.rax = kMultibootBootloaderMagic;
  regs.rbx = kernel->info_addr;
  regs.rsp = kBootStack;
  regs.rflags = 0x2;
  if (absl::Status s = vcpu_.SetRegs(regs); !s.ok()) return s;
  return kernel;
}

ExitOutcome Machine::Stop(StopReason reason, std::string message) const {
  return {ExitOutcome::Action::kStop, reason, std::move(message)};
}

ExitOutcome Machine::HandleIo(const IoExit& io) {
  const FrontEnd* claimed = nullptr;
  for (uint32_t i = 0; i < io.count; ++i) {
    std::span<uint8_t> element = io.data.subspan(size_t{i} * io.size, io.size);
    claimed = io.in ? platform_->PioRead(io.port, element)
                    : platform_->PioWrite(io.port, element);
  }
  ++pio_counts_[claimed];
  if (debug_exit_) {
    return Stop(StopReason::kDebugExit,
                absl::StrFormat("guest wrote %d to debug-exit", *debug_exit_));
  }
  return {};
}

ExitOutcome Machine::HandleExit(const VcpuExit& exit) {
  ++exits_by_kind_[static_cast<int>(exit.kind)];
  if (exit.kind != ExitKind::kHostInterrupt) {
    last_exit_.kind = exit.kind;
    last_exit_.raw_reason = exit.raw_reason;
    last_exit_.io = {exit.io.port, exit.io.size, exit.io.in, exit.io.count, {}};
    last_exit_.mmio = {exit.mmio.gpa, exit.mmio.write, {}};
  }
  switch (exit.kind) {
    case ExitKind::kIo:
      return HandleIo(exit.io);
    case ExitKind::kMmio:
      // No MMIO devices: like unassigned addresses on a PC, reads return
      // all ones and writes vanish.
      if (!exit.mmio.write) {
        std::fill(exit.mmio.data.begin(), exit.mmio.data.end(), 0xff);
      }
      return {};
    case ExitKind::kHlt:
      return {ExitOutcome::Action::kHalted, StopReason::kDebugExit, ""};
    case ExitKind::kIrqWindowOpen:
    case ExitKind::kHostInterrupt:
      return {};
    case ExitKind::kShutdown:
      return Stop(StopReason::kTripleFault,
                  absl::StrFormat("guest triple-faulted (KVM_EXIT_SHUTDOWN) "
                                  "at %s",
                                  DescribeGuestPosition()));
    case ExitKind::kInternalError:
      return Stop(StopReason::kInternalError,
                  absl::StrFormat("KVM cannot run the guest: %s, at %s",
                                  exit.Describe(), DescribeGuestPosition()));
    case ExitKind::kFailEntry:
      return Stop(StopReason::kFailEntry,
                  absl::StrFormat("KVM could not enter the guest: %s, at %s",
                                  exit.Describe(), DescribeGuestPosition()));
    case ExitKind::kDebug:
    case ExitKind::kSystemEvent:
    case ExitKind::kUnknown:
      break;
  }
  return Stop(StopReason::kUnsupportedExit,
              absl::StrFormat("unsupported exit %s at %s", exit.Describe(),
                              DescribeGuestPosition()));
}

absl::Status Machine::ApplyInput(const InputEvent& input) {
  absl::Status s = Apply(input);
  if (s.ok()) ++inputs_applied_;
  return s;
}

absl::Status Machine::Apply(const InputEvent& input) {
  switch (input.kind) {
    case InputKind::kClockAdvance:
      if (input.value < platform_->clock().now_ns()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "clock input %d ns would move virtual time backwards from %d ns",
            input.value, platform_->clock().now_ns()));
      }
      platform_->AdvanceClockTo(input.value);
      return absl::OkStatus();
    case InputKind::kSerialRx:
      if (input.data.size() > platform_->SerialRxFree()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "serial input of %d bytes exceeds the %d bytes the UART can take",
            input.data.size(), platform_->SerialRxFree()));
      }
      platform_->SerialReceive(input.data);
      return absl::OkStatus();
    case InputKind::kDiskReadCompletion:
      return platform_->DiskReadCompleted(input.value, input.data);
    case InputKind::kBoundaryRead:
      return absl::InvalidArgumentError(
          "boundary-device read value given to a machine without boundary "
          "devices");
  }
  return absl::InvalidArgumentError("unknown input kind");
}

absl::StatusOr<bool> Machine::InjectPendingInterrupt() {
  if (!platform_->InterruptPending() || !vcpu_.CanTakeInterrupt()) {
    return false;
  }
  uint8_t vector = platform_->AcknowledgeInterrupt();
  if (absl::Status s = vcpu_.InjectInterrupt(vector); !s.ok()) return s;
  return true;
}

ExitStats Machine::stats() const {
  ExitStats stats;
  stats.by_kind = exits_by_kind_;
  for (const auto& [device, count] : pio_counts_) {
    stats.pio_by_device[device ? std::string(device->name()) : "unclaimed"] +=
        count;
  }
  return stats;
}

absl::Status Machine::SyncMemory() {
  // Memory and registers as of the completed last instruction (a string
  // port read writes memory only when completed).
  if (absl::Status s = vcpu_.CompletePendingIo(); !s.ok()) return s;
  if (absl::Status s = dirty_.Harvest(fresh_dirty_); !s.ok()) return s;
  page_hashes_.Rehash(memory_, fresh_dirty_);
  return absl::OkStatus();
}

absl::StatusOr<VcpuState> Machine::CaptureVcpu() const {
  return CaptureVcpuState(vcpu_, msr_indices_);
}

absl::StatusOr<Hash128> Machine::StateHash() {
  if (absl::Status s = SyncMemory(); !s.ok()) return s;
  auto vcpu_state = CaptureVcpu();
  if (!vcpu_state.ok()) return vcpu_state.status();
  std::vector<std::vector<uint8_t>> blobs;
  for (const FrontEnd* fe : platform_->front_ends()) {
    blobs.push_back(SaveFrontEnd(*fe));
  }
  std::vector<std::span<const uint8_t>> views(blobs.begin(), blobs.end());
  return ComposeStateHash(*vcpu_state, views, platform_->SaveClock(),
                          page_hashes_.Root());
}

std::string Machine::DescribeLastExit() const {
  if (esn() == 0) return "none (before the first exit)";
  return last_exit_.Describe();
}

std::string Machine::DescribeGuestPosition() const {
  const kvm_regs& regs = vcpu_.regs();
  std::string out = absl::StrFormat("RIP 0x%x (ESN %d)", regs.rip, esn());
  auto sregs = vcpu_.GetSregs();
  if (!sregs.ok()) return out;
  const bool long_mode = (sregs->efer & (1u << 10)) && sregs->cs.l;
  const uint64_t linear = long_mode ? regs.rip : sregs->cs.base + regs.rip;
  auto gpa = vcpu_.Translate(linear);
  if (!gpa.ok()) return out;
  uint8_t bytes[15];
  size_t n = std::min<uint64_t>(
      sizeof bytes, memory_.size() > *gpa ? memory_.size() - *gpa : 0);
  if (n == 0 || !memory_.Read(*gpa, {bytes, n}).ok()) return out;
  absl::StrAppendFormat(&out, ", bytes at RIP:");
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&out, " %02x", bytes[i]);
  return out;
}

}  // namespace xv
