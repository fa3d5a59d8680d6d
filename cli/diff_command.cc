// xvirt diff: where two recordings of one kernel first differ.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/code_report.h"
#include "cli/commands.h"
#include "debug/code_listing.h"
#include "debug/position.h"
#include "debug/recording_diff.h"
#include "debug/replay_session.h"
#include "nlohmann/json.hpp"
#include "session/backend_choice.h"

namespace xv::cli {
namespace {

using Json = nlohmann::ordered_json;

// The status diff(1) uses: the recordings differ.
constexpr int kExitDifferent = 1;
constexpr size_t kListingBefore = 3;
constexpr size_t kListingAfter = 3;

std::string Hex(uint64_t v) { return absl::StrFormat("0x%x", v); }

std::string EsnText(const std::optional<uint64_t>& esn) {
  return esn ? absl::StrFormat("%d", *esn) : std::string("-");
}

const char* Headline(LoggedDifference::Kind kind) {
  switch (kind) {
    case LoggedDifference::Kind::kInput:
      return "first differing input";
    case LoggedDifference::Kind::kTiming:
      return "first timing difference";
    case LoggedDifference::Kind::kOutput:
      return "first differing output";
    case LoggedDifference::Kind::kCheckpoint:
      return "first differing logged state hash";
    case LoggedDifference::Kind::kEnd:
      return "the ends differ";
    case LoggedDifference::Kind::kFault:
      return "an injected fault differs";
  }
  return "difference";
}

// The inputs logged at `esn`, for people: "clock_advance 1000 ns; ...".
std::string InputsAt(const LoggedRecording& r, uint64_t esn) {
  std::vector<std::string> out;
  for (const LoggedInput& in : r.inputs) {
    if (in.esn == esn) {
      out.push_back(absl::StrFormat("%s %s", InputKindName(in.input.kind),
                                    InputDetail(in.input)));
    }
  }
  return out.empty() ? "(none)" : absl::StrJoin(out, "; ");
}

Json LoggedJson(const LoggedDifference& d) {
  Json j;
  j["kind"] = std::string(DifferenceKindName(d.kind));
  j["esn"] = d.esn();
  j["esn_a"] = d.esn_a ? Json(*d.esn_a) : Json(nullptr);
  j["esn_b"] = d.esn_b ? Json(*d.esn_b) : Json(nullptr);
  j["what"] = d.what;
  j["a"] = d.a;
  j["b"] = d.b;
  return j;
}

Json StateJson(const StateDifference& d) {
  Json j;
  j["time"] = d.time;
  j["position_a"] = FormatPosition(d.position_a);
  j["position_b"] = FormatPosition(d.position_b);
  Json regs = Json::array();
  for (const RegisterDifference& r : d.registers) {
    regs.push_back({{"name", r.name}, {"a", Hex(r.a)}, {"b", Hex(r.b)}});
  }
  j["registers"] = regs;
  j["other_cpu_state"] = d.other_cpu_state;
  j["pages_differing"] = d.pages_differing;
  Json pages = Json::array();
  for (const PageDifference& p : d.pages) {
    Json offsets = Json::array();
    for (uint32_t off : p.offsets) offsets.push_back(off);
    pages.push_back({{"gpa", Hex(p.gpa)},
                     {"bytes_differing", p.bytes_differing},
                     {"offsets", offsets}});
  }
  j["pages"] = pages;
  Json devices = Json::array();
  for (const DeviceDifference& device : d.devices) {
    Json fields = Json::array();
    for (const DeviceFieldDifference& f : device.fields) {
      fields.push_back({{"name", f.name}, {"a", f.value_a}, {"b", f.value_b}});
    }
    devices.push_back({{"device", device.device}, {"fields", fields}});
  }
  j["devices"] = devices;
  j["clock"] = d.clock;
  return j;
}

void PrintCode(const Json& code, const char* side) {
  std::string where = code["symbol"].get<std::string>();
  if (code.contains("source")) {
    where += " at " + code["source"].get<std::string>();
  }
  absl::PrintF("  code%s: rip %s %s\n", side,
               code["rip"].get<std::string>().c_str(), where.c_str());
  PrintCodeLines(code, "  ");
}

void PrintState(const Json& s) {
  absl::PrintF(
      "state: first differs at ESN %s (a) / %s (b), %d instructions since "
      "boot\n",
      s["position_a"].get<std::string>().c_str(),
      s["position_b"].get<std::string>().c_str(), s["time"].get<uint64_t>());
  for (const Json& r : s["registers"]) {
    absl::PrintF(
        "  register %-7s a=%-18s b=%s\n", r["name"].get<std::string>().c_str(),
        r["a"].get<std::string>().c_str(), r["b"].get<std::string>().c_str());
  }
  if (s["other_cpu_state"].get<bool>()) {
    absl::PrintF("  other CPU state differs (x87/SSE, segments or MSRs)\n");
  }
  if (s["pages_differing"].get<uint64_t>() > 0) {
    absl::PrintF("  %d pages differ\n", s["pages_differing"].get<uint64_t>());
  }
  for (const Json& p : s["pages"]) {
    std::vector<std::string> offsets;
    for (const Json& off : p["offsets"]) {
      offsets.push_back(absl::StrFormat("+0x%x", off.get<uint32_t>()));
    }
    absl::PrintF(
        "  page %s: %d bytes differ, at %s%s\n",
        p["gpa"].get<std::string>().c_str(),
        p["bytes_differing"].get<uint32_t>(),
        absl::StrJoin(offsets, " ").c_str(),
        p["bytes_differing"].get<uint32_t>() > offsets.size() ? " ..." : "");
  }
  for (const Json& device : s["devices"]) {
    for (const Json& f : device["fields"]) {
      absl::PrintF("  device %s.%s\n    a: %s\n    b: %s\n",
                   device["device"].get<std::string>(),
                   f["name"].get<std::string>(), f["a"].get<std::string>(),
                   f["b"].get<std::string>());
    }
  }
  if (s["clock"].get<bool>()) absl::PrintF("  the virtual clock differs\n");
  if (s.contains("inputs_here")) {
    absl::PrintF("  inputs logged at this exit: a: %s; b: %s\n",
                 s["inputs_here"]["a"].get<std::string>().c_str(),
                 s["inputs_here"]["b"].get<std::string>().c_str());
  }
  if (s.contains("code_a"))
    PrintCode(s["code_a"], s.contains("code_b") ? " (a)" : "");
  if (s.contains("code_b")) PrintCode(s["code_b"], " (b)");
}

}  // namespace

const CommandSpec& DiffCommandSpec() {
  static const CommandSpec spec = {
      .name = "diff",
      .usage = "diff LOG_A LOG_B [--logged-only] [--json]",
      .summary = "where two recordings of one kernel first differ",
      .description =
          "Compares two recordings of the same kernel (other inputs, another\n"
          "command line, a faulty and a correct run) and reports where they\n"
          "first differ:\n"
          "  - in the header (kernel, command line, memory, RTC, CPUID);\n"
          "  - in what was logged, each kind's first difference with its\n"
          "    ESN: an input the guest was told differently (the UART's\n"
          "    bytes as one stream, disk and boundary reads), the same input\n"
          "    at another exit or a clock advance (timing, which two\n"
          "    recordings of one session nearly always have), an output\n"
          "    digest, a logged state hash, the end;\n"
          "  - in state: both are replayed side by side on the emulator,\n"
          "    exit by exit, then bisected to the first instruction after\n"
          "    which their states differ; shown with the differing\n"
          "    registers, pages (byte offsets), device fields and the code\n"
          "    there.\n"
          "Exit status: 0 when nothing differs, 1 when something does, 2\n"
          "for bad usage, 125 when a log cannot be read or replayed.",
      .options =
          {
              {"logged-only", "",
               "compare the logs only; do not replay (fast)"},
              {"json", "", "print one JSON object on stdout"},
          },
      .min_positional = 2,
      .max_positional = 2,
  };
  return spec;
}

int DiffCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(DiffCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  const std::string path_a = args->positional()[0];
  const std::string path_b = args->positional()[1];

  auto a = LoggedRecording::Read(path_a);
  if (!a.ok()) return Fail(kExitCannotRun, a.status(), json);
  auto b = LoggedRecording::Read(path_b);
  if (!b.ok()) return Fail(kExitCannotRun, b.status(), json);

  Json j;
  j["a"] = path_a;
  j["b"] = path_b;
  Json header = Json::array();
  for (const HeaderDifference& h : CompareHeaders(a->header, b->header)) {
    header.push_back({{"field", h.field}, {"a", h.a}, {"b", h.b}});
  }
  j["header"] = header;
  const std::vector<LoggedDifference> logged = CompareLogged(*a, *b);
  Json logged_json = Json::array();
  for (const LoggedDifference& d : logged) logged_json.push_back(LoggedJson(d));
  j["logged"] = logged_json;
  bool differ = !header.empty() || !logged.empty();

  const bool comparable = StatesComparable(a->header, b->header);
  if (!comparable) {
    j["state_note"] =
        "different kernels, memory sizes or disks: states are not compared";
  } else if (!args->Has("logged-only")) {
    auto hypervisor = OpenBackend("emu");
    if (!hypervisor.ok()) {
      return Fail(kExitCannotRun, hypervisor.status(), json);
    }
    auto sa = ReplaySession::Open(**hypervisor, path_a);
    if (!sa.ok()) return Fail(kExitCannotRun, sa.status(), json);
    auto sb = ReplaySession::Open(**hypervisor, path_b);
    if (!sb.ok()) return Fail(kExitCannotRun, sb.status(), json);
    // Progress for people watching a long replay: one line, rewritten.
    const bool show_progress = isatty(STDERR_FILENO) != 0;
    absl::Time last_shown = absl::Now();
    auto located = LocateStateDifference(**sa, **sb, [&](uint64_t esn) {
      if (!show_progress || absl::Now() - last_shown < absl::Seconds(1)) {
        return;
      }
      last_shown = absl::Now();
      std::fprintf(stderr, "\rdiff: replaying both, at exit %llu ",
                   static_cast<unsigned long long>(esn));
    });
    if (show_progress) std::fprintf(stderr, "\r%40s\r", "");
    if (!located.ok()) return Fail(kExitCannotRun, located.status(), json);
    if (*located) {
      differ = true;
      Json state = StateJson(**located);
      // At a rendezvous, the inputs applied there are the likely cause.
      const StateDifference& where = **located;
      if (where.position_a == where.position_b && where.position_a.steps == 0) {
        const std::string in_a = InputsAt(*a, where.position_a.esn);
        const std::string in_b = InputsAt(*b, where.position_a.esn);
        if (in_a != in_b) {
          state["inputs_here"] = {{"a", in_a}, {"b", in_b}};
        }
      }
      const KernelSymbols symbols_a = KernelSymbols::Of(a->header.kernel_image);
      auto cpu_a = (*sa)->machine().CaptureCpu();
      auto cpu_b = (*sb)->machine().CaptureCpu();
      if (cpu_a.ok())
        state["code_a"] = CodeReportJson(**sa, cpu_a->arch, symbols_a,
                                         kListingBefore, kListingAfter);
      if (cpu_a.ok() && cpu_b.ok() &&
          cpu_a->arch.regs.rip != cpu_b->arch.regs.rip) {
        state["code_b"] = CodeReportJson(**sb, cpu_b->arch, symbols_a,
                                         kListingBefore, kListingAfter);
      }
      if (!symbols_a.note.empty()) state["symbols_note"] = symbols_a.note;
      j["state"] = state;
    } else {
      j["state"] = nullptr;
    }
  }
  j["differ"] = differ;

  if (json) {
    std::cout << j.dump() << "\n";
    return differ ? kExitDifferent : 0;
  }
  if (header.empty()) {
    absl::PrintF("header: the same machine (%s, %d MiB)\n",
                 a->header.kernel_name.c_str(), a->header.memory_bytes >> 20);
  }
  for (const Json& h : header) {
    absl::PrintF(
        "header: %s differs: %s vs %s\n", h["field"].get<std::string>().c_str(),
        h["a"].get<std::string>().c_str(), h["b"].get<std::string>().c_str());
  }
  for (const LoggedDifference& d : logged) {
    absl::PrintF("%s: ESN %s (a) / %s (b): %s\n", Headline(d.kind),
                 EsnText(d.esn_a).c_str(), EsnText(d.esn_b).c_str(),
                 d.what.c_str());
    absl::PrintF("  a: %s\n  b: %s\n", d.a.c_str(), d.b.c_str());
  }
  if (logged.empty()) absl::PrintF("logged: no difference\n");
  if (j.contains("state_note")) {
    absl::PrintF("state: %s\n", j["state_note"].get<std::string>().c_str());
  } else if (j.contains("state")) {
    if (j["state"].is_null()) {
      absl::PrintF("state: the same at every exit both reach\n");
    } else {
      PrintState(j["state"]);
    }
  }
  return differ ? kExitDifferent : 0;
}

}  // namespace xv::cli
