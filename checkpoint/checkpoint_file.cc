#include "checkpoint/checkpoint_file.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <kj/io.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "base/scoped_fd.h"
#include "checkpoint/checkpoint.capnp.h"
#include "hypervisor/cpu_state_schema.h"
#include "machine/machine.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"

// Inlined XXH3, as the log's checksum (replay/log_format.cc).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace xv {
namespace {

// Every field of these is stored. A field added to one of them must be
// added to checkpoint.capnp and to both BuildMessage() and DecodeState(),
// or checkpoint files would lose it silently; then update the sizes here.
static_assert(sizeof(PcPlatformConfig) == 16,
              "PcPlatformConfig changed: store the change in checkpoint files");
static_assert(sizeof(Checkpoint) == 1304,
              "Checkpoint changed: store the change in checkpoint files");

// Fast: a checkpoint is written while the recording waits.
constexpr int kZstdLevel = 1;
// Pages per stored run at most: a Cap'n Proto Data holds less than 512 MiB.
constexpr uint64_t kMaxRunPages = 32768;  // 128 MiB
// File reads and writes go in chunks of this size.
constexpr size_t kIoChunkBytes = size_t{1} << 20;
// The largest message a reader accepts: the largest guest's memory, its
// page digests, and room for everything else.
constexpr uint64_t kMaxMessageBytes =
    kMaxMemoryBytes + kMaxMemoryBytes / kPageSize * 2 * sizeof(Hash128) +
    (uint64_t{256} << 20);

void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t LoadLe32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct ZstdCCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct Xxh3StateDeleter {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using Xxh3State = std::unique_ptr<XXH3_state_t, Xxh3StateDeleter>;

Xxh3State NewChecksum() {
  Xxh3State state(XXH3_createState());
  if (state != nullptr) XXH3_64bits_reset(state.get());
  return state;
}

absl::Status ErrnoError(int err, const std::string& path,
                        const std::string& what) {
  return absl::ErrnoToStatus(err, absl::StrFormat("%s: %s", path, what));
}

// An older or newer format than this xvirt reads.
absl::Status FormatError(const std::string& path, uint32_t version) {
  if (version < kCheckpointFileVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: made by an older xvirt (format %d); re-record it (this xvirt "
        "reads checkpoint format %d)",
        path, version, kCheckpointFileVersion));
  }
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s: made by a newer xvirt (format %d); this xvirt reads checkpoint "
      "format %d",
      path, version, kCheckpointFileVersion));
}

// ----------------------------------------------------------------------
// Writing

