// Two or three real replicas, on every backend, on one copy-on-write base:
// isolation, verification (what it reports for a flipped bit), merging (checked
// with the kernel's own accounting in /proc/self/smaps), and restore from a
// checkpoint reaching the same state as the original.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/verify.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "memshare/page_merger.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using xv::testing::GuestPath;
using xv::testing::ReadText;

struct SmapsEntry {
  uint64_t rss_kb = 0;
  uint64_t anonymous_kb = 0;  // private copies (COW'd pages)
};

// The kernel's accounting of the mapping that starts at `addr`.
SmapsEntry SmapsOf(const void* addr) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool in_vma = false;
  SmapsEntry e;
  const uint64_t want = reinterpret_cast<uint64_t>(addr);
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos &&
        line.find(':') > line.find('-')) {
      uint64_t start = 0;
      in_vma = absl::SimpleHexAtoi(line.substr(0, line.find('-')), &start) &&
               start == want;
      continue;
    }
    if (!in_vma) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 2) continue;
    uint64_t kb = 0;
    if (!absl::SimpleAtoi(f[1], &kb)) continue;
    if (f[0] == "Rss:") e.rss_kb = kb;
    if (f[0] == "Anonymous:") e.anonymous_kb = kb;
  }
  return e;
}

SmapsEntry SmapsOf(const Machine& m) {
  return SmapsOf(m.memory().host_span().data());
}

struct Replica {
  RecordingOutputSink serial;
  std::unique_ptr<Machine> machine;
};

constexpr uint64_t kMemory = 32ull << 20;

std::unique_ptr<Replica> Boot(const Hypervisor& hv, const std::string& guest,
                              const std::string& cmdline) {
  auto r = std::make_unique<Replica>();
  MachineConfig config;
  config.memory_bytes = kMemory;
  config.platform.rtc_epoch_seconds = 1'700'000'000;
  // A view of a base, so that replicas forked from it can merge.
  auto base = MemoryBase::Create(kMemory);
  EXPECT_TRUE(base.ok()) << base.status();
  if (!base.ok()) return nullptr;
  config.memory_base = *base;
  auto m = Machine::Create(hv, config, &r->serial);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  r->machine = std::move(*m);
  std::string image = ReadText(GuestPath(guest));
  auto k = r->machine->BootMultiboot(
      {reinterpret_cast<const uint8_t*>(image.data()), image.size()}, guest,
      {.cmdline = cmdline});
  EXPECT_TRUE(k.ok()) << k.status();
  return r;
}

// A second replica in the same state, on the same base.
std::unique_ptr<Replica> Fork(const Hypervisor& hv, Replica& from) {
  auto cp = CaptureCheckpoint(*from.machine);
  EXPECT_TRUE(cp.ok()) << cp.status();
  if (!cp.ok()) return nullptr;
  auto r = std::make_unique<Replica>();
  auto m = RestoreCheckpoint(hv, *cp, &r->serial);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  r->machine = std::move(*m);
  return r;
}

RunResult RunTo(Replica& r, ScriptedInputs& inputs, uint64_t esn) {
  StopAtEsn stop(esn);
  auto result = RunMachine(*r.machine, inputs,
                           {.timeout_seconds = 60, .observer = &stop});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : RunResult{};
}

absl::StatusOr<MergeStats> Merge(PageMerger& merger, Replica& a, Replica& b) {
  ReplicaPages pages[] = {
      {&a.machine->memory(), &a.machine->dirty()},
      {&b.machine->memory(), &b.machine->dirty()},
  };
  return merger.MergeVerified(pages);
}

