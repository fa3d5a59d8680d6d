#include "machine/machine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "machine/state_hash.h"

namespace xv {
namespace {

// Initial stack for kernels that push before setting up their own: the top
// of conventional memory, which the memory map reports as available.
constexpr uint64_t kBootStack = 0x9f000;

}  // namespace

void Machine::OutputTap::Emit(const DeviceOutput& output) {
  if (output.kind == OutputKind::kDebugExit && !machine_->debug_exit_) {
    machine_->debug_exit_ = output.arg;
  }
  next_->Emit(output);
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Create(
    const Hypervisor& hypervisor, const MachineConfig& config,
    OutputSink* outputs) {
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
  std::vector<CpuidLeaf> cpuid;
  if (config.cpuid) {
    cpuid = *config.cpuid;
  } else {
    auto defaults = hypervisor.DefaultCpuid();
    if (!defaults.ok()) return defaults.status();
    cpuid = std::move(*defaults);
  }
  auto machine = std::make_unique<Machine>(
      Key{}, std::make_unique<GuestMemory>(std::move(*memory)),
      std::move(hashes), std::move(cpuid), config, outputs);
  auto cpu = hypervisor.CreateCpu(*machine->memory_, machine->cpuid_);
  if (!cpu.ok()) return cpu.status();
  machine->cpu_ = std::move(*cpu);
  return machine;
}

Machine::Machine(Key, std::unique_ptr<GuestMemory> memory, PageHashes hashes,
                 std::vector<CpuidLeaf> cpuid, const MachineConfig& config,
                 OutputSink* outputs)
    : memory_(std::move(memory)),
      vmm_write_tap_(this),
      dirty_(memory_.get()),
      page_hashes_(std::move(hashes)),
      fresh_dirty_(memory_->pages()),
      cpuid_(std::move(cpuid)),
      config_(config),
      tap_(this, outputs),
      platform_(std::make_unique<PcPlatform>(config.platform, &tap_)) {
  config_.memory_base_hashes.reset();  // used once, above
  memory_->set_vmm_write_observer(&vmm_write_tap_);
  if (memory_->shares_base() && config.memory_base->reclaims_zero_pages()) {
    reclaimer_ = std::make_unique<ZeroPageReclaimer>(
        memory_.get(), std::chrono::milliseconds(250));
  }
}

Machine::~Machine() { memory_->set_vmm_write_observer(nullptr); }

absl::StatusOr<LoadedKernel> Machine::BootMultiboot(
    std::span<const uint8_t> image, std::string_view name,
    const MultibootOptions& options) {
  auto kernel = LoadMultibootKernel(image, name, options, *memory_);
  if (!kernel.ok()) return kernel.status();
  // Multiboot machine state (spec 3.2): EAX = magic, EBX = info.
  if (absl::Status s = cpu_->EnterProtectedMode(
          {.eip = static_cast<uint32_t>(kernel->entry),
           .eax = kMultibootBootloaderMagic,
           .ebx = static_cast<uint32_t>(kernel->info_addr),
           .esp = kBootStack});
      !s.ok()) {
    return s;
  }
  return kernel;
}

ExitOutcome Machine::Stop(StopReason reason, std::string message) const {
  return {ExitOutcome::Action::kStop, reason, std::move(message)};
}

ExitOutcome Machine::HandleIo(const PioExit& io) {
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

ExitOutcome Machine::HandleExit(const CpuExit& exit) {
  ++exits_by_kind_[static_cast<int>(exit.kind)];
  if (exit.kind != ExitKind::kHostInterrupt) {
    last_exit_ = exit;
    last_exit_.io.data = {};  // the backend's buffers: not kept
    last_exit_.mmio.data = {};
  }
  if (IsGuestInitiated(exit.kind)) ++esn_;
  switch (exit.kind) {
    case ExitKind::kPio:
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
    case ExitKind::kHostInterrupt:
      return {ExitOutcome::Action::kResume};
    case ExitKind::kShutdown:
      return Stop(StopReason::kTripleFault,
                  absl::StrFormat("guest triple-faulted (shutdown) at %s",
                                  DescribeGuestPosition()));
    case ExitKind::kInternalError:
      return Stop(
          StopReason::kInternalError,
          absl::StrFormat("the %s backend cannot run the guest: %s, "
                          "at %s",
                          backend(), exit.detail, DescribeGuestPosition()));
    case ExitKind::kFailEntry:
      return Stop(
          StopReason::kFailEntry,
          absl::StrFormat("the %s backend could not enter the guest: "
                          "%s, at %s",
                          backend(), exit.detail, DescribeGuestPosition()));
    case ExitKind::kUnsupported:
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
  if (!platform_->InterruptPending() || !cpu_->CanTakeInterrupt()) {
    return false;
  }
  uint8_t vector = platform_->AcknowledgeInterrupt();
  if (absl::Status s = cpu_->QueueInterrupt(vector); !s.ok()) return s;
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
  if (absl::Status s = cpu_->SettleExit(); !s.ok()) return s;
  fresh_dirty_.Clear();
  if (absl::Status s = cpu_->TakeGuestWrites(fresh_dirty_); !s.ok()) return s;
  dirty_.Harvest(fresh_dirty_);
  page_hashes_.Rehash(*memory_, fresh_dirty_);
  return absl::OkStatus();
}

absl::StatusOr<Hash128> Machine::StateHash() {
  if (absl::Status s = SyncMemory(); !s.ok()) return s;
  auto cpu_state = CaptureCpu();
  if (!cpu_state.ok()) return cpu_state.status();
  std::vector<std::vector<uint8_t>> blobs;
  for (const FrontEnd* fe : platform_->front_ends()) {
    blobs.push_back(SaveFrontEnd(*fe));
  }
  std::vector<std::span<const uint8_t>> views(blobs.begin(), blobs.end());
  return ComposeStateHash(cpu_state->arch, views, platform_->SaveClock(),
                          page_hashes_.Root());
}

std::string Machine::DescribeLastExit() const {
  if (esn() == 0) return "none (before the first exit)";
  return last_exit_.Describe();
}

std::string Machine::DescribeGuestPosition() const {
  std::string out =
      absl::StrFormat("RIP 0x%x (ESN %d)", cpu_->regs().rip, esn());
  auto linear = cpu_->LinearRip();
  if (!linear.ok()) return out;
  auto gpa = cpu_->Translate(*linear);
  if (!gpa.ok()) return out;
  uint8_t bytes[15];
  size_t n = std::min<uint64_t>(
      sizeof bytes, memory_->size() > *gpa ? memory_->size() - *gpa : 0);
  if (n == 0 || !memory_->Read(*gpa, {bytes, n}).ok()) return out;
  absl::StrAppendFormat(&out, ", bytes at RIP:");
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&out, " %02x", bytes[i]);
  return out;
}

}  // namespace xv
