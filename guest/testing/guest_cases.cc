#include "guest/testing/guest_cases.h"

#include <charconv>
#include <regex>
#include <sstream>

namespace xv::guest_testing {
namespace {

constexpr char kTestdataDir[] = "guest/testdata/";

std::string Trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> SplitColumns(const std::string& line) {
  std::vector<std::string> columns;
  std::stringstream in(line);
  std::string column;
  while (std::getline(in, column, '|')) columns.push_back(Trim(column));
  return columns;
}

template <typename T>
bool ParseNumber(const std::string& s, T* value) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *value);
  return ec == std::errc() && end == s.data() + s.size();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::optional<std::vector<GuestCase>> ParseGuestCases(const std::string& text,
                                                      std::string* error) {
  std::vector<GuestCase> cases;
  std::stringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); number++) {
    if (Trim(line).empty() || Trim(line)[0] == '#') continue;
    auto fail = [&](const std::string& why) {
      *error = "cases.txt line " + std::to_string(number) + ": " + why;
      return std::nullopt;
    };
    std::vector<std::string> col = SplitColumns(line);
    if (col.size() != 7) return fail("expected 7 columns separated by '|'");
    GuestCase c;
    c.name = col[0];
    c.guest = col[1];
    c.cmdline = col[2] == "-" ? "" : col[2];
    c.input_file = col[3] == "-" ? "" : kTestdataDir + col[3];
    if (!ParseNumber(col[4], &c.disk_sectors)) return fail("bad disk column");
    if (col[5] == "shutdown") {
      c.end = GuestCase::End::kShutdown;
    } else if (col[5] == "running") {
      c.end = GuestCase::End::kRunning;
    } else if (!ParseNumber(col[5], &c.exit_value)) {
      return fail("exit must be a number, 'shutdown' or 'running'");
    }
    if (!EndsWith(col[6], ".out") && !EndsWith(col[6], ".re")) {
      return fail("expected file must end in .out or .re");
    }
    c.expected_file = kTestdataDir + col[6];
    c.expected_is_regex = EndsWith(col[6], ".re");
    cases.push_back(c);
  }
  return cases;
}

bool OutputMatches(const GuestCase& c, const std::string& expected,
                   const std::string& output) {
  if (!c.expected_is_regex) return output == expected;
  return std::regex_match(output, std::regex(expected));
}

std::ostream& operator<<(std::ostream& os, const GuestCase& c) {
  return os << c.name << " (" << c.guest << " '" << c.cmdline << "')";
}

}  // namespace xv::guest_testing
