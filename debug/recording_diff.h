// RecordingDiff: where two recordings of one kernel first differ — in what
// they logged (the header, an input, an output digest, a state hash, the
// end) and in the state their replays reach, narrowed to one instruction.
//
// The logged comparison needs no replay. Inputs are compared by what the
// guest is told, apart from when: the UART's bytes as one stream, disk
// reads and boundary reads as sequences. A difference in content is a
// differing input; the same content at another exit (and every clock
// advance, which follows host time) is a difference in timing, which two
// recordings of one session almost always have.
//
// The state comparison replays both on the emulator side by side: exit by
// exit while their states (Machine::StateHash) agree, then by bisection
// over the instructions between the last exit where they agree and the
// first where they do not. The point found is one where the states go from
// equal to different; it is the first such point unless the states became
// equal again in between (a flipped bit overwritten before the next exit).
#ifndef EXTRAVIRT_DEBUG_RECORDING_DIFF_H_
#define EXTRAVIRT_DEBUG_RECORDING_DIFF_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "debug/position.h"
#include "debug/replay_session.h"
#include "devices/front_end.h"
#include "replay/log_records.h"

namespace xv {

// One header field that differs: "cmdline", "'' vs 'mib=2'".
struct HeaderDifference {
  std::string field;
  std::string a, b;
};
// Fields that make the machines differ (not who recorded when, nor the
// backend, which any replay may change).
std::vector<HeaderDifference> CompareHeaders(const RecordedMachine& a,
                                             const RecordedMachine& b);
// The headers describe machines that cannot be compared state for state:
// different kernels, memory sizes or disks.
bool StatesComparable(const RecordedMachine& a, const RecordedMachine& b);

// The first logged difference of one kind. `esn_a`/`esn_b`: where each
// recording has it (absent when that recording has nothing there).
struct LoggedDifference {
  enum class Kind : uint8_t {
    kInput,       // different content (which byte, sector or value)
    kTiming,      // the same content at another exit, or a clock advance
    kOutput,      // an output digest
    kCheckpoint,  // a logged state hash at one ESN
    kEnd,         // how and where the recording ended
    kFault,       // a fault injected on purpose (one side only, or other)
  };
  Kind kind = Kind::kInput;
  std::optional<uint64_t> esn_a, esn_b;
  std::string what;  // "serial_rx byte 16", "uart0 outputs", ...
  std::string a, b;  // each side's value, for people

  // The earlier of the two ESNs.
  uint64_t esn() const;
};
std::string_view DifferenceKindName(LoggedDifference::Kind kind);

// The first difference of each kind found, in ESN order.
std::vector<LoggedDifference> CompareLogged(const LoggedRecording& a,
                                            const LoggedRecording& b);

struct RegisterDifference {
  std::string name;
  uint64_t a = 0, b = 0;
};
struct PageDifference {
  uint64_t gpa = 0;               // the page's first byte
  uint32_t bytes_differing = 0;   // of its 4096
  std::vector<uint32_t> offsets;  // the first few differing byte offsets
};
// A front-end whose state differs, and the fields that do.
struct DeviceDifference {
  std::string device;  // "uart0"
  std::vector<DeviceFieldDifference> fields;
};
struct StateDifference {
  // Instructions since boot: equal on both sides up to the point found.
  uint64_t time = 0;
  Position position_a, position_b;
  std::vector<RegisterDifference> registers;
  // The CPU states differ beyond the registers listed (x87/SSE, segment
  // state, MSRs, the queued interrupt).
  bool other_cpu_state = false;
  uint64_t pages_differing = 0;
  std::vector<PageDifference> pages;      // the first kMaxPagesShown
  std::vector<DeviceDifference> devices;  // front-ends whose state differs
  bool clock = false;                     // the virtual clock differs
};
inline constexpr size_t kMaxPagesShown = 16;
inline constexpr size_t kMaxOffsetsShown = 8;

// Replays both sessions (fresh, at boot) side by side and leaves them at the
// first point where their states differ (see above); nullopt when they
// agree at every exit both reach. `progress(esn)` is told of each exit
// compared.
absl::StatusOr<std::optional<StateDifference>> LocateStateDifference(
    ReplaySession& a, ReplaySession& b,
    absl::FunctionRef<void(uint64_t)> progress);

// What differs between the two sessions' present states (at one time).
absl::StatusOr<StateDifference> DescribeStateDifference(ReplaySession& a,
                                                        ReplaySession& b);

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_RECORDING_DIFF_H_
