#include "replay/log_reader.h"

#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "base/scoped_fd.h"
#include "replay/log_format.h"

namespace xv {

namespace {

// Where frames come from: a file read with pread, or bytes in memory.
class Source {
 public:
  virtual ~Source() = default;
  // Reads up to `n` bytes at `offset`; fewer only at the end of the data.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, void* dst,
                                        size_t n) = 0;
  virtual uint64_t size() const = 0;
};

class FileSource final : public Source {
 public:
  FileSource(ScopedFd fd, std::string path, uint64_t size)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size) {}

  absl::StatusOr<size_t> ReadAt(uint64_t offset, void* dst, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_.get(), static_cast<char*>(dst) + done, n - done,
                          static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        return absl::ErrnoToStatus(
            errno, absl::StrFormat("%s: reading %d bytes at byte offset %d",
                                   path_, n - done, offset + done));
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }
  uint64_t size() const override { return size_; }

 private:
  ScopedFd fd_;
  std::string path_;
  uint64_t size_;
};

class MemorySource final : public Source {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}

  absl::StatusOr<size_t> ReadAt(uint64_t offset, void* dst, size_t n) override {
    if (offset >= bytes_.size()) return 0;
    const size_t count =
        std::min<uint64_t>(n, bytes_.size() - static_cast<size_t>(offset));
    std::memcpy(dst, bytes_.data() + offset, count);
    return count;
  }
  uint64_t size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
};

struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

capnp::StructSchema RecordSchema() {
  return capnp::Schema::from<log::Record>();
}

bool KnownKind(uint16_t kind) {
  return RecordSchema().getFieldByDiscriminant(kind) != nullptr;
}

// Reads every pointer field of a message the way generated code would, so
// that a malformed message throws here, inside the reader, and never later
// in the caller: bounds, pointer kinds, NUL-terminated text, nesting. Data
// fields cannot fail and are not read.
void WalkValue(const capnp::DynamicValue::Reader& value);

void WalkStruct(const capnp::DynamicStruct::Reader& s) {
  for (capnp::StructSchema::Field field : s.getSchema().getNonUnionFields()) {
    WalkValue(s.get(field));
  }
  KJ_IF_MAYBE (field, s.which()) {
    WalkValue(s.get(*field));
  }
}

void WalkValue(const capnp::DynamicValue::Reader& value) {
  switch (value.getType()) {
    case capnp::DynamicValue::STRUCT:
      WalkStruct(value.as<capnp::DynamicStruct>());
      break;
    case capnp::DynamicValue::LIST: {
      auto list = value.as<capnp::DynamicList>();
      switch (list.getSchema().whichElementType()) {
        case capnp::schema::Type::STRUCT:
        case capnp::schema::Type::LIST:
        case capnp::schema::Type::TEXT:
        case capnp::schema::Type::DATA:
          for (const capnp::DynamicValue::Reader& element : list) {
            WalkValue(element);
          }
          break;
        default:
          break;
      }
      break;
    }
    default:
      break;  // Text and Data were checked by get(); scalars cannot fail.
  }
}

}  // namespace

std::string RecordKindName(uint16_t kind) {
  KJ_IF_MAYBE (field, RecordSchema().getFieldByDiscriminant(kind)) {
    return field->getProto().getName().cStr();
  }
  return absl::StrFormat("unknown kind %d", kind);
}

struct LogReader::State {
  std::string name;
  std::unique_ptr<Source> source;
  uint64_t next_frame_offset = kLogFileHeaderBytes;
  uint64_t next_index = 0;

  // The current segment, decompressed: `segment_words` words of which
  // `position` have been read.
  std::unique_ptr<capnp::word[]> segment;
  size_t segment_capacity = 0;  // words
  size_t segment_words = 0;
  size_t position = 0;
  uint64_t frame_offset = 0;
  // A compressed payload as stored.
  std::unique_ptr<uint8_t[]> stored;
  size_t stored_capacity = 0;
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> dctx;

  std::optional<capnp::FlatArrayMessageReader> message;
  RecordView view;

  absl::Status error;  // sticky
  bool at_end = false;
  std::optional<TornTail> torn;
  std::vector<std::string> warnings;
  LogReaderStats stats;

