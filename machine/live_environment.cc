#include "machine/live_environment.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_format.h"

namespace xv {

LiveEnvironment::LiveEnvironment(std::unique_ptr<SerialBackend> serial,
                                 std::optional<DiskImage> disk)
    : serial_(std::move(serial)), disk_(std::move(disk)) {}

void LiveEnvironment::StartClock(uint64_t virtual_now_ns) {
  clock_ = HostClock();
  clock_offset_ns_ = virtual_now_ns;
}

void LiveEnvironment::Fail(absl::Status status) {
  if (error_.ok()) error_ = std::move(status);
}

absl::Status LiveEnvironment::Finish() {
  if (!error_.ok()) return error_;
  return disk_ ? disk_->Flush() : absl::OkStatus();
}

void LiveEnvironment::Emit(const DeviceOutput& output) {
  switch (output.kind) {
    case OutputKind::kSerialTx:
      if (absl::Status s = serial_->Write(output.data); !s.ok()) Fail(s);
      break;
    case OutputKind::kDiskWrite:
      if (!disk_) {
        Fail(absl::InternalError("disk write with no disk attached"));
      } else if (absl::Status s = disk_->Write(output.arg, output.data);
                 !s.ok()) {
        Fail(s);
      }
      break;
    case OutputKind::kDiskReadRequest: {
      if (!disk_) {
        Fail(absl::InternalError("disk read with no disk attached"));
        break;
      }
      std::vector<uint8_t> data(size_t{output.count} * kSectorSize);
      if (absl::Status s = disk_->Read(output.arg, data); !s.ok()) {
        Fail(s);
        break;
      }
      completions_.push_back(
          InputEvent::DiskReadCompletion(output.arg, std::move(data)));
      break;
    }
    case OutputKind::kDebugExit:
      break;  // the machine ends the run; nothing leaves for the host
  }
}

void LiveEnvironment::Requeue(std::vector<InputEvent> inputs) {
  std::deque<InputEvent> completions;
  std::vector<uint8_t> rx;
  for (InputEvent& e : inputs) {
    if (e.kind == InputKind::kSerialRx) {
      rx.insert(rx.end(), e.data.begin(), e.data.end());
    } else if (e.kind == InputKind::kDiskReadCompletion) {
      completions.push_back(std::move(e));
    }
  }
  requeued_rx_.insert(requeued_rx_.begin(), rx.begin(), rx.end());
  completions_.insert(completions_.begin(),
                      std::make_move_iterator(completions.begin()),
                      std::make_move_iterator(completions.end()));
}

absl::Status LiveEnvironment::Poll(const Machine& machine,
                                   std::vector<InputEvent>& out) {
  if (!error_.ok()) return error_;
  const PcPlatform& platform = machine.platform();
  const uint64_t host_now = HostNowNs();
  const uint64_t virt_now = platform.clock().now_ns();
  // Advance when the quantum has passed; otherwise only if a timer is due
  // (the deadline walk is skipped when the quantum already decided).
  if (host_now > virt_now) {
    bool advance = host_now - virt_now >= kClockQuantumNs;
    if (!advance) {
      std::optional<uint64_t> deadline = platform.NextDeadlineNs();
      advance = deadline && host_now >= *deadline;
    }
    if (advance) out.push_back(InputEvent::ClockAdvance(host_now));
  }
  while (!completions_.empty()) {
    out.push_back(std::move(completions_.front()));
    completions_.pop_front();
  }
  // Take from the back-end only what the UART can hold now, so input waits
  // in the environment (never dropped by an overrun in the guest).
  size_t room = platform.SerialRxFree();
  if (room > 0 && !requeued_rx_.empty()) {
    const size_t n = std::min(room, requeued_rx_.size());
    std::vector<uint8_t> bytes(requeued_rx_.begin(), requeued_rx_.begin() + n);
    requeued_rx_.erase(requeued_rx_.begin(), requeued_rx_.begin() + n);
    out.push_back(InputEvent::SerialRx(bytes));
    room -= n;
  }
  if (room > 0 && serial_->input_fd() >= 0) {
    rx_buffer_.resize(room);
    auto n = serial_->ReadAvailable(rx_buffer_);
    if (!n.ok()) return n.status();
    if (*n > 0) {
      out.push_back(InputEvent::SerialRx({rx_buffer_.data(), *n}));
    }
  }
  return absl::OkStatus();
}

absl::Status LiveEnvironment::WaitForWakeup(const Machine& machine,
                                            uint64_t host_deadline_ns,
                                            std::vector<InputEvent>& out) {
  if (!error_.ok()) return error_;
  // Disk reads answered since the last Poll wake the guest now. (In a plain
  // run they are always delivered by the Poll right after the request; a
  // replicated run's requests reach the disk later, through the output
  // gate.)
  if (!completions_.empty()) return Poll(machine, out);
  const PcPlatform& platform = machine.platform();
  if (!requeued_rx_.empty() && platform.SerialRxFree() > 0) {
    return Poll(machine, out);
  }
  std::optional<uint64_t> timer = platform.NextDeadlineNs();
  const int fd = platform.SerialRxFree() > 0 ? serial_->input_fd() : -1;
  if (!timer && fd < 0) {
    return absl::FailedPreconditionError(
        "no timer is armed and no serial input can arrive");
  }
  // Sleep until the guest's next timer deadline, the run's deadline or
  // serial input, whichever comes first.
  uint64_t wait_ns = UINT64_MAX;
  const uint64_t host_now = HostNowNs();
  if (timer) wait_ns = *timer > host_now ? *timer - host_now : 0;
  const uint64_t mono_now = HostClock::MonotonicNs();
  wait_ns = std::min(wait_ns, host_deadline_ns > mono_now
                                  ? host_deadline_ns - mono_now
                                  : uint64_t{0});
  if (wait_ns > 0) {
    pollfd pfd{fd, POLLIN, 0};
    timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                static_cast<long>(wait_ns % 1'000'000'000)};
    int r = ::ppoll(fd >= 0 ? &pfd : nullptr, fd >= 0 ? 1 : 0,
                    wait_ns == UINT64_MAX ? nullptr : &ts, nullptr);
    if (r < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "ppoll on the serial input");
    }
  }
  return Poll(machine, out);
}

}  // namespace xv
