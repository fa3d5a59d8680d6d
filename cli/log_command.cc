// xvirt log stat|dump: look inside a nondeterminism log.
#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "replay/log_reader.h"
#include "replay/log_records.h"

namespace xv::cli {
namespace {

using Json = nlohmann::ordered_json;

Json EntryJson(const RecordView& view, const LogEntry& entry) {
  Json j;
  j["record"] = view.index;
  j["offset"] = view.frame_offset;
  j["kind"] = std::string(EntryKindName(entry));
  j["esn"] = EntryEsn(entry);
  if (const auto* h = std::get_if<RecordedMachine>(&entry)) {
    j["kernel"] = h->kernel_name;
    j["kernel_bytes"] = h->kernel_image.size();
    j["kernel_hash"] = HashBytes(h->kernel_image).ToHex();
    j["cmdline"] = h->cmdline;
    j["memory_bytes"] = h->memory_bytes;
    j["disk_sectors"] = h->disk_sectors;
    j["rtc_epoch_seconds"] = h->rtc_epoch_seconds;
    j["cpuid_entries"] = h->cpuid.size();
    j["initial_state_hash"] = h->initial_state_hash.ToHex();
    j["checkpoint_interval"] = h->checkpoint_interval;
    j["recorded_by"] = h->recorded_by;
    j["recorded_at_unix_ns"] = h->recorded_at_unix_ns;
  } else if (const auto* in = std::get_if<LoggedInput>(&entry)) {
    j["input"] = std::string(InputKindName(in->input.kind));
    j["detail"] = InputDetail(in->input);
  } else if (const auto* c = std::get_if<LoggedCheckpoint>(&entry)) {
    j["state_hash"] = c->state_hash.ToHex();
  } else if (const auto* d = std::get_if<LoggedDigest>(&entry)) {
    j["device"] = d->device;
    j["outputs"] = d->outputs;
    j["bytes"] = d->bytes;
    j["hash"] = d->hash.ToHex();
    j["at_end"] = d->at_end;
  } else if (const auto* e = std::get_if<LoggedEnd>(&entry)) {
    j["exit_status"] = e->exit_status;
    j["stop_reason"] = e->stop_reason;
    j["final_state_hash"] = e->final_state_hash
                                ? Json(e->final_state_hash->ToHex())
                                : Json(nullptr);
    j["wall_seconds"] = e->wall_seconds;
  } else if (const auto* f = std::get_if<LoggedFault>(&entry)) {
    j["register"] = f->reg;
    j["bit"] = f->bit;
  }
  return j;
}

std::string EntryLine(const Json& j) {
  std::string line = absl::StrFormat("%8d  %-13s", j["esn"].get<uint64_t>(),
                                     j["kind"].get<std::string>());
  for (const auto& [key, value] : j.items()) {
    if (key == "esn" || key == "kind" || key == "record" || key == "offset") {
      continue;
    }
    line += " " + key + "=" +
            (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return line;
}

int Stat(const std::string& path, bool json) {
  auto reader = LogReader::Open(path);
  if (!reader.ok()) return Fail(kExitCannotRun, reader.status(), json);
  struct Count {
    uint64_t records = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Count> inputs;
  std::optional<RecordedMachine> header;
  std::optional<LoggedEnd> end;
  uint64_t last_esn = 0;
  uint64_t virtual_ns = 0;
  absl::Status s = ForEachLogEntry(
      *reader, [&](const RecordView& view, const LogEntry& entry) {
        last_esn = std::max(last_esn, EntryEsn(entry));
        if (const auto* h = std::get_if<RecordedMachine>(&entry)) header = *h;
        if (const auto* e = std::get_if<LoggedEnd>(&entry)) end = *e;
        if (const auto* in = std::get_if<LoggedInput>(&entry)) {
          Count& c = inputs[std::string(InputKindName(in->input.kind))];
          ++c.records;
          c.bytes += view.bytes;
          if (in->input.kind == InputKind::kClockAdvance) {
            virtual_ns = in->input.value;
          }
        }
        return true;
      });
  if (!s.ok()) return Fail(kExitCannotRun, s, json);
  const LogReaderStats& st = reader->stats();
  const double ratio =
      st.stored_bytes ? double(st.uncompressed_bytes) / st.stored_bytes : 1.0;
  Json j;
  j["log"] = path;
  j["file_bytes"] = st.file_bytes;
  j["frames"] = st.frames;
  j["records"] = st.records;
  j["uncompressed_bytes"] = st.uncompressed_bytes;
  j["stored_bytes"] = st.stored_bytes;
  j["compression_ratio"] = ratio;
  Json kinds = Json::object();
  for (const auto& [kind, c] : st.by_kind) {
    kinds[RecordKindName(kind)] = {{"records", c.records}, {"bytes", c.bytes}};
  }
  j["by_kind"] = kinds;
  Json by_input = Json::object();
  for (const auto& [kind, c] : inputs) {
    by_input[kind] = {{"records", c.records}, {"bytes", c.bytes}};
  }
  j["inputs"] = by_input;
  j["kernel"] = header ? Json(header->kernel_name) : Json(nullptr);
  j["exits"] = end ? end->esn : last_esn;
  j["virtual_seconds"] = virtual_ns / 1e9;
  j["wall_seconds"] = end ? Json(end->wall_seconds) : Json(nullptr);
  j["complete"] = end.has_value();
  j["torn_tail"] =
      reader->torn_tail()
          ? Json({{"offset", reader->torn_tail()->offset},
                  {"bytes_discarded", reader->torn_tail()->bytes_discarded}})
          : Json(nullptr);
  if (json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("log %s: %llu bytes, %llu records in %llu frames\n", path.c_str(),
              (unsigned long long)st.file_bytes, (unsigned long long)st.records,
              (unsigned long long)st.frames);
  std::printf("  kernel %s, %llu exits, %.3f s of guest time, %s\n",
              header ? header->kernel_name.c_str() : "?",
              (unsigned long long)(end ? end->esn : last_esn), virtual_ns / 1e9,
              end ? absl::StrFormat("recorded in %.3f s (%s)",
                                    end->wall_seconds, end->stop_reason)
                        .c_str()
                  : "no End record (the recording was cut short)");
  std::printf("  compression: %llu bytes of records stored in %llu (%.2fx)\n",
              (unsigned long long)st.uncompressed_bytes,
              (unsigned long long)st.stored_bytes, ratio);
  std::printf("  %-16s %10s %12s\n", "kind", "records", "bytes");
  for (const auto& [kind, c] : st.by_kind) {
    std::printf("  %-16s %10llu %12llu\n", RecordKindName(kind).c_str(),
                (unsigned long long)c.records, (unsigned long long)c.bytes);
  }
  for (const auto& [kind, c] : inputs) {
    std::printf("    input %-20s %10llu %12llu\n", kind.c_str(),
                (unsigned long long)c.records, (unsigned long long)c.bytes);
  }
  if (reader->torn_tail()) {
    std::printf("  torn tail: %llu bytes at offset %llu ignored\n",
                (unsigned long long)reader->torn_tail()->bytes_discarded,
                (unsigned long long)reader->torn_tail()->offset);
  }
  return 0;
}

int Dump(const std::string& path, const ParsedArgs& args, bool json) {
  auto from = args.GetNumber("from", 0, 1.8e19);
  if (!from.ok()) return Fail(kExitUsage, from.status(), json);
  auto to = args.GetNumber("to", 0, 1.8e19);
  if (!to.ok()) return Fail(kExitUsage, to.status(), json);
  const uint64_t lo = *from ? static_cast<uint64_t>(**from) : 0;
  const uint64_t hi = *to ? static_cast<uint64_t>(**to) : UINT64_MAX;
  auto reader = LogReader::Open(path);
  if (!reader.ok()) return Fail(kExitCannotRun, reader.status(), json);
  absl::Status s = ForEachLogEntry(
      *reader, [&](const RecordView& view, const LogEntry& entry) {
        const uint64_t esn = EntryEsn(entry);
        const bool header = std::holds_alternative<RecordedMachine>(entry);
        if (esn > hi && !std::holds_alternative<LoggedEnd>(entry)) return false;
        if (!header && (esn < lo || esn > hi)) return true;
        Json j = EntryJson(view, entry);
        std::cout << (json ? j.dump() : EntryLine(j)) << "\n";
        return true;
      });
  for (const std::string& w : reader->warnings()) {
    std::fprintf(stderr, "xvirt: warning: %s\n", w.c_str());
  }
  if (!s.ok()) return Fail(kExitCannotRun, s, false);
  if (reader->torn_tail()) {
    std::fprintf(stderr,
                 "xvirt: note: torn tail: %llu bytes at offset %llu "
                 "ignored\n",
                 (unsigned long long)reader->torn_tail()->bytes_discarded,
                 (unsigned long long)reader->torn_tail()->offset);
  }
  return 0;
}

}  // namespace

const CommandSpec& LogCommandSpec() {
  static const CommandSpec spec = {
      .name = "log",
      .usage = "log stat|dump LOG [options]",
      .summary = "show what a recorded nondeterminism log holds",
      .description =
          "stat: counts and bytes by record kind and input kind, the\n"
          "compression ratio, exits and guest/wall duration.\n"
          "dump: one line per record (ESN, kind, details), or one JSON\n"
          "object per line with --json. The header is always shown.",
      .options =
          {
              {"from", "ESN", "dump: start at this ESN"},
              {"to", "ESN", "dump: stop after this ESN"},
              {"json", "", "machine-readable output"},
          },
      .min_positional = 2,
      .max_positional = 2,
  };
  return spec;
}

int LogCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(LogCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  const std::string& action = args->positional()[0];
  const std::string& path = args->positional()[1];
  if (action == "stat") return Stat(path, json);
  if (action == "dump") return Dump(path, *args, json);
  return Fail(
      kExitUsage,
      absl::StrFormat("log: unknown action '%s' (stat or dump)", action), json);
}

}  // namespace xv::cli