  absl::Status ReadFileHeader() {
    stats.file_bytes = source->size();
    uint8_t header[kLogFileHeaderBytes];
    absl::StatusOr<size_t> n = source->ReadAt(0, header, sizeof header);
    if (!n.ok()) return n.status();
    const std::string start(reinterpret_cast<const char*>(header),
                            std::min(*n, sizeof kLogMagic));
    const bool magic_so_far = std::memcmp(header, kLogMagic, start.size()) == 0;
    if (*n == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the file is empty, not an xvirt log", name));
    }
    if (!magic_so_far) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: not an xvirt log (it starts with \"%s\", not \"XVIRTLOG\")",
          name, absl::CHexEscape(start)));
    }
    if (*n < kLogFileHeaderBytes) {
      return absl::DataLossError(absl::StrFormat(
          "%s: truncated: the file is %d bytes, shorter than the %d-byte "
          "header of an xvirt log",
          name, *n, kLogFileHeaderBytes));
    }
    const uint32_t version = LoadLe32(header + 8);
    if (version != kLogContainerVersion) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: log container version %d is not supported by this xvirt (it "
          "reads version %d)",
          name, version, kLogContainerVersion));
    }
    const uint32_t reserved = LoadLe32(header + 12);
    if (reserved != 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s: the reserved field of the file header is 0x%08x, not 0", name,
          reserved));
    }
    return absl::OkStatus();
  }

  absl::Status FrameError(uint64_t offset, const std::string& what) const {
    return absl::DataLossError(
        absl::StrFormat("%s: frame at byte offset %d (records from #%d): %s",
                        name, offset, next_index, what));
  }

  void EndWithTornTail(uint64_t offset, uint64_t bytes, std::string reason) {
    torn = TornTail{offset, bytes, std::move(reason)};
    at_end = true;
  }

  void ReserveSegment(size_t words) {
    if (segment_capacity < words) {
      segment.reset();
      segment.reset(new capnp::word[words]);
      segment_capacity = words;
    }
  }

  // Reads the frame at next_frame_offset into `segment`; at the end of the
  // file (or a torn tail) sets at_end instead.
  absl::Status LoadFrame() {
    message.reset();
    segment_words = 0;
    position = 0;
    const uint64_t offset = next_frame_offset;
    uint8_t header_bytes[kLogFrameHeaderBytes];
    absl::StatusOr<size_t> n =
        source->ReadAt(offset, header_bytes, sizeof header_bytes);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      at_end = true;
      return absl::OkStatus();
    }
    if (*n < kLogFrameHeaderBytes) {
      EndWithTornTail(
          offset, *n,
          absl::StrFormat("the file ends %d bytes into the %d-byte header of "
                          "the frame at byte offset %d",
                          *n, kLogFrameHeaderBytes, offset));
      return absl::OkStatus();
    }
    const LogFrameHeader header = LogFrameHeader::Decode(header_bytes);
    if ((header.flags & ~kLogKnownFrameFlags) != 0) {
      return FrameError(offset,
                        absl::StrFormat("unknown flag bits 0x%x (corrupt, or "
                                        "written by a newer xvirt)",
                                        header.flags & ~kLogKnownFrameFlags));
    }
    const bool compressed = (header.flags & kLogFrameCompressed) != 0;
    const size_t length = header.length;
    if (length == 0) return FrameError(offset, "the payload is empty");
    if (length > kLogMaxSegmentBytes) {
      return FrameError(
          offset, absl::StrFormat("the header declares a %d-byte payload, "
                                  "more than the %d-byte limit",
                                  length, kLogMaxSegmentBytes));
    }
    if (!compressed && length % sizeof(capnp::word) != 0) {
      return FrameError(
          offset, absl::StrFormat("the uncompressed payload of %d bytes is "
                                  "not a whole number of 8-byte words",
                                  length));
    }
    uint8_t* payload;
    if (compressed) {
      if (stored_capacity < length) {
        stored.reset();
        stored.reset(new uint8_t[length]);
        stored_capacity = length;
      }
      payload = stored.get();
    } else {
      ReserveSegment(length / sizeof(capnp::word));
      payload = reinterpret_cast<uint8_t*>(segment.get());
    }
    n = source->ReadAt(offset + kLogFrameHeaderBytes, payload, length);
    if (!n.ok()) return n.status();
    if (*n < length) {
      EndWithTornTail(
          offset, kLogFrameHeaderBytes + *n,
          absl::StrFormat("the frame at byte offset %d declares a %d-byte "
                          "payload but the file ends %d bytes into it",
                          offset, length, *n));
      return absl::OkStatus();
    }
    const uint64_t checksum = LogPayloadChecksum({payload, length});
    if (checksum != header.checksum) {
      return FrameError(
          offset,
          absl::StrFormat("checksum mismatch: the header says %016x, the "
                          "%d-byte payload hashes to %016x",
                          header.checksum, length, checksum));
    }
    size_t segment_bytes = length;
    if (compressed) {
      const unsigned long long content =
          ZSTD_getFrameContentSize(payload, length);
      if (content == ZSTD_CONTENTSIZE_ERROR) {
        return FrameError(offset, "the compressed payload is not a zstd frame");
      }
      if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
        return FrameError(offset,
                          "the zstd frame does not declare its content size");
      }
      if (content > kLogMaxSegmentBytes || content == 0 ||
          content % sizeof(capnp::word) != 0) {
        return FrameError(
            offset, absl::StrFormat("the zstd frame declares %d bytes of "
                                    "content, not a whole number of 8-byte "
                                    "words from 8 to %d",
                                    content, kLogMaxSegmentBytes));
      }
      const size_t frame_size = ZSTD_findFrameCompressedSize(payload, length);
      if (ZSTD_isError(frame_size)) {
        return FrameError(
            offset, absl::StrFormat("zstd: %s", ZSTD_getErrorName(frame_size)));
      }
      if (frame_size != length) {
        return FrameError(
            offset, absl::StrFormat("%d bytes follow the %d-byte zstd frame "
                                    "in the payload",
                                    length - frame_size, frame_size));
      }
      segment_bytes = static_cast<size_t>(content);
      ReserveSegment(segment_bytes / sizeof(capnp::word));
      if (dctx == nullptr) {
        dctx.reset(ZSTD_createDCtx());
        if (dctx == nullptr) {
          return absl::ResourceExhaustedError(
              absl::StrFormat("%s: could not create a zstd context", name));
        }
      }
      const size_t got = ZSTD_decompressDCtx(dctx.get(), segment.get(),
                                             segment_bytes, payload, length);
      if (ZSTD_isError(got)) {
        return FrameError(offset,
                          absl::StrFormat("zstd: %s", ZSTD_getErrorName(got)));
      }
      if (got != segment_bytes) {
        return FrameError(
            offset, absl::StrFormat("the zstd frame decompressed to %d bytes, "
                                    "not the %d it declares",
                                    got, segment_bytes));
      }
      ++stats.compressed_frames;
      stats.compressed_bytes += length;
    }
    ++stats.frames;
    stats.stored_bytes += length;
    stats.uncompressed_bytes += segment_bytes;
    frame_offset = offset;
    segment_words = segment_bytes / sizeof(capnp::word);
    next_frame_offset = offset + kLogFrameHeaderBytes + length;
    return absl::OkStatus();
  }

  // Decodes the record at `position` of the segment. Returns the view, or
  // nullptr when the record was skipped (an unknown optional kind).
  absl::StatusOr<const RecordView*> ParseRecord() {
    const capnp::word* begin = segment.get() + position;
    const size_t remaining = segment_words - position;
    const uint64_t index = next_index;
    auto record_error = [&](const std::string& what) {
      return absl::DataLossError(absl::StrFormat(
          "%s: record #%d (in the frame at byte offset %d, byte %d of its "
          "segment): %s",
          name, index, frame_offset, position * sizeof(capnp::word), what));
    };
    size_t words = 0;
    try {
      const size_t expected =
          capnp::expectedSizeInWordsFromPrefix(kj::arrayPtr(begin, remaining));
      if (expected > remaining) {
        return record_error(absl::StrFormat(
            "the segment ends inside it: its Cap'n Proto message needs %d "
            "bytes, %d remain (a corrupt segment, or garbage after its last "
            "record)",
            expected * sizeof(capnp::word), remaining * sizeof(capnp::word)));
      }
      // The caller's reader: no traversal limit, because the walks below
      // have traversed the whole message within a limit proportional to its
      // size (which is what the limit protects against).
      capnp::ReaderOptions options;
      options.traversalLimitInWords = uint64_t{1} << 62;
      message.emplace(kj::arrayPtr(begin, remaining), options);
      words = static_cast<size_t>(message->getEnd() - begin);
      capnp::ReaderOptions check_options;
      check_options.traversalLimitInWords = 4 * words + 1024;
      capnp::FlatArrayMessageReader check(kj::arrayPtr(begin, words),
                                          check_options);
      WalkStruct(check.getRoot<capnp::DynamicStruct>(RecordSchema()));
      // And every pointer regardless of the schema (fields of a newer
      // writer), so that totalSize() or copying the record cannot throw.
      const capnp::MessageSize size =
          check.getRoot<capnp::AnyPointer>().targetSize();
      if (size.capCount != 0) {
        message.reset();
        return record_error(absl::StrFormat(
            "its Cap'n Proto message holds %d capability pointers; a log "
            "record has none",
            size.capCount));
      }
      view.record = message->getRoot<log::Record>();
    } catch (const kj::Exception& e) {
      message.reset();
      return record_error(absl::StrFormat("malformed Cap'n Proto message: %s",
                                          e.getDescription().cStr()));
    } catch (const std::exception& e) {
      message.reset();
      return record_error(absl::StrFormat("cannot decode: %s", e.what()));
    }
    view.index = index;
    view.frame_offset = frame_offset;
    view.bytes = words * sizeof(capnp::word);
    position += words;
    ++next_index;
    ++stats.records;
    const auto kind = static_cast<uint16_t>(view.record.which());
    LogReaderStats::Kind& by_kind = stats.by_kind[kind];
    ++by_kind.records;
    by_kind.bytes += view.bytes;
    if (index == 0 && view.record.which() != log::Record::HEADER) {
      return absl::DataLossError(absl::StrFormat(
          "%s: record #0 (frame at byte offset %d) is a(n) %s record, not the "
          "Header every xvirt log starts with",
          name, frame_offset, RecordKindName(kind)));
    }
    if (!KnownKind(kind)) {
      if (!view.record.getOptional()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: record #%d (frame at byte offset %d) is of kind %d, which "
            "this xvirt does not know: the log needs a newer xvirt",
            name, index, frame_offset, kind));
      }
      warnings.push_back(absl::StrFormat(
          "%s: skipped record #%d (frame at byte offset %d): its kind %d is "
          "unknown to this xvirt, and the writer marked it optional",
          name, index, frame_offset, kind));
      ++stats.skipped_records;
      return nullptr;
    }
    return &view;
  }

  absl::StatusOr<const RecordView*> Next() {
    for (;;) {
      if (position < segment_words) {
        absl::StatusOr<const RecordView*> r = ParseRecord();
        if (!r.ok() || *r != nullptr) return r;
        continue;
      }
      if (at_end) {
        message.reset();
        return nullptr;
      }
      if (absl::Status s = LoadFrame(); !s.ok()) return s;
    }
  }
};

