// memory_bench: what page sharing costs on this machine, single-threaded and
// without KVM (benchmarks/README.md; RESULTS.md, "Issue 4"):
//   1. HashPage throughput over a memory-bound buffer (256 MiB) and an
//      in-cache one (1 MiB), next to memcpy, memcmp and a plain read of the
//      same 256 MiB: is hashing every dirty page bound by memory bandwidth?
//   2. The host-side copy-on-write fault of a replica's first write to a
//      page it shares with the base, next to a first write to fresh
//      anonymous memory (fault + zero) and a second write (no fault).
//   3. What the page-merging service pays: MemoryBase::WritePages (pwrite
//      into the memfd) and GuestMemory::DropPrivateCopies (madvise), per
//      page, in contiguous runs and as scattered single pages.
//
// Each part runs its variants --rounds times after one warm-up round. Within
// a round the variants run back to back, starting one further along each
// round, so the machine's noise (other builds on the same two cores) hits
// all of them alike. Reported: the median and the best (fastest) round;
// ratios are of medians.
//
// Usage: memory_bench [--rounds=N] [--big_mib=N] [--json]
#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/check.h"
#include "base/hash128.h"
#include "base/scoped_mapping.h"
#include "benchmarks/bench_options.h"
#include "memshare/guest_memory.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"

