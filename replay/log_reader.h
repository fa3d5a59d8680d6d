// LogReader: reads a nondeterminism log (layout in log_format.h) record by
// record, a frame at a time, checking everything: magic, container version,
// frame flags, checksums, zstd frames, every record's Cap'n Proto encoding
// and the record kinds it knows.
#ifndef EXTRAVIRT_REPLAY_LOG_READER_H_
#define EXTRAVIRT_REPLAY_LOG_READER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replay/log.capnp.h"

namespace xv {

struct RecordView {
  // The record's number in the file, counted from 0 (the Header).
  uint64_t index = 0;
  // Byte offset in the file of the frame that holds the record.
  uint64_t frame_offset = 0;
  // Its serialized (uncompressed) size.
  size_t bytes = 0;
  // Valid until the next call to LogReader::Next(). The message has been
  // walked field by field against the schema already, so reading any field
  // of it cannot throw.
  log::Record::Reader record;
};

// The end of a log written by a recorder that was killed mid-write: the file
// ends inside a frame header, or inside a frame's payload.
struct TornTail {
  // Byte offset of the incomplete frame, and the bytes from there to the end
  // of the file, which were ignored.
  uint64_t offset = 0;
  uint64_t bytes_discarded = 0;
  std::string reason;
};

struct LogReaderStats {
  // Size of the file (or buffer).
  uint64_t file_bytes = 0;
  // Complete frames read so far, those stored compressed, and their payload
  // bytes as stored (all frames, then compressed frames only).
  uint64_t frames = 0;
  uint64_t compressed_frames = 0;
  uint64_t stored_bytes = 0;
  uint64_t compressed_bytes = 0;
  // Segment bytes after decompression.
  uint64_t uncompressed_bytes = 0;
  // Records returned by Next() or skipped as unknown optional kinds.
  uint64_t records = 0;
  uint64_t skipped_records = 0;
  // By union discriminant of Record (see RecordKindName), including kinds
  // this reader does not know.
  struct Kind {
    uint64_t records = 0;
    uint64_t bytes = 0;
  };
  std::map<uint16_t, Kind> by_kind;
};

// "header", "input", ... for a Record union discriminant, from the schema;
// "unknown kind N" for one a newer writer added.
std::string RecordKindName(uint16_t kind);

// Move-only; a RecordView stays valid across a move of its reader.
class LogReader {
 public:
  // Opens a log file and checks its file header; frames are read on demand.
  static absl::StatusOr<LogReader> Open(const std::string& path);
  // The same over a log held in memory; `name` stands for the file name in
  // messages.
  static absl::StatusOr<LogReader> FromBytes(std::string bytes,
                                             std::string name);

  LogReader(LogReader&&) noexcept;
  LogReader& operator=(LogReader&&) noexcept;
  ~LogReader();

  // The next record, or nullptr at the end of the log (after the last
  // complete frame, when the file has a torn tail). Records of a kind this
  // reader does not know are skipped with a warning when marked optional,
  // and are an error otherwise. An error is final: every later call returns
  // it again. Errors name the file, the frame's byte offset and the record
  // number: DataLoss for corruption, FailedPrecondition for a log this
  // version cannot read.
  absl::StatusOr<const RecordView*> Next();

  // Set once Next() has reached a torn tail.
  const std::optional<TornTail>& torn_tail() const;
  // One line per record skipped as an unknown optional kind.
  const std::vector<std::string>& warnings() const;
  const LogReaderStats& stats() const;
  const std::string& name() const;

 private:
  struct State;
  explicit LogReader(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_READER_H_
