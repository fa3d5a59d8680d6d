#include "session/live_run.h"

#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/str_format.h"
#include "machine/live_environment.h"
#include "machine/multiboot_loader.h"
#include "replay/machine_recorder.h"
#include "session/backend_choice.h"

namespace xv {
namespace {

absl::StatusOr<std::vector<uint8_t>> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("%s: cannot open", path));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::DataLossError(absl::StrFormat("%s: read error", path));
  }
  return bytes;
}

// What a live run needs before KVM is involved: the kernel (validated), the
// back-ends, the machine's configuration. Input errors come first,
// whatever the state of KVM on this host.
struct LiveSetup {
  std::vector<uint8_t> image;
  MultibootOptions boot;
  std::unique_ptr<LiveEnvironment> env;
  MachineConfig config;
};

absl::StatusOr<LiveSetup> PrepareLiveRun(const RunSettings& settings) {
  LiveSetup setup;
  auto image = ReadFile(settings.kernel_path);
  if (!image.ok()) return image.status();
  setup.image = std::move(*image);
  setup.boot = {.cmdline = settings.cmdline};
  if (absl::Status s = ValidateMultibootKernel(
          setup.image, settings.kernel_path, setup.boot, settings.memory_bytes);
      !s.ok()) {
    return s;
  }
  std::optional<DiskImage> disk;
  if (!settings.disk_path.empty()) {
    auto d = DiskImage::Open(settings.disk_path);
    if (!d.ok()) return d.status();
    disk = std::move(*d);
  }
  auto serial = OpenSerialBackend(settings.serial);
  if (!serial.ok()) return serial.status();
  setup.env =
      std::make_unique<LiveEnvironment>(std::move(*serial), std::move(disk));
  setup.config.memory_bytes = settings.memory_bytes;
  setup.config.platform.disk_sectors = setup.env->disk_sectors();
  setup.config.platform.rtc_epoch_seconds = settings.rtc_epoch_seconds;
  return setup;
}

// The kernel's file name, as a log header names it.
std::string KernelName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return path.substr(slash == std::string::npos ? 0 : slash + 1);
}

}  // namespace

absl::StatusOr<ReplicatedOutcome> RunGuestReplicated(
    const RunSettings& settings, RunController* controller,
    ReplicaOptions options, std::string_view follower_backend) {
  auto setup = PrepareLiveRun(settings);
  if (!setup.ok()) return setup.status();
  auto hypervisor =
      OpenBackend(settings.backend, settings.note_backend_fallback);
  if (!hypervisor.ok()) return hypervisor.status();
  std::unique_ptr<Hypervisor> follower;
  if (!follower_backend.empty()) {
    auto opened = OpenBackend(follower_backend, settings.note_backend_fallback);
    if (!opened.ok()) return opened.status();
    follower = std::move(*opened);
    options.follower_hypervisor = follower.get();
  }
  options.timeout_seconds = settings.timeout_seconds;
  if (options.record) {
    RecordedMachine& m = options.record->machine;
    m.kernel_name = KernelName(settings.kernel_path);
    m.kernel_image = setup->image;
    m.cmdline = settings.cmdline;
  }
  return RunReplicated(**hypervisor, setup->config, setup->image,
                       settings.kernel_path, setup->boot, *setup->env, options,
                       controller);
}

absl::StatusOr<LiveRunOutcome> RunGuestLive(const RunSettings& settings,
                                            RunController* controller,
                                            bool want_state_hash,
                                            const RecordRequest* record) {
  auto setup = PrepareLiveRun(settings);
  if (!setup.ok()) return setup.status();
  const std::vector<uint8_t>& image = setup->image;
  const MultibootOptions& boot_options = setup->boot;
  LiveEnvironment& env = *setup->env;
  const MachineConfig& config = setup->config;
  auto hypervisor =
      OpenBackend(settings.backend, settings.note_backend_fallback);
  if (!hypervisor.ok()) return hypervisor.status();
  // Recording puts the recorder between the machine and its back-ends, and
  // on the run's input path.
  std::optional<MachineRecorder> recorder;
  OutputSink* outputs = &env;
  if (record != nullptr) {
    outputs = &recorder.emplace(&env, record->hook);
    if (record->checkpoint_files) recorder->StoreCheckpointFiles();
  }
  auto machine = Machine::Create(**hypervisor, config, outputs);
  if (!machine.ok()) return machine.status();
  auto kernel =
      (*machine)->BootMultiboot(image, settings.kernel_path, boot_options);
  if (!kernel.ok()) return kernel.status();
  if (recorder) {
    RecordedMachine recorded{.kernel_name = KernelName(settings.kernel_path),
                             .kernel_image = image,
                             .cmdline = settings.cmdline};
    if (absl::Status s = recorder->Start(record->log_path, **machine,
                                         std::move(recorded), record->options);
        !s.ok()) {
      return s;
    }
  }

  env.StartClock((*machine)->platform().clock().now_ns());
  RunLimits limits{.timeout_seconds = settings.timeout_seconds,
                   .observer = recorder ? &*recorder : nullptr};
  auto result = RunMachine(**machine, env, limits, controller);
  if (!result.ok()) return result.status();
  if (absl::Status s = env.Finish(); !s.ok()) return s;
  LiveRunOutcome outcome{std::string((*hypervisor)->name()), *result,
                         (*machine)->stats(), std::nullopt};
  if (recorder) {
    if (absl::Status s = recorder->Finish(**machine, *result); !s.ok()) {
      return s;
    }
    outcome.recorded = recorder->log()->stats();
    outcome.log_stats = recorder->log()->writer().stats();
    outcome.final_state_hash = recorder->final_state_hash();
    outcome.checkpoint_files = recorder->checkpoint_files();
  }
  if (want_state_hash && !outcome.final_state_hash) {
    auto hash = (*machine)->StateHash();
    if (!hash.ok()) return hash.status();
    outcome.final_state_hash = *hash;
  }
  return outcome;
}

}  // namespace xv