// On every backend (testing::TestBackends()).
class ReplicaMemoryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReplicaMemoryTest, ReplicasIsolatedVerifiedMergedAndStillCorrect) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  auto a = Boot(*hv, "memtouch", "mib=8 passes=2");
  ASSERT_NE(a, nullptr);
  auto b = Fork(*hv, *a);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(a->machine->memory().base(), b->machine->memory().base());

  // Isolation: a VMM write into A is invisible to B and to the base.
  const uint64_t probe = 20ull << 20;
  uint8_t one = 1, seen = 0;
  ASSERT_TRUE(a->machine->memory().Write(probe + 5, {&one, 1}).ok());
  ASSERT_TRUE(b->machine->memory().Read(probe + 5, {&seen, 1}).ok());
  EXPECT_EQ(seen, 0);
  auto v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->differences.size(), 1u) << v->Describe();
  EXPECT_EQ(v->differences[0].kind, Difference::Kind::kPage);
  EXPECT_EQ(v->differences[0].gpa, probe);
  EXPECT_EQ(v->differences[0].what, "page 0x1400000");
  uint8_t zero = 0;
  ASSERT_TRUE(a->machine->memory().Write(probe + 5, {&zero, 1}).ok());

  v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->verified()) << v->Describe();
  // Merge everything: this test checks the base ends up holding it all.
  PageMerger merger(a->machine->memory().base(), MergePolicy{.hot_epochs = 0});
  ASSERT_TRUE(Merge(merger, *a, *b).ok());

  ScriptedInputs in_a(1000), in_b(1000);
  RunResult ra = RunTo(*a, in_a, UINT64_MAX);
  RunResult rb = RunTo(*b, in_b, UINT64_MAX);
  EXPECT_EQ(ra.reason, StopReason::kDebugExit) << ra.message;
  EXPECT_EQ(ra.esn, rb.esn);
  EXPECT_NE(a->serial.SerialText().find("checksum=0x"), std::string::npos);
  EXPECT_EQ(a->serial.SerialText(), b->serial.SerialText());
  // Each wrote its 8 MiB privately.
  EXPECT_GE(SmapsOf(*a->machine).anonymous_kb, 8u << 10);
  EXPECT_GE(SmapsOf(*b->machine).anonymous_kb, 8u << 10);

  v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->verified()) << v->Describe();
  EXPECT_GE(v->pages_compared, 2048u);
  auto stats = Merge(merger, *a, *b);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GE(stats->merged_pages, 2048u);
  // After the merge both read the pages from the shared base: no private
  // copies left, and what they map is the base's.
  SmapsEntry sa = SmapsOf(*a->machine), sb = SmapsOf(*b->machine);
  EXPECT_EQ(sa.anonymous_kb, 0u);
  EXPECT_EQ(sb.anonymous_kb, 0u);
  auto base_bytes = a->machine->memory().base()->ResidentBytes();
  ASSERT_TRUE(base_bytes.ok());
  EXPECT_GE(*base_bytes, 8ull << 20);
  EXPECT_LT(*base_bytes, 12ull << 20);
  // The merged content is the verified content, and both still agree.
  auto ha = a->machine->StateHash();
  auto hb = b->machine->StateHash();
  ASSERT_TRUE(ha.ok() && hb.ok());
  EXPECT_EQ(*ha, *hb);
  auto fresh = PageHashes::OfBase(*a->machine->memory().base());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->Root(), a->machine->page_hashes().Root());
}

TEST_P(ReplicaMemoryTest, GuestWritesStayInTheirReplica) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  auto a = Boot(*hv, "kvstore", "");
  ASSERT_NE(a, nullptr);
  auto b = Fork(*hv, *a);
  ASSERT_NE(b, nullptr);
  PageMerger merger(a->machine->memory().base(), MergePolicy{.hot_epochs = 0});
  auto v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok() && v->verified());
  ASSERT_TRUE(Merge(merger, *a, *b).ok());  // both now read one base
  // The same guest, the same key, different values: each replica's guest
  // writes its own value over the shared pages and must read back only it.
  ScriptedInputs in_a(20'000, "SET key aaaa\nGET key\nQUIT\n");
  ScriptedInputs in_b(20'000, "SET key bbbb\nGET key\nQUIT\n");
  RunResult ra = RunTo(*a, in_a, UINT64_MAX);
  RunResult rb = RunTo(*b, in_b, UINT64_MAX);
  EXPECT_EQ(ra.reason, StopReason::kDebugExit) << ra.message;
  EXPECT_EQ(rb.reason, StopReason::kDebugExit) << rb.message;
  EXPECT_NE(a->serial.SerialText().find("VALUE aaaa"), std::string::npos)
      << a->serial.SerialText();
  EXPECT_EQ(a->serial.SerialText().find("bbbb"), std::string::npos);
  EXPECT_NE(b->serial.SerialText().find("VALUE bbbb"), std::string::npos)
      << b->serial.SerialText();
  EXPECT_EQ(b->serial.SerialText().find("aaaa"), std::string::npos);
  // Sessions of the same shape take the same exits; verification then
  // finds the replicas differ in memory.
  ASSERT_EQ(ra.esn, rb.esn);
  v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->verified());
  bool page_differs = false;
  for (const Difference& d : v->differences) {
    page_differs |= d.kind == Difference::Kind::kPage;
  }
  EXPECT_TRUE(page_differs) << v->Describe();
}

