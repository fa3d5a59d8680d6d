// checkpoint_bench: what a verified checkpoint costs two real KVM replicas
// of a 256 MiB guest on one copy-on-write base (DESIGN §4-§5;
// benchmarks/README.md; RESULTS.md, "Issue 4"):
//
//   1. The pause of one verified checkpoint at 0.1 %, 1 % and 10 % of the
//      guest's pages dirty since the last one: SyncMemory of both replicas,
//      VerifyReplicas, PageMerger::MergeVerified (policy hot_epochs=0) and
//      CaptureCheckpoint of the first (the checkpoint that is retained),
//      each step timed. Three ways of dirtying the pages, identically in
//      both replicas:
//        vmm-rewrite  the VMM writes (GuestMemory::Write) scattered pages
//                     that already hold merged content in the base (a long
//                     running guest rewriting its memory);
//        vmm-fresh    the same on a freshly booted pair, pages the base has
//                     never held (first touch of memory);
//        guest        `memtouch` writes them at CPL3 (a fresh pair, run to
//                     the end; its kernel's own pages come on top).
//      1b. The merge's two steps by hand, per page: one call per run
//      (pwrite into the base, madvise per run and replica: PageMerger's
//      first version) and batched (memcpy into a shared mapping of the
//      base, process_madvise: what PageMerger does now).
//   2. The hot-page policy (MergePolicy::hot_epochs 0..3): each epoch the
//      VMM rewrites the same 1 % of pages and a different cold 1 %; per
//      epoch the pause, the pages merged and kept, and the memory of the
//      pair next to one replica doing the same. And, through the guest,
//      what a merged page costs on its next write: `memtouch` rerun (from
//      its boot state, restored in place) over pages just merged
//      (copy-on-write fault) vs pages kept private (only KVM's
//      dirty-logging write-protection fault).
//   3. Resident memory of two replicas of `memtouch` after merging, next to
//      one replica: Anonymous kB of each replica's guest mapping in
//      /proc/self/smaps (its private copies) plus the base memfd's
//      allocated bytes (MemoryBase::ResidentBytes, counted once) plus the
//      retained checkpoint's delta.
//
// Rounds are interleaved: each round runs every variant once, in an order
// that rotates from round to round, so the machine's noise hits all alike.
// Reported: median and p90 (linear interpolation between order statistics).
//
// Usage: checkpoint_bench [--rounds=N] [--epochs=N] [--cow_mib=N]
//                         [--parts=123] [--guest-dir=DIR] [--json]
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"
#include "benchmarks/bench_options.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/verify.h"
#include "devices/front_end.h"
#include "kvm/kvm_hypervisor.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"
#include "memshare/page_merger.h"
#include "nlohmann/json.hpp"
#include "tools/cpp/runfiles/runfiles.h"

