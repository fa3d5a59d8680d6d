// replica_bench: what replication costs a whole run (issue 5, "Done when";
// benchmarks/README.md; RESULTS.md, "Issue 5: replication cost"). For each
// guest it runs `xvirt run GUEST --json` (plain) and `xvirt replicate GUEST
// --json` at several checkpoint intervals, as child processes, in
// interleaved rounds (each round runs every variant once, in an order that
// rotates from round to round), and reports medians over the rounds:
//
//   * wall time: the child's, fork to exit, and the run's own
//     (`wall_seconds` in its JSON: the guest's run, without start-up);
//     normalized performance = replicated ÷ plain;
//   * output latency the gate adds (`output_latency_us` of `replicate`:
//     median and p99 per run; the median over rounds of each);
//   * resident memory, three ways, and the memfd base (see RESULTS.md):
//       pss    the peak of Pss in /proc/PID/smaps_rollup, sampled every
//              --pss-ms while the child runs: each page counted once,
//              however many mappings of it the process has (a replicated
//              run maps its memory base once per replica plus the merger's
//              view). Reading it walks the child's page tables under its
//              mmap lock (~4 ms for two 200 MiB replicas), hence rarely;
//       rss    the peak of VmRSS = RssAnon + RssFile + RssShmem in
//              /proc/PID/status, sampled every --sample-ms: a page of the
//              shared base counts once per mapping;
//       maxrss ru_maxrss from wait4 (the kernel's own peak of that RSS).
//     A replicated run's guest memory is a memfd base, of which those count
//     only the pages some mapping maps:
//       base   the peak of the bytes allocated to the child's memfds (every
//              fd whose /proc/PID/fd link starts with "/memfd:", stat()ed:
//              st_blocks * 512), sampled every --sample-ms. shmem can hold
//              pages of the base that no process maps (a page allocated by
//              a read or first write through a replica's MAP_PRIVATE view,
//              then copied), which appear in neither Pss nor RSS;
//       pss+base  the peak of Pss - Pss_Shmem + base, each term read in the
//              same sample (every --pss-ms): the child's own pages plus
//              every allocated page of its memfds, mapped or not. Exact if
//              the memfds are the child's only shmem (xvirt has no other)
//              and no other process maps them (they are MFD_CLOEXEC);
//              never more than Pss + base.
//   * other: the CPU time the rest of the machine used while each run went
//     on (/proc/stat busy time minus the child's and this process's), in
//     cores. Two replicas need both cores of a 2-CPU machine, so another
//     busy process slows a replicated run far more than a plain one: read
//     ratios only where this is near 0.
//
// Guests: compute (CPU-bound, a tiny working set; --compute-mib), memtouch
// (rewrites --memtouch-mib MiB --memtouch-passes times: the memory case),
// kvstore fed guest/testdata/kvstore.in (17 commands: start-up dominates),
// kvstore_long fed a generated session (--kv-commands; COM1-bound), disk
// writing and verifying --disk-sectors sectors at three places of a fresh
// 8 MiB image (ATA PIO-bound).
//
// Usage: replica_bench [--reps N] [--intervals 100,1000,20000]
//          [--checkpoint-ms 50,200] [--guests compute,memtouch,...]
//          [--compute-mib N] [--memtouch-mib N] [--memtouch-passes N]
//          [--kv-commands N] [--disk-sectors N] [--sample-ms N]
//          [--pss-ms N] [--xvirt PATH] [--work DIR] [--json]
// Through Bazel (builds xvirt and the guests):
//   ./bazelw run //benchmarks:replica_bench -- --reps 5
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/percentile.h"
#include "benchmarks/bench_options.h"
#include "nlohmann/json.hpp"
#include "tools/cpp/runfiles/runfiles.h"