TEST_P(ReplicaMemoryTest, MergedReplicasKeepRunningCorrectly) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const std::string session = "SET a 1\nSET b 2\nGET a\nDEL a\nGET a\nQUIT\n";
  auto a = Boot(*hv, "kvstore", "");
  ASSERT_NE(a, nullptr);
  auto b = Fork(*hv, *a);
  ASSERT_NE(b, nullptr);
  PageMerger merger(a->machine->memory().base(), MergePolicy{});
  ScriptedInputs in_a(20'000, session), in_b(20'000, session);
  // Verify and merge every 40 exits all the way to the end.
  for (uint64_t esn = 40;; esn += 40) {
    RunResult ra = RunTo(*a, in_a, esn);
    RunResult rb = RunTo(*b, in_b, esn);
    ASSERT_EQ(ra.reason, rb.reason);
    auto v = VerifyReplicas(*a->machine, *b->machine);
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(v->verified()) << v->Describe();
    if (ra.reason != StopReason::kStopPoint) break;
    ASSERT_TRUE(Merge(merger, *a, *b).ok());
    ASSERT_LT(esn, 100000u);
  }
  EXPECT_NE(a->serial.SerialText().find("OK"), std::string::npos)
      << a->serial.SerialText();
  EXPECT_EQ(a->serial.SerialText(), b->serial.SerialText());
  // The default policy kept hot pages private; a checkpoint of A (base +
  // those pages as delta) still restores A's exact state.
  EXPECT_GT(a->machine->dirty().private_pages().Count(), 0u);
  auto cp = CaptureCheckpoint(*a->machine);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->delta_pages.size(),
            a->machine->dirty().private_pages().Count());
  RecordingOutputSink c_out;
  auto c = RestoreCheckpoint(*hv, *cp, &c_out);
  ASSERT_TRUE(c.ok()) << c.status();
  auto ha = a->machine->StateHash();
  auto hc = (*c)->StateHash();
  ASSERT_TRUE(ha.ok() && hc.ok());
  EXPECT_EQ(*ha, *hc);
}

TEST_P(ReplicaMemoryTest, RestoredReplicaMatchesOriginalAndFlipsAreNamed) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const std::string session = "SET k v\nGET k\nCOUNT\nQUIT\n";
  // A first run finds the length of the session, to checkpoint mid-way.
  auto probe = Boot(*hv, "kvstore", "");
  ASSERT_NE(probe, nullptr);
  ScriptedInputs in_probe(20'000, session);
  const uint64_t total = RunTo(*probe, in_probe, UINT64_MAX).esn;
  ASSERT_GT(total, 20u);
  auto a = Boot(*hv, "kvstore", "");
  ASSERT_NE(a, nullptr);
  ScriptedInputs in_a(20'000, session);
  RunResult mid = RunTo(*a, in_a, total / 2);
  ASSERT_EQ(mid.reason, StopReason::kStopPoint) << mid.message;
  // C is built from a checkpoint of A mid-session; both then get the same
  // inputs (the script's remainder) and must end in the same state.
  auto c = Fork(*hv, *a);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->machine->esn(), a->machine->esn());
  ScriptedInputs in_c = in_a;

  // A register flip in C is named.
  auto flip = [](GeneralRegisters& regs) { regs.rbx ^= 1ull << 17; };
  ASSERT_TRUE(c->machine->cpu().ModifyRegs(flip).ok());
  auto v = VerifyReplicas(*a->machine, *c->machine);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->differences.size(), 1u) << v->Describe();
  EXPECT_EQ(v->differences[0].kind, Difference::Kind::kRegister);
  EXPECT_EQ(v->differences[0].what, "rbx");
  ASSERT_TRUE(c->machine->cpu().ModifyRegs(flip).ok());

  RunResult ra = RunTo(*a, in_a, UINT64_MAX);
  RunResult rc = RunTo(*c, in_c, UINT64_MAX);
  EXPECT_EQ(ra.reason, StopReason::kDebugExit) << ra.message;
  EXPECT_EQ(ra.esn, rc.esn);
  auto ha = a->machine->StateHash();
  auto hc = c->machine->StateHash();
  ASSERT_TRUE(ha.ok() && hc.ok());
  EXPECT_EQ(*ha, *hc);
  // C's output is the part after the checkpoint.
  EXPECT_FALSE(c->serial.SerialText().empty());
  EXPECT_TRUE(a->serial.SerialText().ends_with(c->serial.SerialText()));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplicaMemoryTest,
                         ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