namespace xv {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMachineBytes = 256 * kMiB;
constexpr uint64_t kMachinePages = kMachineBytes / kPageSize;
// VMM-written pages stay clear of the guest kernel and memtouch's buffer.
constexpr uint64_t kFirstVmmPage = 16 * kMiB / kPageSize;
// Virtual time per exit for ScriptedInputs, as the tests use.
constexpr uint64_t kStepNs = 1000;

struct Options {
  int rounds = 15;
  int epochs = 12;
  uint64_t cow_mib = 32;
  std::string guest_dir;
  // Which parts to run ("123": all; "1" for profiling the pause alone).
  std::string parts = "123";
  bool json = false;
};

// ---------------------------------------------------------------------------
// Helpers

// A benchmark cannot go on without its machines; report and stop.
void DieIfError(const absl::Status& status, std::string_view what) {
  if (status.ok()) return;
  std::fprintf(stderr, "checkpoint_bench: %.*s: %s\n",
               static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T ValueOrDie(absl::StatusOr<T> value, std::string_view what) {
  DieIfError(value.status(), what);
  return std::move(*value);
}

void Require(bool cond, const std::string& what) {
  if (cond) return;
  std::fprintf(stderr, "checkpoint_bench: %s\n", what.c_str());
  std::exit(1);
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Ms(double seconds) { return seconds * 1e3; }

// Linear interpolation between order statistics (q in [0, 1]).
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}
double Median(const std::vector<double>& v) { return Quantile(v, 0.5); }
double P90(const std::vector<double>& v) { return Quantile(v, 0.9); }

std::string DefaultGuestDir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string argv0 = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
  std::string error;
  std::unique_ptr<bazel::tools::cpp::runfiles::Runfiles> rf(
      bazel::tools::cpp::runfiles::Runfiles::Create(argv0, &error));
  if (rf == nullptr) return "guest";
  std::string path = rf->Rlocation("extravirt/guest/memtouch.elf");
  return path.substr(0, path.rfind('/'));
}

std::vector<uint8_t> ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Require(in.good(), "cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The kernel's accounting of the guest mappings, by start address.
struct Smaps {
  uint64_t anonymous_kb = 0;  // private copies (COW'd pages)
};

std::map<uint64_t, Smaps> ReadSmaps() {
  std::map<uint64_t, Smaps> out;
  std::ifstream in("/proc/self/smaps");
  std::string line;
  Smaps* current = nullptr;
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos &&
        line.find(':') > line.find('-')) {
      uint64_t start = 0;
      current = absl::SimpleHexAtoi(line.substr(0, line.find('-')), &start)
                    ? &out[start]
                    : nullptr;
      continue;
    }
    if (current == nullptr) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t kb = 0;
    if (f.size() < 2 || !absl::SimpleAtoi(f[1], &kb)) continue;
    if (f[0] == "Anonymous:") current->anonymous_kb = kb;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Replicas

class SerialCapture : public OutputSink {
 public:
  void Emit(const DeviceOutput& output) override {
    if (output.kind == OutputKind::kSerialTx) {
      text_.append(output.data.begin(), output.data.end());
    }
  }
  const std::string& text() const { return text_; }
  void Clear() { text_.clear(); }

 private:
  std::string text_;
};

struct Replica {
  SerialCapture serial;
  std::unique_ptr<Machine> machine;
  Machine& m() { return *machine; }
};

// Ends a run at the rendezvous after the guest's first serial byte: for
// memtouch, right after its write and read loops, before debug-exit.
class StopAtFirstOutput : public RunObserver {
 public:
  explicit StopAtFirstOutput(const SerialCapture* serial) : serial_(serial) {}
  bool StopHere(const Machine&) override { return !serial_->text().empty(); }

 private:
  const SerialCapture* serial_;
};

class Bench {
 public:
  Bench(const Options& options, std::unique_ptr<KvmHypervisor> kvm)
      : kvm_(std::move(kvm)),
        memtouch_(ReadFileOrDie(options.guest_dir + "/memtouch.elf")) {}

  // `shared`: guest memory is a view of a base, so replicas forked from it
  // can merge; otherwise standalone anonymous memory, as a plain run has.
  std::unique_ptr<Replica> Boot(const std::string& cmdline,
                                bool shared = true) {
    auto r = std::make_unique<Replica>();
    MachineConfig config;
    config.memory_bytes = kMachineBytes;
    config.platform.rtc_epoch_seconds = 1'700'000'000;
    if (shared) {
      config.memory_base =
          ValueOrDie(MemoryBase::Create(kMachineBytes), "creating a base");
    }
    r->machine = ValueOrDie(Machine::Create(*kvm_, config, &r->serial),
                            "creating a machine");
    ValueOrDie(
        r->machine->BootMultiboot(memtouch_, "memtouch", {.cmdline = cmdline}),
        "booting memtouch");
    return r;
  }

  // A second replica in the same state, on the same base.
  std::unique_ptr<Replica> Fork(Replica& from) {
    Checkpoint cp = ValueOrDie(CaptureCheckpoint(from.m()), "fork: capture");
    auto r = std::make_unique<Replica>();
    r->machine =
        ValueOrDie(RestoreCheckpoint(*kvm_, cp, &r->serial), "fork: restore");
    return r;
  }

 private:
  std::unique_ptr<KvmHypervisor> kvm_;
  std::vector<uint8_t> memtouch_;
};

RunResult RunTo(Replica& r, RunObserver* observer) {
  ScriptedInputs inputs(kStepNs);
  return ValueOrDie(
      RunMachine(r.m(), inputs, {.timeout_seconds = 300, .observer = observer}),
      "running the guest");
}

RunResult RunToEnd(Replica& r) {
  StopAtEsn never(UINT64_MAX);
  RunResult result = RunTo(r, &never);
  Require(result.reason == StopReason::kDebugExit,
          "memtouch did not end with debug-exit: " + result.message);
  return result;
}

MergeStats Merge(PageMerger& merger, Replica& a, Replica& b) {
  ReplicaPages pages[] = {
      {&a.m().memory(), &a.m().dirty()},
      {&b.m().memory(), &b.m().dirty()},
  };
  return ValueOrDie(merger.MergeVerified(pages), "merging");
}

void VerifyOrDie(Replica& a, Replica& b) {
  Verification v = ValueOrDie(VerifyReplicas(a.m(), b.m()), "verifying");
  Require(v.verified(), "replicas differ: " + v.Describe());
}

// A booted replica and its fork, verified and merged once so that they
// start on one base holding the kernel image.
struct Pair {
  std::unique_ptr<Replica> a, b;
  std::shared_ptr<MemoryBase> base() { return a->m().memory().base(); }
};

Pair StartPair(Bench& bench, const std::string& cmdline) {
  Pair p;
  p.a = bench.Boot(cmdline);
  p.b = bench.Fork(*p.a);
  VerifyOrDie(*p.a, *p.b);
  PageMerger once(p.base(), MergePolicy{.hot_epochs = 0});
  Merge(once, *p.a, *p.b);
  return p;
}

// Footprint in bytes: Anonymous of each replica's guest mapping plus the
// base's allocated pages (once, however many replicas map it) plus the
// page copies a retained checkpoint holds (its delta) plus the per-page
// digests (PageHashes: 16 B per guest page, one array per replica and one
// per retained checkpoint). Not counted: PageHashes' group digests (1/64
// of that), dirty bitmaps, KVM's own page tables, the process itself.
struct Footprint {
  uint64_t anonymous = 0;
  uint64_t base = 0;
  uint64_t delta = 0;
  uint64_t digests = 0;
  uint64_t total() const { return anonymous + base + delta + digests; }
};

Footprint FootprintOf(std::initializer_list<const Replica*> replicas,
                      const std::optional<Checkpoint>* retained = nullptr) {
  std::map<uint64_t, Smaps> smaps = ReadSmaps();
  Footprint f;
  for (const Replica* r : replicas) {
    uint64_t start =
        reinterpret_cast<uint64_t>(r->machine->memory().host_span().data());
    auto it = smaps.find(start);
    Require(it != smaps.end(), "guest mapping not in /proc/self/smaps");
    f.anonymous += it->second.anonymous_kb * 1024;
    f.digests += r->machine->page_hashes().pages() * sizeof(Hash128);
  }
  f.base =
      ValueOrDie((*replicas.begin())->machine->memory().base()->ResidentBytes(),
                 "base resident bytes");
  if (retained != nullptr && retained->has_value()) {
    f.delta = (*retained)->delta_data.size();
    f.digests += (*retained)->page_hashes->pages() * sizeof(Hash128);
  }
  return f;
}

// Identical content for both replicas; differs per `seed` and page.
void FillPage(uint64_t seed, uint64_t page, std::span<uint8_t> out) {
  uint64_t x = (seed * 0x9e3779b97f4a7c15ull) ^ (page << 20) ^ 0x5bd1e995;
  for (size_t i = 0; i < out.size(); i += 8) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x += i;
    std::memcpy(out.data() + i, &x, 8);
  }
}

void WritePages(std::initializer_list<Replica*> replicas,
                const std::vector<uint64_t>& pages, uint64_t seed) {
  std::vector<uint8_t> data(kPageSize);
  for (uint64_t p : pages) {
    FillPage(seed, p, data);
    for (Replica* r : replicas) {
      DieIfError(r->m().memory().Write(p * kPageSize, data), "VMM write");
    }
  }
}

// `count` pages spread evenly over [first, end), starting `offset` pages
// into each slot (offset < slot size), each in its own run.
std::vector<uint64_t> Scatter(uint64_t count, uint64_t first, uint64_t end,
                              uint64_t offset) {
  const uint64_t slot = (end - first) / count;
  Require(slot >= 2 && offset < slot, "cannot scatter that many pages");
  std::vector<uint64_t> pages;
  for (uint64_t i = 0; i < count; ++i) {
    pages.push_back(first + i * slot + offset);
  }
  return pages;
}

// ---------------------------------------------------------------------------
// The pause of one verified checkpoint

struct Pause {
  double sync_a = 0, sync_b = 0, verify = 0, merge = 0, capture = 0;
  double total = 0;
  uint64_t pages_compared = 0;
  MergeStats merged;
  uint64_t delta_pages = 0;
};

// Both replicas stopped at the same ESN: sync, verify, merge, capture A.
// The checkpoint is handed to `retained` (replacing, and so freeing, the
// previous one) after the clock stops.
Pause TimedPause(Replica& a, Replica& b, PageMerger& merger,
                 std::optional<Checkpoint>& retained) {
  Pause p;
  const double t0 = Now();
  DieIfError(a.m().SyncMemory(), "sync A");
  const double t1 = Now();
  DieIfError(b.m().SyncMemory(), "sync B");
  const double t2 = Now();
  absl::StatusOr<Verification> v = VerifyReplicas(a.m(), b.m());
  const double t3 = Now();
  DieIfError(v.status(), "verifying");
  Require(v->verified(), "replicas differ: " + v->Describe());
  p.merged = Merge(merger, a, b);
  const double t4 = Now();
  absl::StatusOr<Checkpoint> cp = CaptureCheckpoint(a.m());
  const double t5 = Now();
  DieIfError(cp.status(), "capture");
  p.sync_a = t1 - t0;
  p.sync_b = t2 - t1;
  p.verify = t3 - t2;
  p.merge = t4 - t3;
  p.capture = t5 - t4;
  p.total = t5 - t0;
  p.pages_compared = v->pages_compared;
  p.delta_pages = cp->delta_pages.size();
  retained = std::move(*cp);
  return p;
}

struct PauseSeries {
  std::vector<double> sync_a, sync_b, verify, merge, capture, total;
  std::vector<double> pages_compared, merged_pages, runs, hot_pages,
      delta_pages;
  void Add(const Pause& p) {
    sync_a.push_back(p.sync_a);
    sync_b.push_back(p.sync_b);
    verify.push_back(p.verify);
    merge.push_back(p.merge);
    capture.push_back(p.capture);
    total.push_back(p.total);
    pages_compared.push_back(static_cast<double>(p.pages_compared));
    merged_pages.push_back(static_cast<double>(p.merged.merged_pages));
    runs.push_back(static_cast<double>(p.merged.runs));
    hot_pages.push_back(static_cast<double>(p.merged.hot_pages));
    delta_pages.push_back(static_cast<double>(p.delta_pages));
  }
  Json ToJson() const {
    auto ms = [](const std::vector<double>& v) {
      std::vector<double> out;
      for (double s : v) out.push_back(Ms(s));
      return out;
    };
    return {{"total_ms", ms(total)},
            {"sync_a_ms", ms(sync_a)},
            {"sync_b_ms", ms(sync_b)},
            {"verify_ms", ms(verify)},
            {"merge_ms", ms(merge)},
            {"capture_ms", ms(capture)},
            {"pages_compared", pages_compared},
            {"merged_pages", merged_pages},
            {"merge_runs", runs},
            {"hot_pages", hot_pages},
            {"delta_pages", delta_pages}};
  }
};

// Part 1 -------------------------------------------------------------------

struct Fraction {
  const char* name;
  double fraction;
  // memtouch arguments dirtying about that many pages (stride >= 4096:
  // one page per `stride` bytes of a `mib` MiB buffer).
  uint64_t mib, stride;
};

constexpr Fraction kFractions[] = {
    {"0.1%", 0.001, 1, 16384},
    {"1%", 0.01, 5, 8192},
    {"10%", 0.1, 50, 8192},
};
constexpr const char* kPauseVariants[] = {"vmm-rewrite", "vmm-fresh", "guest"};
constexpr int kNumFractions = 3;
constexpr int kNumPauseVariants = 3;

uint64_t PagesOf(const Fraction& f) {
  return static_cast<uint64_t>(
      std::llround(f.fraction * static_cast<double>(kMachinePages)));
}

struct PauseResults {
  PauseSeries series[kNumPauseVariants][kNumFractions];
};

PauseResults MeasurePauses(Bench& bench, const Options& options) {
  PauseResults results;
  // vmm-rewrite: one long-lived pair; each fraction has its own fixed set
  // of scattered pages, merged once in a warm-up round, then rewritten
  // with new content every round.
  Pair pair = StartPair(bench, "mib=1 passes=1");
  PageMerger merger(pair.base(), MergePolicy{.hot_epochs = 0});
  std::optional<Checkpoint> retained;
  std::vector<uint64_t> sets[kNumFractions];
  for (int f = 0; f < kNumFractions; ++f) {
    sets[f] = Scatter(PagesOf(kFractions[f]), kFirstVmmPage, kMachinePages,
                      static_cast<uint64_t>(f));
  }
  uint64_t seed = 1;
  for (int f = 0; f < kNumFractions; ++f) {  // warm-up
    WritePages({pair.a.get(), pair.b.get()}, sets[f], seed++);
    TimedPause(*pair.a, *pair.b, merger, retained);
  }
  for (int round = 0; round < options.rounds; ++round) {
    if (!options.json) {
      std::fprintf(stderr, "\rpause: round %d/%d", round + 1, options.rounds);
    }
    for (int i = 0; i < kNumFractions * kNumPauseVariants; ++i) {
      const int k = (i + round) % (kNumFractions * kNumPauseVariants);
      const int f = k % kNumFractions;
      const int variant = k / kNumFractions;
      const Fraction& fr = kFractions[f];
      const uint64_t want = PagesOf(fr);
      Pause p;
      if (variant == 0) {
        WritePages({pair.a.get(), pair.b.get()}, sets[f], seed++);
        p = TimedPause(*pair.a, *pair.b, merger, retained);
        Require(p.pages_compared == want,
                absl::StrFormat("vmm-rewrite %s: %d pages dirty, want %d",
                                fr.name, p.pages_compared, want));
      } else if (variant == 1) {
        Pair fresh = StartPair(bench, "mib=1 passes=1");
        PageMerger fresh_merger(fresh.base(), MergePolicy{.hot_epochs = 0});
        std::optional<Checkpoint> fresh_retained;
        const uint64_t slot = (kMachinePages - kFirstVmmPage) / want;
        WritePages({fresh.a.get(), fresh.b.get()},
                   Scatter(want, kFirstVmmPage, kMachinePages,
                           static_cast<uint64_t>(round) % slot),
                   seed++);
        p = TimedPause(*fresh.a, *fresh.b, fresh_merger, fresh_retained);
        Require(p.pages_compared == want,
                absl::StrFormat("vmm-fresh %s: %d pages dirty, want %d",
                                fr.name, p.pages_compared, want));
      } else {
        Pair run = StartPair(bench, absl::StrFormat("mib=%d passes=1 stride=%d",
                                                    fr.mib, fr.stride));
        PageMerger run_merger(run.base(), MergePolicy{.hot_epochs = 0});
        std::optional<Checkpoint> run_retained;
        RunResult ra = RunToEnd(*run.a);
        RunResult rb = RunToEnd(*run.b);
        Require(ra.esn == rb.esn, "memtouch replicas ended at different ESNs");
        p = TimedPause(*run.a, *run.b, run_merger, run_retained);
      }
      results.series[variant][f].Add(p);
    }
  }
  if (!options.json) std::fprintf(stderr, "\n");
  return results;
}

// Part 1b: where a merge's time goes, and what batching would save -------

// The two steps of PageMerger::MergeVerified done by hand on a verified
// pair, per page: as the merger does them (one pwrite into the base and
// one madvise(MADV_DONTNEED) per replica per run) and batched (memcpy into
// a MAP_SHARED mapping of the base, one process_madvise per replica per
// 1024 runs). Only pages the base already holds (written and merged
// before), so the base's bookkeeping stays exact.
struct MergeStepResults {
  std::vector<double> pwrite, madvise_a, madvise_b;  // one call per run
  std::vector<double> memcpy_shared, batch_a, batch_b;
};

void DropBatched(Replica& r, std::span<const PageRun> runs, int pidfd) {
  uint8_t* const mem = r.m().memory().host_span().data();
  std::vector<iovec> iov;
  for (const PageRun& run : runs) {
    iov.push_back({mem + run.first * kPageSize, run.count * kPageSize});
  }
  for (size_t off = 0; off < iov.size(); off += 1024) {
    const size_t n = std::min<size_t>(1024, iov.size() - off);
    long done = ::syscall(SYS_process_madvise, pidfd, iov.data() + off, n,
                          MADV_DONTNEED, 0);
    Require(done >= 0, std::string("process_madvise: ") + std::strerror(errno));
  }
}

std::array<MergeStepResults, kNumFractions> MeasureMergeSteps(
    Bench& bench, const Options& options) {
  std::array<MergeStepResults, kNumFractions> out;
  Pair pair = StartPair(bench, "mib=1 passes=1");
  PageMerger merger(pair.base(), MergePolicy{.hot_epochs = 0});
  std::optional<Checkpoint> retained;
  ScopedMapping shared = ValueOrDie(
      ScopedMapping::Map(kMachineBytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                         pair.base()->fd(), 0, "shared view of the base"),
      "mapping the base");
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  Require(pidfd.valid(), "pidfd_open failed");
  std::vector<uint64_t> sets[kNumFractions];
  uint64_t seed = 5000;
  for (int f = 0; f < kNumFractions; ++f) {  // the base holds them after
    sets[f] = Scatter(PagesOf(kFractions[f]), kFirstVmmPage, kMachinePages,
                      static_cast<uint64_t>(f) + 3);
    WritePages({pair.a.get(), pair.b.get()}, sets[f], seed++);
    TimedPause(*pair.a, *pair.b, merger, retained);
  }
  for (int round = 0; round < options.rounds; ++round) {
    for (int i = 0; i < 2 * kNumFractions; ++i) {
      const int k = (i + round) % (2 * kNumFractions);
      const int f = k % kNumFractions;
      const bool batched = k / kNumFractions == 1;
      WritePages({pair.a.get(), pair.b.get()}, sets[f], seed++);
      DieIfError(pair.a->m().SyncMemory(), "sync A");
      DieIfError(pair.b->m().SyncMemory(), "sync B");
      VerifyOrDie(*pair.a, *pair.b);
      const std::vector<PageRun> runs =
          pair.a->m().dirty().since_epoch().Runs();
      const GuestMemory& source = pair.a->m().memory();
      const double t0 = Now();
      for (const PageRun& run : runs) {
        if (batched) {
          std::memcpy(shared.data() + run.first * kPageSize,
                      source.PageData(run.first), run.count * kPageSize);
        } else {
          DieIfError(
              pair.base()->WritePages(run.first, {source.PageData(run.first),
                                                  run.count * kPageSize}),
              "base write");
        }
      }
      const double t1 = Now();
      if (batched) {
        DropBatched(*pair.a, runs, pidfd.get());
      } else {
        DieIfError(pair.a->m().memory().DropPrivateCopies(runs), "drop A");
      }
      const double t2 = Now();
      if (batched) {
        DropBatched(*pair.b, runs, pidfd.get());
      } else {
        DieIfError(pair.b->m().memory().DropPrivateCopies(runs), "drop B");
      }
      const double t3 = Now();
      for (Replica* r : {pair.a.get(), pair.b.get()}) {
        r->m().dirty().Dropped(runs);
        r->m().dirty().StartEpoch();
      }
      // Both replicas read the verified content from the base now.
      for (Replica* r : {pair.a.get(), pair.b.get()}) {
        for (uint64_t p : sets[f]) {
          Require(!r->m().dirty().private_pages().Test(p) &&
                      HashPage(r->m().memory().PageData(p)) ==
                          r->m().page_hashes().page(p),
                  "a hand-made merge lost a page's content");
        }
      }
      const double n = static_cast<double>(PagesOf(kFractions[f]));
      MergeStepResults& m = out[f];
      (batched ? m.memcpy_shared : m.pwrite).push_back((t1 - t0) / n);
      (batched ? m.batch_a : m.madvise_a).push_back((t2 - t1) / n);
      (batched ? m.batch_b : m.madvise_b).push_back((t3 - t2) / n);
    }
  }
  return out;
}

// Part 2 -------------------------------------------------------------------

constexpr int kNumPolicies = 4;  // hot_epochs 0..3

struct PolicyResults {
  PauseSeries pauses;
  std::vector<double> write_seconds;  // VMM writes of both replicas
  std::vector<Footprint> footprints;  // after each epoch's merge
};

struct HotResults {
  uint64_t hot_pages = 0, cold_pages = 0;
  PolicyResults policies[kNumPolicies];
  std::vector<Footprint> single;  // one replica, same writes, no merging
};

HotResults MeasureHotPolicies(Bench& bench, const Options& options) {
  HotResults results;
  const uint64_t n = PagesOf(kFractions[1]);  // 1 %
  results.hot_pages = results.cold_pages = n;
  const uint64_t middle = kMachinePages / 2;
  const std::vector<uint64_t> hot = Scatter(n, kFirstVmmPage, middle, 0);
  const uint64_t cold_slot = (kMachinePages - middle) / n;
  Require(static_cast<uint64_t>(options.epochs) <= cold_slot,
          "too many epochs for distinct cold pages");
  Pair pairs[kNumPolicies];
  std::unique_ptr<PageMerger> mergers[kNumPolicies];
  std::optional<Checkpoint> retained[kNumPolicies];
  for (int h = 0; h < kNumPolicies; ++h) {
    pairs[h] = StartPair(bench, "mib=1 passes=1");
    mergers[h] = std::make_unique<PageMerger>(
        pairs[h].base(), MergePolicy{.hot_epochs = static_cast<uint32_t>(h)});
  }
  std::unique_ptr<Replica> single =
      bench.Boot("mib=1 passes=1", /*shared=*/false);
  for (int e = 0; e < options.epochs; ++e) {
    if (!options.json) {
      std::fprintf(stderr, "\rhot pages: epoch %d/%d", e + 1, options.epochs);
    }
    const std::vector<uint64_t> cold =
        Scatter(n, middle, kMachinePages, static_cast<uint64_t>(e));
    const uint64_t seed = 1000 + static_cast<uint64_t>(e);
    for (int i = 0; i < kNumPolicies; ++i) {
      const int h = (i + e) % kNumPolicies;
      Pair& p = pairs[h];
      const double t0 = Now();
      WritePages({p.a.get(), p.b.get()}, hot, seed);
      WritePages({p.a.get(), p.b.get()}, cold, seed);
      results.policies[h].write_seconds.push_back(Now() - t0);
      Pause pause = TimedPause(*p.a, *p.b, *mergers[h], retained[h]);
      Require(pause.pages_compared == 2 * n,
              absl::StrFormat("hot_epochs=%d: %d pages dirty, want %d", h,
                              pause.pages_compared, 2 * n));
      results.policies[h].pauses.Add(pause);
      results.policies[h].footprints.push_back(
          FootprintOf({p.a.get(), p.b.get()}, &retained[h]));
    }
    WritePages({single.get()}, hot, seed);
    WritePages({single.get()}, cold, seed);
    DieIfError(single->m().SyncMemory(), "sync single");
    results.single.push_back(FootprintOf({single.get()}));
  }
  if (!options.json) std::fprintf(stderr, "\n");
  return results;
}

// Puts `m` back into the state `cp` describes, in place: the same VM and
// mapping, so pages the guest wrote stay private and mapped in KVM (now
// write-protected for dirty logging), which RestoreCheckpoint's fresh
// machine would not give. Memory: every page the machine holds privately
// or the checkpoint's delta names gets the checkpoint's content.
void Rewind(Replica& r, const Checkpoint& cp) {
  Machine& m = r.m();
  DieIfError(m.SyncMemory(), "rewind: sync");
  DirtyBitmap pages = m.dirty().private_pages();
  std::map<uint64_t, size_t> delta;
  for (size_t i = 0; i < cp.delta_pages.size(); ++i) {
    delta[cp.delta_pages[i]] = i;
    pages.Set(cp.delta_pages[i]);
  }
  std::vector<uint8_t> data(kPageSize);
  pages.ForEach([&](uint64_t p) {
    if (auto it = delta.find(p); it != delta.end()) {
      std::memcpy(data.data(), cp.delta_data.data() + it->second * kPageSize,
                  kPageSize);
    } else {
      DieIfError(cp.base->Read(p * kPageSize, data), "rewind: base read");
    }
    DieIfError(m.memory().Write(p * kPageSize, data), "rewind: write");
  });
  std::vector<FrontEnd*> fes = m.platform().front_ends();
  Require(fes.size() == cp.front_ends.size(), "rewind: device count");
  for (size_t i = 0; i < fes.size(); ++i) {
    DieIfError(LoadFrontEnd(*fes[i], cp.front_ends[i].blob), "rewind: device");
  }
  m.platform().LoadClock(cp.clock_ns);
  DieIfError(m.cpu().RestoreState(cp.cpu), "rewind: vCPU");
  m.set_esn(cp.esn);
  Hash128 hash = ValueOrDie(m.StateHash(), "rewind: state hash");
  Require(hash == cp.state_hash, "rewind: state differs from the checkpoint");
}

struct CowResults {
  uint64_t pages = 0;
  // The first run of a fresh replica: its pages are holes in the base.
  std::vector<double> first_touch;
  std::vector<double> merged, kept_private;
  // The same run with mib=0: boot, allocation, print; no buffer pages.
  std::vector<double> no_buffer;
};

// One replica and its boot-state checkpoint, rerun to memtouch's first
// output (after its write and read loops) as often as needed.
class Rerunnable {
 public:
  Rerunnable(Bench& bench, const std::string& cmdline)
      : r_(bench.Boot(cmdline)),
        cp0_(ValueOrDie(CaptureCheckpoint(r_->m()), "cow: capture")),
        merger_(r_->m().memory().base(), MergePolicy{.hot_epochs = 0}) {}

  // Times one run from the boot state; the first one also fixes the ESN
  // every later one must end at.
  double TimedRun() {
    r_->serial.Clear();
    StopAtFirstOutput stop(&r_->serial);
    const double t0 = Now();
    RunResult result = RunTo(*r_, &stop);
    const double t = Now() - t0;
    Require(result.reason == StopReason::kStopPoint,
            "cow: memtouch stopped for another reason: " + result.message);
    Require(r_->serial.text().starts_with("m"),
            "cow: unexpected first output: " + r_->serial.text());
    if (end_esn_ == 0) end_esn_ = r_->m().esn();
    Require(r_->m().esn() == end_esn_, "cow: rerun ended at another ESN");
    return t;
  }

  // Back to the boot state; `merge`: then fold every private page into the
  // base and drop it (the next guest write to it is a COW fault).
  void Reset(bool merge) {
    Rewind(*r_, cp0_);
    if (merge) {
      ReplicaPages pages[] = {{&r_->m().memory(), &r_->m().dirty()}};
      ValueOrDie(merger_.MergeVerified(pages), "cow: merge");
    } else {
      r_->m().dirty().StartEpoch();
    }
  }

 private:
  std::unique_ptr<Replica> r_;
  const Checkpoint cp0_;
  PageMerger merger_;
  uint64_t end_esn_ = 0;
};

// memtouch's write pass over `cow_mib` MiB, rerun from its boot state
// (restored in place) in which its buffer pages were either just merged
// (dropped, so the next guest write is a copy-on-write fault) or kept
// private (the next write takes only KVM's dirty-logging write-protection
// fault). The difference per page is what merging a hot page costs the
// guest per replica. A mib=0 run gives the part that is not per page.
CowResults MeasureCow(Bench& bench, const Options& options) {
  CowResults results;
  results.pages = options.cow_mib * kMiB / kPageSize;
  const std::string cmdline =
      absl::StrFormat("mib=%d passes=1 stride=4096", options.cow_mib);
  Rerunnable buffer(bench, cmdline);
  Rerunnable empty(bench, "mib=0 passes=1");
  buffer.TimedRun();
  empty.TimedRun();
  for (int round = 0; round < options.rounds; ++round) {
    for (int i = 0; i < 4; ++i) {
      const int variant = (i + round) % 4;
      if (variant == 2) {
        empty.Reset(false);
        results.no_buffer.push_back(empty.TimedRun());
      } else if (variant == 3) {
        Rerunnable fresh(bench, cmdline);
        results.first_touch.push_back(fresh.TimedRun());
      } else {
        const bool merge = variant == 0;
        buffer.Reset(merge);
        (merge ? results.merged : results.kept_private)
            .push_back(buffer.TimedRun());
      }
    }
  }
  return results;
}

// Part 3 -------------------------------------------------------------------

struct ResidentResults {
  std::string cmdline;
  Footprint single, pair_before_merge, pair_after_merge;
  MergeStats merge;
  uint64_t pages_compared = 0;
};

ResidentResults MeasureResident(Bench& bench) {
  ResidentResults results;
  results.cmdline = "mib=64 passes=2";
  {
    std::unique_ptr<Replica> s = bench.Boot(results.cmdline, /*shared=*/false);
    RunToEnd(*s);
    DieIfError(s->m().SyncMemory(), "sync single");
    results.single = FootprintOf({s.get()});
  }
  Pair p = StartPair(bench, results.cmdline);
  RunResult ra = RunToEnd(*p.a);
  RunResult rb = RunToEnd(*p.b);
  Require(ra.esn == rb.esn && p.a->serial.text() == p.b->serial.text(),
          "memtouch replicas disagree");
  DieIfError(p.a->m().SyncMemory(), "sync A");
  DieIfError(p.b->m().SyncMemory(), "sync B");
  results.pair_before_merge = FootprintOf({p.a.get(), p.b.get()});
  Verification v = ValueOrDie(VerifyReplicas(p.a->m(), p.b->m()), "verify");
  Require(v.verified(), "replicas differ: " + v.Describe());
  results.pages_compared = v.pages_compared;
  PageMerger merger(p.base(), MergePolicy{.hot_epochs = 0});
  results.merge = Merge(merger, *p.a, *p.b);
  // The verified checkpoint that would be retained now.
  std::optional<Checkpoint> retained =
      ValueOrDie(CaptureCheckpoint(p.a->m()), "capture");
  results.pair_after_merge = FootprintOf({p.a.get(), p.b.get()}, &retained);
  return results;
}

// ---------------------------------------------------------------------------
// Report

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double MiB(uint64_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(kMiB);
}

// anon: Anonymous kB of the guest mappings; base: the memfd's allocated
// pages; delta: the retained checkpoint's page copies; digests: PageHashes
// arrays (replicas and checkpoint).
void PrintFootprints(const std::vector<std::pair<std::string, Footprint>>& rows,
                     const Footprint& one) {
  std::printf("  %-34s %8s %8s %8s %8s %8s | %6s %11s\n", "", "anon", "base",
              "delta", "digests", "total", "÷ one", "w/o digests");
  for (const auto& [what, f] : rows) {
    std::printf(
        "  %-34s %8.2f %8.2f %8.2f %8.2f %8.2f | %6.3f %11.3f\n", what.c_str(),
        MiB(f.anonymous), MiB(f.base), MiB(f.delta), MiB(f.digests),
        MiB(f.total()),
        static_cast<double>(f.total()) / static_cast<double>(one.total()),
        static_cast<double>(f.total() - f.digests) /
            static_cast<double>(one.total() - one.digests));
  }
}

void PrintPauses(const PauseResults& r, const Options& options) {
  std::printf(
      "\n1. Pause of one verified checkpoint, 256 MiB guest (%d pages), two "
      "replicas, merge policy hot_epochs=0; %d rounds, ms\n",
      static_cast<int>(kMachinePages), options.rounds);
  std::printf("  %-12s %-5s %7s | %8s %8s | %7s %7s %7s %7s %7s | %7s\n",
              "variant", "dirty", "pages", "median", "p90", "sync A", "sync B",
              "verify", "merge", "capture", "runs");
  for (int v = 0; v < kNumPauseVariants; ++v) {
    for (int f = 0; f < kNumFractions; ++f) {
      const PauseSeries& s = r.series[v][f];
      std::printf(
          "  %-12s %-5s %7.0f | %8.3f %8.3f | %7.3f %7.3f %7.3f %7.3f %7.3f | "
          "%7.0f\n",
          kPauseVariants[v], kFractions[f].name, Median(s.pages_compared),
          Ms(Median(s.total)), Ms(P90(s.total)), Ms(Median(s.sync_a)),
          Ms(Median(s.sync_b)), Ms(Median(s.verify)), Ms(Median(s.merge)),
          Ms(Median(s.capture)), Median(s.runs));
    }
  }
  std::printf("  (steps: medians of each step on its own)\n");
}

void PrintHot(const HotResults& r, const CowResults& cow,
              const Options& options) {
  std::printf(
      "\n2. Hot-page policy: each epoch the same %d hot pages (1%%) and %d "
      "new cold pages (1%%) rewritten by the VMM in both replicas; %d epochs\n",
      static_cast<int>(r.hot_pages), static_cast<int>(r.cold_pages),
      options.epochs);
  std::printf("  %-10s | %8s %8s | %7s %7s %7s %7s %7s | %7s %7s %7s | %8s\n",
              "hot_epochs", "pause", "p90", "sync A", "sync B", "verify",
              "merge", "capture", "merged", "kept", "delta", "writes");
  for (int h = 0; h < kNumPolicies; ++h) {
    const PolicyResults& p = r.policies[h];
    const PauseSeries& s = p.pauses;
    std::printf(
        "  %-10d | %8.3f %8.3f | %7.3f %7.3f %7.3f %7.3f %7.3f | %7.0f %7.0f "
        "%7.0f | %8.3f\n",
        h, Ms(Median(s.total)), Ms(P90(s.total)), Ms(Median(s.sync_a)),
        Ms(Median(s.sync_b)), Ms(Median(s.verify)), Ms(Median(s.merge)),
        Ms(Median(s.capture)), Median(s.merged_pages), Median(s.hot_pages),
        Median(s.delta_pages), Ms(Median(p.write_seconds)));
  }
  std::printf(
      "  (ms per epoch and pages per epoch, medians over the epochs; writes: "
      "the VMM's writes into both replicas before the pause)\n");
  const Footprint& single = r.single.back();
  std::printf(
      "\n   Memory after the last epoch, MiB, vs one replica doing the same "
      "writes\n");
  std::vector<std::pair<std::string, Footprint>> rows;
  for (int h = 0; h < kNumPolicies; ++h) {
    rows.emplace_back(absl::StrFormat("hot_epochs=%d", h),
                      r.policies[h].footprints.back());
  }
  rows.emplace_back("one replica", single);
  PrintFootprints(rows, single);
  const double merged = Median(cow.merged), kept = Median(cow.kept_private);
  const double fixed = Median(cow.no_buffer);
  const double pages = static_cast<double>(cow.pages);
  std::printf(
      "\n   Next guest write to a page: memtouch at CPL3 writing %d pages once "
      "(then reading them), run from its boot state; %d rounds\n",
      static_cast<int>(cow.pages), options.rounds);
  std::printf("  %-40s %10s %14s\n", "", "run (ms)", "(run-fixed)/page");
  std::printf("  %-40s %10.2f\n", "mib=0 (boot, print: the fixed part)",
              Ms(fixed));
  std::printf("  %-40s %10.2f %11.2f us\n", "first touch (base hole)",
              Ms(Median(cow.first_touch)),
              (Median(cow.first_touch) - fixed) * 1e6 / pages);
  std::printf("  %-40s %10.2f %11.2f us\n", "page just merged (COW fault)",
              Ms(merged), (merged - fixed) * 1e6 / pages);
  std::printf("  %-40s %10.2f %11.2f us\n",
              "page kept private (dirty-log fault)", Ms(kept),
              (kept - fixed) * 1e6 / pages);
  std::printf("  %-40s %10s %11.2f us\n", "merged - kept private", "",
              (merged - kept) * 1e6 / pages);
}

void PrintResident(const ResidentResults& r) {
  std::printf("\n3. Resident memory, memtouch %s on a 256 MiB machine, MiB\n",
              r.cmdline.c_str());
  PrintFootprints({{"one replica", r.single},
                   {"two replicas, before merging", r.pair_before_merge},
                   {"two replicas, verified and merged", r.pair_after_merge}},
                  r.single);
  std::printf("  (verified %d pages; merged %d pages in %d runs)\n",
              static_cast<int>(r.pages_compared),
              static_cast<int>(r.merge.merged_pages),
              static_cast<int>(r.merge.runs));
}

void PrintMergeSteps(const std::array<MergeStepResults, kNumFractions>& r,
                     const Options& options) {
  std::printf(
      "\n1b. The merge by hand on rewritten scattered pages, us per page "
      "(medians of %d rounds): one call per run (pwrite, madvise; PageMerger "
      "before 2026-11-22) vs "
      "batched (memcpy into a MAP_SHARED view of the base, process_madvise)\n",
      options.rounds);
  std::printf("  %-5s | %7s %8s %8s %8s | %7s %8s %8s %8s\n", "dirty", "pwrite",
              "madv A", "madv B", "ms", "memcpy", "batch A", "batch B", "ms");
  for (int f = 0; f < kNumFractions; ++f) {
    const MergeStepResults& m = r[f];
    const double n = static_cast<double>(PagesOf(kFractions[f]));
    const double now =
        Median(m.pwrite) + Median(m.madvise_a) + Median(m.madvise_b);
    const double batched =
        Median(m.memcpy_shared) + Median(m.batch_a) + Median(m.batch_b);
    std::printf(
        "  %-5s | %7.2f %8.2f %8.2f %8.3f | %7.2f %8.2f %8.2f %8.3f\n",
        kFractions[f].name, Median(m.pwrite) * 1e6, Median(m.madvise_a) * 1e6,
        Median(m.madvise_b) * 1e6, Ms(now * n), Median(m.memcpy_shared) * 1e6,
        Median(m.batch_a) * 1e6, Median(m.batch_b) * 1e6, Ms(batched * n));
  }
  std::printf("  (ms: the three steps' medians times the pages)\n");
}

Json MergeStepsJson(const std::array<MergeStepResults, kNumFractions>& r) {
  Json out = Json::array();
  auto us = [](const std::vector<double>& v) {
    std::vector<double> o;
    for (double s : v) o.push_back(s * 1e6);
    return o;
  };
  for (int f = 0; f < kNumFractions; ++f) {
    const MergeStepResults& m = r[f];
    out.push_back({{"dirty", kFractions[f].name},
                   {"pages", PagesOf(kFractions[f])},
                   {"pwrite_us_per_page", us(m.pwrite)},
                   {"madvise_a_us_per_page", us(m.madvise_a)},
                   {"madvise_b_us_per_page", us(m.madvise_b)},
                   {"memcpy_shared_us_per_page", us(m.memcpy_shared)},
                   {"process_madvise_a_us_per_page", us(m.batch_a)},
                   {"process_madvise_b_us_per_page", us(m.batch_b)}});
  }
  return out;
}

Json FootprintJson(const Footprint& f) {
  return {{"anonymous_bytes", f.anonymous},
          {"base_bytes", f.base},
          {"checkpoint_delta_bytes", f.delta},
          {"digest_bytes", f.digests},
          {"total_bytes", f.total()}};
}

Json PausesJson(const PauseResults& pauses) {
  Json p = Json::array();
  for (int v = 0; v < kNumPauseVariants; ++v) {
    for (int f = 0; f < kNumFractions; ++f) {
      const PauseSeries& s = pauses.series[v][f];
      Json row = s.ToJson();
      row["variant"] = kPauseVariants[v];
      row["dirty"] = kFractions[f].name;
      row["median_ms"] = Ms(Median(s.total));
      row["p90_ms"] = Ms(P90(s.total));
      p.push_back(row);
    }
  }
  return p;
}

Json HotJson(const Options& options, const HotResults& hot,
             const CowResults& cow) {
  Json h;
  h["hot_pages"] = hot.hot_pages;
  h["cold_pages"] = hot.cold_pages;
  h["epochs"] = options.epochs;
  for (int i = 0; i < kNumPolicies; ++i) {
    const PolicyResults& pr = hot.policies[i];
    Json row = pr.pauses.ToJson();
    row["hot_epochs"] = i;
    row["median_ms"] = Ms(Median(pr.pauses.total));
    row["p90_ms"] = Ms(P90(pr.pauses.total));
    std::vector<double> writes;
    for (double s : pr.write_seconds) writes.push_back(Ms(s));
    row["vmm_write_ms"] = writes;
    for (const Footprint& f : pr.footprints) {
      row["footprints"].push_back(FootprintJson(f));
    }
    h["policies"].push_back(row);
  }
  for (const Footprint& f : hot.single) {
    h["single_footprints"].push_back(FootprintJson(f));
  }
  Json& c = h["next_write"];
  c["pages"] = cow.pages;
  std::vector<double> first;
  for (double t : cow.first_touch) first.push_back(Ms(t));
  c["first_touch_ms"] = first;
  std::vector<double> merged, kept;
  for (double s : cow.merged) merged.push_back(Ms(s));
  for (double s : cow.kept_private) kept.push_back(Ms(s));
  c["merged_ms"] = merged;
  c["kept_private_ms"] = kept;
  std::vector<double> fixed;
  for (double t : cow.no_buffer) fixed.push_back(Ms(t));
  c["mib0_ms"] = fixed;
  c["merged_minus_kept_us_per_page"] =
      (Median(cow.merged) - Median(cow.kept_private)) * 1e6 /
      static_cast<double>(cow.pages);
  return h;
}

Json ResidentJson(const ResidentResults& resident) {
  Json r;
  r["cmdline"] = resident.cmdline;
  r["single"] = FootprintJson(resident.single);
  r["pair_before_merge"] = FootprintJson(resident.pair_before_merge);
  r["pair_after_merge"] = FootprintJson(resident.pair_after_merge);
  r["ratio_after_merge"] =
      static_cast<double>(resident.pair_after_merge.total()) /
      static_cast<double>(resident.single.total());
  r["ratio_before_merge"] =
      static_cast<double>(resident.pair_before_merge.total()) /
      static_cast<double>(resident.single.total());
  r["ratio_after_merge_without_digests"] =
      static_cast<double>(resident.pair_after_merge.total() -
                          resident.pair_after_merge.digests) /
      static_cast<double>(resident.single.total() - resident.single.digests);
  r["pages_compared"] = resident.pages_compared;
  r["merged_pages"] = resident.merge.merged_pages;
  return r;
}

bool ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    uint64_t n = 0;
    if (arg == "--json") {
      options.json = true;
    } else if (arg.starts_with("--rounds=") && ParseCount(arg.substr(9), n) &&
               n < 1000) {
      options.rounds = static_cast<int>(n);
    } else if (arg.starts_with("--epochs=") && ParseCount(arg.substr(9), n) &&
               n < 40) {
      options.epochs = static_cast<int>(n);
    } else if (arg.starts_with("--cow_mib=") && ParseCount(arg.substr(10), n) &&
               n <= 128) {
      options.cow_mib = n;
    } else if (arg.starts_with("--parts=") && arg.size() > 8 &&
               arg.substr(8).find_first_not_of("123") ==
                   std::string_view::npos) {
      options.parts = std::string(arg.substr(8));
    } else if (arg.starts_with("--guest-dir=") && arg.size() > 12) {
      options.guest_dir = std::string(arg.substr(12));
    } else {
      std::fprintf(stderr,
                   "usage: checkpoint_bench [--rounds=N] [--epochs=N] "
                   "[--cow_mib=N] [--parts=123] [--guest-dir=DIR] "
                   "[--json]\n");
      return false;
    }
  }
  if (options.guest_dir.empty()) options.guest_dir = DefaultGuestDir();
  return true;
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, options)) return 2;
  Bench bench(options, ValueOrDie(KvmHypervisor::Open(), "opening KVM"));
  const std::string load_before = LoadAverage();
  auto wanted = [&](char part) {
    return options.parts.find(part) != std::string::npos;
  };
  std::optional<ResidentResults> resident;
  std::optional<PauseResults> pauses;
  std::optional<std::array<MergeStepResults, kNumFractions>> merge_steps;
  std::optional<HotResults> hot;
  std::optional<CowResults> cow;
  if (wanted('3')) resident = MeasureResident(bench);
  if (wanted('1')) {
    pauses = MeasurePauses(bench, options);
    merge_steps = MeasureMergeSteps(bench, options);
  }
  if (wanted('2')) {
    hot = MeasureHotPolicies(bench, options);
    cow = MeasureCow(bench, options);
  }
  if (options.json) {
    Json out;
    out["rounds"] = options.rounds;
    out["machine_bytes"] = kMachineBytes;
    out["loadavg_before"] = load_before;
    out["loadavg_after"] = LoadAverage();
    if (pauses) out["pause"] = PausesJson(*pauses);
    if (merge_steps) out["merge_steps"] = MergeStepsJson(*merge_steps);
    if (hot) out["hot_policy"] = HotJson(options, *hot, *cow);
    if (resident) out["resident"] = ResidentJson(*resident);
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  std::printf(
      "checkpoint_bench: real KVM replicas; medians and p90 (linear "
      "interpolation) of interleaved rounds; load average %s before, %s "
      "after\n",
      load_before.c_str(), LoadAverage().c_str());
  if (pauses) PrintPauses(*pauses, options);
  if (merge_steps) PrintMergeSteps(*merge_steps, options);
  if (hot) PrintHot(*hot, *cow, options);
  if (resident) PrintResident(*resident);
  return 0;
}

}  // namespace
}  // namespace xv

int main(int argc, char** argv) { return xv::Main(argc, argv); }
