#include "replica/output_gate.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "devices/test_sinks.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

GateOutput Serial(uint64_t esn, std::string_view text) {
  return GateOutput{.esn = esn,
                    .kind = OutputKind::kSerialTx,
                    .device = "uart0",
                    .data = {text.begin(), text.end()}};
}

GateOutput DiskWrite(uint64_t esn, uint64_t lba, uint8_t fill) {
  return GateOutput{.esn = esn,
                    .kind = OutputKind::kDiskWrite,
                    .device = "ata0",
                    .arg = lba,
                    .count = 1,
                    .data = std::vector<uint8_t>(kSectorSize, fill)};
}

// A deterministic mix of outputs, several per exit: serial bytes, disk
// writes and read requests.
std::vector<GateOutput> Stream(int n) {
  std::vector<GateOutput> stream;
  for (int i = 0; i < n; ++i) {
    const uint64_t esn = 10 + static_cast<uint64_t>(i) / 3;
    if (i % 7 == 3) {
      stream.push_back(DiskWrite(esn, i % 16, static_cast<uint8_t>(i)));
    } else if (i % 50 == 49) {
      stream.push_back(GateOutput{.esn = esn,
                                  .kind = OutputKind::kDiskReadRequest,
                                  .device = "ata0",
                                  .arg = static_cast<uint64_t>(i % 16),
                                  .count = 2,
                                  .data = {}});
    } else {
      stream.push_back(Serial(esn, "out" + std::to_string(i)));
    }
  }
  return stream;
}

RecordedOutput Recorded(const GateOutput& o) {
  return RecordedOutput{o.kind, o.device, o.arg, o.count, o.data};
}

std::vector<RecordedOutput> Recorded(const std::vector<GateOutput>& stream,
                                     size_t n) {
  std::vector<RecordedOutput> out;
  for (size_t i = 0; i < n && i < stream.size(); ++i) {
    out.push_back(Recorded(stream[i]));
  }
  return out;
}

absl::Status SubmitTo(OutputGate& gate, int slot, const GateOutput& output) {
  return gate.Submit(slot, output.esn, output.view());
}

// Submits stream[from, to) for `slot`, expecting every call to succeed.
void SubmitRange(OutputGate& gate, int slot,
                 const std::vector<GateOutput>& stream, size_t from,
                 size_t to) {
  for (size_t i = from; i < to; ++i) {
    ASSERT_TRUE(SubmitTo(gate, slot, stream[i]).ok())
        << "slot " << slot << " output " << i;
  }
}

GateOutput FlipBit(GateOutput output, size_t byte, int bit) {
  output.data.at(byte) ^= static_cast<uint8_t>(1u << bit);
  return output;
}

// Records what it is given, and checks the gate's delivery rules: never two
// threads in the sink at once, and the gate's lock is not held (it calls
// back into the gate).
class CheckingSink : public OutputSink {
 public:
  void Emit(const DeviceOutput& output) override {
    if (inside_.fetch_add(1) != 0) concurrent_ = true;
    if (gate_ != nullptr) (void)gate_->stats();
    recording_.Emit(output);
    inside_.fetch_sub(1);
  }
  void set_gate(const OutputGate* gate) { gate_ = gate; }
  const std::vector<RecordedOutput>& outputs() const {
    return recording_.outputs;
  }
  bool concurrent() const { return concurrent_; }

 private:
  const OutputGate* gate_ = nullptr;
  std::atomic<int> inside_{0};
  std::atomic<bool> concurrent_{false};
  RecordingOutputSink recording_;
};