absl::Status WriteAll(int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return absl::ErrnoToStatus(w < 0 ? errno : EIO, "write");
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// The temporary file a checkpoint is written to, removed unless committed.
class TempFile {
 public:
  static absl::StatusOr<TempFile> Create(const std::string& path) {
    static std::atomic<uint64_t> counter{0};
    std::string temp =
        absl::StrFormat("%s.tmp-%d-%d", path, ::getpid(), counter.fetch_add(1));
    ScopedFd fd(
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      const int err = errno;
      return ErrnoError(
          err, path,
          absl::StrFormat("cannot create the temporary file %s", temp));
    }
    return TempFile(std::move(temp), std::move(fd));
  }

  TempFile(TempFile&& other) noexcept
      : path_(std::move(other.path_)),
        fd_(std::move(other.fd_)),
        committed_(std::exchange(other.committed_, true)) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    fd_.Reset();
    if (!committed_) ::unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

  // fsync, close, rename to `path`, fsync the directory.
  absl::Status Commit(const std::string& path) {
    if (::fsync(fd_.get()) != 0) {
      const int err = errno;
      return ErrnoError(err, path, absl::StrFormat("fsync(%s)", path_));
    }
    if (::close(fd_.Release()) != 0) {
      const int err = errno;
      return ErrnoError(err, path, absl::StrFormat("close(%s)", path_));
    }
    if (::rename(path_.c_str(), path.c_str()) != 0) {
      const int err = errno;
      return ErrnoError(err, path,
                        absl::StrFormat("cannot rename %s to it", path_));
    }
    committed_ = true;
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path.substr(0, slash);
    ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid() || ::fsync(dir_fd.get()) != 0) {
      const int err = errno;
      return ErrnoError(err, path,
                        absl::StrFormat("fsync of its directory %s", dir));
    }
    return absl::OkStatus();
  }

 private:
  TempFile(std::string path, ScopedFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  ScopedFd fd_;
  bool committed_ = false;
};

// capnp::writeMessage's sink: compresses into one zstd frame, appends it to
// the file and checksums it on the way. write() cannot fail, so the first
// error is kept and everything after it ignored.
class PayloadSink final : public kj::OutputStream {
 public:
  PayloadSink(int fd, ZSTD_CCtx* cctx, Xxh3State checksum)
      : fd_(fd),
        cctx_(cctx),
        checksum_(std::move(checksum)),
        out_(ZSTD_CStreamOutSize()) {}

  void write(const void* buffer, size_t size) override {
    ZSTD_inBuffer in{buffer, size, 0};
    while (status_.ok() && in.pos < in.size) Step(&in, ZSTD_e_continue);
  }

  // Ends the zstd frame; then the payload is complete.
  absl::Status Finish() {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (status_.ok() && Step(&in, ZSTD_e_end) != 0) {
    }
    return status_;
  }

  const absl::Status& status() const { return status_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t checksum() const { return XXH3_64bits_digest(checksum_.get()); }

 private:
  // One zstd call; writes what it produced. Returns what zstd has left to
  // flush (for ZSTD_e_end).
  size_t Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    const size_t left = ZSTD_compressStream2(cctx_, &out, in, mode);
    if (ZSTD_isError(left)) {
      status_ = absl::InternalError(absl::StrFormat(
          "zstd could not compress the checkpoint after %d bytes: %s", bytes_,
          ZSTD_getErrorName(left)));
      return 0;
    }
    if (out.pos > 0) {
      if (absl::Status s = WriteAll(fd_, out_.data(), out.pos); !s.ok()) {
        status_ = absl::Status(
            s.code(),
            absl::StrFormat("writing the payload at byte offset %d: %s",
                            kCheckpointHeaderBytes + bytes_,
                            std::string(s.message())));
        return 0;
      }
      XXH3_64bits_update(checksum_.get(), out_.data(), out.pos);
      bytes_ += out.pos;
    }
    return left;
  }

  int fd_;
  ZSTD_CCtx* cctx_;
  Xxh3State checksum_;
  std::vector<uint8_t> out_;
  uint64_t bytes_ = 0;
  absl::Status status_;
};

// The checkpoint as a Checkpoint must be to be written.
absl::Status CheckWritable(const std::string& path, const Checkpoint& cp) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot write the checkpoint: %s", path, what));
  };
  if (cp.base == nullptr) return bad("it has no memory base");
  if (cp.page_hashes == nullptr) return bad("it has no page hashes");
  if (cp.memory_bytes == 0 || cp.memory_bytes % kPageSize != 0) {
    return bad(
        absl::StrFormat("memory size %d is not a positive multiple of %d",
                        cp.memory_bytes, kPageSize));
  }
  const uint64_t pages = cp.memory_bytes / kPageSize;
  if (cp.base->pages() != pages) {
    return bad(absl::StrFormat("its base holds %d pages, its memory %d",
                               cp.base->pages(), pages));
  }
  if (cp.page_hashes->pages() != pages) {
    return bad(absl::StrFormat("its page hashes cover %d pages, its memory %d",
                               cp.page_hashes->pages(), pages));
  }
  if (cp.delta_view == nullptr &&
      cp.delta_data.size() != cp.delta_pages.size() * kPageSize) {
    return bad(absl::StrFormat("its delta holds %d bytes for %d pages",
                               cp.delta_data.size(), cp.delta_pages.size()));
  }
  for (size_t i = 0; i < cp.delta_pages.size(); ++i) {
    if (cp.delta_pages[i] >= pages ||
        (i > 0 && cp.delta_pages[i] <= cp.delta_pages[i - 1])) {
      return bad(absl::StrFormat(
          "delta page #%d (page %d) is not in ascending order inside %d pages",
          i, cp.delta_pages[i], pages));
    }
  }
  return absl::OkStatus();
}

