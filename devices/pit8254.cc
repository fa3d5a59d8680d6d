#include "devices/pit8254.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_format.h"
#include "base/check.h"
#include "devices/byte_ports.h"

namespace xv {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
// DRAM refresh requests toggle port 0x61 bit 4 every 15.085 us on a PC.
constexpr uint64_t kRefreshToggleNs = 15085;

uint32_t FromBcd(uint32_t v) {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 +
         ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

uint32_t ToBcd(uint32_t v) {
  return ((v / 1000) % 10) << 12 | ((v / 100) % 10) << 8 |
         ((v / 10) % 10) << 4 | (v % 10);
}

}  // namespace

Pit8254::Pit8254(const VirtualClock* clock, IrqSink* irq, int irq_line)
    : clock_(clock), irq_(irq), irq_line_(irq_line) {
  XV_CHECK(clock != nullptr && irq != nullptr, "PIT needs a clock and an IRQ");
  // Counter 2's gate is port 0x61 bit 0, clear at power-on; in mode 3 a low
  // gate holds the counter.
  counters_[2].gate = false;
  counters_[2].counting = false;
}

uint64_t Pit8254::TicksAt(uint64_t ns) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * kInputHz /
                               kNsPerSecond);
}

uint64_t Pit8254::NsOfTick(uint64_t tick) {
  const unsigned __int128 ns =
      (static_cast<unsigned __int128>(tick) * kNsPerSecond + kInputHz - 1) /
      kInputHz;
  return ns > kNever ? kNever : static_cast<uint64_t>(ns);
}

uint64_t Pit8254::Counted(const Counter& c, uint64_t t) {
  return c.frozen + (c.counting && t > c.base_tick ? t - c.base_tick : 0);
}

bool Pit8254::OutAt(const Counter& c, uint64_t t) {
  const int mode = c.mode();
  if (!c.armed) return mode != 0;  // after a control word: mode 0 low
  if ((mode == 2 || mode == 3) && !c.gate) return true;
  const uint64_t d = Counted(c, t);
  const uint64_t n = c.count;
  switch (mode) {
    case 0:  // interrupt on terminal count
    case 1:  // hardware one-shot
      return d >= n;
    case 2:  // rate generator: low for the one clock where the count is 1
      return n < 2 || d % n != n - 1;
    case 3:  // square wave: high for ceil(n/2) clocks, low for floor(n/2)
      return d % n < (n + 1) / 2;
    default:  // 4, 5: strobes, low for the one clock after the count ends
      return d != n;
  }
}

bool Pit8254::RisingEdgeBetween(const Counter& c, uint64_t t0, uint64_t t1) {
  if (!c.armed || !c.counting || t1 <= t0) return false;
  const uint64_t d0 = Counted(c, t0);
  const uint64_t d1 = Counted(c, t1);
  const uint64_t n = c.count;
  switch (c.mode()) {
    case 0:
    case 1:
      return d0 < n && n <= d1;
    case 2:
    case 3:
      return n >= 2 && d1 / n > d0 / n;
    default:
      return d0 < n + 1 && n + 1 <= d1;
  }
}

std::optional<uint64_t> Pit8254::NextRisingEdge(const Counter& c, uint64_t t) {
  if (!c.armed || !c.counting) return std::nullopt;
  const uint64_t d = Counted(c, t);
  const uint64_t n = c.count;
  switch (c.mode()) {
    case 0:
    case 1:
      if (d < n) return t + (n - d);
      return std::nullopt;
    case 2:
    case 3:
      if (n < 2) return std::nullopt;
      return t + ((d / n + 1) * n - d);
    default:
      if (d < n + 1) return t + (n + 1 - d);
      return std::nullopt;
  }
}

uint32_t Pit8254::CounterValue(const Counter& c, uint64_t t) {
  const uint32_t modulus = c.bcd ? 10000 : 65536;
  uint64_t v;
  if (!c.armed) {
    v = c.reload % modulus;
  } else {
    const uint64_t d = Counted(c, t);
    const uint64_t n = c.count;
    switch (c.mode()) {
      case 2:
        v = n - d % n;
        break;
      case 3:  // decrements by two per clock
        v = n - (2 * d) % n;
        break;
      default:  // counts down through zero and wraps
        v = (n + modulus - d % modulus) % modulus;
        break;
    }
    v %= modulus;
  }
  return c.bcd ? ToBcd(static_cast<uint32_t>(v)) : static_cast<uint32_t>(v);
}