TEST(OutputGateTest, IdenticalStreamsFromTwoThreadsAreReleasedOnceInOrder) {
  const std::vector<GateOutput> stream = Stream(3000);
  for (int round = 0; round < 5; ++round) {
    CheckingSink sink;
    OutputGate gate(&sink);
    sink.set_gate(&gate);
    std::vector<std::thread> replicas;
    replicas.reserve(kGateSlots);
    for (int slot = 0; slot < kGateSlots; ++slot) {
      replicas.emplace_back([&gate, &stream, slot] {
        for (const GateOutput& output : stream) {
          EXPECT_TRUE(SubmitTo(gate, slot, output).ok());
          (void)gate.Reached(slot, output.esn - 1);
        }
      });
    }
    for (std::thread& t : replicas) t.join();

    EXPECT_EQ(sink.outputs(), Recorded(stream, stream.size()));
    EXPECT_FALSE(sink.concurrent());
    EXPECT_FALSE(gate.diverged());
    const OutputGateStats stats = gate.stats();
    EXPECT_EQ(stats.submitted[0], stream.size());
    EXPECT_EQ(stats.submitted[1], stream.size());
    EXPECT_EQ(stats.verified, stream.size());
    EXPECT_EQ(stats.released, stream.size());
    EXPECT_EQ(stats.pending[0], 0u);
    EXPECT_EQ(stats.pending[1], 0u);
    EXPECT_EQ(stats.pending_bytes[0], 0u);
    EXPECT_EQ(stats.pending_bytes[1], 0u);
    EXPECT_EQ(stats.history, stream.size());
    EXPECT_EQ(gate.latency().samples, stream.size());
    // Every disk write reached the back-end, so no overlay keeps any.
    EXPECT_TRUE(gate.PendingWritesSnapshot(0, 0, 16).empty());
    EXPECT_TRUE(gate.PendingWritesSnapshot(1, 0, 16).empty());
  }
}

TEST(OutputGateTest, ASlowerFollowerHoldsOutputsBack) {
  const std::vector<GateOutput> stream = Stream(5);
  RecordingOutputSink sink;
  OutputGate gate(&sink);

  SubmitRange(gate, 0, stream, 0, 5);
  EXPECT_TRUE(sink.outputs.empty());
  EXPECT_EQ(gate.stats().pending[0], 5u);
  EXPECT_EQ(gate.stats().pending[1], 0u);

  SubmitRange(gate, 1, stream, 0, 2);
  EXPECT_EQ(sink.outputs, Recorded(stream, 2));
  EXPECT_EQ(gate.stats().pending[0], 3u);

  SubmitRange(gate, 1, stream, 2, 5);
  EXPECT_EQ(sink.outputs, Recorded(stream, 5));
  EXPECT_EQ(gate.stats().pending[0], 0u);
  EXPECT_EQ(gate.stats().released, 5u);
}

TEST(OutputGateTest, AFollowerAheadWaitsForTheLeaderToo) {
  const std::vector<GateOutput> stream = Stream(4);
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 1, stream, 0, 4);
  EXPECT_TRUE(sink.outputs.empty());
  EXPECT_EQ(gate.stats().pending[1], 4u);
  SubmitRange(gate, 0, stream, 0, 3);
  EXPECT_EQ(sink.outputs, Recorded(stream, 3));
}

