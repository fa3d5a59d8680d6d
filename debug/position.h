// Position: a point of a replay finer than an exit — the ESN of the last
// exit and the instructions begun since it (hypervisor/instruction_control.h
// says what one instruction is). "120" is the rendezvous after exit 120,
// "120+35" the point 35 instructions later. Only a backend with
// InstructionControl (the emulator) can reach a point with steps > 0.
#ifndef EXTRAVIRT_DEBUG_POSITION_H_
#define EXTRAVIRT_DEBUG_POSITION_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace xv {

struct Position {
  uint64_t esn = 0;
  uint64_t steps = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

// "ESN" or "ESN+N", decimal. An error names what is wrong with `text`.
absl::StatusOr<Position> ParsePosition(std::string_view text);
// "ESN+N", or "ESN" when N is 0.
std::string FormatPosition(const Position& position);

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_POSITION_H_
