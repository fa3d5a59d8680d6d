#include "debug/position.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace xv {
namespace {

absl::StatusOr<uint64_t> Number(std::string_view text, std::string_view what,
                                std::string_view whole) {
  uint64_t n = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), n);
  // Digits only: no sign, no spaces, nothing after them, and no overflow.
  if (text.empty() || text.find_first_not_of("0123456789") != text.npos ||
      error != std::errc() || end != text.data() + text.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "position '%s': %s must be a decimal number", whole, what));
  }
  return n;
}

}  // namespace

absl::StatusOr<Position> ParsePosition(std::string_view text) {
  const size_t plus = text.find('+');
  auto esn = Number(text.substr(0, plus), "the ESN", text);
  if (!esn.ok()) return esn.status();
  Position p{.esn = *esn};
  if (plus != text.npos) {
    auto steps =
        Number(text.substr(plus + 1), "the instruction count after '+'", text);
    if (!steps.ok()) return steps.status();
    p.steps = *steps;
  }
  return p;
}

std::string FormatPosition(const Position& position) {
  if (position.steps == 0) return absl::StrCat(position.esn);
  return absl::StrCat(position.esn, "+", position.steps);
}

}  // namespace xv
