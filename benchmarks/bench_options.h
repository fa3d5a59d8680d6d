// Command-line parsing shared by the benchmark binaries.
#ifndef EXTRAVIRT_BENCHMARKS_BENCH_OPTIONS_H_
#define EXTRAVIRT_BENCHMARKS_BENCH_OPTIONS_H_

#include <charconv>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace xv {

// A whole positive decimal number, nothing else.
inline bool ParseCount(std::string_view text, uint64_t& n) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() && n > 0;
}

}  // namespace xv

#endif  // EXTRAVIRT_BENCHMARKS_BENCH_OPTIONS_H_
