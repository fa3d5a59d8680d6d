#include "devices/pc_platform.h"

#include <algorithm>

#include "base/check.h"
#include "devices/ata_disk.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/uart16550.h"
#include "devices/vro.h"

namespace xv {
namespace {

constexpr int kPitIrq = 0;
constexpr int kUartIrq = 4;
constexpr int kRtcIrq = 8;
constexpr int kAtaIrq = 14;

}  // namespace

struct PcPlatform::Devices {
  Devices(const PcPlatformConfig& config, const VirtualClock* clock,
          OutputSink* sink)
      : pit(clock, &pic, kPitIrq),
        rtc(clock, &pic, kRtcIrq, config.rtc_epoch_seconds),
        uart(clock, &pic, kUartIrq, sink),
        ata(config.disk_sectors, &pic, kAtaIrq, sink),
        debug_exit(sink) {}

  // Declared first: every other front-end drives its IRQ lines into it.
  PicPair pic;
  Pit8254 pit;
  CmosRtc rtc;
  Uart16550 uart;
  AtaDisk ata;
  DebugExit debug_exit;
  Vro vro;

  // The owner of `port`, or nullptr.
  FrontEnd* Claim(uint16_t port) {
    switch (port) {
      case 0x20:
      case 0x21:
      case 0xa0:
      case 0xa1:
      case 0x4d0:
      case 0x4d1:
        return &pic;
      case 0x40:
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x61:
        return &pit;
      case 0x70:
      case 0x71:
        return &rtc;
      case kVroPort:
        return &vro;
      case AtaDisk::kControlPort:
        return &ata;
      default:
        break;
    }
    if (port >= Uart16550::kBase && port < Uart16550::kBase + 8) return &uart;
    if (port >= AtaDisk::kCommandBase && port < AtaDisk::kCommandBase + 8) {
      return &ata;
    }
    if (port >= DebugExit::kBase &&
        port < DebugExit::kBase + DebugExit::kSize) {
      return &debug_exit;
    }
    return nullptr;
  }

  // Every front-end in front_ends() order, without building a vector (the
  // clock advances on every input).
  template <typename Fn>
  void ForEach(Fn&& fn) {
    fn(pic);
    fn(pit);
    fn(rtc);
    fn(uart);
    fn(ata);
    fn(debug_exit);
    fn(vro);
  }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    fn(pic);
    fn(pit);
    fn(rtc);
    fn(uart);
    fn(ata);
    fn(debug_exit);
    fn(vro);
  }

  // Ports that take a 16/32-bit access whole; everywhere else a wide access
  // is split into byte accesses, which may reach different devices.
  static bool TakesWideAccess(uint16_t port) {
    return port == AtaDisk::kCommandBase ||
           (port >= DebugExit::kBase &&
            port < DebugExit::kBase + DebugExit::kSize);
  }
};

PcPlatform::PcPlatform(const PcPlatformConfig& config, OutputSink* sink)
    : devices_(std::make_unique<Devices>(config, &clock_, sink)) {
  XV_CHECK(sink != nullptr, "PcPlatform needs an output sink");
  // Drive every IRQ line to its level at virtual time 0.
  devices_->ForEach([](FrontEnd& f) { f.OnClockAdvanced(); });
}

PcPlatform::~PcPlatform() = default;

const FrontEnd* PcPlatform::PioRead(uint16_t port, std::span<uint8_t> data) {
  FrontEnd* owner = devices_->Claim(port);
  if (data.size() == 1 ||
      (owner != nullptr && Devices::TakesWideAccess(port))) {
    if (owner != nullptr) {
      owner->PioRead(port, data);
    } else {
      std::fill(data.begin(), data.end(), 0xff);
    }
    return owner;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const uint16_t p = static_cast<uint16_t>(port + i);
    FrontEnd* f = devices_->Claim(p);
    if (f != nullptr) {
      f->PioRead(p, data.subspan(i, 1));
    } else {
      data[i] = 0xff;
    }
  }
  return owner;
}

const FrontEnd* PcPlatform::PioWrite(uint16_t port,
                                     std::span<const uint8_t> data) {
  FrontEnd* owner = devices_->Claim(port);
  if (data.size() == 1 ||
      (owner != nullptr && Devices::TakesWideAccess(port))) {
    if (owner != nullptr) owner->PioWrite(port, data);
    return owner;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const uint16_t p = static_cast<uint16_t>(port + i);
    if (FrontEnd* f = devices_->Claim(p)) f->PioWrite(p, data.subspan(i, 1));
  }
  return owner;
}

void PcPlatform::AdvanceClockTo(uint64_t ns) {
  clock_.AdvanceTo(ns);
  devices_->ForEach([](FrontEnd& f) { f.OnClockAdvanced(); });
}

size_t PcPlatform::SerialRxFree() const { return devices_->uart.RxFree(); }

void PcPlatform::SerialReceive(std::span<const uint8_t> bytes) {
  devices_->uart.Receive(bytes);
}

absl::Status PcPlatform::DiskReadCompleted(uint64_t lba,
                                           std::span<const uint8_t> data) {
  return devices_->ata.DiskReadCompleted(lba, data);
}

absl::Status PcPlatform::DiskReadFailed(uint64_t lba) {
  return devices_->ata.DiskReadFailed(lba);
}

bool PcPlatform::InterruptPending() const {
  return devices_->pic.InterruptPending();
}

uint8_t PcPlatform::AcknowledgeInterrupt() {
  return devices_->pic.AcknowledgeInterrupt();
}

std::optional<uint64_t> PcPlatform::NextDeadlineNs() const {
  std::optional<uint64_t> best;
  auto consider = [&](const FrontEnd& f, int irq) {
    if (!devices_->pic.IrqUnmasked(irq)) return;
    const std::optional<uint64_t> d = f.NextDeadlineNs();
    if (d && (!best || *d < *best)) best = d;
  };
  // The front-ends with timers, and the lines their deadlines raise.
  consider(devices_->pit, kPitIrq);
  consider(devices_->rtc, kRtcIrq);
  consider(devices_->uart, kUartIrq);
  return best;
}

std::vector<FrontEnd*> PcPlatform::front_ends() {
  std::vector<FrontEnd*> all;
  devices_->ForEach([&all](FrontEnd& f) { all.push_back(&f); });
  return all;
}

std::vector<const FrontEnd*> PcPlatform::front_ends() const {
  std::vector<const FrontEnd*> all;
  devices_->ForEach([&all](const FrontEnd& f) { all.push_back(&f); });
  return all;
}

}  // namespace xv