TEST(OutputGateTest, AFlippedBitDivergesAndNothingFromThereOnIsReleased) {
  std::vector<GateOutput> stream;
  stream.reserve(6);
  for (int i = 0; i < 6; ++i) {
    stream.push_back(Serial(20 + i, "Hello" + std::to_string(i)));
  }
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 6);
  SubmitRange(gate, 1, stream, 0, 3);
  ASSERT_EQ(sink.outputs, Recorded(stream, 3));

  const GateOutput flipped = FlipBit(stream[3], 1, 0);  // 'e' -> 'd'
  const absl::Status status = SubmitTo(gate, 1, flipped);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("ESN 23"));
  EXPECT_EQ(sink.outputs, Recorded(stream, 3));

  const std::optional<OutputDivergence> d = gate.divergence();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->cause, DivergenceCause::kMismatch);
  EXPECT_EQ(d->index, 3u);
  EXPECT_EQ(d->esn, 23u);
  EXPECT_EQ(d->slot, 1);
  EXPECT_EQ(d->submitted[0], stream[3]);
  EXPECT_EQ(d->submitted[1], flipped);
  EXPECT_EQ(d->first_differing_byte, 1u);
  const std::string report = d->ToString();
  EXPECT_THAT(report, HasSubstr("ESN 23"));
  EXPECT_THAT(report, HasSubstr(stream[3].Describe()));
  EXPECT_THAT(report, HasSubstr(flipped.Describe()));
  EXPECT_THAT(report, HasSubstr("48 65 6c 6c 6f 33"));  // "Hello3"
  EXPECT_THAT(report, HasSubstr("48 64 6c 6c 6f 33"));  // "Hdllo3"
  EXPECT_THAT(report, HasSubstr("first differing data byte 1: 65 vs 64"));

  // Matching outputs after it are not released either; the gate refuses.
  EXPECT_EQ(SubmitTo(gate, 1, stream[4]).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(SubmitTo(gate, 1, stream[5]).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(gate.Reached(0, 30).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sink.outputs, Recorded(stream, 3));
  EXPECT_EQ(gate.stats().released, 3u);
  EXPECT_TRUE(gate.stats().diverged);
}

TEST(OutputGateTest, TheLaterSubmitterRevealsTheMismatch) {
  const GateOutput good = DiskWrite(40, 9, 0x5a);
  const GateOutput bad = FlipBit(good, 300, 7);
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  ASSERT_TRUE(SubmitTo(gate, 1, bad).ok());  // nothing to compare with yet
  EXPECT_EQ(SubmitTo(gate, 0, good).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(sink.outputs.empty());
  const OutputDivergence d = *gate.divergence();
  EXPECT_EQ(d.slot, 0);
  EXPECT_EQ(d.first_differing_byte, 300u);
  EXPECT_THAT(d.ToString(),
              HasSubstr("first differing data byte 300: 5a vs da"));
  // Long data is summarised with its hash.
  EXPECT_THAT(good.Describe(), HasSubstr("data[512]="));
  EXPECT_THAT(good.Describe(), HasSubstr("xxh3="));
}

TEST(OutputGateTest, ADifferentEsnDiverges) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  ASSERT_TRUE(SubmitTo(gate, 0, Serial(7, "x")).ok());
  const absl::Status status = SubmitTo(gate, 1, Serial(8, "x"));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(sink.outputs.empty());
  const OutputDivergence d = *gate.divergence();
  EXPECT_EQ(d.cause, DivergenceCause::kMismatch);
  EXPECT_EQ(d.esn, 7u);
  EXPECT_EQ(d.index, 0u);
  EXPECT_FALSE(d.first_differing_byte.has_value());
  EXPECT_THAT(d.ToString(), HasSubstr("slot 0 submitted ESN 7"));
  EXPECT_THAT(d.ToString(), HasSubstr("slot 1 submitted ESN 8"));
}

TEST(OutputGateTest, EveryFieldIsCompared) {
  const GateOutput base = DiskWrite(3, 100, 0x42);
  const std::vector<std::function<void(GateOutput&)>> changes = {
      [](GateOutput& o) { o.kind = OutputKind::kSerialTx; },
      [](GateOutput& o) { o.device = "ata1"; },
      [](GateOutput& o) { o.arg = 101; },
      [](GateOutput& o) { o.count = 2; },
      [](GateOutput& o) { o.data.push_back(0); },
      [](GateOutput& o) { o.data.clear(); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    SCOPED_TRACE(i);
    GateOutput changed = base;
    changes[i](changed);
    RecordingOutputSink sink;
    OutputGate gate(&sink);
    ASSERT_TRUE(SubmitTo(gate, 0, base).ok());
    EXPECT_EQ(SubmitTo(gate, 1, changed).code(), absl::StatusCode::kAborted);
    EXPECT_TRUE(sink.outputs.empty());
  }
}

TEST(OutputGateTest, ADivergenceAmongThreadsReleasesExactlyThePrefix) {
  const std::vector<GateOutput> stream = Stream(1000);
  constexpr size_t kBad = 700;
  for (int round = 0; round < 5; ++round) {
    CheckingSink sink;
    OutputGate gate(&sink);
    std::thread leader([&] {
      for (const GateOutput& output : stream) (void)SubmitTo(gate, 0, output);
    });
    std::thread follower([&] {
      for (size_t i = 0; i < stream.size(); ++i) {
        GateOutput output = stream[i];
        if (i == kBad) output.esn += 1;
        (void)SubmitTo(gate, 1, output);
      }
    });
    leader.join();
    follower.join();
    EXPECT_EQ(sink.outputs(), Recorded(stream, kBad));
    ASSERT_TRUE(gate.diverged());
    EXPECT_EQ(gate.divergence()->index, kBad);
    EXPECT_EQ(gate.divergence()->esn, stream[kBad].esn);
  }
}

TEST(OutputGateTest, AReplacedFollowerDoesNotReleaseReplayedOutputsTwice) {
  const std::vector<GateOutput> stream = Stream(10);
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 8);
  SubmitRange(gate, 1, stream, 0, 5);
  ASSERT_EQ(sink.outputs, Recorded(stream, 5));
  GateOutput bad = stream[5];
  bad.arg ^= 1;
  ASSERT_EQ(SubmitTo(gate, 1, bad).code(), absl::StatusCode::kAborted);
  // Held while diverged, from both sides.
  EXPECT_EQ(SubmitTo(gate, 1, stream[6]).code(), absl::StatusCode::kAborted);

  // The vote named slot 1: its replacement starts from the beginning (no
  // checkpoint verified yet).
  gate.ReplaceSlot(1);
  gate.ClearDivergence();
  EXPECT_FALSE(gate.diverged());
  OutputGateStats stats = gate.stats();
  EXPECT_EQ(stats.pending[0], 3u);  // the survivor's unmatched outputs stay
  EXPECT_EQ(stats.pending[1], 0u);
  EXPECT_TRUE(stats.replaying[1]);

  SubmitRange(gate, 1, stream, 0, 5);
  EXPECT_EQ(sink.outputs, Recorded(stream, 5));  // nothing released again
  stats = gate.stats();
  EXPECT_EQ(stats.replayed, 5u);
  EXPECT_FALSE(stats.replaying[1]);

  SubmitRange(gate, 1, stream, 5, 7);
  EXPECT_EQ(sink.outputs, Recorded(stream, 7));
  SubmitRange(gate, 0, stream, 8, 10);
  SubmitRange(gate, 1, stream, 7, 10);
  EXPECT_EQ(sink.outputs, Recorded(stream, 10));
  EXPECT_EQ(gate.stats().released, 10u);
}

TEST(OutputGateTest, AReplacedLeaderCatchesUpWithTheSurvivorsOutputs) {
  const std::vector<GateOutput> stream = Stream(6);
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 1, stream, 0, 6);
  SubmitRange(gate, 0, stream, 0, 3);
  GateOutput bad = stream[3];
  bad.device = "uart1";
  ASSERT_EQ(SubmitTo(gate, 0, bad).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(gate.divergence()->slot, 0);

  gate.ReplaceSlot(0);
  gate.ClearDivergence();
  SubmitRange(gate, 0, stream, 0, 3);
  EXPECT_EQ(sink.outputs, Recorded(stream, 3));
  SubmitRange(gate, 0, stream, 3, 6);
  EXPECT_EQ(sink.outputs, Recorded(stream, 6));
}

TEST(OutputGateTest, ClearingWithoutReplacingDivergesAgain) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  ASSERT_TRUE(SubmitTo(gate, 0, Serial(1, "a")).ok());
  ASSERT_FALSE(SubmitTo(gate, 1, Serial(1, "b")).ok());
  gate.ClearDivergence();
  ASSERT_TRUE(gate.diverged());
  EXPECT_EQ(gate.divergence()->slot, -1);
  EXPECT_TRUE(sink.outputs.empty());
}