uint8_t Pit8254::StatusByte(const Counter& c, uint64_t t) {
  return static_cast<uint8_t>((OutAt(c, t) ? 0x80 : 0) |
                              (t < c.null_until ? 0x40 : 0) | c.access << 4 |
                              c.mode_bits << 1 | (c.bcd ? 1 : 0));
}

void Pit8254::Restart(Counter& c, uint64_t t, uint32_t count) {
  c.count = count;
  c.armed = true;
  c.frozen = 0;
  c.base_tick = t;
  c.reload_pending = false;
  const int mode = c.mode();
  c.counting = (mode == 1 || mode == 5) ? true : c.gate;
}

void Pit8254::ApplyPendingReload(Counter& c) {
  c.count = c.reload;
  c.frozen = 0;
  c.base_tick = c.reload_tick;
  c.reload_pending = false;
}

void Pit8254::Pause(Counter& c, uint64_t t) {
  if (!c.counting) return;
  c.frozen = Counted(c, t);
  c.counting = false;
}

bool Pit8254::Out(int counter) const {
  XV_CHECK(counter >= 0 && counter < 3, "no such PIT counter");
  const uint64_t t = NowTick();
  Counter c = counters_[counter];
  if (c.reload_pending && c.reload_tick <= t) ApplyPendingReload(c);
  return OutAt(c, t);
}

void Pit8254::Sync() {
  const uint64_t now = NowTick();
  const uint64_t from = std::min(synced_tick_, now);
  bool edge = false;
  for (size_t i = 0; i < counters_.size(); ++i) {
    Counter& c = counters_[i];
    uint64_t t0 = from;
    if (c.reload_pending && c.reload_tick <= now) {
      // The old count runs up to the period boundary, the new one after it.
      if (i == 0) edge |= RisingEdgeBetween(c, t0, c.reload_tick);
      t0 = std::max(t0, c.reload_tick);
      ApplyPendingReload(c);
    }
    if (i == 0) edge |= RisingEdgeBetween(c, t0, now);
  }
  synced_tick_ = now;
  if (edge) {
    if (irq_level_) irq_->SetIrqLevel(irq_line_, false);
    irq_->SetIrqLevel(irq_line_, true);
    irq_level_ = true;
  }
  UpdateIrq();
}

void Pit8254::UpdateIrq() {
  const bool level = OutAt(counters_[0], NowTick());
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrqLevel(irq_line_, level);
}

void Pit8254::OnClockAdvanced() { Sync(); }

std::optional<uint64_t> Pit8254::NextDeadlineNs() const {
  const uint64_t now = NowTick();
  Counter c = counters_[0];
  if (c.reload_pending && c.reload_tick <= now) {
    // Not synced yet: the edge at the reload is already due.
    return clock_->now_ns();
  }
  if (RisingEdgeBetween(c, std::min(synced_tick_, now), now)) {
    return clock_->now_ns();
  }
  const std::optional<uint64_t> tick = NextRisingEdge(c, now);
  if (!tick) return std::nullopt;
  return NsOfTick(*tick);
}

void Pit8254::WriteControl(uint8_t value) {
  const uint64_t t = NowTick();
  const int select = value >> 6;
  auto latch_count = [t](Counter& c) {
    // A second latch before the first is read is ignored.
    if (c.latch_bytes != 0) return;
    c.latched_count = static_cast<uint16_t>(CounterValue(c, t));
    c.latch_bytes = c.access;
  };
  if (select == 3) {  // read-back command
    for (int i = 0; i < 3; ++i) {
      if (!(value & (2 << i))) continue;
      Counter& c = counters_[i];
      if (!(value & 0x20)) latch_count(c);
      if (!(value & 0x10) && !c.status_latched) {
        c.latched_status = StatusByte(c, t);
        c.status_latched = true;
      }
    }
    return;
  }
  Counter& c = counters_[select];
  const int access = (value >> 4) & 3;
  if (access == 0) {  // counter latch command
    latch_count(c);
    return;
  }
  c.access = static_cast<uint8_t>(access);
  c.mode_bits = (value >> 1) & 7;
  c.bcd = (value & 1) != 0;
  c.read_msb_next = false;
  c.write_msb_next = false;
  // A control word stops the counter until a count is written; OUT goes to
  // its initial level for the new mode.
  c.armed = false;
  c.counting = false;
  c.frozen = 0;
  c.reload_pending = false;
  c.reload_written = false;
  c.null_until = kNever;
}

