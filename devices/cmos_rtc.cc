#include "devices/cmos_rtc.h"

#include <algorithm>
#include <limits>

#include "base/check.h"
#include "devices/byte_ports.h"

namespace xv {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86400;
constexpr uint64_t kDividerHz = 32768;
// UIP is visible for 8 divider cycles before each update (QEMU's value).
constexpr int64_t kUipWindowNs = 8 * kNsPerSecond / kDividerHz;

constexpr int kSeconds = 0x00;
constexpr int kSecondsAlarm = 0x01;
constexpr int kMinutes = 0x02;
constexpr int kMinutesAlarm = 0x03;
constexpr int kHours = 0x04;
constexpr int kHoursAlarm = 0x05;
constexpr int kWeekday = 0x06;
constexpr int kDayOfMonth = 0x07;
constexpr int kMonth = 0x08;
constexpr int kYear = 0x09;
constexpr int kRegA = 0x0a;
constexpr int kRegB = 0x0b;
constexpr int kRegC = 0x0c;
constexpr int kRegD = 0x0d;
constexpr int kCentury = 0x32;
constexpr int kPs2Century = 0x37;  // IBM PS/2 alias of the century byte

constexpr uint8_t kAUip = 0x80;
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBPie = 0x40;
constexpr uint8_t kBAie = 0x20;
constexpr uint8_t kBUie = 0x10;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24Hour = 0x02;
constexpr uint8_t kCIrqf = 0x80;
constexpr uint8_t kCPf = 0x40;
constexpr uint8_t kCAf = 0x20;
constexpr uint8_t kCUf = 0x10;
constexpr uint8_t kCFlags = kCPf | kCAf | kCUf;
constexpr uint8_t kDVrt = 0x80;

constexpr int kTimeRegisters[] = {kSeconds,    kMinutes, kHours, kWeekday,
                                  kDayOfMonth, kMonth,   kYear,  kCentury};

bool IsTimeRegister(int index) {
  return std::find(std::begin(kTimeRegisters), std::end(kTimeRegisters),
                   index) != std::end(kTimeRegisters);
}

template <typename T>
T FloorDiv(T a, T b) {
  T q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

template <typename T>
T FloorMod(T a, T b) {
  return a - FloorDiv(a, b) * b;
}

// Proleptic Gregorian calendar (H. Hinnant's algorithms), valid for any
// year, so that whatever the guest writes converts without surprises.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = FloorDiv<int64_t>(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int64_t month;
  int64_t day;
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv<int64_t>(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2), m, d};
}

struct Fields {
  int64_t year = 1970;
  int64_t month = 1;
  int64_t day = 1;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  int64_t weekday = 5;  // 1 = Sunday
};

Fields FieldsOf(int64_t seconds) {
  const int64_t days = FloorDiv(seconds, kSecondsPerDay);
  const int64_t tod = seconds - days * kSecondsPerDay;
  const Civil c = CivilFromDays(days);
  Fields f;
  f.year = c.year;
  f.month = c.month;
  f.day = c.day;
  f.hour = tod / 3600;
  f.minute = tod / 60 % 60;
  f.second = tod % 60;
  f.weekday = FloorMod<int64_t>(days + 4, 7) + 1;  // 1970-01-01: Thursday
  return f;
}

// Out-of-range fields roll over into the next larger unit, as mktime does.
int64_t SecondsOf(const Fields& f) {
  const int64_t month0 = f.month - 1;
  const int64_t year = f.year + FloorDiv<int64_t>(month0, 12);
  const int64_t month = FloorMod<int64_t>(month0, 12) + 1;
  const int64_t days = DaysFromCivil(year, month, 1) + f.day - 1;
  return days * kSecondsPerDay + f.hour * 3600 + f.minute * 60 + f.second;
}

}  // namespace

