#include "cli/run_settings.h"

#include <ctime>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "session/backend_choice.h"

namespace xv::cli {
namespace {

absl::StatusOr<int64_t> ParseRtc(const std::string& value) {
  if (value == "now") return static_cast<int64_t>(std::time(nullptr));
  int64_t seconds;
  if (absl::SimpleAtoi(value, &seconds)) return seconds;
  absl::Time t;
  std::string err;
  for (const char* format :
       {"%Y-%m-%dT%H:%M:%S%Ez", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"}) {
    if (absl::ParseTime(format, value, absl::UTCTimeZone(), &t, &err)) {
      return absl::ToUnixSeconds(t);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("--rtc: '%s' is not 'now', Unix seconds or a date like "
                      "2026-01-31T12:00:00Z",
                      value));
}

}  // namespace

std::vector<OptionSpec> RunOptionSpecs() {
  return {
      {"mem", "MiB", "guest memory in MiB (default 256, 2 to 3072)"},
      {"disk", "FILE", "raw disk image for the ATA disk (read-write)"},
      {"serial", "stdio|file:PATH",
       "where COM1 output goes (default stdio; with --json, stderr)"},
      {"stdin", "FILE",
       "COM1 input from FILE (a file, a FIFO, or unix:PATH for a socket); "
       "default: standard input when --serial is stdio"},
      {"cmdline", "STR", "kernel command line (multiboot)"},
      {"timeout", "S", "stop the guest after S seconds of wall time"},
      {"rtc", "TIME",
       "RTC time at boot: now (default), Unix seconds or 2026-01-31T12:00:00Z"},
      {"json", "", "print one JSON object with the run's results on stdout"},
      BackendOptionSpec(),
  };
}

absl::StatusOr<std::string> ParseBackendOption(const ParsedArgs& args) {
  std::string backend = args.Get("backend").value_or("auto");
  if (absl::Status s = ValidateBackendChoice(backend); !s.ok()) return s;
  return backend;
}

OptionSpec BackendOptionSpec() {
  return {"backend", std::string(kBackendChoices),
          "the CPU backend: kvm, emu (the emulator: slower, runs anywhere; "
          "needs libunicorn2), or auto (default: KVM where usable, else emu)"};
}

absl::StatusOr<RunSettings> ParseRunSettings(const ParsedArgs& args,
                                             const GuestCatalog& catalog) {
  RunSettings s;
  auto kernel = catalog.Resolve(args.positional().at(0));
  if (!kernel.ok()) return kernel.status();
  s.kernel_path = *kernel;

  auto mem = args.GetNumber("mem", 2, 3072);
  if (!mem.ok()) return mem.status();
  if (*mem) {
    if (**mem != static_cast<double>(static_cast<uint64_t>(**mem))) {
      return absl::InvalidArgumentError("--mem: must be a whole number of MiB");
    }
    s.memory_bytes = static_cast<uint64_t>(**mem) << 20;
  }
  s.disk_path = args.Get("disk").value_or("");
  s.cmdline = args.Get("cmdline").value_or("");
  auto backend = ParseBackendOption(args);
  if (!backend.ok()) return backend.status();
  s.backend = *std::move(backend);

  auto timeout = args.GetNumber("timeout", 0.001, 1e7);
  if (!timeout.ok()) return timeout.status();
  s.timeout_seconds = *timeout;

  auto rtc = ParseRtc(args.Get("rtc").value_or("now"));
  if (!rtc.ok()) return rtc.status();
  s.rtc_epoch_seconds = *rtc;

  std::string serial = args.Get("serial").value_or("stdio");
  if (serial == "stdio") {
    // Guest output must not mix with the JSON object on stdout.
    s.serial.output = args.Has("json") ? "stderr" : "stdout";
    s.serial.input = "stdin";
  } else if (serial.rfind("file:", 0) == 0 && serial.size() > 5) {
    s.serial.output = serial;
    s.serial.input = "";
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--serial: '%s' is not 'stdio' or 'file:PATH'", serial));
  }
  if (std::optional<std::string> in = args.Get("stdin")) {
    if (in->empty()) return absl::InvalidArgumentError("--stdin: empty path");
    s.serial.input = in->rfind("unix:", 0) == 0 ? *in : "file:" + *in;
  }
  return s;
}

int RunSettingsErrorExitStatus(const absl::Status& error) {
  // Option errors name their option first ("--mem: ...").
  const bool usage =
      absl::IsInvalidArgument(error) && error.message().rfind("--", 0) == 0;
  return usage ? kExitUsage : kExitCannotRun;
}

}  // namespace xv::cli
