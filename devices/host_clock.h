// HostClock: the environment's time (DESIGN §2 back-end), the only source
// from which the virtual clock is advanced in a live run.
#ifndef EXTRAVIRT_DEVICES_HOST_CLOCK_H_
#define EXTRAVIRT_DEVICES_HOST_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace xv {

class HostClock {
 public:
  HostClock() : start_ns_(MonotonicNs()) {}
  // Nanoseconds since construction (CLOCK_MONOTONIC).
  uint64_t ElapsedNs() const { return MonotonicNs() - start_ns_; }
  static uint64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(ts.tv_nsec);
  }

 private:
  uint64_t start_ns_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_HOST_CLOCK_H_