CmosRtc::CmosRtc(const VirtualClock* clock, IrqSink* irq, int irq_line,
                 int64_t epoch_seconds)
    : clock_(clock),
      irq_(irq),
      irq_line_(irq_line),
      epoch_seconds_(epoch_seconds) {
  XV_CHECK(clock != nullptr && irq != nullptr, "RTC needs a clock and an IRQ");
  cmos_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
  cmos_[kRegB] = kB24Hour;
  cmos_[kRegD] = kDVrt;
}

bool CmosRtc::Running() const {
  return !(cmos_[kRegB] & kBSet) && (cmos_[kRegA] & 0x70) <= 0x20;
}

__int128 CmosRtc::RtcNs(uint64_t t) const {
  return static_cast<__int128>(epoch_seconds_ + delta_seconds_) * kNsPerSecond +
         sub_ns_ + t;
}

void CmosRtc::SetRtcNsAtNow(__int128 rtc_ns) {
  const __int128 offset = rtc_ns - clock_->now_ns() -
                          static_cast<__int128>(epoch_seconds_) * kNsPerSecond;
  delta_seconds_ =
      static_cast<int64_t>(FloorDiv<__int128>(offset, kNsPerSecond));
  sub_ns_ = static_cast<uint32_t>(FloorMod<__int128>(offset, kNsPerSecond));
}

int64_t CmosRtc::CountedSeconds() const {
  return static_cast<int64_t>(
      FloorDiv<__int128>(RtcNs(clock_->now_ns()), kNsPerSecond));
}

uint8_t CmosRtc::TimeRegister(int index, int64_t seconds) const {
  const Fields f = FieldsOf(seconds);
  const bool binary = cmos_[kRegB] & kBBinary;
  auto encode = [binary](int64_t v) {
    v = FloorMod<int64_t>(v, 100);
    return static_cast<uint8_t>(binary ? v : (v / 10) << 4 | (v % 10));
  };
  switch (index) {
    case kSeconds:
      return encode(f.second);
    case kMinutes:
      return encode(f.minute);
    case kHours:
      if (cmos_[kRegB] & kB24Hour) return encode(f.hour);
      return static_cast<uint8_t>(encode(f.hour % 12 == 0 ? 12 : f.hour % 12) |
                                  (f.hour >= 12 ? 0x80 : 0));
    case kWeekday:
      return encode(f.weekday);
    case kDayOfMonth:
      return encode(f.day);
    case kMonth:
      return encode(f.month);
    case kYear:
      return encode(f.year);
    default:  // century
      return encode(FloorDiv<int64_t>(f.year, 100));
  }
}

namespace {

int64_t DecodeField(uint8_t v, bool binary) {
  return binary ? v : (v >> 4) * 10 + (v & 0x0f);
}

int64_t DecodeHour(uint8_t v, bool binary, bool hour24) {
  if (hour24) return DecodeField(v, binary);
  return DecodeField(v & 0x7f, binary) % 12 + ((v & 0x80) ? 12 : 0);
}

}  // namespace

int64_t CmosRtc::SecondsFromRegisters() const {
  const bool binary = cmos_[kRegB] & kBBinary;
  const bool hour24 = cmos_[kRegB] & kB24Hour;
  Fields f;
  f.second = DecodeField(cmos_[kSeconds], binary);
  f.minute = DecodeField(cmos_[kMinutes], binary);
  f.hour = DecodeHour(cmos_[kHours], binary, hour24);
  f.day = DecodeField(cmos_[kDayOfMonth], binary);
  f.month = DecodeField(cmos_[kMonth], binary);
  f.year = DecodeField(cmos_[kCentury], binary) * 100 +
           DecodeField(cmos_[kYear], binary);
  return SecondsOf(f);
}

void CmosRtc::Freeze() {
  const int64_t seconds = CountedSeconds();
  for (int index : kTimeRegisters) cmos_[index] = TimeRegister(index, seconds);
}

