#include "replica/fault_campaign.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

const GoldenRun kGolden{.output = "hello, world\nsum=42\n", .exit_status = 0};

FaultRunOutcome Clean() {
  FaultRunOutcome run;
  run.output = kGolden.output;
  run.exit_status = 0;
  run.completed = true;
  run.injected = true;
  run.injected_at_ms = 10;
  return run;
}

FaultRunDivergence Divergence(uint64_t esn, bool recovered,
                              double detected_at_ms,
                              std::optional<double> recovery_ms = {}) {
  return {.esn = esn,
          .trigger = "checkpoint",
          .recovered = recovered,
          .recovery_ms = recovery_ms,
          .detected_at_ms = detected_at_ms};
}

FaultClass ClassOf(const FaultRunOutcome& run) {
  return ClassifyFaultRun(kGolden, run).fault_class;
}

TEST(FaultCampaignTest, NoDivergenceAndGoldenOutputIsMasked) {
  EXPECT_EQ(ClassOf(Clean()), FaultClass::kMasked);
}

TEST(FaultCampaignTest, RecoveredDivergencesWithGoldenOutputAreRecovered) {
  FaultRunOutcome run = Clean();
  run.divergences = {Divergence(40, true, 12, 3.5),
                     Divergence(90, true, 20, 4)};
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kRecovered);
  EXPECT_THAT(c.reason, HasSubstr("2 divergences"));
}

TEST(FaultCampaignTest, RecoveredButWrongOutputIsSilentCorruption) {
  FaultRunOutcome run = Clean();
  run.divergences = {Divergence(40, true, 12, 3.5)};
  run.output = "hello, world\nsum=43\n";  // same length, one byte differs
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kSilentCorruption);
  EXPECT_THAT(c.reason, HasSubstr("at byte 18"));
}

TEST(FaultCampaignTest, EqualLengthDifferenceIsSilentCorruption) {
  FaultRunOutcome run = Clean();
  run.output[0] = 'j';  // no divergence reported at all
  EXPECT_EQ(ClassOf(run), FaultClass::kSilentCorruption);
}

TEST(FaultCampaignTest, WrongExitStatusIsSilentCorruption) {
  FaultRunOutcome run = Clean();
  run.exit_status = 1;
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kSilentCorruption);
  EXPECT_THAT(c.reason, HasSubstr("exit status 1"));
}

TEST(FaultCampaignTest, CompletedRunWithAPrefixOnlyIsSilentCorruption) {
  // The guest "ended" early, e.g. a corrupted replica's debug-exit got out.
  FaultRunOutcome run = Clean();
  run.output = "hello";
  EXPECT_EQ(ClassOf(run), FaultClass::kSilentCorruption);
}

TEST(FaultCampaignTest, FailSafeWithAPrefixIsFailSafe) {
  FaultRunOutcome run = Clean();
  run.output = "hello, wo";
  run.fail_safe = true;
  run.completed = false;
  run.exit_status = 123;  // not compared: the run did not finish
  run.divergences = {Divergence(40, false, 12)};
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kFailSafe);
  EXPECT_THAT(c.reason, HasSubstr("9 of 20 bytes"));
  run.output = "";  // nothing released at all is a prefix too
  EXPECT_EQ(ClassOf(run), FaultClass::kFailSafe);
}

TEST(FaultCampaignTest, FailSafeWithANonPrefixIsSilentCorruption) {
  FaultRunOutcome run = Clean();
  run.output = "hellO";  // released before the stop, and wrong
  run.fail_safe = true;
  run.completed = false;
  run.divergences = {Divergence(40, false, 12)};
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kSilentCorruption);
  EXPECT_THAT(c.reason, HasSubstr("at byte 4"));
}

TEST(FaultCampaignTest, MoreOutputThanGoldenIsSilentCorruption) {
  FaultRunOutcome run = Clean();
  run.output += "extra";
  Classification c = ClassifyFaultRun(kGolden, run);
  EXPECT_EQ(c.fault_class, FaultClass::kSilentCorruption);
  EXPECT_THAT(c.reason, HasSubstr("more than"));
  run.fail_safe = true;  // even when it stopped fail-safe afterwards
  EXPECT_EQ(ClassOf(run), FaultClass::kSilentCorruption);
}

TEST(FaultCampaignTest, FaultNeverReachedIsNotInjected) {
  FaultRunOutcome run = Clean();
  run.injected = false;
  run.injected_at_ms.reset();
  EXPECT_EQ(ClassOf(run), FaultClass::kNotInjected);
  // ... unless the output is wrong anyway.
  run.output[3] = '?';
  EXPECT_EQ(ClassOf(run), FaultClass::kSilentCorruption);
}