// The runs of pages whose digest is not the zero page's, at most
// kMaxRunPages long.
std::vector<PageRun> StoredRuns(const PageHashes& hashes) {
  std::vector<PageRun> runs;
  for (uint64_t p = 0; p < hashes.pages(); ++p) {
    if (hashes.IsZero(p)) continue;
    if (!runs.empty() && runs.back().first + runs.back().count == p &&
        runs.back().count < kMaxRunPages) {
      ++runs.back().count;
    } else {
      runs.push_back({p, 1});
    }
  }
  return runs;
}

// Fills `out` with pages [run.first, run.first + run.count) of base + delta
// and `digests` with their digests, which must be those of cp.page_hashes.
absl::Status FillRun(const std::string& path, const Checkpoint& cp,
                     const PageRun& run, uint8_t* out,
                     capnp::List<schema::Hash128>::Builder digests) {
  const uint64_t end = run.first + run.count;
  size_t d =
      static_cast<size_t>(std::lower_bound(cp.delta_pages.begin(),
                                           cp.delta_pages.end(), run.first) -
                          cp.delta_pages.begin());
  for (uint64_t p = run.first; p < end;) {
    uint8_t* dst = out + (p - run.first) * kPageSize;
    if (d < cp.delta_pages.size() && cp.delta_pages[d] == p) {
      std::memcpy(dst, cp.DeltaPage(d), kPageSize);
      ++d;
      ++p;
      continue;
    }
    // Base pages up to the next delta page, in one read.
    const uint64_t stop =
        d < cp.delta_pages.size() ? std::min(end, cp.delta_pages[d]) : end;
    if (absl::Status s =
            cp.base->Read(p * kPageSize, {dst, (stop - p) * kPageSize});
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrFormat("%s: cannot read the checkpoint's "
                                          "base: %s",
                                          path, std::string(s.message())));
    }
    p = stop;
  }
  for (uint64_t i = 0; i < run.count; ++i) {
    const uint64_t p = run.first + i;
    const Hash128 digest = HashPage(out + i * kPageSize);
    if (digest != cp.page_hashes->page(p)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: cannot write the checkpoint: page %d (gpa 0x%x) hashes to %s, "
          "its page hashes say %s",
          path, p, p * kPageSize, digest.ToHex(),
          cp.page_hashes->page(p).ToHex()));
    }
    ToSchema(digest, digests[static_cast<unsigned>(i)]);
  }
  return absl::OkStatus();
}

