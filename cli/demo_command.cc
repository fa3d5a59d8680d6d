// xvirt demo: the whole story on the bundled kvstore guest — a plain run,
// the same run as two replicas checking each other, and a fault injected
// into one of them: detected, a third replica rebuilt from the last
// verified checkpoint, the vote, recovery, and the same output as before.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/run_settings.h"
#include "session/backend_choice.h"
#include "session/live_run.h"

namespace xv::cli {
namespace {

// The commands the demo types into kvstore's serial port.
constexpr std::string_view kScript =
    "SET colour blue\nSET size 42\nGET colour\nCOUNT\nDEL size\nGET size\n"
    "COUNT\nQUIT\n";
// A bit of guest memory flipped in the leader: kvstore's data, which the
// next checkpoint compares.
constexpr std::string_view kFault = "mem:0x1a5000:3@60:leader";
constexpr uint64_t kCheckpointEvery = 25;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Indented(const std::string& text) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::printf("   | %s\n", line.c_str());
  }
}

}  // namespace

const CommandSpec& DemoCommandSpec() {
  static const CommandSpec spec = {
      .name = "demo",
      .usage = "demo",
      .summary = "show replication surviving a fault, on a bundled guest",
      .description =
          "Runs the bundled kvstore guest three times, with a short script\n"
          "of commands on its serial port:\n"
          "  1. as a plain run;\n"
          "  2. as two replicas whose every output is compared before it\n"
          "     leaves, verified and merged every 25 exits;\n"
          "  3. the same, with one bit of the leader's memory flipped: the\n"
          "     next checkpoint finds the replicas different, a third\n"
          "     replica is rebuilt from the last verified checkpoint and\n"
          "     replays the log, the vote names the leader faulty, the\n"
          "     follower takes over, and the output is the plain run's.\n"
          "The guest's output is shown after '|', the replica manager's\n"
          "reports after '>'.",
      .options = {BackendOptionSpec()},
  };
  return spec;
}

int DemoCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(DemoCommandSpec(), inv, &status);
  if (!args) return status;
  const auto backend = ParseBackendOption(*args);
  if (!backend.ok()) return Fail(kExitUsage, backend.status());
  GuestCatalog catalog(inv.argv0);
  auto path = catalog.PathOf("kvstore");
  if (!path.ok()) return Fail(kExitCannotRun, path.status());

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrFormat("xvirt-demo-%d", static_cast<int>(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(kExitCannotRun, absl::StrFormat("cannot create %s: %s",
                                                dir.string(), ec.message()));
  }
  const std::string script = (dir / "commands.txt").string();
  std::ofstream(script) << kScript;
  auto settings_for = [&](const std::string& out) {
    RunSettings s;
    s.kernel_path = *path;
    s.memory_bytes = 64ull << 20;
    s.serial.input = "file:" + script;
    s.serial.output = "file:" + out;
    s.timeout_seconds = 60;
    s.rtc_epoch_seconds = 1'700'000'000;
    s.backend = *backend;
    return s;
  };
  auto cleanup = [&] { std::filesystem::remove_all(dir, ec); };

  std::printf("== 1. kvstore, a plain run, with these commands on COM1:\n");
  Indented(std::string(kScript));
  std::fflush(stdout);
  const std::string plain_out = (dir / "plain.out").string();
  auto plain = RunGuestLive(settings_for(plain_out), nullptr, false);
  if (!plain.ok()) {
    cleanup();
    return Fail(kExitCannotRun, plain.status());
  }
  const std::string expected = ReadFile(plain_out);
  Indented(expected);
  std::printf("-- %s after %llu exits, %.3f s\n\n",
              std::string(StopReasonName(plain->result.reason)).c_str(),
              static_cast<unsigned long long>(plain->result.esn),
              plain->result.wall_seconds);

  std::printf(
      "== 2. the same as two replicas: a leader takes the input, a follower\n"
      "   gets it at the same exits; every output is released only once\n"
      "   both produced it; every %llu exits both are compared and merged.\n",
      static_cast<unsigned long long>(kCheckpointEvery));
  std::fflush(stdout);
  const std::string pair_out = (dir / "pair.out").string();
  auto pair = RunGuestReplicated(settings_for(pair_out), nullptr,
                                 {.checkpoint_every = kCheckpointEvery});
  if (!pair.ok()) {
    cleanup();
    return Fail(kExitCannotRun, pair.status());
  }
  Indented(ReadFile(pair_out));
  std::printf(
      "-- %llu checkpoints verified, %llu outputs released (median %.2f ms "
      "after the leader produced them); output %s the plain run's\n\n",
      static_cast<unsigned long long>(pair->checkpoints_verified),
      static_cast<unsigned long long>(pair->outputs_released),
      pair->output_latency.median_ns / 1e6,
      ReadFile(pair_out) == expected ? "identical to" : "DIFFERENT from");

  std::printf(
      "== 3. again, with a fault: %s flips one bit of the leader's memory.\n"
      "   Watch for the divergence, the third replica, the vote:\n",
      std::string(kFault).c_str());
  std::fflush(stdout);
  auto fault =
      ParseFaultSpec(kFault, {.max_esn = 1, .memory_bytes = 64ull << 20});
  if (!fault.ok()) {
    cleanup();
    return Fail(kExitCannotRun, fault.status());
  }
  const std::string faulty_out = (dir / "fault.out").string();
  auto faulty =
      RunGuestReplicated(settings_for(faulty_out), nullptr,
                         {.checkpoint_every = kCheckpointEvery,
                          .inject = *fault,
                          .on_event = [](const ReplicaEvent& event) {
                            std::printf("   > %s\n", event.line.c_str());
                            std::fflush(stdout);
                          }});
  if (!faulty.ok()) {
    cleanup();
    return Fail(kExitCannotRun, faulty.status());
  }
  const std::string got = ReadFile(faulty_out);
  cleanup();
  Indented(got);
  const bool same = got == expected;
  const bool recovered = !faulty->divergences.empty() && !faulty->fail_safe &&
                         faulty->divergences.back().recovered;
  if (faulty->injected) {
    std::printf("-- injected: %s\n", faulty->injected->c_str());
  }
  for (const DivergenceEvent& d : faulty->divergences) {
    std::printf(
        "-- divergence at ESN %llu (%s); voted out: %s; recovered in %s\n",
        static_cast<unsigned long long>(d.esn),
        std::string(DivergenceTriggerName(d.trigger)).c_str(),
        !d.voted_out                           ? "nobody (no majority)"
        : *d.voted_out == ReplicaRole::kLeader ? "the leader"
                                               : "the follower",
        d.recovery_ms ? absl::StrFormat("%.1f ms", *d.recovery_ms).c_str()
                      : "-");
  }
  std::printf("-- output %s the plain run's; nothing unverified was released\n",
              same ? "identical to" : "DIFFERENT from");
  if (!same || !recovered) {
    return Fail(1, "the demo did not recover as it should: please report it");
  }
  std::printf(
      "\nTry 'xvirt replicate kvstore --inject random:7 --json' or\n"
      "'xvirt campaign compute --faults 100 --seed 1'.\n");
  return 0;
}

}  // namespace xv::cli