TEST(OutputGateTest, AReplacementStartsAtTheLastVerifiedCheckpoint) {
  std::vector<GateOutput> stream;
  stream.reserve(8);
  for (int i = 0; i < 8; ++i) stream.push_back(Serial(i, std::to_string(i)));
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 8);
  SubmitRange(gate, 1, stream, 0, 6);
  gate.Verified(2);  // outputs at ESN 0..2 belong to the checkpoint
  EXPECT_EQ(gate.stats().history, 3u);

  gate.ReplaceSlot(1);  // a crashed follower: no divergence needed
  SubmitRange(gate, 1, stream, 3, 6);
  EXPECT_EQ(sink.outputs, Recorded(stream, 6));
  EXPECT_EQ(gate.stats().replayed, 3u);
  SubmitRange(gate, 1, stream, 6, 8);
  EXPECT_EQ(sink.outputs, Recorded(stream, 8));
}

TEST(OutputGateTest, AReplacementThatDiffersFromHistoryDiverges) {
  const std::vector<GateOutput> stream = Stream(8);
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 8);
  SubmitRange(gate, 1, stream, 0, 4);
  gate.ReplaceSlot(1);

  ASSERT_TRUE(SubmitTo(gate, 1, stream[0]).ok());
  const GateOutput bad = FlipBit(stream[1], 0, 3);
  const absl::Status status = SubmitTo(gate, 1, bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  const OutputDivergence d = *gate.divergence();
  EXPECT_EQ(d.cause, DivergenceCause::kHistoryMismatch);
  EXPECT_EQ(d.index, 1u);
  EXPECT_EQ(d.esn, stream[1].esn);
  EXPECT_EQ(d.slot, 1);
  EXPECT_EQ(d.submitted[1], bad);
  EXPECT_FALSE(d.submitted[0].has_value());
  EXPECT_EQ(d.released, stream[1]);
  EXPECT_EQ(d.first_differing_byte, 0u);
  EXPECT_THAT(d.ToString(), HasSubstr("released was " + stream[1].Describe()));

  // Nothing more is released, though the rest would have matched.
  for (size_t i = 2; i < 8; ++i) {
    EXPECT_EQ(SubmitTo(gate, 1, stream[i]).code(), absl::StatusCode::kAborted);
  }
  EXPECT_EQ(sink.outputs, Recorded(stream, 4));
}