namespace xv {
namespace {

using Json = nlohmann::ordered_json;

struct Options {
  uint64_t reps = 5;
  std::vector<uint64_t> intervals = {100, 1000, 20000};
  std::vector<uint64_t> checkpoint_ms = {50, 200};
  std::vector<std::string> guests = {"compute", "memtouch", "kvstore",
                                     "kvstore_long", "disk"};
  uint64_t compute_mib = 256;
  uint64_t memtouch_mib = 200;
  uint64_t memtouch_passes = 20;
  uint64_t kv_commands = 1000;
  uint64_t disk_sectors = 64;
  uint64_t sample_ms = 20;
  // smaps_rollup walks every page table of the child (~4 ms for two
  // 200 MiB replicas, under its mmap lock): read it less often.
  uint64_t pss_ms = 200;
  std::string xvirt;
  std::string kv_input;  // guest/testdata/kvstore.in
  std::string work = "/tmp/replica_bench";
  bool json = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "replica_bench: %s\n", what.c_str());
  std::exit(1);
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---------------------------------------------------------------------------
// One child process, timed and sampled

struct MemorySample {
  uint64_t pss_kb = 0;  // smaps_rollup Pss
  uint64_t rss_kb = 0;  // status VmRSS
  uint64_t anon_kb = 0, file_kb = 0, shmem_kb = 0;
  uint64_t hwm_kb = 0;        // status VmHWM
  uint64_t memfd_kb = 0;      // allocated to the child's memfds
  uint64_t footprint_kb = 0;  // Pss - Pss_Shmem + memfd_kb, one sample
};

// The "Key:   N kB" fields of a /proc file.
std::map<std::string, uint64_t> ReadKbFields(const std::string& path) {
  std::map<std::string, uint64_t> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream value(line.substr(colon + 1));
    uint64_t kb = 0;
    if (value >> kb) out[line.substr(0, colon)] = kb;
  }
  return out;
}

// Bytes allocated to the memfds process `proc` (/proc/PID) has open, in
// KiB: each fd whose link names "/memfd:...", stat()ed through the link.
// Each memfd is counted once, however many fds refer to it.
uint64_t MemfdAllocatedKb(const std::string& proc) {
  // readdir, not std::filesystem: the child may exit while this reads.
  DIR* dir = opendir((proc + "/fd").c_str());
  if (dir == nullptr) return 0;
  std::map<ino_t, uint64_t> bytes;  // by inode
  while (const dirent* entry = readdir(dir)) {
    const std::string path = proc + "/fd/" + entry->d_name;
    char link[256];
    const ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
    if (n <= 0) continue;  // "." and "..", or closed meanwhile
    link[n] = 0;
    if (std::strncmp(link, "/memfd:", 7) != 0) continue;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    bytes[st.st_ino] = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  closedir(dir);
  uint64_t total = 0;
  for (const auto& [inode, b] : bytes) total += b;
  return total / 1024;
}

// CPU time the whole machine has spent busy since boot (all CPUs: user,
// nice, system, irq, softirq, steal), from /proc/stat.
double BusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0,
           softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >>
      steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

double CpuSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

struct ChildRun {
  int exit_status = -1;
  double wall_seconds = 0;  // fork to exit
  uint64_t maxrss_kb = 0;   // wait4's ru_maxrss
  MemorySample peak;        // of each field separately, after the exec
  int samples = 0;          // of /proc/PID/status
  int pss_samples = 0;      // of /proc/PID/smaps_rollup
  // CPU time other processes took while the child ran, in cores (0: the
  // machine was otherwise idle; 1: another process kept a core busy).
  double foreign_cores = 0;
  std::string out;
  std::string err;
};

ChildRun RunChild(const std::vector<std::string>& argv,
                  const std::string& stdin_path, const Options& options) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.data()));
  args.push_back(nullptr);
  const std::string out_path = options.work + "/child.out";
  const std::string err_path = options.work + "/child.err";
  ChildRun run;
  // The child's name once it runs xvirt (comm: the first 15 bytes).
  const std::string comm =
      std::filesystem::path(argv[0]).filename().string().substr(0, 15);
  rusage self_before{};
  getrusage(RUSAGE_SELF, &self_before);
  const double busy_before = BusyCpuSeconds();
  const double start = Now();
  const pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const int in = open(stdin_path.c_str(), O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  // Sample memory until the child has exited (it stays a zombie, /proc/PID
  // still naming it, until wait4 below).
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    const std::string proc = "/proc/" + std::to_string(pid);
    double last_pss = 0;
    bool exec_seen = false;
    while (!done.load()) {
      // Before the exec the child is a copy of this process: not counted.
      if (!exec_seen) {
        std::string name = ReadFile(proc + "/comm");
        if (!name.empty() && name.back() == '\n') name.pop_back();
        exec_seen = name == comm;
      }
      std::map<std::string, uint64_t> status, rollup;
      uint64_t memfd_kb = 0;
      if (exec_seen) {
        status = ReadKbFields(proc + "/status");
        memfd_kb = MemfdAllocatedKb(proc);
        // The first sample after the exec, then every pss_ms.
        if (last_pss == 0 || Now() - last_pss >= options.pss_ms / 1000.0) {
          rollup = ReadKbFields(proc + "/smaps_rollup");
          last_pss = Now();
        }
      }
      if (rollup.count("Pss")) {
        run.peak.pss_kb = std::max(run.peak.pss_kb, rollup["Pss"]);
        const uint64_t own =
            rollup["Pss"] - std::min(rollup["Pss"], rollup["Pss_Shmem"]);
        run.peak.footprint_kb = std::max(run.peak.footprint_kb, own + memfd_kb);
        ++run.pss_samples;
      }
      if (status.count("VmRSS")) {
        MemorySample& p = run.peak;
        p.rss_kb = std::max(p.rss_kb, status["VmRSS"]);
        p.anon_kb = std::max(p.anon_kb, status["RssAnon"]);
        p.file_kb = std::max(p.file_kb, status["RssFile"]);
        p.shmem_kb = std::max(p.shmem_kb, status["RssShmem"]);
        p.hwm_kb = std::max(p.hwm_kb, status["VmHWM"]);
        p.memfd_kb = std::max(p.memfd_kb, memfd_kb);
        ++run.samples;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options.sample_ms));
    }
  });
  siginfo_t info{};
  while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) Die("waitid failed");
  }
  run.wall_seconds = Now() - start;
  const double busy_after = BusyCpuSeconds();
  done.store(true);
  sampler.join();
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) Die("wait4 failed");
  run.maxrss_kb = static_cast<uint64_t>(usage.ru_maxrss);
  rusage self_after{};
  getrusage(RUSAGE_SELF, &self_after);
  const double others = busy_after - busy_before - CpuSeconds(usage) -
                        (CpuSeconds(self_after) - CpuSeconds(self_before));
  run.foreign_cores = std::max(0.0, others / run.wall_seconds);
  run.exit_status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadFile(out_path);
  run.err = ReadFile(err_path);
  return run;
}

