// CmosRtc: the MC146818A real-time clock and its 128 bytes of CMOS RAM at
// 0x70 (index; bit 7 masks NMI) / 0x71 (data), IRQ8. QEMU's
// hw/rtc/mc146818rtc.c is the behavioural reference.
//
// Time is virtual: the clock shows rtc_epoch_seconds + virtual time, moved by
// whatever the guest writes into the time registers. Update cycles happen
// when the shown time crosses a whole second: UF is set then, AF when the
// new time matches the alarm ("don't care" = 0xc0-0xff), and UIP reads 1 for
// the last 244 us (8 cycles of 32.768 kHz) before each update, as in QEMU.
// Periodic interrupts (PF) follow the rate in register A on the 32.768 kHz
// divider chain counted from virtual time 0; like QEMU, PF is only set while
// PIE is enabled. While SET is 1 or the divider is not running, the time
// registers hold what was there (or what the guest wrote) and no update
// cycles happen; clearing SET resumes counting from those registers with the
// sub-second phase kept, releasing the divider reset starts the first update
// half a second later.
//
// Deliberately not modelled: daylight saving (DSE), the square-wave output,
// the date alarm of later chips, and QEMU's lost-tick reinjection.
#ifndef EXTRAVIRT_DEVICES_CMOS_RTC_H_
#define EXTRAVIRT_DEVICES_CMOS_RTC_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "devices/device_state.h"
#include "devices/front_end.h"
#include "devices/irq_sink.h"
#include "devices/virtual_clock.h"

namespace xv {

class CmosRtc : public FrontEnd {
 public:
  // Registers A-D power up as in QEMU: 0x26, 0x02 (24 h, BCD), 0x00, 0x80.
  CmosRtc(const VirtualClock* clock, IrqSink* irq, int irq_line,
          int64_t epoch_seconds);

  std::string_view name() const override { return "rtc"; }
  uint32_t state_version() const override { return 1; }

  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override;
  absl::Status LoadState(StateReader& r) override;
  void OnClockAdvanced() override;
  // The next update, alarm or periodic tick that would raise IRQ8 (only
  // while IRQ8 is low and the matching interrupt is enabled).
  std::optional<uint64_t> NextDeadlineNs() const override;

  // UTC seconds since the Unix epoch that the clock counts now (also while
  // the registers are frozen).
  int64_t CountedSeconds() const;
  bool nmi_disabled() const { return nmi_disabled_; }

 private:
  bool Running() const;
  // Shown time in ns since the Unix epoch at virtual time `t`.
  __int128 RtcNs(uint64_t t) const;
  void SetRtcNsAtNow(__int128 rtc_ns);
  uint8_t TimeRegister(int index, int64_t seconds) const;
  int64_t SecondsFromRegisters() const;
  void Freeze();
  void Thaw(bool keep_phase);
  void WriteTimeRegister(int index, uint8_t value);
  std::optional<int64_t> SecondsUntilAlarm(int64_t from_seconds) const;
  uint32_t PeriodicTicks() const;
  bool IrqFlag() const;

  void Sync();
  void UpdateIrq();
  uint8_t ReadData();
  void WriteData(uint8_t value);

  const VirtualClock* clock_;
  IrqSink* irq_;
  int irq_line_;
  int64_t epoch_seconds_;

  std::array<uint8_t, 128> cmos_{};
  uint8_t index_ = 0;
  bool nmi_disabled_ = false;
  // Shown time = (epoch_seconds_ + delta_seconds_) s + sub_ns_ ns + virtual
  // time; guest writes to the time registers move delta and sub.
  int64_t delta_seconds_ = 0;
  uint32_t sub_ns_ = 0;
  uint64_t synced_ns_ = 0;
  bool irq_level_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_CMOS_RTC_H_