void CmosRtc::Thaw(bool keep_phase) {
  const int64_t phase = keep_phase ? static_cast<int64_t>(FloorMod<__int128>(
                                         RtcNs(clock_->now_ns()), kNsPerSecond))
                                   : kNsPerSecond / 2;
  SetRtcNsAtNow(static_cast<__int128>(SecondsFromRegisters()) * kNsPerSecond +
                phase);
  // While counting the time registers are computed; keep the stored bytes
  // canonical so equal behaviour means equal state.
  for (int index : kTimeRegisters) cmos_[index] = 0;
}

void CmosRtc::WriteTimeRegister(int index, uint8_t value) {
  if (!Running()) {
    cmos_[index] = value;
    return;
  }
  // Counting: change that one field of the current time, keep the phase.
  const bool binary = cmos_[kRegB] & kBBinary;
  const __int128 now_rtc = RtcNs(clock_->now_ns());
  Fields f =
      FieldsOf(static_cast<int64_t>(FloorDiv<__int128>(now_rtc, kNsPerSecond)));
  const int64_t v = DecodeField(value, binary);
  switch (index) {
    case kSeconds:
      f.second = v;
      break;
    case kMinutes:
      f.minute = v;
      break;
    case kHours:
      f.hour = DecodeHour(value, binary, cmos_[kRegB] & kB24Hour);
      break;
    case kDayOfMonth:
      f.day = v;
      break;
    case kMonth:
      f.month = v;
      break;
    case kYear:
      f.year = FloorDiv<int64_t>(f.year, 100) * 100 + v;
      break;
    case kCentury:
      f.year = v * 100 + FloorMod<int64_t>(f.year, 100);
      break;
    default:  // the weekday follows the date, as in QEMU
      return;
  }
  SetRtcNsAtNow(static_cast<__int128>(SecondsOf(f)) * kNsPerSecond +
                FloorMod<__int128>(now_rtc, kNsPerSecond));
}

std::optional<int64_t> CmosRtc::SecondsUntilAlarm(int64_t from) const {
  const bool binary = cmos_[kRegB] & kBBinary;
  const bool hour24 = cmos_[kRegB] & kB24Hour;
  auto dont_care = [](uint8_t v) { return (v & 0xc0) == 0xc0; };
  const uint8_t sec_reg = cmos_[kSecondsAlarm];
  const uint8_t min_reg = cmos_[kMinutesAlarm];
  const uint8_t hour_reg = cmos_[kHoursAlarm];
  const bool any_sec = dont_care(sec_reg);
  const bool any_min = dont_care(min_reg);
  const bool any_hour = dont_care(hour_reg);
  const int64_t want_sec = DecodeField(sec_reg, binary);
  const int64_t want_min = DecodeField(min_reg, binary);
  const int64_t want_hour = DecodeHour(hour_reg, binary, hour24);
  if ((!any_sec && want_sec > 59) || (!any_min && want_min > 59) ||
      (!any_hour && want_hour > 23)) {
    return std::nullopt;
  }
  const int64_t start = FloorMod(from, kSecondsPerDay);
  // Skip whole hours and minutes that cannot match: at most ~1500 steps.
  for (int64_t k = 0; k < kSecondsPerDay;) {
    const int64_t tod = (start + k) % kSecondsPerDay;
    const int64_t hour = tod / 3600;
    const int64_t minute = tod / 60 % 60;
    const int64_t second = tod % 60;
    if (!any_hour && hour != want_hour) {
      k += 3600 - tod % 3600;
    } else if (!any_min && minute != want_min) {
      k += 60 - second;
    } else if (!any_sec && second != want_sec) {
      k += want_sec > second ? want_sec - second : 60 - second;
    } else {
      return k;
    }
  }
  return std::nullopt;
}

uint32_t CmosRtc::PeriodicTicks() const {
  const int rate = cmos_[kRegA] & 0x0f;
  if (rate == 0) return 0;
  // Rates 1 and 2 select the same taps as 8 and 9 (256 and 128 Hz).
  return rate <= 2 ? 1u << (rate + 6) : 1u << (rate - 1);
}

