// The records of the nondeterminism log as plain C++ values, and their
// conversion to and from the Cap'n Proto schema (log.capnp). Everything above
// the log file works with these; only this file knows the schema's layout.
#ifndef EXTRAVIRT_REPLAY_LOG_RECORDS_H_
#define EXTRAVIRT_REPLAY_LOG_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "hypervisor/cpuid.h"
#include "machine/input_event.h"
#include "replay/log.capnp.h"
#include "replay/log_reader.h"

namespace xv {

// Incompatible changes to log.capnp's meaning bump this; readers refuse
// other versions ("made by an older xvirt"). 2: state hashes cover memory
// through per-page digests, leave out XSAVE's header and see the last
// exit's I/O completed. 3: state hashes cover the architectural state
// (xvirt-state-v3) and ESNs follow the string-I/O rule of
// hypervisor/cpu_exit.h, so an older log's positions and hashes can never
// match.
inline constexpr uint32_t kLogFormatVersion = 3;

// What a replay needs to rebuild the machine exactly as it was recorded.
struct RecordedMachine {
  std::string recorded_by;
  int64_t recorded_at_unix_ns = 0;
  std::string kernel_name;
  std::vector<uint8_t> kernel_image;
  std::string cmdline;
  uint64_t memory_bytes = 0;
  uint64_t disk_sectors = 0;
  int64_t rtc_epoch_seconds = 0;
  std::vector<CpuidLeaf> cpuid;
  Hash128 initial_state_hash;
  uint64_t checkpoint_interval = 0;
  uint32_t output_digest_bytes = 0;
  uint64_t output_digest_exits = 0;
  // The CPU backend that recorded the log ("kvm"); information only.
  std::string backend;
};

struct LoggedInput {
  uint64_t esn = 0;
  InputEvent input;
};

struct LoggedCheckpoint {
  uint64_t esn = 0;
  Hash128 state_hash;
};

struct LoggedDigest {
  uint64_t esn = 0;
  std::string device;
  uint32_t outputs = 0;
  uint64_t bytes = 0;
  Hash128 hash;
  bool at_end = false;
};

struct LoggedEnd {
  uint64_t esn = 0;
  int32_t exit_status = 0;
  std::string stop_reason;
  uint64_t debug_exit_value = 0;
  // Unset when the run stopped between exits (see log.capnp).
  std::optional<Hash128> final_state_hash;
  uint64_t exits = 0;
  double wall_seconds = 0;
};

// A register bit flipped on purpose at the rendezvous after exit `esn`
// (see log.capnp's Fault).
struct LoggedFault {
  uint64_t esn = 0;
  std::string reg;  // a name of kGeneralRegisterNames
  uint32_t bit = 0;
  friend bool operator==(const LoggedFault&, const LoggedFault&) = default;
};
// "rbx bit 5 flipped after exit 30"
std::string DescribeFault(const LoggedFault& fault);
// InvalidArgument unless the fault names a general register and a bit of
// it (0..63).
absl::Status CheckFault(const LoggedFault& fault);

using LogEntry = std::variant<RecordedMachine, LoggedInput, LoggedCheckpoint,
                              LoggedDigest, LoggedEnd, LoggedFault>;

// A whole log in memory, by kind, in log order: what diff compares, what a
// debugging session and a what-if run replay from.
struct LoggedRecording {
  RecordedMachine header;
  std::vector<LoggedInput> inputs;
  std::vector<LoggedDigest> digests;
  std::vector<LoggedCheckpoint> checkpoints;
  std::optional<LoggedEnd> end;     // absent in a torn log
  std::vector<LoggedFault> faults;  // injected on purpose

  // Errors: the file, a record that does not convert (located), no header.
  static absl::StatusOr<LoggedRecording> Read(const std::string& path);
};

// The ESN a record belongs to (0 for the header).
uint64_t EntryEsn(const LogEntry& entry);
// "header", "input", "checkpoint", "output_digest", "end", "fault".
std::string_view EntryKindName(const LogEntry& entry);

// The details of an input for people (dumps, divergence reports), without
// its kind: "1000000 ns", "3 bytes \"ab\\x0a\"", "lba 8, 512 bytes, data
// <hash>".
std::string InputDetail(const InputEvent& input);

// Fills `record` (a fresh root) from `entry`.
void BuildRecord(const LogEntry& entry, log::Record::Builder record);

// Converts a record read from a log. Errors name what is inconsistent (a
// version this reader does not know, an impossible input); the caller adds
// where in the file it was.
absl::StatusOr<LogEntry> ParseRecord(log::Record::Reader record);

// ParseRecord for a record `reader` just returned, an error saying where in
// the file it is ("kv.log: record 3 (frame at byte 96): ...").
absl::StatusOr<LogEntry> ParseRecordAt(const LogReader& reader,
                                       const RecordView& view);

// Calls `visit` for every record of `reader` from where it is, converted,
// until `visit` returns false or the log ends. A record that does not
// convert is DataLoss, located as ParseRecordAt says.
absl::Status ForEachLogEntry(
    LogReader& reader,
    absl::FunctionRef<bool(const RecordView&, const LogEntry&)> visit);

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_RECORDS_H_