LogReader::LogReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
LogReader::LogReader(LogReader&&) noexcept = default;
LogReader& LogReader::operator=(LogReader&&) noexcept = default;
LogReader::~LogReader() = default;

absl::StatusOr<LogReader> LogReader::Open(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::ErrnoToStatus(errno, absl::StrFormat("%s: cannot open", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrFormat("%s: fstat", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a regular file", path));
  }
  auto state = std::make_unique<State>();
  state->name = path;
  state->source = std::make_unique<FileSource>(std::move(fd), path, st.st_size);
  if (absl::Status s = state->ReadFileHeader(); !s.ok()) return s;
  return LogReader(std::move(state));
}

absl::StatusOr<LogReader> LogReader::FromBytes(std::string bytes,
                                               std::string name) {
  auto state = std::make_unique<State>();
  state->name = std::move(name);
  state->source = std::make_unique<MemorySource>(std::move(bytes));
  if (absl::Status s = state->ReadFileHeader(); !s.ok()) return s;
  return LogReader(std::move(state));
}

absl::StatusOr<const RecordView*> LogReader::Next() {
  if (state_ == nullptr) {
    return absl::FailedPreconditionError("LogReader: used after being moved");
  }
  State& st = *state_;
  if (!st.error.ok()) return st.error;
  absl::StatusOr<const RecordView*> r = st.Next();
  if (!r.ok()) {
    st.error = r.status();
    st.message.reset();
  }
  return r;
}

const std::optional<TornTail>& LogReader::torn_tail() const {
  return state_->torn;
}
const std::vector<std::string>& LogReader::warnings() const {
  return state_->warnings;
}
const LogReaderStats& LogReader::stats() const { return state_->stats; }
const std::string& LogReader::name() const { return state_->name; }

}  // namespace xv
