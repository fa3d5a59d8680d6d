// Cross-backend fidelity (DESIGN §8): the same guest with the same inputs
// and CPUID makes the same exits and reaches the same state on KVM and on
// the emulator, rendezvous by rendezvous. Needs both backends: where KVM
// is not usable, every test here skips with that reason.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "memshare/page_hashes.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"

namespace xv {
namespace {

using ::xv::testing::GuestPath;
using ::xv::testing::OpenTestBackend;
using ::xv::testing::ReadFileBytes;

// The CPU state and the whole-machine hash at every rendezvous.
class StateTrace : public RunObserver {
 public:
  absl::Status AtRendezvous(Machine& m) override {
    auto cpu = m.CaptureCpu();
    if (!cpu.ok()) return cpu.status();
    auto hash = m.StateHash();
    if (!hash.ok()) return hash.status();
    Step step{m.esn(), m.DescribeLastExit(), cpu->arch, *hash, {}, {}};
    const uint64_t pages = m.memory().pages();
    step.content.reserve(pages);
    step.recorded.reserve(pages);
    for (uint64_t p = 0; p < pages; ++p) {
      step.content.push_back(HashPage(m.memory().PageData(p)));
      step.recorded.push_back(m.page_hashes().page(p));
    }
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }
  struct Step {
    uint64_t esn;
    std::string exit;
    ArchState arch;
    Hash128 hash;
    // Per page: a hash of what memory holds, and the hash the machine
    // keeps (stale if a write went unnoticed).
    std::vector<Hash128> content;
    std::vector<Hash128> recorded;
  };
  std::vector<Step> steps;
};

struct Trace {
  RunResult result;
  std::string output;
  StateTrace states;
};

Trace RunOn(const Hypervisor& hv, const std::string& guest,
            const std::string& cmdline, std::vector<CpuidLeaf> cpuid) {
  Trace t;
  MachineConfig config;
  config.memory_bytes = 64 << 20;
  config.platform.rtc_epoch_seconds = 1'800'000'000;
  config.cpuid = std::move(cpuid);
  RecordingOutputSink sink;
  auto m = Machine::Create(hv, config, &sink);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return t;
  std::vector<uint8_t> image = ReadFileBytes(GuestPath(guest));
  auto k = (*m)->BootMultiboot(image, guest, {.cmdline = cmdline});
  EXPECT_TRUE(k.ok()) << k.status();
  ScriptedInputs inputs(25'000);
  auto r =
      RunMachine(**m, inputs, {.timeout_seconds = 120, .observer = &t.states});
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok()) t.result = *r;
  t.output = sink.SerialText();
  return t;
}

std::string Hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = bytes.size(); i-- > 0;) {
    absl::StrAppendFormat(&out, "%02x", bytes[i]);
  }
  return out;
}

// Every differing field, "name kvm-value / emu-value" (little-endian
// fields shown most significant byte first).
std::string Differences(const ArchState& kvm, const ArchState& emu) {
  std::string out;
  ForEachArchFieldDifference(
      kvm, emu,
      [&](std::string_view name, std::span<const uint8_t> a,
          std::span<const uint8_t> b) {
        absl::StrAppendFormat(&out, "\n  %s: %s / %s", name, Hex(a), Hex(b));
      });
  return out;
}

// Pages whose content differs between the backends, and pages whose kept
// hash is stale on either.
std::string PageDifferences(const StateTrace::Step& kvm,
                            const StateTrace::Step& emu) {
  std::string out;
  int shown = 0;
  for (size_t p = 0; p < kvm.content.size() && shown < 20; ++p) {
    const bool differs = kvm.content[p] != emu.content[p];
    const bool stale_kvm = kvm.content[p] != kvm.recorded[p];
    const bool stale_emu = emu.content[p] != emu.recorded[p];
    if (!differs && !stale_kvm && !stale_emu) continue;
    ++shown;
    absl::StrAppendFormat(&out, "\n  page 0x%x:%s%s%s", p,
                          differs ? " content differs" : "",
                          stale_kvm ? " kvm's hash stale" : "",
                          stale_emu ? " emu's hash stale" : "");
  }
  return out.empty() ? " (no page differs: devices?)" : out;
}

struct Guest {
  const char* label;
  const char* name;
  const char* cmdline;
};

class CrossBackendTest : public ::testing::TestWithParam<Guest> {};

TEST_P(CrossBackendTest, SameExitsAndStatesAtEveryRendezvous) {
  auto kvm = OpenTestBackend("kvm");
  if (!kvm.ok()) GTEST_SKIP() << "KVM is not usable here: " << kvm.status();
  auto emu = OpenTestBackend("emu");
  ASSERT_TRUE(emu.ok()) << emu.status();
  // One CPU for both: the emulator's (KVM can offer all of it).
  auto cpuid = (*emu)->DefaultCpuid();
  ASSERT_TRUE(cpuid.ok());
  const Guest& g = GetParam();
  Trace on_kvm = RunOn(**kvm, g.name, g.cmdline, *cpuid);
  Trace on_emu = RunOn(**emu, g.name, g.cmdline, *cpuid);
  EXPECT_EQ(on_emu.output, on_kvm.output);
  EXPECT_EQ(on_emu.result.reason, on_kvm.result.reason)
      << on_emu.result.message << " / " << on_kvm.result.message;
  EXPECT_EQ(on_emu.result.exit_status, on_kvm.result.exit_status);
  EXPECT_EQ(on_emu.result.esn, on_kvm.result.esn);
  const auto& a = on_kvm.states.steps;
  const auto& b = on_emu.states.steps;
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    ASSERT_EQ(a[i].esn, b[i].esn) << "rendezvous " << i;
    ASSERT_EQ(a[i].exit, b[i].exit) << "ESN " << a[i].esn;
    ASSERT_TRUE(a[i].arch == b[i].arch)
        << "ESN " << a[i].esn << " (" << a[i].exit
        << "): the CPU states differ (kvm / emu):"
        << Differences(a[i].arch, b[i].arch);
    ASSERT_EQ(a[i].hash, b[i].hash)
        << "ESN " << a[i].esn << ": same CPU state, different machine hash"
        << PageDifferences(a[i], b[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Guests, CrossBackendTest,
    ::testing::Values(
        Guest{"hello", "hello", ""}, Guest{"compute", "compute", "mib=1"},
        Guest{"timer", "timer", "ticks=10"},
        Guest{"memtouch", "memtouch", "mib=4 passes=2"},
        Guest{"vro", "vro", "iters=1000000 every=100000"},
        Guest{"interrupts", "testcases/interrupts", "ticks=10 hz=1000"},
        Guest{"string_io", "testcases/string_io", ""},
        Guest{"pio_bench_cpl0", "testcases/pio_bench", "mode=cpl0 n=100"},
        Guest{"pio_bench_syscall", "testcases/pio_bench", "mode=syscall n=100"},
        Guest{"exception_ud", "testcases/exception", "kind=ud cpl=3"},
        Guest{"exception_pf", "testcases/exception", "kind=pf cpl=3"},
        Guest{"exception_gp_cpl0", "testcases/exception", "kind=gp cpl=0"},
        Guest{"exception_de", "testcases/exception", "kind=de cpl=3"},
        Guest{"exception_bp", "testcases/exception", "kind=bp cpl=3"},
        Guest{"triple_fault", "testcases/triple_fault", ""},
        Guest{"auto_vro", "testcases/auto_vro", "n=20"}),
    [](const ::testing::TestParamInfo<Guest>& info) {
      return std::string(info.param.label);
    });

}  // namespace
}  // namespace xv
