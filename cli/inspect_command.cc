// xvirt inspect: the state of a recording at one position.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/code_report.h"
#include "cli/commands.h"
#include "debug/code_listing.h"
#include "debug/position.h"
#include "debug/replay_session.h"
#include "devices/front_end.h"
#include "nlohmann/json.hpp"
#include "session/backend_choice.h"

namespace xv::cli {
namespace {

using Json = nlohmann::ordered_json;

// Instructions shown before and after RIP.
constexpr size_t kListingBefore = 5;
constexpr size_t kListingAfter = 5;
// Logged inputs shown on either side of the position's exit.
constexpr uint64_t kInputsAround = 3;
constexpr uint64_t kMaxMemoryBytes = uint64_t{64} * 1024;

std::string Hex(uint64_t v) { return absl::StrFormat("0x%x", v); }

// "ADDR" or "ADDR:LEN", hexadecimal with or without 0x.
absl::StatusOr<std::pair<uint64_t, uint64_t>> ParseMemorySpec(
    const std::string& text) {
  auto number = [](std::string_view s, int base) -> std::optional<uint64_t> {
    if (base == 16 && (s.starts_with("0x") || s.starts_with("0X"))) {
      s.remove_prefix(2);
    }
    uint64_t v = 0;
    const auto [end, error] =
        std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || error != std::errc() || end != s.data() + s.size()) {
      return std::nullopt;
    }
    return v;
  };
  const size_t colon = text.find(':');
  const std::string_view view = text;
  auto address = number(view.substr(0, colon), 16);
  std::optional<uint64_t> length = 256;
  if (colon != std::string::npos) length = number(view.substr(colon + 1), 10);
  if (!address || !length || *length == 0 || *length > kMaxMemoryBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--mem '%s': want ADDR[:LEN], ADDR a guest-linear address in hex, "
        "LEN 1 to %d bytes in decimal",
        text, kMaxMemoryBytes));
  }
  return std::pair{*address, *length};
}

}  // namespace

const CommandSpec& InspectCommandSpec() {
  static const CommandSpec spec = {
      .name = "inspect",
      .usage =
          "inspect LOG --at ESN[+N] [--mem ADDR[:LEN]] [--devices] [--json]",
      .summary = "show a recording's state at one instruction",
      .description =
          "Replays LOG on the emulator backend to the position ESN[+N]\n"
          "(the rendezvous after exit ESN, then N instructions) and shows\n"
          "the registers, the instructions around RIP with the kernel's\n"
          "symbols (from the image in the log), guest memory and the device\n"
          "front-ends' state when asked, and the logged inputs around that\n"
          "exit. A position that does\n"
          "not exist (past the end, or past the next exit) is an error.",
      .options =
          {
              {"at", "ESN[+N]", "the position (required)"},
              {"mem", "ADDR[:LEN]",
               "also dump LEN bytes (default 256, decimal) of guest-linear "
               "memory at ADDR (hex), through the guest's page tables"},
              {"devices", "",
               "also show every device front-end's state, field by field "
               "(always in --json)"},
              {"json", "", "print one JSON object on stdout"},
          },
      .min_positional = 1,
      .max_positional = 1,
  };
  return spec;
}

int InspectCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(InspectCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  const std::string path = args->positional()[0];
  const std::optional<std::string> at_text = args->Get("at");
  if (!at_text)
    return Fail(kExitUsage, "inspect: --at ESN[+N] is required", json);
  auto at = ParsePosition(*at_text);
  if (!at.ok()) return Fail(kExitUsage, at.status(), json);
  std::optional<std::pair<uint64_t, uint64_t>> mem;
  if (std::optional<std::string> m = args->Get("mem")) {
    auto spec = ParseMemorySpec(*m);
    if (!spec.ok()) return Fail(kExitUsage, spec.status(), json);
    mem = *spec;
  }

  auto hypervisor = OpenBackend("emu");
  if (!hypervisor.ok()) return Fail(kExitCannotRun, hypervisor.status(), json);
  auto session = ReplaySession::Open(**hypervisor, path);
  if (!session.ok()) return Fail(kExitCannotRun, session.status(), json);
  ReplaySession& s = **session;
  auto stop = s.SeekPosition(*at);
  if (!stop.ok()) return Fail(kExitUsage, stop.status(), json);
  auto cpu = s.machine().CaptureCpu();
  if (!cpu.ok()) return Fail(kExitCannotRun, cpu.status(), json);
  const ArchState& arch = cpu->arch;
  const GeneralRegisters& r = arch.regs;

  const KernelSymbols symbols = KernelSymbols::Of(s.recording().kernel_image);
  const std::string& symbols_note = symbols.note;

  Json j;
  j["log"] = path;
  j["kernel"] = s.recording().kernel_name;
  j["position"] = FormatPosition(s.position());
  j["instructions_since_boot"] = s.time();
  Json regs;
  for (size_t i = 0; i < kGeneralRegisterNames.size(); ++i) {
    regs[std::string(kGeneralRegisterNames[i])] =
        Hex(r.*kGeneralRegisterMembers[i]);
  }
  for (auto [name, value] :
       {std::pair{"cr0", arch.cr0}, std::pair{"cr2", arch.cr2},
        std::pair{"cr3", arch.cr3}, std::pair{"cr4", arch.cr4},
        std::pair{"efer", arch.efer}, std::pair{"fs_base", arch.fs_base},
        std::pair{"gs_base", arch.gs_base}}) {
    regs[name] = Hex(value);
  }
  regs["cs"] = Hex(arch.cs);
  regs["ss"] = Hex(arch.ss);
  j["registers"] = regs;
  const Json code =
      CodeReportJson(s, arch, symbols, kListingBefore, kListingAfter);
  j["symbol"] = code["symbol"];
  if (code.contains("source")) j["source"] = code["source"];
  if (!symbols_note.empty()) j["symbols_note"] = symbols_note;
  j["code"] = code["code"];
  if (code.contains("code_note")) j["code_note"] = code["code_note"];

  if (mem) {
    std::vector<uint8_t> bytes(mem->second);
    bytes.resize(s.ReadLinear(mem->first, bytes));
    Json m;
    m["address"] = Hex(mem->first);
    m["requested"] = mem->second;
    std::string hex;
    for (uint8_t b : bytes) absl::StrAppendFormat(&hex, "%02x", b);
    m["bytes"] = hex;
    j["memory"] = m;
  }

  const uint64_t esn = s.position().esn;
  Json inputs = Json::array();
  for (const LoggedInput& in : s.inputs()) {
    if (in.esn + kInputsAround < esn || in.esn > esn + kInputsAround) continue;
    inputs.push_back({{"esn", in.esn},
                      {"input", std::string(InputKindName(in.input.kind))},
                      {"detail", InputDetail(in.input)}});
  }
  j["inputs_around"] = inputs;

  Json devices = Json::object();
  for (const FrontEnd* device :
       std::as_const(s.machine()).platform().front_ends()) {
    Json fields = Json::object();
    for (const DeviceField& f : DescribeFrontEnd(*device)) {
      fields[f.name] = f.value;
    }
    devices[std::string(device->name())] = fields;
  }
  j["devices"] = devices;

  if (json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  absl::PrintF("%s at ESN %s (%d instructions since boot)\n",
               s.recording().kernel_name.c_str(),
               j["position"].get<std::string>().c_str(), s.time());
  std::string where = j["symbol"].get<std::string>();
  if (j.contains("source")) where += " at " + j["source"].get<std::string>();
  if (!symbols_note.empty()) where = "(" + symbols_note + ")";
  absl::PrintF("rip %s %s\n", Hex(r.rip).c_str(), where.c_str());
  int column = 0;
  for (const auto& [name, value] : regs.items()) {
    absl::PrintF("%-7s %-18s%s", name.c_str(), value.get<std::string>().c_str(),
                 ++column % 4 == 0 ? "\n" : "  ");
  }
  if (column % 4 != 0) absl::PrintF("\n");
  absl::PrintF("\ncode:\n");
  PrintCodeLines(code, "");
  if (mem) {
    const std::string hex = j["memory"]["bytes"].get<std::string>();
    absl::PrintF("\nmemory at %s (%d of %d bytes readable):\n",
                 Hex(mem->first).c_str(), hex.size() / 2, mem->second);
    for (size_t i = 0; i < hex.size(); i += 32) {
      absl::PrintF("  %s  %s\n", Hex(mem->first + i / 2).c_str(),
                   hex.substr(i, 32).c_str());
    }
  }
  absl::PrintF("\ninputs logged at ESN %d..%d:\n",
               esn > kInputsAround ? esn - kInputsAround : 0,
               esn + kInputsAround);
  for (const Json& in : inputs) {
    absl::PrintF("  ESN %d %s %s\n", in["esn"].get<uint64_t>(),
                 in["input"].get<std::string>().c_str(),
                 in["detail"].get<std::string>().c_str());
  }
  if (inputs.empty()) absl::PrintF("  (none)\n");
  if (args->Has("devices")) {
    absl::PrintF("\ndevices:\n");
    for (const auto& [device, fields] : devices.items()) {
      // name=value pairs, wrapped.
      std::string line = "  " + device + ":";
      if (fields.empty()) line += " (no state)";
      for (const auto& [name, value] : fields.items()) {
        const std::string item = " " + name + "=" + value.get<std::string>();
        if (line.size() + item.size() > 100) {
          absl::PrintF("%s\n", line);
          line = "   ";
        }
        line += item;
      }
      absl::PrintF("%s\n", line);
    }
  }
  return 0;
}

}  // namespace xv::cli
