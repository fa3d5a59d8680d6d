// CMOS RTC.
#include "xv/rtc.h"

#include "xv/port_io.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_CENTURY 0x32  // Not standard everywhere: used only if plausible.

#define STATUS_A_UPDATE_IN_PROGRESS 0x80
#define STATUS_B_24_HOUR 0x02
#define STATUS_B_BINARY 0x04
#define HOUR_PM 0x80

// Bounds waits and retries against a clock that never settles.
#define UIP_POLL_LIMIT 100000
#define READ_ATTEMPTS 10

struct raw_time {
  uint8_t second, minute, hour, day, month, year, century;
};

static uint8_t cmos_read(uint8_t reg) {
  xv_outb(CMOS_INDEX, reg);
  return xv_inb(CMOS_DATA);
}

static bool read_raw(struct raw_time* t) {
  int polls = 0;
  while (cmos_read(RTC_STATUS_A) & STATUS_A_UPDATE_IN_PROGRESS) {
    if (++polls == UIP_POLL_LIMIT) return false;
  }
  t->second = cmos_read(RTC_SECONDS);
  t->minute = cmos_read(RTC_MINUTES);
  t->hour = cmos_read(RTC_HOURS);
  t->day = cmos_read(RTC_DAY);
  t->month = cmos_read(RTC_MONTH);
  t->year = cmos_read(RTC_YEAR);
  t->century = cmos_read(RTC_CENTURY);
  return true;
}

static bool same_raw(const struct raw_time* a, const struct raw_time* b) {
  return a->second == b->second && a->minute == b->minute &&
         a->hour == b->hour && a->day == b->day && a->month == b->month &&
         a->year == b->year && a->century == b->century;
}

static uint8_t decode(uint8_t v, bool binary) {
  return binary ? v : (uint8_t)((v >> 4) * 10 + (v & 0xf));
}

bool xv_rtc_read(struct xv_rtc_time* time) {
  struct raw_time first, second;
  int attempt = 0;
  // Two identical reads in a row cannot straddle an update.
  if (!read_raw(&first)) return false;
  for (;;) {
    if (!read_raw(&second)) return false;
    if (same_raw(&first, &second)) break;
    if (++attempt == READ_ATTEMPTS) return false;
    first = second;
  }
  uint8_t status_b = cmos_read(RTC_STATUS_B);
  bool binary = status_b & STATUS_B_BINARY;
  bool hour_24 = status_b & STATUS_B_24_HOUR;
  uint8_t hour = decode((uint8_t)(second.hour & ~HOUR_PM), binary);
  if (!hour_24) {
    // 12 AM is hour 0, 12 PM is hour 12.
    hour = (uint8_t)(hour % 12 + ((second.hour & HOUR_PM) ? 12 : 0));
  }
  uint8_t year = decode(second.year, binary);
  uint8_t century = decode(second.century, binary);
  if (century < 19 || century > 21) century = year < 70 ? 20 : 19;
  time->second = decode(second.second, binary);
  time->minute = decode(second.minute, binary);
  time->hour = hour;
  time->day = decode(second.day, binary);
  time->month = decode(second.month, binary);
  time->year = (uint16_t)(century * 100 + year);
  return xv_rtc_time_valid(time);
}

static bool leap_year(unsigned year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

bool xv_rtc_time_valid(const struct xv_rtc_time* t) {
  static const uint8_t days_in_month[12] = {31, 29, 31, 30, 31, 30,
                                            31, 31, 30, 31, 30, 31};
  if (t->month < 1 || t->month > 12 || t->day < 1) return false;
  if (t->day > days_in_month[t->month - 1]) return false;
  if (t->month == 2 && t->day == 29 && !leap_year(t->year)) return false;
  return t->hour < 24 && t->minute < 60 && t->second < 60 && t->year >= 1900 &&
         t->year < 2200;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

int64_t xv_rtc_to_unix_seconds(const struct xv_rtc_time* t) {
  return days_from_civil(t->year, t->month, t->day) * 86400 + t->hour * 3600 +
         t->minute * 60 + t->second;
}