void Pit8254::WriteCount(Counter& c, uint32_t value) {
  const uint64_t t = NowTick();
  uint32_t n;
  if (c.bcd) {
    n = FromBcd(value);
    if (n == 0) n = 10000;
  } else {
    n = value == 0 ? 65536 : value;
  }
  c.reload = n;
  c.reload_written = true;
  switch (c.mode()) {
    case 0:
    case 4:
      Restart(c, t, n);
      c.null_until = t + 1;
      break;
    case 1:
    case 5:
      // Loaded by the next rising edge of the gate.
      c.null_until = kNever;
      break;
    default:
      if (!c.gate) {
        // Loaded by the next rising edge of the gate.
        c.null_until = kNever;
      } else if (!c.armed || !c.counting) {
        Restart(c, t, n);
        c.null_until = t + 1;
      } else {
        // A new count does not disturb the current period.
        const uint64_t d = Counted(c, t);
        const uint64_t boundary = (d / c.count + 1) * c.count;
        c.reload_pending = true;
        c.reload_tick = t + (boundary - d);
        c.null_until = c.reload_tick;
      }
      break;
  }
}

void Pit8254::SetGate(Counter& c, bool gate) {
  if (c.gate == gate) return;
  const uint64_t t = NowTick();
  c.gate = gate;
  switch (c.mode()) {
    case 0:
    case 4:
      if (!c.armed) break;
      if (gate) {
        c.base_tick = t;
        c.counting = true;
      } else {
        Pause(c, t);
      }
      break;
    case 1:
    case 5:
      // Retriggerable: each rising edge restarts from the count register.
      if (gate && c.reload_written) {
        Restart(c, t, c.reload);
        c.null_until = t + 1;
      }
      break;
    default:
      if (gate) {
        if (c.reload_written || c.armed) {
          Restart(c, t, c.reload);
          c.null_until = std::min(c.null_until, t + 1);
        }
      } else {
        Pause(c, t);
        c.reload_pending = false;
      }
      break;
  }
}

uint8_t Pit8254::ReadByte(uint16_t port) {
  const uint64_t t = NowTick();
  if (port == 0x61) {
    const Counter& c2 = counters_[2];
    const bool refresh = (clock_->now_ns() / kRefreshToggleNs) & 1;
    return static_cast<uint8_t>(
        (c2.gate ? 0x01 : 0) | (speaker_data_ ? 0x02 : 0) |
        (refresh ? 0x10 : 0) | (OutAt(c2, t) ? 0x20 : 0));
  }
  if (port < 0x40 || port > 0x42) return port == 0x43 ? 0 : 0xff;
  Counter& c = counters_[port - 0x40];
  if (c.status_latched) {
    c.status_latched = false;
    return c.latched_status;
  }
  if (c.latch_bytes != 0) {
    const uint16_t v = c.latched_count;
    switch (c.latch_bytes) {
      case 3:
        c.latch_bytes = 2;
        return static_cast<uint8_t>(v);
      case 1:
        c.latch_bytes = 0;
        return static_cast<uint8_t>(v);
      default:
        c.latch_bytes = 0;
        return static_cast<uint8_t>(v >> 8);
    }
  }
  const uint32_t v = CounterValue(c, t);
  bool msb = c.access == 2;
  if (c.access == 3) {
    msb = c.read_msb_next;
    c.read_msb_next = !c.read_msb_next;
  }
  return static_cast<uint8_t>(msb ? v >> 8 : v);
}