absl::Status BuildMessage(const std::string& path, const Checkpoint& cp,
                          const Hash128& origin,
                          capnp::MessageBuilder& message) {
  auto root = message.initRoot<ckpt::CheckpointFile>();
  root.setFormatVersion(kCheckpointFileVersion);
  root.setEsn(cp.esn);
  ToSchema(cp.state_hash, root.initStateHash());
  ToSchema(origin, root.initOrigin());
  root.setMemoryBytes(cp.memory_bytes);
  root.setDiskSectors(cp.platform.disk_sectors);
  root.setRtcEpochSeconds(cp.platform.rtc_epoch_seconds);

  ToSchema(cp.cpuid, root.initCpuid(static_cast<unsigned>(cp.cpuid.size())));
  ToSchema(cp.cpu, root.initCpu());

  auto front_ends =
      root.initFrontEnds(static_cast<unsigned>(cp.front_ends.size()));
  for (size_t i = 0; i < cp.front_ends.size(); ++i) {
    const FrontEndState& fe = cp.front_ends[i];
    auto out = front_ends[static_cast<unsigned>(i)];
    out.setName(capnp::Text::Reader(fe.name.data(), fe.name.size()));
    out.setBlob(capnp::Data::Reader(fe.blob.data(), fe.blob.size()));
  }
  root.setClockNs(cp.clock_ns);

  const std::vector<PageRun> runs = StoredRuns(*cp.page_hashes);
  auto page_runs = root.initPageRuns(static_cast<unsigned>(runs.size()));
  for (size_t i = 0; i < runs.size(); ++i) {
    const PageRun& run = runs[i];
    auto out = page_runs[static_cast<unsigned>(i)];
    out.setFirstPage(run.first);
    out.setPageCount(run.count);
    capnp::Data::Builder data =
        out.initData(static_cast<unsigned>(run.count * kPageSize));
    auto digests = out.initDigests(static_cast<unsigned>(run.count));
    if (absl::Status s = FillRun(path, cp, run, data.begin(), digests);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------------
// Reading

// Reads exactly `n` bytes at `offset` (the caller knows the file holds
// them).
absl::Status ReadAt(int fd, const std::string& path, uint64_t offset,
                    uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r =
        ::pread(fd, dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      return ErrnoError(err, path,
                        absl::StrFormat("reading %d bytes at byte offset %d",
                                        n - done, offset + done));
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s: truncated: the file ended at byte offset %d while it was read",
          path, offset + done));
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

struct FileHeader {
  uint64_t payload_bytes = 0;
  uint64_t checksum = 0;
};

absl::StatusOr<FileHeader> ReadHeader(int fd, const std::string& path,
                                      uint64_t file_bytes) {
  uint8_t header[kCheckpointHeaderBytes] = {};
  const size_t n =
      static_cast<size_t>(std::min<uint64_t>(file_bytes, sizeof header));
  if (absl::Status s = ReadAt(fd, path, 0, header, n); !s.ok()) return s;
  if (n == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not an xvirt checkpoint file: the file is empty", path));
  }
  const size_t magic_bytes = std::min(n, sizeof kCheckpointMagic);
  if (std::memcmp(header, kCheckpointMagic, magic_bytes) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not an xvirt checkpoint file (it starts with \"%s\", not "
        "\"XVIRTCKP\")",
        path,
        absl::CHexEscape(
            std::string(reinterpret_cast<const char*>(header), magic_bytes))));
  }
  if (n < kCheckpointHeaderBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated: the file is %d bytes, shorter than the %d-byte header "
        "of a checkpoint file",
        path, n, kCheckpointHeaderBytes));
  }
  const uint32_t version = LoadLe32(header + 8);
  if (version != kCheckpointFileVersion) return FormatError(path, version);
  const uint32_t reserved = LoadLe32(header + 12);
  if (reserved != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: the reserved header field at byte offset 12 is 0x%08x, not 0",
        path, reserved));
  }
  FileHeader h{LoadLe64(header + 16), LoadLe64(header + 24)};
  const uint64_t available = file_bytes - kCheckpointHeaderBytes;
  if (h.payload_bytes > available) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated: the header declares a %d-byte payload at byte offset "
        "%d, but the file ends %d bytes into it",
        path, h.payload_bytes, kCheckpointHeaderBytes, available));
  }
  if (h.payload_bytes < available) {
    return absl::DataLossError(absl::StrFormat(
        "%s: %d bytes follow the %d-byte payload, at byte offset %d", path,
        available - h.payload_bytes, h.payload_bytes,
        kCheckpointHeaderBytes + h.payload_bytes));
  }
  if (h.payload_bytes == 0) {
    return absl::DataLossError(
        absl::StrFormat("%s: the payload is empty", path));
  }
  return h;
}

absl::Status VerifyChecksum(int fd, const std::string& path,
                            const FileHeader& header) {
  Xxh3State state = NewChecksum();
  if (state == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: cannot allocate a checksum state", path));
  }
  std::vector<uint8_t> chunk(kIoChunkBytes);
  for (uint64_t done = 0; done < header.payload_bytes;) {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(chunk.size(), header.payload_bytes - done));
    if (absl::Status s =
            ReadAt(fd, path, kCheckpointHeaderBytes + done, chunk.data(), n);
        !s.ok()) {
      return s;
    }
    XXH3_64bits_update(state.get(), chunk.data(), n);
    done += n;
  }
  const uint64_t checksum = XXH3_64bits_digest(state.get());
  if (checksum != header.checksum) {
    return absl::DataLossError(absl::StrFormat(
        "%s: checksum mismatch: the header says %016x, the %d-byte payload at "
        "byte offset %d hashes to %016x",
        path, header.checksum, header.payload_bytes, kCheckpointHeaderBytes,
        checksum));
  }
  return absl::OkStatus();
}

// The decompressed payload: a Cap'n Proto message.
struct Message {
  std::unique_ptr<capnp::word[]> words;
  size_t word_count = 0;
};