bool CmosRtc::IrqFlag() const {
  return (cmos_[kRegB] & cmos_[kRegC] & kCFlags) != 0;
}

void CmosRtc::Sync() {
  const uint64_t now = clock_->now_ns();
  const uint64_t from = std::min(synced_ns_, now);
  if (now > from) {
    uint8_t flags = 0;
    const uint32_t period = PeriodicTicks();
    if ((cmos_[kRegB] & kBPie) && period != 0) {
      auto ticks = [](uint64_t ns) {
        return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) *
                                     kDividerHz / kNsPerSecond);
      };
      if (ticks(now) / period > ticks(from) / period) flags |= kCPf;
    }
    if (Running()) {
      const int64_t s0 =
          static_cast<int64_t>(FloorDiv<__int128>(RtcNs(from), kNsPerSecond));
      const int64_t s1 =
          static_cast<int64_t>(FloorDiv<__int128>(RtcNs(now), kNsPerSecond));
      if (s1 > s0) {
        flags |= kCUf;
        const std::optional<int64_t> k = SecondsUntilAlarm(s0 + 1);
        if (k && s0 + 1 + *k <= s1) flags |= kCAf;
      }
    }
    cmos_[kRegC] |= flags;
  }
  synced_ns_ = now;
  UpdateIrq();
}

void CmosRtc::UpdateIrq() {
  const bool level = IrqFlag();
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrqLevel(irq_line_, level);
}

void CmosRtc::OnClockAdvanced() { Sync(); }

std::optional<uint64_t> CmosRtc::NextDeadlineNs() const {
  if (IrqFlag()) return std::nullopt;  // IRQ8 stays high until C is read
  const uint64_t now = clock_->now_ns();
  std::optional<uint64_t> best;
  auto consider = [&best](__int128 t) {
    const __int128 max = std::numeric_limits<uint64_t>::max();
    const uint64_t v = static_cast<uint64_t>(t > max ? max : t);
    if (!best || v < *best) best = v;
  };
  const uint32_t period = PeriodicTicks();
  if ((cmos_[kRegB] & kBPie) && period != 0) {
    const uint64_t tick = static_cast<uint64_t>(
        static_cast<unsigned __int128>(now) * kDividerHz / kNsPerSecond);
    const unsigned __int128 next =
        static_cast<unsigned __int128>(tick / period + 1) * period;
    consider(static_cast<__int128>((next * kNsPerSecond + kDividerHz - 1) /
                                   kDividerHz));
  }
  if (Running() && (cmos_[kRegB] & (kBUie | kBAie))) {
    const __int128 origin = RtcNs(0);
    const int64_t next_second =
        static_cast<int64_t>(FloorDiv<__int128>(RtcNs(now), kNsPerSecond)) + 1;
    if (cmos_[kRegB] & kBUie) {
      consider(static_cast<__int128>(next_second) * kNsPerSecond - origin);
    }
    if (cmos_[kRegB] & kBAie) {
      if (const std::optional<int64_t> k = SecondsUntilAlarm(next_second)) {
        consider(static_cast<__int128>(next_second + *k) * kNsPerSecond -
                 origin);
      }
    }
  }
  return best;
}

uint8_t CmosRtc::ReadData() {
  int index = index_;
  if (index == kPs2Century) index = index_ = kCentury;
  if (IsTimeRegister(index)) {
    return Running() ? TimeRegister(index, CountedSeconds()) : cmos_[index];
  }
  switch (index) {
    case kRegA: {
      const bool uip = Running() && FloorMod<__int128>(RtcNs(clock_->now_ns()),
                                                       kNsPerSecond) >=
                                        kNsPerSecond - kUipWindowNs;
      return static_cast<uint8_t>(cmos_[kRegA] | (uip ? kAUip : 0));
    }
    case kRegC: {
      const uint8_t v =
          static_cast<uint8_t>(cmos_[kRegC] | (IrqFlag() ? kCIrqf : 0));
      cmos_[kRegC] = 0;
      UpdateIrq();
      return v;
    }
    default:
      return cmos_[index];
  }
}