TEST(OutputGateTest, VerifiedTrimsHistoryButKeepsWhatAReplacementStillNeeds) {
  std::vector<GateOutput> stream;
  stream.reserve(10);
  for (int i = 0; i < 10; ++i) stream.push_back(Serial(i, "ab"));
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 10);
  SubmitRange(gate, 1, stream, 0, 10);
  EXPECT_EQ(gate.stats().history, 10u);
  EXPECT_EQ(gate.stats().history_bytes, 20u);

  gate.Verified(3);
  EXPECT_EQ(gate.stats().history, 6u);
  EXPECT_EQ(gate.stats().history_bytes, 12u);
  gate.Verified(1);  // older than what is verified: nothing changes
  EXPECT_EQ(gate.stats().history, 6u);

  // A replacement from the checkpoint at ESN 3 must re-submit 4..9: a later
  // checkpoint cannot drop what it has not re-submitted yet.
  gate.ReplaceSlot(1);
  gate.Verified(7);
  EXPECT_EQ(gate.stats().history, 6u);
  SubmitRange(gate, 1, stream, 4, 6);
  gate.Verified(7);
  EXPECT_EQ(gate.stats().history, 4u);  // ESN 6..9
  SubmitRange(gate, 1, stream, 6, 10);
  gate.Verified(100);
  EXPECT_EQ(gate.stats().history, 0u);
  EXPECT_EQ(gate.stats().history_bytes, 0u);
  EXPECT_EQ(sink.outputs.size(), 10u);
}

TEST(OutputGateTest, ReachingAnEsnWithoutItsOutputDiverges) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  const GateOutput out = Serial(5, "!");
  ASSERT_TRUE(SubmitTo(gate, 0, out).ok());
  EXPECT_TRUE(gate.Reached(1, 4).ok());
  const absl::Status status = gate.Reached(1, 5);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  const OutputDivergence d = *gate.divergence();
  EXPECT_EQ(d.cause, DivergenceCause::kMissingOutput);
  EXPECT_EQ(d.slot, 1);
  EXPECT_EQ(d.esn, 5u);
  EXPECT_EQ(d.reached_esn, 5u);
  EXPECT_EQ(d.index, 0u);
  EXPECT_EQ(d.submitted[0], out);
  EXPECT_THAT(d.ToString(),
              HasSubstr("slot 1 reached ESN 5 without output #0 (ESN 5)"));
  EXPECT_TRUE(sink.outputs.empty());
}

TEST(OutputGateTest, AnOutputBehindTheOtherSlotsProgressDiverges) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  ASSERT_TRUE(gate.Reached(1, 9).ok());
  EXPECT_EQ(SubmitTo(gate, 0, Serial(8, "late")).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(gate.divergence()->cause, DivergenceCause::kMissingOutput);
  EXPECT_EQ(gate.divergence()->slot, 1);
}

TEST(OutputGateTest, AReplacementReachingPastAReleasedOutputDiverges) {
  const std::vector<GateOutput> stream = {Serial(3, "a"), Serial(6, "b")};
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  SubmitRange(gate, 0, stream, 0, 2);
  SubmitRange(gate, 1, stream, 0, 2);
  gate.ReplaceSlot(1);
  ASSERT_TRUE(SubmitTo(gate, 1, stream[0]).ok());
  ASSERT_TRUE(gate.Reached(1, 5).ok());
  EXPECT_FALSE(gate.Reached(1, 6).ok());
  const OutputDivergence d = *gate.divergence();
  EXPECT_EQ(d.cause, DivergenceCause::kMissingOutput);
  EXPECT_EQ(d.index, 1u);
  EXPECT_EQ(d.released, stream[1]);
  EXPECT_THAT(d.ToString(), HasSubstr("which was released"));
}

