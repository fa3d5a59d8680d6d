// LiveEnvironment: the back-ends of a live run (DESIGN §2): the serial
// back-end, the disk image and the host clock. It receives the guest's
// outputs (OutputSink) and produces its inputs (InputSource).
//
// This is the only place where host time becomes guest time: Poll() turns
// the host clock into ClockAdvance inputs, when a timer deadline has passed
// or at least kClockQuantumNs has gone by, so the log of a recorded run
// holds at most ~1000 clock inputs per second.
#ifndef EXTRAVIRT_MACHINE_LIVE_ENVIRONMENT_H_
#define EXTRAVIRT_MACHINE_LIVE_ENVIRONMENT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "devices/disk_image.h"
#include "devices/host_clock.h"
#include "devices/output_sink.h"
#include "devices/serial_backend.h"
#include "machine/run_loop.h"

namespace xv {

inline constexpr uint64_t kClockQuantumNs = 1'000'000;

class LiveEnvironment : public OutputSink, public InputSource {
 public:
  LiveEnvironment(std::unique_ptr<SerialBackend> serial,
                  std::optional<DiskImage> disk);

  // Capacity of the attached disk, 0 without one.
  uint64_t disk_sectors() const { return disk_ ? disk_->sectors() : 0; }

  // Aligns host time with the guest's virtual time `virtual_now_ns`, so the
  // guest sees time pass from now on at host speed.
  void StartClock(uint64_t virtual_now_ns);

  // End of the run: makes the disk image's writes durable (fsync) and
  // reports any back-end failure not yet reported.
  absl::Status Finish();

  // Inputs handed out but never applied for good (a replicated run's
  // faulty leader had them; DESIGN §4): serial bytes go back in front of
  // the back-end's, paced by the UART's room again; disk completions are
  // delivered first at the next Poll. Clock advances and boundary reads are
  // dropped: they describe the moment they were taken and are taken anew.
  void Requeue(std::vector<InputEvent> inputs);

  void Emit(const DeviceOutput& output) override;
  absl::Status Poll(const Machine& machine,
                    std::vector<InputEvent>& out) override;
  absl::Status WaitForWakeup(const Machine& machine, uint64_t host_deadline_ns,
                             std::vector<InputEvent>& out) override;

 private:
  uint64_t HostNowNs() const { return clock_.ElapsedNs() + clock_offset_ns_; }
  void Fail(absl::Status status);

  std::unique_ptr<SerialBackend> serial_;
  std::optional<DiskImage> disk_;
  HostClock clock_;
  uint64_t clock_offset_ns_ = 0;
  // Disk reads answered by the image, delivered at the next Poll.
  std::deque<InputEvent> completions_;
  // The first back-end failure seen in Emit(), which cannot return it.
  absl::Status error_;
  std::vector<uint8_t> rx_buffer_;
  // Re-queued serial bytes, taken before the back-end's.
  std::deque<uint8_t> requeued_rx_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_LIVE_ENVIRONMENT_H_
