// VirtualClock: the replica's notion of time, in nanoseconds since boot.
//
// It moves only when an input event advances it (DESIGN §2: time is an
// input), so every replica and every replay sees the same times at the same
// exits. PIT and RTC compute everything they show from it.
#ifndef EXTRAVIRT_DEVICES_VIRTUAL_CLOCK_H_
#define EXTRAVIRT_DEVICES_VIRTUAL_CLOCK_H_

#include <cstdint>

#include "base/check.h"

namespace xv {

class VirtualClock {
 public:
  uint64_t now_ns() const { return now_ns_; }
  // Time never goes backwards; callers validate inputs before applying them.
  void AdvanceTo(uint64_t ns) {
    XV_CHECK(ns >= now_ns_, "virtual time went backwards");
    now_ns_ = ns;
  }
  // For checkpoint restore only.
  void Restore(uint64_t ns) { now_ns_ = ns; }

 private:
  uint64_t now_ns_ = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_VIRTUAL_CLOCK_H_
