// CMOS real-time clock (0x70/0x71).
#ifndef XV_RTC_H_
#define XV_RTC_H_

#include <stdbool.h>
#include <stdint.h>

struct xv_rtc_time {
  uint16_t year;  // Full year, e.g. 2025 (from the century register if set).
  uint8_t month;  // 1..12
  uint8_t day;    // 1..31
  uint8_t hour;   // 0..23, whatever the RTC's 12/24-hour mode
  uint8_t minute;
  uint8_t second;
};

// Reads the time consistently: waits for no update in progress, reads twice
// until both reads agree, converts BCD and 12-hour mode as register B says.
// Returns false if the result is not a valid date and time.
bool xv_rtc_read(struct xv_rtc_time* time);
bool xv_rtc_time_valid(const struct xv_rtc_time* time);
// Seconds since 1970-01-01 00:00:00 (the RTC is taken as UTC).
int64_t xv_rtc_to_unix_seconds(const struct xv_rtc_time* time);

#endif  // XV_RTC_H_
