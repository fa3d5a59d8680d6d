// Pit8254: the Intel 8254 programmable interval timer at 0x40-0x43 (three
// counters clocked at 1193182 Hz; counter 0's OUT drives IRQ0), plus system
// control port B at 0x61 (counter 2's gate and OUT, speaker data, refresh
// toggle), which on a PC is wired to the same chip.
//
// Everything is computed from the virtual clock: the counters see
// floor(ns * 1193182 / 1e9) input ticks since boot, never host time.
//
// IRQ0 and elapsed time: OnClockAdvanced() looks at the ticks elapsed since
// the last call. If OUT0 had any rising edge in that interval, IRQ0 gets one
// pulse (low, then high) and then the level OUT0 has now; several periods
// elapsed in one advance therefore collapse into a single latched request in
// the PIC, just as a real 8259 loses ticks it has not yet acknowledged. A
// guest that counts ticks to keep time must read the counter (or the RTC) to
// catch up, as on hardware with interrupts held off.
#ifndef EXTRAVIRT_DEVICES_PIT8254_H_
#define EXTRAVIRT_DEVICES_PIT8254_H_

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

class Pit8254 : public FrontEnd {
 public:
  static constexpr uint64_t kInputHz = 1193182;

  // Power-on state as QEMU leaves it: every counter in mode 3 with a count
  // of 65536 started at time 0; counters 0 and 1 gated on, counter 2 off.
  Pit8254(const VirtualClock* clock, IrqSink* irq, int irq_line);

  std::string_view name() const override { return "pit"; }
  uint32_t state_version() const override { return 1; }

  // 0x40-0x43 and 0x61.
  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override;
  absl::Status LoadState(StateReader& r) override;
  void OnClockAdvanced() override;
  // The next rising edge of OUT0, rounded up to a whole ns so that advancing
  // the clock to it does cross the edge.
  std::optional<uint64_t> NextDeadlineNs() const override;

  // OUT of a counter now.
  bool Out(int counter) const;

  // Input ticks elapsed at `ns`, and the first ns at which `tick` has elapsed.
  static uint64_t TicksAt(uint64_t ns);
  static uint64_t NsOfTick(uint64_t tick);

 private:
  struct Counter {
    uint8_t mode_bits = 3;  // M2..M0 as programmed (6, 7 act as 2, 3)
    uint8_t access = 3;     // 1: LSB, 2: MSB, 3: LSB then MSB
    bool bcd = false;
    bool gate = true;
    bool read_msb_next = false;
    bool write_msb_next = false;
    uint8_t write_lsb = 0;
    uint8_t latch_bytes = 0;  // 0 none, 1 LSB, 2 MSB, 3 LSB then MSB
    uint16_t latched_count = 0;
    bool status_latched = false;
    uint8_t latched_status = 0;
    // Count register: the reload value last written (1..65536, BCD: 10000).
    uint32_t reload = 65536;
    bool reload_written = false;  // since the last control word
    // Counting element: `armed` once a count is loaded. While armed, `d`
    // ticks have been counted since the load: d = frozen + (t - base_tick)
    // while `counting`, else frozen.
    bool armed = true;
    uint32_t count = 65536;
    bool counting = true;
    uint64_t base_tick = 0;
    uint64_t frozen = 0;
    // Modes 2/3: a count written while running loads at the end of the
    // current period, at tick `reload_tick`.
    bool reload_pending = false;
    uint64_t reload_tick = 0;
    // Read-back status NULL COUNT: set until the count register reaches the
    // counting element, at tick `null_until`.
    uint64_t null_until = 0;

    int mode() const { return mode_bits >= 6 ? mode_bits - 4 : mode_bits; }
  };

  uint64_t NowTick() const { return TicksAt(clock_->now_ns()); }
  static uint64_t Counted(const Counter& c, uint64_t t);
  static bool OutAt(const Counter& c, uint64_t t);
  static bool RisingEdgeBetween(const Counter& c, uint64_t t0, uint64_t t1);
  static std::optional<uint64_t> NextRisingEdge(const Counter& c, uint64_t t);
  static uint32_t CounterValue(const Counter& c, uint64_t t);
  static uint8_t StatusByte(const Counter& c, uint64_t t);
  static void Restart(Counter& c, uint64_t t, uint32_t count);
  static void ApplyPendingReload(Counter& c);
  static void Pause(Counter& c, uint64_t t);

  // Brings the counters to the current tick and raises IRQ0 for the edges
  // of OUT0 passed since the last sync.
  void Sync();
  // Drives IRQ0 to OUT0's current level (no time elapses).
  void UpdateIrq();
  uint8_t ReadByte(uint16_t port);
  void WriteByte(uint16_t port, uint8_t value);
  void WriteControl(uint8_t value);
  void WriteCount(Counter& c, uint32_t value);
  void SetGate(Counter& c, bool gate);

  const VirtualClock* clock_;
  IrqSink* irq_;
  int irq_line_;

  std::array<Counter, 3> counters_;
  bool speaker_data_ = false;
  uint64_t synced_tick_ = 0;
  bool irq_level_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_PIT8254_H_
