// LogWriter: appends records to a nondeterminism log file (layout in
// log_format.h), a segment at a time, optionally zstd-compressed.
#ifndef EXTRAVIRT_REPLAY_LOG_WRITER_H_
#define EXTRAVIRT_REPLAY_LOG_WRITER_H_

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xv {

struct LogWriterOptions {
  // zstd-compress each segment (a segment that does not shrink is stored
  // as is).
  bool compress = true;
  int zstd_level = 3;
  // A segment is written as one frame once it holds this many bytes. At most
  // kLogMaxSegmentBytes.
  size_t segment_bytes = size_t{64} << 10;
};

struct LogWriterStats {
  uint64_t records = 0;
  uint64_t frames = 0;
  // Frames whose payload is stored compressed.
  uint64_t compressed_frames = 0;
  // Segment bytes before compression, and payload bytes as stored.
  uint64_t uncompressed_bytes = 0;
  uint64_t stored_bytes = 0;
  // Everything written to the file: file header, frame headers, payloads.
  uint64_t file_bytes = 0;
};

// Streaming: holds at most one segment (or one record larger than a segment)
// in memory. Move-only; the destructor closes the file best-effort if Close()
// was not called. After a failed write every later call fails.
class LogWriter {
 public:
  // Creates or truncates `path` (O_CLOEXEC) and writes the file header.
  static absl::StatusOr<LogWriter> Create(const std::string& path,
                                          LogWriterOptions options = {});

  LogWriter(LogWriter&&) noexcept;
  LogWriter& operator=(LogWriter&&) noexcept;
  ~LogWriter();

  // Adds one record: the root of `message` is an `xv::log::Record`; the
  // first record of a log must be its Header. Writes the current segment
  // first if the record would not fit in it, and writes the segment once it
  // is full. Fails (InvalidArgument) on a record larger than
  // kLogMaxSegmentBytes.
  absl::Status Append(capnp::MessageBuilder& message);

  // Writes the buffered records, if any, as one frame now (no fsync).
  absl::Status Flush();

  // Flush, fsync and close. Further Append/Flush calls fail; Close again is a
  // no-op.
  absl::Status Close();

  const LogWriterStats& stats() const;
  // Serialized records waiting for the next frame.
  size_t buffered_bytes() const;
  const std::string& path() const;

 private:
  struct State;
  explicit LogWriter(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_WRITER_H_