void Pit8254::WriteByte(uint16_t port, uint8_t value) {
  if (port == 0x61) {
    speaker_data_ = (value & 0x02) != 0;
    SetGate(counters_[2], (value & 0x01) != 0);
    return;
  }
  if (port == 0x43) {
    WriteControl(value);
    return;
  }
  if (port < 0x40 || port > 0x42) return;
  Counter& c = counters_[port - 0x40];
  switch (c.access) {
    case 1:
      WriteCount(c, value);
      break;
    case 2:
      WriteCount(c, uint32_t{value} << 8);
      break;
    default:
      if (!c.write_msb_next) {
        c.write_lsb = value;
        c.write_msb_next = true;
        if (c.mode() == 0) {
          // Mode 0: the first byte stops the count and drives OUT low.
          Pause(c, NowTick());
          c.armed = false;
          c.frozen = 0;
        }
      } else {
        c.write_msb_next = false;
        WriteCount(c, c.write_lsb | uint32_t{value} << 8);
      }
      break;
  }
}

void Pit8254::PioRead(uint16_t port, std::span<uint8_t> data) {
  Sync();
  ReadBytewise(port, data, [this](uint16_t p) { return ReadByte(p); });
  UpdateIrq();
}

void Pit8254::PioWrite(uint16_t port, std::span<const uint8_t> data) {
  Sync();
  WriteBytewise(port, data, [this](uint16_t p, uint8_t v) { WriteByte(p, v); });
  UpdateIrq();
}

void Pit8254::SaveState(StateWriter& w) const {
  for (size_t i = 0; i < counters_.size(); ++i) {
    const Counter& c = counters_[i];
    const auto scope = w.Scope(absl::StrFormat("channel[%d]", i));
    w.U8("mode", c.mode_bits);
    w.U8("access", c.access);
    w.Bool("bcd", c.bcd);
    w.Bool("gate", c.gate);
    w.Bool("read_msb_next", c.read_msb_next);
    w.Bool("write_msb_next", c.write_msb_next);
    w.U8("write_lsb", c.write_lsb);
    w.U8("latch.count_bytes", c.latch_bytes);
    w.U16("latch.count", c.latched_count);
    w.Bool("latch.status_latched", c.status_latched);
    w.U8("latch.status", c.latched_status);
    w.U32("count_register", c.reload);
    w.Bool("count_register_written", c.reload_written);
    w.Bool("armed", c.armed);
    w.U32("count", c.count);
    w.Bool("counting", c.counting);
    w.U64("base_tick", c.base_tick);
    w.U64("frozen_ticks", c.frozen);
    w.Bool("reload_pending", c.reload_pending);
    w.U64("reload_tick", c.reload_tick);
    w.U64("null_count_until_tick", c.null_until);
  }
  w.Bool("port61.speaker_data", speaker_data_);
  w.U64("synced_tick", synced_tick_);
  w.Bool("irq_level", irq_level_);
}

absl::Status Pit8254::LoadState(StateReader& r) {
  std::array<Counter, 3> counters;
  for (Counter& c : counters) {
    c.mode_bits = r.U8();
    r.Check(c.mode_bits <= 7, "mode");
    c.access = r.U8();
    r.Check(c.access >= 1 && c.access <= 3, "access");
    c.bcd = r.Bool();
    c.gate = r.Bool();
    c.read_msb_next = r.Bool();
    c.write_msb_next = r.Bool();
    c.write_lsb = r.U8();
    c.latch_bytes = r.U8();
    r.Check(c.latch_bytes <= 3, "latch_bytes");
    c.latched_count = r.U16();
    c.status_latched = r.Bool();
    c.latched_status = r.U8();
    c.reload = r.U32();
    r.Check(c.reload >= 1 && c.reload <= 65536, "reload");
    c.reload_written = r.Bool();
    c.armed = r.Bool();
    c.count = r.U32();
    r.Check(c.count >= 1 && c.count <= 65536, "count");
    c.counting = r.Bool();
    c.base_tick = r.U64();
    c.frozen = r.U64();
    r.Check(c.frozen < (uint64_t{1} << 62), "frozen");
    c.reload_pending = r.Bool();
    c.reload_tick = r.U64();
    c.null_until = r.U64();
  }
  const bool speaker_data = r.Bool();
  const uint64_t synced_tick = r.U64();
  const bool irq_level = r.Bool();
  if (!r.ok()) return r.status();
  counters_ = counters;
  speaker_data_ = speaker_data;
  synced_tick_ = synced_tick;
  irq_level_ = irq_level;
  return absl::OkStatus();
}

}  // namespace xv
