#include "replay/inputs_at_esn.h"

#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Entry {
  uint64_t esn = 0;
  InputEvent input;
};

InputEvent Rx(uint8_t b) { return InputEvent::SerialRx({&b, 1}); }

// What a caller makes of a missed input; says which ESN it was told.
absl::Status Missed(uint64_t esn) {
  return absl::InternalError(absl::StrFormat("missed ESN %d", esn));
}

TEST(InputsAtEsnTest, EachInputIsHandedOutOnceAtItsEsn) {
  const std::vector<Entry> log = {{2, Rx('a')}, {5, Rx('b')}};
  size_t next = 0;
  InputsInMemory inputs(log, next);
  std::vector<InputEvent> out;
  ASSERT_TRUE(TakeInputsAt(inputs, 2, out, Missed).ok());
  EXPECT_THAT(out, ElementsAre(Rx('a')));
  // Asked again at the same exit (a halted guest asks while it waits):
  // nothing more, not the same input twice.
  out.clear();
  ASSERT_TRUE(TakeInputsAt(inputs, 2, out, Missed).ok());
  EXPECT_THAT(out, IsEmpty());
  ASSERT_TRUE(TakeInputsAt(inputs, 5, out, Missed).ok());
  EXPECT_THAT(out, ElementsAre(Rx('b')));
  EXPECT_EQ(next, 2u);
}

TEST(InputsAtEsnTest, SeveralInputsAtOneEsnComeInLogOrder) {
  const std::deque<Entry> log = {
      {3, Rx('x')}, {3, Rx('y')}, {3, Rx('z')}, {4, Rx('w')}};
  size_t next = 0;
  InputsInMemory inputs(log, next);
  std::vector<InputEvent> out;
  ASSERT_TRUE(TakeInputsAt(inputs, 3, out, Missed).ok());
  EXPECT_THAT(out, ElementsAre(Rx('x'), Rx('y'), Rx('z')));
  EXPECT_EQ(next, 3u);
}

TEST(InputsAtEsnTest, NoInputsForOtherEsns) {
  const std::vector<Entry> log = {{4, Rx('a')}, {9, Rx('b')}};
  size_t next = 0;
  InputsInMemory inputs(log, next);
  std::vector<InputEvent> out;
  for (uint64_t esn : {0, 1, 3}) {
    ASSERT_TRUE(TakeInputsAt(inputs, esn, out, Missed).ok());
  }
  EXPECT_THAT(out, IsEmpty());
  ASSERT_TRUE(TakeInputsAt(inputs, 4, out, Missed).ok());
  out.clear();
  for (uint64_t esn : {5, 6, 8}) {
    ASSERT_TRUE(TakeInputsAt(inputs, esn, out, Missed).ok());
  }
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(next, 1u);
  // Past the end of the log: nothing, and no error.
  ASSERT_TRUE(TakeInputsAt(inputs, 9, out, Missed).ok());
  ASSERT_TRUE(TakeInputsAt(inputs, 12, out, Missed).ok());
  EXPECT_THAT(out, ElementsAre(Rx('b')));
}

TEST(InputsAtEsnTest, AnInputAtAPassedEsnIsTheCallersErrorAndNothingIsTaken) {
  const std::vector<Entry> log = {{2, Rx('a')}, {6, Rx('b')}};
  size_t next = 0;
  InputsInMemory inputs(log, next);
  std::vector<InputEvent> out;
  absl::Status s = TakeInputsAt(inputs, 6, out, Missed);
  EXPECT_EQ(s, absl::InternalError("missed ESN 2"));
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(next, 0u);
  // The walk never goes back: the missed input stays missed.
  EXPECT_EQ(TakeInputsAt(inputs, 7, out, Missed),
            absl::InternalError("missed ESN 2"));
}

// A log with records that are no inputs between the inputs, and a read
// error at its end, as the replayer's file is.
class MixedLog : public LoggedInputs {
 public:
  struct Item {
    uint64_t esn;
    std::optional<InputEvent> input;  // unset: a checkpoint, say
  };
  explicit MixedLog(std::vector<Item> items) : items_(std::move(items)) {}

  absl::StatusOr<std::optional<NextLogged>> Peek() override {
    if (next_ == items_.size()) return absl::DataLossError("torn");
    return NextLogged{.esn = items_[next_].esn,
                      .is_input = items_[next_].input.has_value()};
  }
  void TakeInput(std::vector<InputEvent>& out) override {
    out.push_back(*items_[next_++].input);
  }
  // Moves past a record that is no input, as its owner would.
  void Skip() { ++next_; }

 private:
  std::vector<Item> items_;
  size_t next_ = 0;
};

TEST(InputsAtEsnTest, ARecordThatIsNoInputEndsTheWalkButIsCheckedForItsEsn) {
  MixedLog log({{3, Rx('a')}, {3, std::nullopt}, {3, Rx('b')}});
  std::vector<InputEvent> out;
  ASSERT_TRUE(TakeInputsAt(log, 3, out, Missed).ok());
  EXPECT_THAT(out, ElementsAre(Rx('a')));
  EXPECT_EQ(TakeInputsAt(log, 4, out, Missed),
            absl::InternalError("missed ESN 3"));
  log.Skip();
  EXPECT_EQ(TakeInputsAt(log, 3, out, Missed).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_THAT(out, ElementsAre(Rx('a'), Rx('b')));
}

}  // namespace
}  // namespace xv
