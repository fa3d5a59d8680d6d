// Micro-benchmarks of what one VM exit costs on this machine, through the
// same Machine/HandleExit path `xvirt run` uses:
//   BM_PioExitRoundTrip/cpl3|cpl0: guest `out` to the VRO port -> KVM_RUN
//     returns -> HandleExit -> KVM_RUN again; one iteration per exit.
//   BM_ImmediateExitRun: KVM_RUN that returns before entering the guest
//     (the floor of any host-caused exit).
//   BM_VcpuIoctl: one vCPU ioctl (KVM_GET_SREGS), the unit price of state
//     access that sync regs avoid on every exit.
// Which code runs at CPL0: the cpl0 variant's loop runs inside a guest
// system call (PVM emulates it); the cpl3 variant's loop is the workload.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "devices/output_sink.h"
#include "kvm/kvm_cpu.h"
#include "kvm/kvm_hypervisor.h"
#include "machine/machine.h"
#include "tools/cpp/runfiles/runfiles.h"

namespace xv {
namespace {

class NullSink : public OutputSink {
 public:
  void Emit(const DeviceOutput&) override {}
};

std::string PioBenchPath() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string argv0 = n > 0 ? std::string(self, n) : "";
  std::string error;
  std::unique_ptr<bazel::tools::cpp::runfiles::Runfiles> rf(
      bazel::tools::cpp::runfiles::Runfiles::Create(argv0, &error));
  return rf ? rf->Rlocation("extravirt/guest/testcases/pio_bench.elf") : "";
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::vector<uint8_t> bytes;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      bytes.insert(bytes.end(), buf, buf + n);
    }
    std::fclose(f);
  }
  return bytes;
}

struct BootedGuest {
  std::unique_ptr<KvmHypervisor> kvm;
  NullSink sink;
  std::unique_ptr<Machine> machine;
};

// Boots pio_bench in `mode` with an endless count and runs it to its first
// VRO exit, so that every later KVM_RUN is one more identical exit.
std::unique_ptr<BootedGuest> BootPioBench(benchmark::State& state,
                                          const std::string& mode) {
  auto g = std::make_unique<BootedGuest>();
  auto kvm = KvmHypervisor::Open();
  if (!kvm.ok()) {
    state.SkipWithError(std::string(kvm.status().message()).c_str());
    return nullptr;
  }
  g->kvm = std::move(*kvm);
  auto m = Machine::Create(*g->kvm, {.memory_bytes = 64 << 20}, &g->sink);
  std::vector<uint8_t> image = ReadAll(PioBenchPath());
  if (!m.ok() || image.empty()) {
    state.SkipWithError("cannot create the machine or read pio_bench.elf");
    return nullptr;
  }
  g->machine = std::move(*m);
  auto k = g->machine->BootMultiboot(
      image, "pio_bench", {.cmdline = "mode=" + mode + " n=1000000000000"});
  if (!k.ok()) {
    state.SkipWithError(std::string(k.status().message()).c_str());
    return nullptr;
  }
  for (;;) {
    auto exit = g->machine->RunCpu();
    if (!exit.ok()) {
      state.SkipWithError("KVM_RUN failed during boot");
      return nullptr;
    }
    g->machine->HandleExit(*exit);
    if (exit->kind == ExitKind::kPio && exit->io.port == kVroPort) break;
  }
  return g;
}

// The benchmark is about KVM itself: the machine's CPU is a KvmCpu.
Vcpu& KvmVcpu(BootedGuest& g) {
  return dynamic_cast<KvmCpu&>(g.machine->cpu()).vcpu();
}

void BM_PioExitRoundTrip(benchmark::State& state, const std::string& mode) {
  auto g = BootPioBench(state, mode);
  if (!g) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    auto exit = g->machine->RunCpu();
    if (!exit.ok() || exit->kind != ExitKind::kPio ||
        exit->io.port != kVroPort) {
      state.SkipWithError("unexpected exit");
      break;
    }
    benchmark::DoNotOptimize(g->machine->HandleExit(*exit));
  }
  state.counters["exits_per_s"] =
      benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_PioExitRoundTrip, cpl3, std::string("cpl3"))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PioExitRoundTrip, cpl0, std::string("cpl0"))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_ImmediateExitRun(benchmark::State& state) {
  auto g = BootPioBench(state, "cpl3");
  if (!g) return;
  Vcpu& vcpu = KvmVcpu(*g);
  vcpu.RequestImmediateExit();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    auto exited = vcpu.RunOnce();
    if (!exited.ok() || *exited) {
      state.SkipWithError("KVM_RUN entered the guest");
      break;
    }
  }
  vcpu.ClearImmediateExit();
}
BENCHMARK(BM_ImmediateExitRun)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_VcpuIoctl(benchmark::State& state) {
  auto g = BootPioBench(state, "cpl3");
  if (!g) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    benchmark::DoNotOptimize(KvmVcpu(*g).GetSregs());
  }
}
BENCHMARK(BM_VcpuIoctl)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace xv

BENCHMARK_MAIN();