TEST(FaultCampaignTest, RunsThatFitNoClassAreUnexplained) {
  FaultRunOutcome unrecovered = Clean();
  unrecovered.divergences = {Divergence(40, true, 12, 1),
                             Divergence(80, false, 30)};
  Classification c = ClassifyFaultRun(kGolden, unrecovered);
  EXPECT_EQ(c.fault_class, FaultClass::kUnexplained);
  EXPECT_THAT(c.reason, HasSubstr("ESN 80"));

  FaultRunOutcome spurious = Clean();
  spurious.injected = false;
  spurious.divergences = {Divergence(5, true, 1, 1)};
  EXPECT_EQ(ClassOf(spurious), FaultClass::kUnexplained);

  FaultRunOutcome timed_out = Clean();
  timed_out.output = "hello";
  timed_out.completed = false;
  timed_out.exit_status = 124;
  EXPECT_EQ(ClassOf(timed_out), FaultClass::kUnexplained);

  FaultRunOutcome host = Clean();
  host.output = "hel";
  host.completed = false;
  host.host_error = "KVM_RUN: EFAULT";
  c = ClassifyFaultRun(kGolden, host);
  EXPECT_EQ(c.fault_class, FaultClass::kUnexplained);
  EXPECT_THAT(c.reason, HasSubstr("KVM_RUN"));
  host.output = "hex";  // a host failure does not excuse wrong output
  EXPECT_EQ(ClassOf(host), FaultClass::kSilentCorruption);
}

TEST(FaultCampaignTest, EveryClassHasItsName) {
  EXPECT_EQ(FaultClassName(FaultClass::kMasked), "masked");
  EXPECT_EQ(FaultClassName(FaultClass::kRecovered), "recovered");
  EXPECT_EQ(FaultClassName(FaultClass::kFailSafe), "fail_safe");
  EXPECT_EQ(FaultClassName(FaultClass::kSilentCorruption), "silent_corruption");
  EXPECT_EQ(FaultClassName(FaultClass::kNotInjected), "not_injected");
  EXPECT_EQ(FaultClassName(FaultClass::kUnexplained), "unexplained");
}

TEST(FaultCampaignTest, TallyCountsClassesAndLatencies) {
  FaultCampaignTally tally;
  auto add = [&](const FaultRunOutcome& run) {
    tally.Add(run, ClassifyFaultRun(kGolden, run));
  };
  add(Clean());  // masked: no latency
  for (int i = 1; i <= 4; ++i) {
    FaultRunOutcome run = Clean();
    run.injected_at_ms = 100;
    // Detection 1, 2, 3, 4 ms after injection; recovery 10, 20, 30, 40 ms.
    run.divergences = {Divergence(50, true, 100 + i, 10.0 * i)};
    add(run);
  }
  FaultRunOutcome failed = Clean();
  failed.output = "hello";
  failed.fail_safe = true;
  failed.completed = false;
  failed.injected_at_ms = 5;
  failed.divergences = {Divergence(9, false, 105)};  // detection 100 ms
  add(failed);
  FaultRunOutcome missed = Clean();
  missed.injected = false;
  missed.injected_at_ms.reset();
  add(missed);

  EXPECT_EQ(tally.runs(), 7u);
  EXPECT_EQ(tally.injected_runs(), 6u);
  EXPECT_EQ(tally.count(FaultClass::kMasked), 1u);
  EXPECT_EQ(tally.count(FaultClass::kRecovered), 4u);
  EXPECT_EQ(tally.count(FaultClass::kFailSafe), 1u);
  EXPECT_EQ(tally.count(FaultClass::kNotInjected), 1u);
  EXPECT_EQ(tally.count(FaultClass::kSilentCorruption), 0u);
  EXPECT_DOUBLE_EQ(tally.percent(FaultClass::kRecovered), 400.0 / 6);
  EXPECT_DOUBLE_EQ(tally.percent(FaultClass::kNotInjected), 0);

  Percentiles detection = tally.detection_latency_ms();
  EXPECT_EQ(detection.samples, 5u);  // 1, 2, 3, 4, 100
  EXPECT_DOUBLE_EQ(*detection.median, 3);
  EXPECT_DOUBLE_EQ(*detection.p99, 100);
  Percentiles recovery = tally.recovery_ms();
  EXPECT_EQ(recovery.samples, 4u);  // unrecovered divergences have none
  EXPECT_DOUBLE_EQ(*recovery.median, 20);
  EXPECT_DOUBLE_EQ(*recovery.p99, 40);
}

TEST(FaultCampaignTest, EmptyTallyHasNoPercentagesOrLatencies) {
  FaultCampaignTally tally;
  EXPECT_EQ(tally.runs(), 0u);
  EXPECT_EQ(tally.percent(FaultClass::kMasked), 0);
  EXPECT_FALSE(tally.detection_latency_ms().median.has_value());
  EXPECT_FALSE(tally.recovery_ms().p99.has_value());
}

}  // namespace
}  // namespace xv
