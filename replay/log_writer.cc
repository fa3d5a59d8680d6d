#include "replay/log_writer.h"

#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <kj/io.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <exception>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/scoped_fd.h"
#include "replay/log.capnp.h"
#include "replay/log_format.h"

namespace xv {

namespace {

struct ZstdCCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// capnp::writeMessage's sink: appends to a string.
class StringOutputStream final : public kj::OutputStream {
 public:
  explicit StringOutputStream(std::string* out) : out_(out) {}
  void write(const void* buffer, size_t size) override {
    out_->append(static_cast<const char*>(buffer), size);
  }

 private:
  std::string* out_;
};

}  // namespace

struct LogWriter::State {
  std::string path;
  LogWriterOptions options;
  ScopedFd fd;
  std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> cctx;
  std::string segment;     // serialized records not yet written
  std::string compressed;  // scratch for the compressed payload
  LogWriterStats stats;
  bool closed = false;
  absl::Status failed;  // sticky: the first write error

  // Writes all of `iov` (handling short writes and EINTR) at the end of the
  // file; the file offset is stats.file_bytes.
  absl::Status WriteAll(iovec* iov, int count, const char* what) {
    const uint64_t start = stats.file_bytes;
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    while (count > 0) {
      ssize_t n = ::writev(fd.get(), iov, count);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        failed = absl::ErrnoToStatus(
            err, absl::StrFormat("%s: writing %s (%d bytes at byte offset %d) "
                                 "failed at byte offset %d",
                                 path, what, total, start, stats.file_bytes));
        return failed;
      }
      stats.file_bytes += static_cast<uint64_t>(n);
      size_t left = static_cast<size_t>(n);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Usable() const {
    if (!failed.ok()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: an earlier write failed: %s", path,
                          std::string(failed.message())));
    }
    if (closed) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: the log writer is closed", path));
    }
    return absl::OkStatus();
  }

  absl::Status WriteSegment() {
    if (segment.empty()) return absl::OkStatus();
    const uint8_t* payload = reinterpret_cast<const uint8_t*>(segment.data());
    size_t length = segment.size();
    uint32_t flags = 0;
    if (options.compress) {
      compressed.resize(ZSTD_compressBound(segment.size()));
      // The simple API records the content size in the zstd frame header,
      // which the reader requires.
      const size_t n =
          ZSTD_compressCCtx(cctx.get(), compressed.data(), compressed.size(),
                            segment.data(), segment.size(), options.zstd_level);
      if (ZSTD_isError(n)) {
        failed = absl::InternalError(absl::StrFormat(
            "%s: zstd could not compress the %d-byte segment of the frame at "
            "byte offset %d: %s",
            path, segment.size(), stats.file_bytes, ZSTD_getErrorName(n)));
        return failed;
      }
      if (n < segment.size()) {
        payload = reinterpret_cast<const uint8_t*>(compressed.data());
        length = n;
        flags |= kLogFrameCompressed;
      }
    }
    LogFrameHeader header{static_cast<uint32_t>(length), flags,
                          LogPayloadChecksum({payload, length})};
    uint8_t header_bytes[kLogFrameHeaderBytes];
    header.Encode(header_bytes);
    iovec iov[2] = {{header_bytes, sizeof header_bytes},
                    {const_cast<uint8_t*>(payload), length}};
    if (absl::Status s = WriteAll(iov, 2, "a frame"); !s.ok()) return s;
    ++stats.frames;
    if (flags & kLogFrameCompressed) ++stats.compressed_frames;
    stats.uncompressed_bytes += segment.size();
    stats.stored_bytes += length;
    // Keep no more than about one segment of memory after a big record.
    segment.clear();
    if (segment.capacity() > 2 * options.segment_bytes) segment.shrink_to_fit();
    compressed.clear();
    if (compressed.capacity() > 2 * ZSTD_compressBound(options.segment_bytes)) {
      compressed.shrink_to_fit();
    }
    return absl::OkStatus();
  }
};

LogWriter::LogWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
LogWriter::LogWriter(LogWriter&&) noexcept = default;
LogWriter& LogWriter::operator=(LogWriter&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr && !state_->closed) (void)Close();
    state_ = std::move(other.state_);
  }
  return *this;
}

LogWriter::~LogWriter() {
  if (state_ != nullptr && !state_->closed) (void)Close();
}