// ---------------------------------------------------------------------------
// Workloads and variants

struct Guest {
  std::string name;
  std::vector<std::string> args;  // after `xvirt run|replicate`
  std::string stdin_path = "/dev/null";
  std::string disk;  // recreated before every run
};

// A deterministic kvstore session: SET/GET/DEL/COUNT over 200 keys.
std::string KvSession(uint64_t commands) {
  std::string s;
  uint64_t x = 1;
  auto next = [&x](uint64_t n) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return (x >> 33) % n;
  };
  for (uint64_t i = 0; i < commands; ++i) {
    const std::string key = "k" + std::to_string(next(200));
    switch (next(4)) {
      case 0:
        s += "SET " + key + " " + std::to_string(next(1000000)) + "\n";
        break;
      case 1:
        s += "GET " + key + "\n";
        break;
      case 2:
        s += "DEL " + key + "\n";
        break;
      default:
        s += "COUNT\n";
    }
  }
  return s + "QUIT\n";
}

Guest MakeGuest(const std::string& name, const Options& o) {
  Guest g{.name = name, .args = {}, .stdin_path = "/dev/null", .disk = ""};
  if (name == "compute") {
    g.args = {"compute", "--cmdline", "mib=" + std::to_string(o.compute_mib),
              "--mem", std::to_string(o.compute_mib + 64)};
  } else if (name == "memtouch") {
    g.args = {"memtouch", "--cmdline",
              "mib=" + std::to_string(o.memtouch_mib) +
                  " passes=" + std::to_string(o.memtouch_passes),
              "--mem", std::to_string(o.memtouch_mib + 56)};
  } else if (name == "kvstore") {
    g.args = {"kvstore", "--stdin", o.kv_input};
  } else if (name == "kvstore_long") {
    const std::string path = o.work + "/kv_long.in";
    std::ofstream(path) << KvSession(o.kv_commands);
    g.args = {"kvstore", "--stdin", path};
  } else if (name == "disk") {
    g.disk = o.work + "/disk.img";
    g.args = {"disk", "--disk", g.disk, "--cmdline",
              "sectors=" + std::to_string(o.disk_sectors)};
  } else {
    Die("unknown guest '" + name +
        "' (compute, memtouch, kvstore, kvstore_long, disk)");
  }
  return g;
}

