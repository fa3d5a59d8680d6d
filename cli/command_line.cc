#include "cli/command_line.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_format.h"

namespace xv::cli {

std::optional<std::string> ParsedArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<double>> ParsedArgs::GetNumber(
    const std::string& name, double min, double max) const {
  std::optional<std::string> v = Get(name);
  if (!v) return std::optional<double>();
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0 || !std::isfinite(d) ||
      d < min || d > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--%s: '%s' is not a number between %g and %g", name, *v, min, max));
  }
  return std::optional<double>(d);
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     std::span<const std::string> args) {
  ParsedArgs parsed;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.values_["help"] = "";
      continue;
    }
    std::string name;
    if (arg.rfind("--", 0) == 0) {
      name = arg.substr(2);
    } else {
      auto alias = std::find_if(
          spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) {
            return arg.size() == 2 && o.short_name == arg[1];
          });
      if (alias == spec.options.end()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "unknown option '%s' (see 'xvirt %s --help')", arg, spec.name));
      }
      name = alias->name;
    }
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto opt =
        std::find_if(spec.options.begin(), spec.options.end(),
                     [&](const OptionSpec& o) { return o.name == name; });
    if (opt == spec.options.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown option '--%s' (see 'xvirt %s --help')", name, spec.name));
    }
    if (opt->value_name.empty()) {
      if (value) {
        return absl::InvalidArgumentError(
            absl::StrFormat("option '--%s' takes no value", name));
      }
      value = "";
    } else if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "option '--%s' needs a value (%s)", name, opt->value_name));
      }
      value = args[++i];
    }
    parsed.values_[name] = *value;
  }
  if (parsed.Has("help")) return parsed;
  if (parsed.positional_.size() < spec.min_positional) {
    return absl::InvalidArgumentError(
        absl::StrFormat("missing argument; usage: xvirt %s", spec.usage));
  }
  if (parsed.positional_.size() > spec.max_positional) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unexpected argument '%s'; usage: xvirt %s",
                        parsed.positional_[spec.max_positional], spec.usage));
  }
  return parsed;
}

namespace {

// Appends `text` word-wrapped to 79 columns, every line indented by
// `indent`; the first line starts at column `column` (already written).
void AppendWrapped(std::string& out, std::string_view text, size_t indent,
                   size_t column) {
  constexpr size_t kWidth = 79;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    if (column > indent && column + 1 + word.size() > kWidth) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (column > indent) {
      out += ' ';
      ++column;
    }
    out.append(word.data(), word.size());
    column += word.size();
    pos = end + 1;
  }
  out += '\n';
}

}  // namespace

std::string HelpText(const CommandSpec& spec) {
  constexpr size_t kHelpColumn = 28;
  std::string out =
      absl::StrFormat("usage: xvirt %s\n\n%s\n", spec.usage, spec.description);
  std::vector<OptionSpec> options = spec.options;
  options.push_back({"help", "", "show this help"});
  out += "\noptions:\n";
  for (const OptionSpec& o : options) {
    std::string left =
        o.short_name ? absl::StrFormat("  -%c, --%s", o.short_name, o.name)
                     : "  --" + o.name;
    if (!o.value_name.empty()) left += " " + o.value_name;
    out += left;
    if (left.size() + 1 > kHelpColumn) {
      out += "\n" + std::string(kHelpColumn, ' ');
    } else {
      out += std::string(kHelpColumn - left.size(), ' ');
    }
    AppendWrapped(out, o.help, kHelpColumn, kHelpColumn);
  }
  return out;
}

}  // namespace xv::cli