absl::StatusOr<Message> Decompress(int fd, const std::string& path,
                                   const FileHeader& header) {
  auto zstd_error = [&](const std::string& what) {
    return absl::DataLossError(absl::StrFormat(
        "%s: the payload at byte offset %d cannot be decompressed: %s", path,
        kCheckpointHeaderBytes, what));
  };
  std::vector<uint8_t> chunk(kIoChunkBytes);
  size_t n = static_cast<size_t>(
      std::min<uint64_t>(chunk.size(), header.payload_bytes));
  if (absl::Status s =
          ReadAt(fd, path, kCheckpointHeaderBytes, chunk.data(), n);
      !s.ok()) {
    return s;
  }
  const unsigned long long content = ZSTD_getFrameContentSize(chunk.data(), n);
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    return zstd_error("it is not a zstd frame");
  }
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
    return zstd_error("the zstd frame does not declare its content size");
  }
  if (content == 0 || content > kMaxMessageBytes ||
      content % sizeof(capnp::word) != 0) {
    return zstd_error(absl::StrFormat(
        "the zstd frame declares %d bytes of content, not a whole number of "
        "8-byte words from 8 to %d",
        content, kMaxMessageBytes));
  }
  Message message;
  message.word_count = static_cast<size_t>(content / sizeof(capnp::word));
  message.words.reset(new (std::nothrow) capnp::word[message.word_count]);
  if (message.words == nullptr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: cannot allocate %d bytes for the decompressed checkpoint", path,
        content));
  }
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> dctx(ZSTD_createDCtx());
  if (dctx == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: cannot create a zstd context", path));
  }
  ZSTD_outBuffer out{message.words.get(), static_cast<size_t>(content), 0};
  uint64_t offset = 0;  // of `chunk` in the payload
  size_t left = 1;      // what ZSTD_decompressStream says is still to come
  for (;;) {
    ZSTD_inBuffer in{chunk.data(), n, 0};
    while (in.pos < in.size) {
      const size_t in_before = in.pos;
      const size_t out_before = out.pos;
      left = ZSTD_decompressStream(dctx.get(), &out, &in);
      if (ZSTD_isError(left)) {
        return zstd_error(absl::StrFormat(
            "zstd: %s (near byte offset %d)", ZSTD_getErrorName(left),
            kCheckpointHeaderBytes + offset + in.pos));
      }
      if (left == 0) break;
      if (in.pos == in_before && out.pos == out_before) {
        // Only a frame with more content than it declares stalls here.
        return zstd_error(absl::StrFormat(
            "the zstd frame holds more than the %d bytes it declares",
            content));
      }
    }
    if (left == 0) {
      if (in.pos < in.size || offset + n < header.payload_bytes) {
        return zstd_error(
            absl::StrFormat("%d bytes follow the zstd frame, at byte offset %d",
                            header.payload_bytes - offset - in.pos,
                            kCheckpointHeaderBytes + offset + in.pos));
      }
      break;
    }
    offset += n;
    if (offset == header.payload_bytes) {
      return zstd_error("the zstd frame is cut short");
    }
    n = static_cast<size_t>(
        std::min<uint64_t>(chunk.size(), header.payload_bytes - offset));
    if (absl::Status s =
            ReadAt(fd, path, kCheckpointHeaderBytes + offset, chunk.data(), n);
        !s.ok()) {
      return s;
    }
  }
  if (out.pos != content) {
    return zstd_error(absl::StrFormat(
        "the zstd frame decompressed to %d bytes, not the %d it declares",
        out.pos, content));
  }
  return message;
}

// Everything but memory. May throw kj::Exception on a malformed message.
absl::Status DecodeState(const std::string& path,
                         ckpt::CheckpointFile::Reader root, Checkpoint& cp,
                         Hash128& origin) {
  if (root.getFormatVersion() != kCheckpointFileVersion) {
    return FormatError(path, root.getFormatVersion());
  }
  cp.esn = root.getEsn();
  cp.state_hash = FromSchema(root.getStateHash());
  origin = FromSchema(root.getOrigin());
  cp.memory_bytes = root.getMemoryBytes();
  if (cp.memory_bytes == 0 || cp.memory_bytes > kMaxMemoryBytes ||
      cp.memory_bytes % kPageSize != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: the memory size %d is not a positive multiple of %d up to %d",
        path, cp.memory_bytes, kPageSize, kMaxMemoryBytes));
  }
  cp.platform.disk_sectors = root.getDiskSectors();
  cp.platform.rtc_epoch_seconds = root.getRtcEpochSeconds();

  cp.cpuid = FromSchema(root.getCpuid());
  auto cpu = FromSchema(root.getCpu());
  if (!cpu.ok()) {
    return absl::Status(
        cpu.status().code(),
        absl::StrFormat("%s: %s", path, cpu.status().message()));
  }
  cp.cpu = *std::move(cpu);

  for (ckpt::FrontEnd::Reader fe : root.getFrontEnds()) {
    capnp::Text::Reader name = fe.getName();
    capnp::Data::Reader blob = fe.getBlob();
    cp.front_ends.push_back({std::string(name.begin(), name.end()),
                             std::vector<uint8_t>(blob.begin(), blob.end())});
  }
  cp.clock_ns = root.getClockNs();
  return absl::OkStatus();
}