struct Variant {
  std::string name;                // "plain", "every=100", "ms=50"
  std::vector<std::string> extra;  // replicate options; empty for plain
  bool replicated = false;
};

std::vector<Variant> MakeVariants(const Options& o, bool have_checkpoint_ms) {
  std::vector<Variant> v = {{"plain", {}, false}};
  for (uint64_t n : o.intervals) {
    v.push_back({"every=" + std::to_string(n),
                 {"--checkpoint-every", std::to_string(n)},
                 true});
  }
  if (have_checkpoint_ms) {
    for (uint64_t ms : o.checkpoint_ms) {
      // Time-based only: no count-based checkpoints next to them.
      v.push_back(
          {"ms=" + std::to_string(ms),
           {"--checkpoint-every", "0", "--checkpoint-ms", std::to_string(ms)},
           true});
    }
  }
  return v;
}

// One measurement of one variant.
struct Sample {
  double child_wall = 0;
  double run_wall = 0;
  std::optional<double> pss_mib;  // none when no sample came after the exec
  std::optional<double> footprint_mib;  // Pss - Pss_Shmem + base, likewise
  double base_mib = 0;                  // peak allocated to the memfds
  double rss_mib = 0, shmem_mib = 0, anon_mib = 0, maxrss_mib = 0;
  double foreign_cores = 0;
  int pss_samples = 0;
  std::optional<double> latency_median_us, latency_p99_us;
  uint64_t checkpoints = 0;
  uint64_t esn = 0;
  int memory_samples = 0;
};