TEST(OutputGateTest, LatencyRunsFromTheFirstSubmissionToRelease) {
  int64_t now = 0;
  RecordingOutputSink sink;
  OutputGate gate(&sink, {.latency_window = 10, .now_ns = [&] { return now; }});
  for (int i = 1; i <= 100; ++i) {
    now = int64_t{1000} * i;
    ASSERT_TRUE(SubmitTo(gate, 0, Serial(i, "x")).ok());
    now += i;
    ASSERT_TRUE(SubmitTo(gate, 1, Serial(i, "x")).ok());
  }
  EXPECT_THAT(gate.latency_samples(),
              ElementsAre(91, 92, 93, 94, 95, 96, 97, 98, 99, 100));
  const GateLatency l = gate.latency();
  EXPECT_EQ(l.samples, 10u);
  EXPECT_EQ(l.min_ns, 91);
  EXPECT_EQ(l.median_ns, 95);
  EXPECT_EQ(l.p99_ns, 100);
  EXPECT_EQ(l.max_ns, 100);
}

TEST(OutputGateTest, LatencyPercentilesOverAFullWindow) {
  int64_t now = 0;
  RecordingOutputSink sink;
  OutputGate gate(&sink, {.now_ns = [&] { return now; }});
  // The follower runs ahead this time: latency is still from the first.
  for (int i = 1; i <= 200; ++i) {
    now = int64_t{1000} * i;
    ASSERT_TRUE(SubmitTo(gate, 1, Serial(i, "y")).ok());
    now += 201 - i;
    ASSERT_TRUE(SubmitTo(gate, 0, Serial(i, "y")).ok());
  }
  const GateLatency l = gate.latency();
  EXPECT_EQ(l.samples, 200u);
  EXPECT_EQ(l.min_ns, 1);
  EXPECT_EQ(l.median_ns, 100);
  EXPECT_EQ(l.p99_ns, 198);
  EXPECT_EQ(l.max_ns, 200);
}

TEST(OutputGateTest, PendingDiskWritesFollowTheGate) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  const GateOutput w1 = DiskWrite(1, 7, 0xaa);
  const GateOutput w2 = DiskWrite(2, 7, 0xbb);
  ASSERT_TRUE(SubmitTo(gate, 0, w1).ok());
  ASSERT_TRUE(SubmitTo(gate, 0, w2).ok());

  // The leader reads its own unverified writes back; the follower has none.
  std::vector<uint8_t> data(2 * kSectorSize, 0);
  gate.PendingWritesSnapshot(0, 6, 2).Overlay(6, 2, data);
  EXPECT_EQ(data[0], 0);
  EXPECT_EQ(data[kSectorSize], 0xbb);
  EXPECT_TRUE(gate.PendingWritesSnapshot(1, 0, 100).empty());

  ASSERT_TRUE(SubmitTo(gate, 1, w1).ok());
  ASSERT_EQ(sink.outputs.size(), 1u);
  // w1 is in the back-end now; w2, newer, still shows.
  EXPECT_EQ(gate.PendingWritesSnapshot(0, 7, 1).sector_writes(), 1u);
  EXPECT_EQ(gate.PendingWritesSnapshot(1, 7, 1).sector_writes(), 0u);
  ASSERT_TRUE(SubmitTo(gate, 1, w2).ok());
  EXPECT_TRUE(gate.PendingWritesSnapshot(0, 0, 100).empty());
  EXPECT_TRUE(gate.PendingWritesSnapshot(1, 0, 100).empty());

  // A replacement re-submits both: they are in the back-end already.
  gate.ReplaceSlot(1);
  ASSERT_TRUE(SubmitTo(gate, 1, w1).ok());
  ASSERT_TRUE(SubmitTo(gate, 1, w2).ok());
  EXPECT_TRUE(gate.PendingWritesSnapshot(1, 0, 100).empty());
  EXPECT_EQ(sink.outputs.size(), 2u);
}

TEST(OutputGateTest, ALoserUnmatchedDiskWritesAreDiscarded) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  ASSERT_TRUE(SubmitTo(gate, 1, DiskWrite(1, 3, 0x01)).ok());
  ASSERT_FALSE(SubmitTo(gate, 0, DiskWrite(1, 3, 0x02)).ok());
  gate.ReplaceSlot(0);
  EXPECT_TRUE(gate.PendingWritesSnapshot(0, 0, 10).empty());
  EXPECT_EQ(gate.PendingWritesSnapshot(1, 0, 10).sectors(), 1u);
}

TEST(OutputGateTest, RejectsUnknownSlots) {
  RecordingOutputSink sink;
  OutputGate gate(&sink);
  EXPECT_EQ(SubmitTo(gate, 2, Serial(1, "x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gate.Reached(-1, 1).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace xv