// The stored pages, into a new base; their digests. May throw kj::Exception
// on a malformed message.
absl::Status DecodeMemory(const std::string& path,
                          capnp::List<ckpt::PageRun>::Reader runs,
                          const capnp::word* message_start, Checkpoint& cp) {
  auto base = MemoryBase::Create(cp.memory_bytes);
  if (!base.ok()) {
    return absl::Status(
        base.status().code(),
        absl::StrFormat("%s: %s", path, std::string(base.status().message())));
  }
  const uint64_t pages = cp.memory_bytes / kPageSize;
  PageHashes hashes(pages);
  uint64_t next_free = 0;  // runs start at or after this page
  for (unsigned i = 0; i < runs.size(); ++i) {
    ckpt::PageRun::Reader run = runs[i];
    const uint64_t first = run.getFirstPage();
    const uint64_t count = run.getPageCount();
    auto run_error = [&](const std::string& what) {
      return absl::DataLossError(
          absl::StrFormat("%s: page run #%d (%d pages from page %d): %s", path,
                          i, count, first, what));
    };
    if (count == 0) return run_error("it is empty");
    if (first >= pages || count > pages - first) {
      return run_error(
          absl::StrFormat("it is outside the memory's %d pages", pages));
    }
    if (first < next_free) {
      return run_error(absl::StrFormat(
          "it overlaps or precedes the previous run, which ends at page %d",
          next_free));
    }
    next_free = first + count;
    capnp::Data::Reader data = run.getData();
    if (data.size() != count * kPageSize) {
      return run_error(absl::StrFormat("it holds %d bytes, not %d", data.size(),
                                       count * kPageSize));
    }
    capnp::List<schema::Hash128>::Reader digests = run.getDigests();
    if (digests.size() != count) {
      return run_error(
          absl::StrFormat("it has %d page digests", digests.size()));
    }
    for (unsigned j = 0; j < count; ++j) {
      const uint64_t p = first + j;
      const uint8_t* page = data.begin() + uint64_t{j} * kPageSize;
      const Hash128 digest = HashPage(page);
      if (digest != FromSchema(digests[j])) {
        return absl::DataLossError(absl::StrFormat(
            "%s: page %d (gpa 0x%x) does not match its digest (the page's "
            "bytes are at byte %d of the decompressed payload)",
            path, p, p * kPageSize,
            static_cast<uint64_t>(
                page - reinterpret_cast<const uint8_t*>(message_start))));
      }
      hashes.Set(p, digest);
    }
    if (absl::Status s =
            (*base)->WritePages(first, {data.begin(), data.size()});
        !s.ok()) {
      return absl::Status(
          s.code(), absl::StrFormat("%s: %s", path, std::string(s.message())));
    }
  }
  cp.base = *std::move(base);
  cp.page_hashes = std::make_shared<const PageHashes>(std::move(hashes));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const Checkpoint& cp,
                                 const Hash128& origin) {
  if (absl::Status s = CheckWritable(path, cp); !s.ok()) return s;
  // The stored pages are copied once, into the message; the compressed
  // payload goes to the file as it is made.
  capnp::MallocMessageBuilder message;
  try {
    if (absl::Status s = BuildMessage(path, cp, origin, message); !s.ok()) {
      return s;
    }
  } catch (const kj::Exception& e) {
    return absl::InternalError(
        absl::StrFormat("%s: cannot encode the checkpoint: %s", path,
                        e.getDescription().cStr()));
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: cannot encode the checkpoint: %s", path, e.what()));
  }

  std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> cctx(ZSTD_createCCtx());
  Xxh3State checksum = NewChecksum();
  if (cctx == nullptr || checksum == nullptr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: cannot create a zstd context or a checksum state", path));
  }
  const uint64_t message_bytes =
      capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word);
  for (const size_t r : {
           ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel,
                                  kZstdLevel),
           ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1),
           // The frame header declares the content size, which the reader
           // allocates at once.
           ZSTD_CCtx_setPledgedSrcSize(cctx.get(), message_bytes),
       }) {
    if (ZSTD_isError(r)) {
      return absl::InternalError(absl::StrFormat("%s: cannot set up zstd: %s",
                                                 path, ZSTD_getErrorName(r)));
    }
  }

  auto temp = TempFile::Create(path);
  if (!temp.ok()) return temp.status();
  const int fd = temp->fd();
  uint8_t header[kCheckpointHeaderBytes] = {};
  if (absl::Status s = WriteAll(fd, header, sizeof header); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrFormat("%s: writing the header to %s: %s", path,
                                  temp->path(), std::string(s.message())));
  }
  PayloadSink sink(fd, cctx.get(), std::move(checksum));
  try {
    capnp::writeMessage(sink, message);
  } catch (const kj::Exception& e) {
    return absl::InternalError(
        absl::StrFormat("%s: cannot serialize the checkpoint: %s", path,
                        e.getDescription().cStr()));
  }
  if (absl::Status s = sink.Finish(); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrFormat("%s: %s (in %s)", path,
                                  std::string(s.message()), temp->path()));
  }

  std::memcpy(header, kCheckpointMagic, sizeof kCheckpointMagic);
  StoreLe32(header + 8, kCheckpointFileVersion);
  StoreLe32(header + 12, 0);
  StoreLe64(header + 16, sink.bytes());
  StoreLe64(header + 24, sink.checksum());
  for (size_t done = 0; done < sizeof header;) {
    const ssize_t w = ::pwrite(fd, header + done, sizeof header - done,
                               static_cast<off_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : EIO;
      return ErrnoError(
          err, path, absl::StrFormat("writing the header to %s", temp->path()));
    }
    done += static_cast<size_t>(w);
  }
  return temp->Commit(path);
}