namespace xv {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// The in-cache hashing buffer: inside this machine's L2 (2 MiB per core).
constexpr uint64_t kSmallBytes = 1 * kMiB;
constexpr uint64_t kCowBytes = 64 * kMiB;
constexpr uint64_t kMergeBytes = 256 * kMiB;
// A contiguous merge run: one PageHashes group (64 pages, 256 KiB).
constexpr uint64_t kRunPages = kPagesPerGroup;
// Scattered merges touch every kScatterStride-th page, one page per call.
constexpr uint64_t kScatterStride = 100;

struct Options {
  int rounds = 7;
  uint64_t big_bytes = 256 * kMiB;
  bool json = false;
};

// ---------------------------------------------------------------------------
// Helpers

// A benchmark cannot go on without its buffers; report and stop.
void DieIfError(const absl::Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "memory_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  DieIfError(value.status());
  return std::move(*value);
}

// Keeps a result (and every store before it) from being optimised away.
void Keep(uint64_t value) { asm volatile("" : : "r"(value) : "memory"); }

template <typename F>
double SecondsOf(F&& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(end - start).count();
}

// Pseudo-random (splitmix64), incompressible content. Writing every word
// also faults every page in, so no later timing pays for that.
void FillRandom(std::span<uint8_t> bytes, uint64_t seed) {
  auto* words = reinterpret_cast<uint64_t*>(bytes.data());
  for (size_t i = 0; i < bytes.size() / sizeof(uint64_t); ++i) {
    seed += 0x9e3779b97f4a7c15;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    words[i] = z ^ (z >> 31);
  }
}

ScopedMapping RandomBuffer(uint64_t bytes, uint64_t seed) {
  ScopedMapping buffer =
      ValueOrDie(ScopedMapping::Anonymous(bytes, "benchmark buffer"));
  FillRandom(buffer.span(), seed);
  return buffer;
}

// One byte written into every `stride`-th page of `memory`, through a
// volatile pointer so that each of those pages really is written, in order.
void WriteEveryPage(std::span<uint8_t> memory, uint8_t value,
                    uint64_t stride = 1) {
  volatile uint8_t* bytes = memory.data();
  for (size_t off = 0; off < memory.size(); off += stride * kPageSize) {
    bytes[off] = value;
  }
}

uint64_t ReadEveryPage(std::span<const uint8_t> memory) {
  const volatile uint8_t* bytes = memory.data();
  uint64_t sum = 0;
  for (size_t off = 0; off < memory.size(); off += kPageSize) sum += bytes[off];
  return sum;
}

uint64_t HashPages(const uint8_t* data, uint64_t pages) {
  uint64_t fold = 0;
  for (uint64_t p = 0; p < pages; ++p) {
    const Hash128 h = HashPage(data + p * kPageSize);
    fold ^= h.high ^ h.low;
  }
  return fold;
}

// Four independent sums, so the adds overlap and only the loads limit it.
uint64_t SumWords(std::span<const uint8_t> bytes) {
  const auto* words = reinterpret_cast<const uint64_t*>(bytes.data());
  const size_t n = bytes.size() / sizeof(uint64_t);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    s0 += words[i];
    s1 += words[i + 1];
    s2 += words[i + 2];
    s3 += words[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

// Every `stride`-th page of `pages`, each as a run of its own.
std::vector<PageRun> ScatteredRuns(uint64_t pages, uint64_t stride) {
  std::vector<PageRun> runs;
  for (uint64_t p = 0; p < pages; p += stride) runs.push_back({p, 1});
  return runs;
}

std::vector<PageRun> ContiguousRuns(uint64_t pages, uint64_t run_pages) {
  std::vector<PageRun> runs;
  for (uint64_t p = 0; p < pages; p += run_pages) {
    runs.push_back({p, std::min(run_pages, pages - p)});
  }
  return runs;
}

uint64_t PagesIn(const std::vector<PageRun>& runs) {
  uint64_t pages = 0;
  for (const PageRun& run : runs) pages += run.count;
  return pages;
}

// ---------------------------------------------------------------------------
// Measurements

enum class Unit { kGBPerSecond, kMicrosPerPage };

// What one variant measured: seconds per round and the work each round did
// (bytes for GB/s, pages for µs/page).
struct Measurement {
  std::string id;
  std::string label;
  Unit unit;
  double work;
  std::vector<double> seconds;

  double ValueOf(double s) const {
    return unit == Unit::kGBPerSecond ? work / s / 1e9 : s * 1e6 / work;
  }
  double Median() const {
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    return ValueOf(n % 2 ? sorted[n / 2]
                         : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
  }
  double Best() const {
    return ValueOf(*std::min_element(seconds.begin(), seconds.end()));
  }
};

// A variant does its own untimed set-up, then returns the seconds its
// measured section took.
struct Variant {
  Measurement result;
  std::function<double()> run;
};

Variant MakeVariant(std::string id, std::string label, Unit unit, double work,
                    std::function<double()> run) {
  return {{std::move(id), std::move(label), unit, work, {}}, std::move(run)};
}

// One warm-up round, then `rounds` rounds in rotating order.
std::vector<Measurement> RunInterleaved(std::vector<Variant> variants,
                                        int rounds) {
  for (Variant& v : variants) v.run();
  const size_t n = variants.size();
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < n; ++i) {
      Variant& v = variants[(r + i) % n];
      v.result.seconds.push_back(v.run());
    }
  }
  std::vector<Measurement> results;
  for (Variant& v : variants) results.push_back(std::move(v.result));
  return results;
}

// Part 1: HashPage next to memcpy, memcmp and a plain read.
std::vector<Measurement> MeasureBandwidth(const Options& options) {
  const uint64_t big = options.big_bytes;
  const ScopedMapping src = RandomBuffer(big, 1);
  const ScopedMapping dst = RandomBuffer(big, 2);
  const ScopedMapping small = RandomBuffer(kSmallBytes, 3);
  // memcmp compares equal buffers, so it reads both to the end; memcpy
  // keeps them equal whatever the round order.
  std::memcpy(dst.data(), src.data(), big);
  // The in-cache pass hashes as many bytes as the memory-bound one.
  const uint64_t small_passes = std::max<uint64_t>(1, big / kSmallBytes);

  auto hash_big = [&] {
    return SecondsOf([&] { Keep(HashPages(src.data(), big / kPageSize)); });
  };
  auto hash_small = [&] {
    return SecondsOf([&] {
      for (uint64_t i = 0; i < small_passes; ++i) {
        Keep(HashPages(small.data(), kSmallBytes / kPageSize));
      }
    });
  };
  auto copy = [&] {
    return SecondsOf([&] {
      std::memcpy(dst.data(), src.data(), big);
      Keep(dst.data()[big - 1]);
    });
  };
  auto compare = [&] {
    int cmp = 0;
    const double s =
        SecondsOf([&] { cmp = std::memcmp(dst.data(), src.data(), big); });
    XV_CHECK(cmp == 0, "memcmp buffers differ");
    return s;
  };
  auto read = [&] { return SecondsOf([&] { Keep(SumWords(src.span())); }); };

  const std::string mib = absl::StrFormat("%d MiB", big / kMiB);
  const Unit unit = Unit::kGBPerSecond;
  std::vector<Variant> variants;
  variants.push_back(MakeVariant("hash_big",
                                 "HashPage over " + mib + " (memory-bound)",
                                 unit, big, hash_big));
  variants.push_back(MakeVariant(
      "hash_small",
      absl::StrFormat("HashPage over 1 MiB x%d (in cache)", small_passes), unit,
      small_passes * kSmallBytes, hash_small));
  variants.push_back(MakeVariant(
      "memcpy_big", "memcpy " + mib + " (bytes copied / s)", unit, big, copy));
  variants.push_back(MakeVariant("memcmp_big",
                                 "memcmp of two equal " + mib + " buffers",
                                 unit, big, compare));
  variants.push_back(MakeVariant("read_big", "read " + mib + " (sum of uint64)",
                                 unit, big, read));
  return RunInterleaved(std::move(variants), options.rounds);
}

// Part 2: first writes to shared pages (COW) and to fresh memory.
std::vector<Measurement> MeasureFaults(const Options& options) {
  std::shared_ptr<MemoryBase> base = ValueOrDie(MemoryBase::Create(kCowBytes));
  {
    // Every page holds data, as in a base the merge service has filled.
    const ScopedMapping content = RandomBuffer(kCowBytes, 4);
    DieIfError(base->WritePages(0, content.span()));
  }
  const double pages = kCowBytes / kPageSize;
  // Each round maps a fresh replica (untimed), so its first write really is
  // the first; the mapping and its private copies go after the timing.
  auto replica = [&] { return ValueOrDie(GuestMemory::MapReplica(base)); };

  std::vector<Variant> variants;
  variants.push_back(MakeVariant(
      "anon_first_write", "first write, fresh anonymous memory (fault + zero)",
      Unit::kMicrosPerPage, pages, [&] {
        ScopedMapping fresh =
            ValueOrDie(ScopedMapping::Anonymous(kCowBytes, "anonymous"));
        // 4 KiB faults even where transparent huge pages are `always`.
        ::madvise(fresh.data(), fresh.size(), MADV_NOHUGEPAGE);
        return SecondsOf([&] { WriteEveryPage(fresh.span(), 1); });
      }));
  variants.push_back(MakeVariant(
      "cow_first_write", "first write, shared page not yet mapped (COW)",
      Unit::kMicrosPerPage, pages, [&] {
        GuestMemory memory = replica();
        return SecondsOf([&] { WriteEveryPage(memory.host_span(), 1); });
      }));
  variants.push_back(MakeVariant(
      "shared_read_fault", "first read, shared page (maps the base's page)",
      Unit::kMicrosPerPage, pages, [&] {
        GuestMemory memory = replica();
        return SecondsOf([&] { Keep(ReadEveryPage(memory.host_span())); });
      }));
  variants.push_back(MakeVariant(
      "cow_after_read", "first write, shared page already read (COW)",
      Unit::kMicrosPerPage, pages, [&] {
        GuestMemory memory = replica();
        Keep(ReadEveryPage(memory.host_span()));
        return SecondsOf([&] { WriteEveryPage(memory.host_span(), 1); });
      }));
  variants.push_back(MakeVariant(
      "second_write", "second write, private copy (no fault)",
      Unit::kMicrosPerPage, pages, [&] {
        GuestMemory memory = replica();
        WriteEveryPage(memory.host_span(), 1);
        return SecondsOf([&] { WriteEveryPage(memory.host_span(), 2); });
      }));
  return RunInterleaved(std::move(variants), options.rounds);
}

// Part 3: the merge service writing verified pages into the base and
// dropping a replica's private copies.
std::vector<Measurement> MeasureMerge(const Options& options) {
  const uint64_t pages = kMergeBytes / kPageSize;
  std::shared_ptr<MemoryBase> base =
      ValueOrDie(MemoryBase::Create(kMergeBytes));
  // Merges overwrite pages the base already holds (its steady state), so
  // pwrite pays no page allocation.
  DieIfError(base->WritePages(0, RandomBuffer(kMergeBytes, 5).span()));
  GuestMemory memory = ValueOrDie(GuestMemory::MapReplica(base));
  const ScopedMapping verified = RandomBuffer(kMergeBytes, 6);
  const std::vector<PageRun> contiguous = ContiguousRuns(pages, kRunPages);
  const std::vector<PageRun> scattered = ScatteredRuns(pages, kScatterStride);

  auto write_runs = [&](const std::vector<PageRun>& runs) {
    return SecondsOf([&] {
      for (const PageRun& run : runs) {
        DieIfError(base->WritePages(
            run.first, verified.span().subspan(run.first * kPageSize,
                                               run.count * kPageSize)));
      }
    });
  };
  // The replica first copies the pages privately (untimed), as a guest
  // writing them would; the drop then frees those copies.
  auto drop_runs = [&](const std::vector<PageRun>& runs, uint64_t stride) {
    WriteEveryPage(memory.host_span(), 1, stride);
    return SecondsOf([&] { DieIfError(memory.DropPrivateCopies(runs)); });
  };

  std::vector<Variant> variants;
  variants.push_back(
      MakeVariant("write_contiguous",
                  absl::StrFormat("WritePages, runs of %d pages", kRunPages),
                  Unit::kMicrosPerPage, PagesIn(contiguous),
                  [&] { return write_runs(contiguous); }));
  variants.push_back(MakeVariant(
      "write_scattered",
      absl::StrFormat("WritePages, single pages (every %dth)", kScatterStride),
      Unit::kMicrosPerPage, PagesIn(scattered),
      [&] { return write_runs(scattered); }));
  variants.push_back(MakeVariant(
      "drop_contiguous",
      absl::StrFormat("DropPrivateCopies, runs of %d pages", kRunPages),
      Unit::kMicrosPerPage, PagesIn(contiguous),
      [&] { return drop_runs(contiguous, 1); }));
  variants.push_back(MakeVariant(
      "drop_scattered",
      absl::StrFormat("DropPrivateCopies, single pages (every %dth)",
                      kScatterStride),
      Unit::kMicrosPerPage, PagesIn(scattered),
      [&] { return drop_runs(scattered, kScatterStride); }));
  return RunInterleaved(std::move(variants), options.rounds);
}

// ---------------------------------------------------------------------------
// Report

struct Section {
  std::string title;
  std::vector<Measurement> results;
};

struct Ratio {
  std::string label;
  std::string numerator;
  std::string denominator;
  double value = 0;
};

const Measurement& Find(const std::vector<Section>& sections,
                        std::string_view id) {
  for (const Section& section : sections) {
    for (const Measurement& m : section.results) {
      if (m.id == id) return m;
    }
  }
  XV_CHECK(false, "no such measurement");
}

std::vector<Ratio> Ratios(const std::vector<Section>& sections) {
  std::vector<Ratio> ratios = {
      {"hash (memory-bound) / memcpy", "hash_big", "memcpy_big"},
      {"hash (memory-bound) / read", "hash_big", "read_big"},
      {"hash (memory-bound) / memcmp", "hash_big", "memcmp_big"},
      {"hash (in cache) / hash (memory-bound)", "hash_small", "hash_big"},
      {"COW first write / anonymous first write", "cow_first_write",
       "anon_first_write"},
      {"COW after read / anonymous first write", "cow_after_read",
       "anon_first_write"},
      {"COW first write / drop (single pages)", "cow_first_write",
       "drop_scattered"},
      {"COW first write / drop (runs)", "cow_first_write", "drop_contiguous"},
      {"WritePages single / runs", "write_scattered", "write_contiguous"},
      {"drop single / runs", "drop_scattered", "drop_contiguous"},
  };
  for (Ratio& r : ratios) {
    r.value = Find(sections, r.numerator).Median() /
              Find(sections, r.denominator).Median();
  }
  return ratios;
}

const char* UnitName(Unit unit) {
  return unit == Unit::kGBPerSecond ? "GB/s" : "us/page";
}

void PrintTable(const Options& options, const std::vector<Section>& sections,
                const std::vector<Ratio>& ratios) {
  std::printf(
      "memory_bench: %d rounds (+1 warm-up), interleaved; median and best "
      "round; GB = 1e9 bytes\n",
      options.rounds);
  for (const Section& section : sections) {
    std::printf("\n%s\n", section.title.c_str());
    std::printf("  %-58s %12s %12s  %s\n", "", "median", "best", "unit");
    for (const Measurement& m : section.results) {
      std::printf("  %-58s %12.4f %12.4f  %s\n", m.label.c_str(), m.Median(),
                  m.Best(), UnitName(m.unit));
    }
  }
  std::printf("\nRatios (of medians)\n");
  for (const Ratio& r : ratios) {
    std::printf("  %-58s %12.3f\n", r.label.c_str(), r.value);
  }
}

void PrintJson(const Options& options, const std::vector<Section>& sections,
               const std::vector<Ratio>& ratios) {
  std::string out =
      absl::StrFormat("{\"rounds\": %d, \"big_bytes\": %d, \"results\": [",
                      options.rounds, options.big_bytes);
  const char* sep = "";
  for (const Section& section : sections) {
    for (const Measurement& m : section.results) {
      absl::StrAppendFormat(&out,
                            "%s\n  {\"id\": \"%s\", \"unit\": \"%s\", "
                            "\"median\": %.6g, \"best\": %.6g, \"values\": [",
                            sep, m.id, UnitName(m.unit), m.Median(), m.Best());
      for (size_t i = 0; i < m.seconds.size(); ++i) {
        absl::StrAppendFormat(&out, "%s%.6g", i ? ", " : "",
                              m.ValueOf(m.seconds[i]));
      }
      out += "]}";
      sep = ",";
    }
  }
  out += "\n], \"ratios\": {";
  sep = "";
  for (const Ratio& r : ratios) {
    absl::StrAppendFormat(&out, "%s\n  \"%s/%s\": %.6g", sep, r.numerator,
                          r.denominator, r.value);
    sep = ",";
  }
  out += "\n}}\n";
  std::fputs(out.c_str(), stdout);
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
    } else if (arg.starts_with("--big_mib=") && ParseCount(arg.substr(10), n)) {
      options.big_bytes = n * kMiB;
    } else {
      std::fprintf(stderr,
                   "usage: memory_bench [--rounds=N] [--big_mib=N] [--json]\n");
      return false;
    }
  }
  return true;
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, options)) return 2;
  std::vector<Section> sections;
  sections.push_back({"1. Page hashing (XXH3-128 per 4 KiB page) vs memory",
                      MeasureBandwidth(options)});
  sections.push_back(
      {absl::StrFormat("2. First write per page, %d MiB", kCowBytes / kMiB),
       MeasureFaults(options)});
  sections.push_back({absl::StrFormat("3. Merge service costs per page, %d "
                                      "MiB base (all pages hold data)",
                                      kMergeBytes / kMiB),
                      MeasureMerge(options)});
  const std::vector<Ratio> ratios = Ratios(sections);
  if (options.json) {
    PrintJson(options, sections, ratios);
  } else {
    PrintTable(options, sections, ratios);
  }
  return 0;
}

}  // namespace
}  // namespace xv

int main(int argc, char** argv) { return xv::Main(argc, argv); }