Sample Measure(const Options& o, const Guest& g, const Variant& v) {
  if (!g.disk.empty()) {  // a fresh 8 MiB image of zeros
    std::filesystem::remove(g.disk);
    std::ofstream(g.disk).close();
    std::filesystem::resize_file(g.disk, 8u << 20);
  }
  std::vector<std::string> argv = {o.xvirt, v.replicated ? "replicate" : "run"};
  argv.insert(argv.end(), g.args.begin(), g.args.end());
  argv.insert(argv.end(), v.extra.begin(), v.extra.end());
  argv.push_back("--json");
  ChildRun c = RunChild(argv, g.stdin_path, o);
  std::string command;
  for (size_t i = 1; i < argv.size(); ++i) command += " " + argv[i];
  if (c.exit_status != 0) {
    Die("xvirt" + command + " exited " + std::to_string(c.exit_status) + ": " +
        c.err.substr(0, 2000));
  }
  Json j = Json::parse(c.out, nullptr, false);
  if (j.is_discarded() || !j.contains("wall_seconds")) {
    Die("xvirt" + command + ": no JSON report: " + c.out);
  }
  if (v.replicated && !j["divergences"].empty()) {
    Die("xvirt" + command + ": the replicas diverged: " + c.out);
  }
  Sample s;
  s.child_wall = c.wall_seconds;
  s.run_wall = j["wall_seconds"].get<double>();
  if (c.pss_samples > 0) {
    s.pss_mib = c.peak.pss_kb / 1024.0;
    s.footprint_mib = c.peak.footprint_kb / 1024.0;
  }
  s.base_mib = c.peak.memfd_kb / 1024.0;
  s.pss_samples = c.pss_samples;
  s.foreign_cores = c.foreign_cores;
  s.rss_mib = c.peak.rss_kb / 1024.0;
  s.shmem_mib = c.peak.shmem_kb / 1024.0;
  s.anon_mib = c.peak.anon_kb / 1024.0;
  s.maxrss_mib = c.maxrss_kb / 1024.0;
  s.memory_samples = c.samples;
  s.esn = j.value("esn", uint64_t{0});
  if (v.replicated) {
    s.checkpoints = j.value("checkpoints_verified", uint64_t{0});
    const Json& lat = j["output_latency_us"];
    if (lat.is_object() && lat["median"].is_number()) {
      s.latency_median_us = lat["median"].get<double>();
      s.latency_p99_us = lat["p99"].get<double>();
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// Summary

double Median(const std::vector<double>& v) {
  return NearestRank(v, 50).value_or(0);
}

template <typename F>
std::vector<double> Column(const std::vector<Sample>& samples, F f) {
  std::vector<double> out;
  for (const Sample& s : samples) {
    if (std::optional<double> x = f(s)) out.push_back(*x);
  }
  return out;
}

struct Summary {
  double child_wall, run_wall, rss, shmem, anon, maxrss, base, checkpoints, esn;
  // Median, and the most, of the other processes' CPU use during a run.
  double foreign_cores, foreign_cores_max;
  std::optional<double> pss, footprint, lat_median, lat_p99;
};

Summary Summarize(const std::vector<Sample>& s) {
  auto med = [&](auto f) {
    return Median(Column(
        s, [&](const Sample& x) { return std::optional<double>(f(x)); }));
  };
  Summary m{};
  m.child_wall = med([](const Sample& x) { return x.child_wall; });
  m.run_wall = med([](const Sample& x) { return x.run_wall; });
  m.rss = med([](const Sample& x) { return x.rss_mib; });
  m.shmem = med([](const Sample& x) { return x.shmem_mib; });
  m.anon = med([](const Sample& x) { return x.anon_mib; });
  m.maxrss = med([](const Sample& x) { return x.maxrss_mib; });
  m.base = med([](const Sample& x) { return x.base_mib; });
  m.checkpoints =
      med([](const Sample& x) { return static_cast<double>(x.checkpoints); });
  m.esn = med([](const Sample& x) { return static_cast<double>(x.esn); });
  m.foreign_cores = med([](const Sample& x) { return x.foreign_cores; });
  m.foreign_cores_max = 0;
  for (const Sample& x : s) {
    m.foreign_cores_max = std::max(m.foreign_cores_max, x.foreign_cores);
  }
  auto pss = Column(s, [](const Sample& x) { return x.pss_mib; });
  if (!pss.empty()) m.pss = Median(pss);
  auto footprint = Column(s, [](const Sample& x) { return x.footprint_mib; });
  if (!footprint.empty()) m.footprint = Median(footprint);
  auto lm = Column(s, [](const Sample& x) { return x.latency_median_us; });
  auto lp = Column(s, [](const Sample& x) { return x.latency_p99_us; });
  if (!lm.empty()) m.lat_median = Median(lm);
  if (!lp.empty()) m.lat_p99 = Median(lp);
  return m;
}

std::vector<uint64_t> ParseList(std::string_view text, const char* flag) {
  std::vector<uint64_t> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    uint64_t n = 0;
    if (!ParseCount(text.substr(start, comma - start), n)) {
      Die(std::string("bad ") + flag + ": '" + std::string(text) + "'");
    }
    out.push_back(n);
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--json" && a != "--help" && i + 1 < argc) {
      value = argv[++i];
    }
    auto count = [&](uint64_t& n) {
      if (ParseCount(value, n)) return;
      std::string message = "bad " + a;
      message.append(": '").append(value).append("'");
      Die(message);
    };
    if (a == "--reps") {
      count(o.reps);
    } else if (a == "--intervals") {
      o.intervals = ParseList(value, "--intervals");
    } else if (a == "--checkpoint-ms") {
      o.checkpoint_ms = ParseList(value, "--checkpoint-ms");
    } else if (a == "--guests") {
      o.guests = SplitNames(value);
    } else if (a == "--compute-mib") {
      count(o.compute_mib);
    } else if (a == "--memtouch-mib") {
      count(o.memtouch_mib);
    } else if (a == "--memtouch-passes") {
      count(o.memtouch_passes);
    } else if (a == "--pss-ms") {
      count(o.pss_ms);
    } else if (a == "--kv-commands") {
      count(o.kv_commands);
    } else if (a == "--disk-sectors") {
      count(o.disk_sectors);
    } else if (a == "--sample-ms") {
      count(o.sample_ms);
    } else if (a == "--xvirt") {
      o.xvirt = value;
    } else if (a == "--work") {
      o.work = value;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--help") {
      std::printf(
          "usage: replica_bench [--reps N] [--intervals 100,1000,20000]\n"
          "  [--checkpoint-ms 50,200]\n"
          "  [--guests compute,memtouch,kvstore,kvstore_long,disk]\n"
          "  [--compute-mib N] [--memtouch-mib N] [--memtouch-passes N]\n"
          "  [--kv-commands N] [--disk-sectors N] [--sample-ms N]\n"
          "  [--pss-ms N] [--xvirt PATH] [--work DIR] [--json]\n");
      std::exit(0);
    } else {
      Die("unknown option " + a + " (see --help)");
    }
  }
  return o;
}

void FindFiles(Options& o, const char* argv0) {
  std::string error;
  std::unique_ptr<bazel::tools::cpp::runfiles::Runfiles> rf(
      bazel::tools::cpp::runfiles::Runfiles::Create(argv0, &error));
  if (o.xvirt.empty() && rf) o.xvirt = rf->Rlocation("extravirt/cli/xvirt");
  if (rf) o.kv_input = rf->Rlocation("extravirt/guest/testdata/kvstore.in");
  if (o.xvirt.empty() || access(o.xvirt.c_str(), X_OK) != 0) {
    Die("xvirt not found (--xvirt PATH, or run through bazel run)");
  }
  if (o.kv_input.empty() || access(o.kv_input.c_str(), R_OK) != 0) {
    Die("guest/testdata/kvstore.in not found (run through bazel run)");
  }
}

std::string Opt(const std::optional<double>& v, const char* format) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

int Main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  FindFiles(o, argv[0]);
  std::filesystem::create_directories(o.work);
  // Does this xvirt's `replicate` take --checkpoint-ms?
  ChildRun help = RunChild({o.xvirt, "replicate", "--help"}, "/dev/null", o);
  const bool have_ms = help.out.find("--checkpoint-ms") != std::string::npos;
  if (!have_ms && !o.checkpoint_ms.empty()) {
    std::fprintf(stderr,
                 "replica_bench: this xvirt's replicate has no "
                 "--checkpoint-ms; measuring by exit count only\n");
  }
  const std::vector<Variant> variants = MakeVariants(o, have_ms);
  std::vector<Guest> guests;
  for (const std::string& name : o.guests) guests.push_back(MakeGuest(name, o));

  // samples[guest][variant]
  std::vector<std::vector<std::vector<Sample>>> samples(
      guests.size(), std::vector<std::vector<Sample>>(variants.size()));
  const size_t per_round = guests.size() * variants.size();
  for (uint64_t round = 0; round < o.reps; ++round) {
    for (size_t i = 0; i < per_round; ++i) {
      const size_t k = (i + round) % per_round;
      const size_t g = k / variants.size();
      const size_t v = k % variants.size();
      std::fprintf(stderr, "\rreplica_bench: round %llu/%llu, run %zu/%zu  ",
                   static_cast<unsigned long long>(round) + 1,
                   static_cast<unsigned long long>(o.reps), i + 1, per_round);
      samples[g][v].push_back(Measure(o, guests[g], variants[v]));
    }
  }
  std::fprintf(stderr, "\n");

  Json out = Json::object();
  out["reps"] = o.reps;
  out["sample_ms"] = o.sample_ms;
  out["pss_ms"] = o.pss_ms;
  if (!o.json) {
    std::printf(
        "medians of %llu interleaved rounds; ratio = replicated / plain; "
        "other = CPU other processes used during the runs (cores, median / "
        "most)\n",
        static_cast<unsigned long long>(o.reps));
    std::printf(
        "%-13s %-11s %7s %6s %7s %6s %5s %7s %6s %7s %6s %7s %6s %7s %8s "
        "%6s %10s %10s %9s\n",
        "guest", "variant", "wall s", "ratio", "run s", "ratio", "ckpts",
        "PSS MiB", "ratio", "RSS MiB", "ratio", "maxrss", "ratio", "base",
        "PSS+base", "ratio", "gate p50us", "gate p99us", "other");
  }
  auto ratio = [](std::optional<double> a, std::optional<double> b) {
    return a && b && *b > 0 ? std::optional<double>(*a / *b) : std::nullopt;
  };
  auto json = [](std::optional<double> v) {
    return v ? Json(*v) : Json(nullptr);
  };
  for (size_t g = 0; g < guests.size(); ++g) {
    const Summary plain = Summarize(samples[g][0]);
    Json jg = Json::object();
    for (size_t v = 0; v < variants.size(); ++v) {
      const Summary s = Summarize(samples[g][v]);
      const auto wall_ratio = ratio(s.child_wall, plain.child_wall);
      const auto run_ratio = ratio(s.run_wall, plain.run_wall);
      const auto pss_ratio = ratio(s.pss, plain.pss);
      const auto rss_ratio = ratio(s.rss, plain.rss);
      const auto maxrss_ratio = ratio(s.maxrss, plain.maxrss);
      const auto footprint_ratio = ratio(s.footprint, plain.footprint);
      if (!o.json) {
        std::printf(
            "%-13s %-11s %7.3f %6s %7.3f %6s %5.0f %7s %6s %7.1f %6s %7.1f "
            "%6s %7.1f %8s %6s %10s %10s %4.2f/%4.2f\n",
            guests[g].name.c_str(), variants[v].name.c_str(), s.child_wall,
            Opt(wall_ratio, "%.3f").c_str(), s.run_wall,
            Opt(run_ratio, "%.3f").c_str(), s.checkpoints,
            Opt(s.pss, "%.1f").c_str(), Opt(pss_ratio, "%.3f").c_str(), s.rss,
            Opt(rss_ratio, "%.3f").c_str(), s.maxrss,
            Opt(maxrss_ratio, "%.3f").c_str(), s.base,
            Opt(s.footprint, "%.1f").c_str(),
            Opt(footprint_ratio, "%.3f").c_str(),
            Opt(s.lat_median, "%.1f").c_str(), Opt(s.lat_p99, "%.1f").c_str(),
            s.foreign_cores, s.foreign_cores_max);
      }
      Json runs = Json::array();
      for (const Sample& x : samples[g][v]) {
        runs.push_back({{"child_wall_s", x.child_wall},
                        {"run_wall_s", x.run_wall},
                        {"pss_mib", json(x.pss_mib)},
                        {"pss_samples", x.pss_samples},
                        {"rss_mib", x.rss_mib},
                        {"rss_anon_mib", x.anon_mib},
                        {"rss_shmem_mib", x.shmem_mib},
                        {"maxrss_mib", x.maxrss_mib},
                        {"base_mib", x.base_mib},
                        {"pss_plus_base_mib", json(x.footprint_mib)},
                        {"memory_samples", x.memory_samples},
                        {"foreign_cores", x.foreign_cores},
                        {"checkpoints", x.checkpoints},
                        {"esn", x.esn},
                        {"gate_median_us", json(x.latency_median_us)},
                        {"gate_p99_us", json(x.latency_p99_us)}});
      }
      jg[variants[v].name] = {{"child_wall_s", s.child_wall},
                              {"child_wall_ratio", json(wall_ratio)},
                              {"run_wall_s", s.run_wall},
                              {"run_wall_ratio", json(run_ratio)},
                              {"pss_mib", json(s.pss)},
                              {"pss_ratio", json(pss_ratio)},
                              {"rss_mib", s.rss},
                              {"rss_ratio", json(rss_ratio)},
                              {"rss_shmem_mib", s.shmem},
                              {"rss_anon_mib", s.anon},
                              {"maxrss_mib", s.maxrss},
                              {"maxrss_ratio", json(maxrss_ratio)},
                              {"base_mib", s.base},
                              {"pss_plus_base_mib", json(s.footprint)},
                              {"pss_plus_base_ratio", json(footprint_ratio)},
                              {"checkpoints", s.checkpoints},
                              {"gate_median_us", json(s.lat_median)},
                              {"gate_p99_us", json(s.lat_p99)},
                              {"foreign_cores", s.foreign_cores},
                              {"foreign_cores_max", s.foreign_cores_max},
                              {"runs", runs}};
    }
    out[guests[g].name] = jg;
  }
  if (o.json) std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace xv

int main(int argc, char** argv) {
  try {
    return xv::Main(argc, argv);
  } catch (const std::exception& e) {  // e.g. a filesystem error
    std::fprintf(stderr, "replica_bench: %s\n", e.what());
    return 1;
  }
}
