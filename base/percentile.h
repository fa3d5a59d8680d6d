// Nearest-rank percentiles of a sample: the smallest value with at least
// p % of the sample at or below it (so always one of the samples; the
// median of an even-sized sample is the lower middle one). What campaigns
// and benchmarks report as median and p99; OutputGate's latency uses the
// same definition.
#ifndef EXTRAVIRT_BASE_PERCENTILE_H_
#define EXTRAVIRT_BASE_PERCENTILE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace xv {

// `percent` in (0, 100]; nullopt for an empty sample.
inline std::optional<double> NearestRank(std::vector<double> sample,
                                         double percent) {
  if (sample.empty()) return std::nullopt;
  std::sort(sample.begin(), sample.end());
  const double n = static_cast<double>(sample.size());
  size_t rank = static_cast<size_t>(std::ceil(percent / 100.0 * n - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sample.size());
  return sample[rank - 1];
}

// Median and p99 of a sample, both nearest-rank.
struct Percentiles {
  size_t samples = 0;
  std::optional<double> median;
  std::optional<double> p99;
};

inline Percentiles MedianAndP99(const std::vector<double>& sample) {
  return {sample.size(), NearestRank(sample, 50), NearestRank(sample, 99)};
}

}  // namespace xv

#endif  // EXTRAVIRT_BASE_PERCENTILE_H_