absl::StatusOr<CheckpointFileContents> ReadCheckpointFile(
    const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, path, "cannot open the checkpoint file");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return ErrnoError(err, path, "fstat");
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not an xvirt checkpoint file: not a regular file", path));
  }
  auto header = ReadHeader(fd.get(), path, static_cast<uint64_t>(st.st_size));
  if (!header.ok()) return header.status();
  if (absl::Status s = VerifyChecksum(fd.get(), path, *header); !s.ok()) {
    return s;
  }
  auto message = Decompress(fd.get(), path, *header);
  if (!message.ok()) return message.status();
  fd.Reset();

  CheckpointFileContents contents;
  Checkpoint& cp = contents.checkpoint;
  try {
    const kj::ArrayPtr<const capnp::word> words(message->words.get(),
                                                message->word_count);
    // Every part of the message is read once, so a limit proportional to
    // its size still stops amplification; the default (64 MiB) would refuse
    // a large guest's memory.
    capnp::ReaderOptions options;
    options.traversalLimitInWords = 4 * message->word_count + 1024;
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return absl::DataLossError(absl::StrFormat(
          "%s: %d bytes follow the Cap'n Proto message in the decompressed "
          "payload",
          path, (words.end() - reader.getEnd()) * sizeof(capnp::word)));
    }
    auto root = reader.getRoot<ckpt::CheckpointFile>();
    if (absl::Status s = DecodeState(path, root, cp, contents.origin);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            DecodeMemory(path, root.getPageRuns(), words.begin(), cp);
        !s.ok()) {
      return s;
    }
  } catch (const kj::Exception& e) {
    return absl::DataLossError(
        absl::StrFormat("%s: malformed Cap'n Proto message: %s", path,
                        e.getDescription().cStr()));
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrFormat("%s: cannot decode: %s", path, e.what()));
  }
  message->words.reset();

  const Hash128 stored = cp.state_hash;
  const Hash128 actual = CheckpointStateHash(cp);
  if (actual != stored) {
    return absl::DataLossError(absl::StrFormat(
        "%s: content does not match its state hash (the file says %s, its "
        "content hashes to %s)",
        path, stored.ToHex(), actual.ToHex()));
  }
  return contents;
}

}  // namespace xv