void CmosRtc::WriteData(uint8_t value) {
  int index = index_;
  if (index == kPs2Century) index = index_ = kCentury;
  if (IsTimeRegister(index)) {
    WriteTimeRegister(index, value);
    return;
  }
  switch (index) {
    case kRegA: {
      const bool was_running = Running();
      const bool was_reset = (cmos_[kRegA] & 0x60) == 0x60;
      const uint8_t a = value & ~kAUip;  // UIP is read-only
      const bool will_run = !(cmos_[kRegB] & kBSet) && (a & 0x70) <= 0x20;
      if (was_running && !will_run) Freeze();
      cmos_[kRegA] = a;
      // Releasing the divider reset: the first update comes 500 ms later.
      if (!was_running && will_run) Thaw(/*keep_phase=*/!was_reset);
      break;
    }
    case kRegB: {
      const bool was_running = Running();
      // Frozen in the format in effect before this write, as QEMU does.
      if (was_running && (value & kBSet)) Freeze();
      // Setting SET clears UIE (datasheet and QEMU).
      if (value & kBSet) value &= ~kBUie;
      cmos_[kRegB] = value;
      if (!was_running && Running()) Thaw(/*keep_phase=*/true);
      UpdateIrq();
      break;
    }
    case kRegC:
    case kRegD:
      break;  // read-only
    default:
      cmos_[index] = value;
      break;
  }
}

void CmosRtc::PioRead(uint16_t port, std::span<uint8_t> data) {
  Sync();
  ReadBytewise(port, data, [this](uint16_t p) -> uint8_t {
    // The index register is write-only; QEMU reads it as 0xff.
    return p == 0x71 ? ReadData() : 0xff;
  });
}

void CmosRtc::PioWrite(uint16_t port, std::span<const uint8_t> data) {
  Sync();
  WriteBytewise(port, data, [this](uint16_t p, uint8_t v) {
    if (p == 0x70) {
      index_ = v & 0x7f;
      nmi_disabled_ = (v & 0x80) != 0;
    } else if (p == 0x71) {
      WriteData(v);
    }
  });
  UpdateIrq();
}

void CmosRtc::SaveState(StateWriter& w) const {
  w.Registers("cmos", cmos_);
  w.U8("index", index_);
  w.Bool("nmi_disabled", nmi_disabled_);
  w.U64("delta_seconds", static_cast<uint64_t>(delta_seconds_));
  w.U32("sub_ns", sub_ns_);
  w.U64("synced_ns", synced_ns_);
  w.Bool("irq_level", irq_level_);
}

absl::Status CmosRtc::LoadState(StateReader& r) {
  std::array<uint8_t, 128> cmos;
  r.BytesInto(cmos);
  r.Check(cmos[kRegD] == kDVrt, "register D");
  r.Check((cmos[kRegC] & ~kCFlags) == 0, "register C");
  r.Check((cmos[kRegA] & kAUip) == 0, "register A");
  const uint8_t index = r.U8();
  r.Check(index < 128, "index");
  const bool nmi_disabled = r.Bool();
  const int64_t delta_seconds = static_cast<int64_t>(r.U64());
  // Beyond ~290 billion years the ns arithmetic would not fit.
  r.Check(
      delta_seconds > -(int64_t{1} << 53) && delta_seconds < (int64_t{1} << 53),
      "delta_seconds");
  const uint32_t sub_ns = r.U32();
  r.Check(sub_ns < kNsPerSecond, "sub_ns");
  const uint64_t synced_ns = r.U64();
  const bool irq_level = r.Bool();
  if (!r.ok()) return r.status();
  cmos_ = cmos;
  index_ = index;
  nmi_disabled_ = nmi_disabled;
  delta_seconds_ = delta_seconds;
  sub_ns_ = sub_ns;
  synced_ns_ = synced_ns;
  irq_level_ = irq_level;
  return absl::OkStatus();
}

}  // namespace xv