absl::StatusOr<LogWriter> LogWriter::Create(const std::string& path,
                                            LogWriterOptions options) {
  if (options.segment_bytes == 0 ||
      options.segment_bytes > kLogMaxSegmentBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: segment_bytes %d is not in 1..%d", path,
                        options.segment_bytes, kLogMaxSegmentBytes));
  }
  if (options.compress && (options.zstd_level < ZSTD_minCLevel() ||
                           options.zstd_level > ZSTD_maxCLevel())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: zstd level %d is not in %d..%d", path, options.zstd_level,
        ZSTD_minCLevel(), ZSTD_maxCLevel()));
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  if (options.compress) {
    state->cctx.reset(ZSTD_createCCtx());
    if (state->cctx == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s: could not create a zstd context", path));
    }
  }
  state->fd.Reset(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!state->fd.valid()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrFormat("%s: cannot create", path));
  }
  uint8_t header[kLogFileHeaderBytes];
  for (size_t i = 0; i < sizeof kLogMagic; ++i) {
    header[i] = static_cast<uint8_t>(kLogMagic[i]);
  }
  StoreLe32(header + 8, kLogContainerVersion);
  StoreLe32(header + 12, 0);
  iovec iov = {header, sizeof header};
  if (absl::Status s = state->WriteAll(&iov, 1, "the file header"); !s.ok()) {
    return s;
  }
  return LogWriter(std::move(state));
}

namespace {
absl::Status MovedFrom() {
  return absl::FailedPreconditionError("LogWriter: used after being moved");
}
}  // namespace

absl::Status LogWriter::Append(capnp::MessageBuilder& message) {
  if (state_ == nullptr) return MovedFrom();
  State& st = *state_;
  if (absl::Status s = st.Usable(); !s.ok()) return s;
  size_t bytes = 0;
  size_t buffered = st.segment.size();
  try {
    if (st.stats.records == 0) {
      auto record = message.getRoot<log::Record>().asReader();
      if (record.which() != log::Record::HEADER) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: record 0 must be the Header, not union member %d", st.path,
            static_cast<int>(record.which())));
      }
    }
    bytes = capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word);
    if (bytes > kLogMaxSegmentBytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: record %d is %d bytes, more than the %d a log segment may hold",
          st.path, st.stats.records, bytes, kLogMaxSegmentBytes));
    }
    if (!st.segment.empty() &&
        st.segment.size() + bytes > st.options.segment_bytes) {
      if (absl::Status s = st.WriteSegment(); !s.ok()) return s;
    }
    buffered = st.segment.size();
    StringOutputStream out(&st.segment);
    capnp::writeMessage(out, message);
  } catch (const kj::Exception& e) {
    st.segment.resize(buffered);  // drop a partly serialized record
    return absl::InternalError(
        absl::StrFormat("%s: cannot serialize record %d: %s", st.path,
                        st.stats.records, e.getDescription().cStr()));
  } catch (const std::exception& e) {
    st.segment.resize(buffered);
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: cannot serialize record %d: %s", st.path,
                        st.stats.records, e.what()));
  }
  ++st.stats.records;
  if (st.segment.size() >= st.options.segment_bytes) return st.WriteSegment();
  return absl::OkStatus();
}

absl::Status LogWriter::Flush() {
  if (state_ == nullptr) return MovedFrom();
  if (absl::Status s = state_->Usable(); !s.ok()) return s;
  return state_->WriteSegment();
}

absl::Status LogWriter::Close() {
  if (state_ == nullptr) return MovedFrom();
  State& st = *state_;
  if (st.closed) return absl::OkStatus();
  absl::Status status = st.Usable();
  if (status.ok()) status = st.WriteSegment();
  if (status.ok()) {
    int r;
    do {
      r = ::fsync(st.fd.get());
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      status = absl::ErrnoToStatus(
          errno, absl::StrFormat("%s: fsync after %d bytes", st.path,
                                 st.stats.file_bytes));
    }
  }
  st.closed = true;
  // close() is not retried: on Linux the descriptor is gone even on EINTR.
  if (::close(st.fd.Release()) < 0 && status.ok()) {
    status = absl::ErrnoToStatus(
        errno, absl::StrFormat("%s: close after %d bytes", st.path,
                               st.stats.file_bytes));
  }
  return status;
}

const LogWriterStats& LogWriter::stats() const { return state_->stats; }
size_t LogWriter::buffered_bytes() const { return state_->segment.size(); }
const std::string& LogWriter::path() const { return state_->path; }

}  // namespace xv
