// LogWriter and LogReader together: round trips, segmenting, every kind of
// corruption, torn tails at every byte, unknown record kinds.
#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/log.capnp.h"
#include "replay/log_format.h"
#include "replay/log_reader.h"
#include "replay/log_writer.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrFormat("%s/%s", dir != nullptr ? dir : "/tmp", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Text(log::Record::Reader r) {
  return r.toString().flatten().cStr();
}

// One record of each kind (and each Input variant), header first.
std::vector<std::string> WriteEveryKind(LogWriter& writer) {
  std::vector<std::string> texts;
  auto append = [&](auto fill) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<log::Record>();
    fill(r);
    texts.push_back(Text(r.asReader()));
    EXPECT_TRUE(writer.Append(m).ok());
  };
  append([](log::Record::Builder r) {
    auto h = r.initHeader();
    h.setFormatVersion(1);
    h.setRecordedBy("xvirt test");
    h.setRecordedAtUnixNs(-5);
    h.setKernelName("hello");
    std::vector<uint8_t> image(5000);
    for (size_t i = 0; i < image.size(); ++i) image[i] = i * 7;
    h.setKernelImage(kj::arrayPtr(image.data(), image.size()));
    h.setCmdline("mib=64");
    h.setMemoryBytes(64 << 20);
    h.setDiskSectors(2048);
    h.setRtcEpochSeconds(1700000000);
    auto cpuid = h.initCpuid(2);
    cpuid[0].setFunction(1);
    cpuid[1].setEdx(0xdeadbeef);
    h.initInitialStateHash().setLow(42);
    h.setCheckpointInterval(1000);
    h.setOutputDigestBytes(4096);
  });
  append([](log::Record::Builder r) {
    auto in = r.initInput();
    in.setEsn(1);
    in.setClockAdvance(123456);
  });
  append([](log::Record::Builder r) {
    auto in = r.initInput();
    in.setEsn(2);
    const uint8_t bytes[] = {'h', 'i', 0, 255};
    in.setUartRx(kj::arrayPtr(bytes, sizeof bytes));
  });
  append([](log::Record::Builder r) {
    auto in = r.initInput();
    in.setEsn(3);
    auto d = in.initDiskRead();
    d.setLba(77);
    std::vector<uint8_t> sector(512, 0xab);
    d.setData(kj::arrayPtr(sector.data(), sector.size()));
  });
  append([](log::Record::Builder r) {
    auto in = r.initInput();
    in.setEsn(4);
    auto b = in.initBoundaryRead();
    b.setAddress(0x3f8);
    b.setSize(1);
    b.setIsMmio(false);
    b.setValue(0x41);
  });
  append([](log::Record::Builder r) {
    auto c = r.initCheckpoint();
    c.setEsn(5);
    c.initStateHash().setHigh(9);
  });
  append([](log::Record::Builder r) {
    auto d = r.initOutputDigest();
    d.setEsn(6);
    d.setDevice("uart0");
    d.setOutputs(3);
    d.setBytes(30);
    d.initHash().setLow(1);
  });
  append([](log::Record::Builder r) {
    auto f = r.initFault();
    f.setEsn(6);
    f.setRegister("rbx");
    f.setBit(5);
  });
  append([](log::Record::Builder r) {
    auto e = r.initEnd();
    e.setEsn(7);
    e.setExitStatus(3);
    e.setStopReason("debug_exit");
    e.setDebugExitValue(1);
    e.setFinalStateComparable(true);
    e.initFinalStateHash().setHigh(2);
    e.setExits(7);
    e.setWallSeconds(0.5);
  });
  return texts;
}

void AppendHeader(LogWriter& writer) {
  capnp::MallocMessageBuilder m;
  m.initRoot<log::Record>().initHeader().setFormatVersion(1);
  ASSERT_TRUE(writer.Append(m).ok());
}

// An Input record whose UART payload is `n` bytes.
absl::Status AppendInput(LogWriter& writer, uint64_t esn, size_t n,
                         size_t* bytes = nullptr) {
  capnp::MallocMessageBuilder m;
  auto in = m.initRoot<log::Record>().initInput();
  in.setEsn(esn);
  std::vector<uint8_t> data(n, static_cast<uint8_t>(esn));
  in.setUartRx(kj::arrayPtr(data.data(), data.size()));
  if (bytes != nullptr) {
    *bytes = capnp::computeSerializedSizeInWords(m) * sizeof(capnp::word);
  }
  return writer.Append(m);
}

struct ReadResult {
  absl::Status status;
  std::vector<std::string> texts;
  std::vector<RecordView> views;  // `record` not valid after the read
};

ReadResult ReadAll(LogReader& reader) {
  ReadResult result;
  for (;;) {
    absl::StatusOr<const RecordView*> v = reader.Next();
    if (!v.ok()) {
      result.status = v.status();
      return result;
    }
    if (*v == nullptr) return result;
    result.texts.push_back(Text((*v)->record));
    result.views.push_back(**v);
  }
}

ReadResult ReadBytes(std::string bytes) {
  auto reader = LogReader::FromBytes(std::move(bytes), "LOG");
  if (!reader.ok()) return {reader.status(), {}, {}};
  return ReadAll(*reader);
}

// Frame boundaries of a well-formed log, and the first record of each.
struct FrameInfo {
  uint64_t offset;
  uint64_t end;
  uint64_t first_record;
};

std::vector<FrameInfo> Frames(const std::string& bytes) {
  std::vector<FrameInfo> frames;
  auto reader = LogReader::FromBytes(bytes, "LOG");
  EXPECT_TRUE(reader.ok());
  ReadResult r = ReadAll(*reader);
  EXPECT_TRUE(r.status.ok()) << r.status;
  for (const RecordView& v : r.views) {
    if (frames.empty() || frames.back().offset != v.frame_offset) {
      frames.push_back({v.frame_offset, 0, v.index});
    }
  }
  for (FrameInfo& f : frames) {
    f.end = f.offset + kLogFrameHeaderBytes +
            LoadLe32(reinterpret_cast<const uint8_t*>(bytes.data()) + f.offset);
  }
  return frames;
}

// Replaces the checksum of the frame at `offset` with the right one, so a
// test can corrupt what lies behind it.
void FixChecksum(std::string& bytes, uint64_t offset) {
  auto* p = reinterpret_cast<uint8_t*>(bytes.data()) + offset;
  const uint32_t length = LoadLe32(p);
  StoreLe64(p + 8, LogPayloadChecksum({p + kLogFrameHeaderBytes, length}));
}

// A log written with `options`: a header, then `n` inputs of `size` bytes.
std::string SmallLog(const std::string& name, LogWriterOptions options,
                     int n = 8, size_t size = 40) {
  const std::string path = TempPath(name);
  auto writer = LogWriter::Create(path, options);
  EXPECT_TRUE(writer.ok()) << writer.status();
  AppendHeader(*writer);
  for (int i = 1; i <= n; ++i) EXPECT_TRUE(AppendInput(*writer, i, size).ok());
  EXPECT_TRUE(writer->Close().ok());
  return ReadFile(path);
}

class LogFileTest : public ::testing::TestWithParam<bool> {
 protected:
  LogWriterOptions Options(size_t segment_bytes = size_t{64} << 10) const {
    return {.compress = GetParam(), .segment_bytes = segment_bytes};
  }
};

INSTANTIATE_TEST_SUITE_P(Compression, LogFileTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Zstd" : "Raw";
                         });

TEST_P(LogFileTest, EveryKindRoundTrips) {
  const std::string path = TempPath("every_kind.xvlog");
  auto writer = LogWriter::Create(path, Options());
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::vector<std::string> written = WriteEveryKind(*writer);
  ASSERT_TRUE(writer->Close().ok());
  const LogWriterStats ws = writer->stats();
  EXPECT_EQ(ws.records, written.size());
  EXPECT_EQ(ws.frames, 1u);
  EXPECT_EQ(ws.compressed_frames, GetParam() ? 1u : 0u);
  EXPECT_EQ(ws.file_bytes, ReadFile(path).size());
  EXPECT_EQ(ws.file_bytes,
            kLogFileHeaderBytes + kLogFrameHeaderBytes + ws.stored_bytes);

  auto reader = LogReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.texts, written);
  size_t total = 0;
  for (size_t i = 0; i < r.views.size(); ++i) {
    EXPECT_EQ(r.views[i].index, i);
    EXPECT_EQ(r.views[i].frame_offset, kLogFileHeaderBytes);
    total += r.views[i].bytes;
  }
  const LogReaderStats& rs = reader->stats();
  EXPECT_EQ(rs.file_bytes, ws.file_bytes);
  EXPECT_EQ(rs.frames, ws.frames);
  EXPECT_EQ(rs.compressed_frames, ws.compressed_frames);
  EXPECT_EQ(rs.stored_bytes, ws.stored_bytes);
  EXPECT_EQ(rs.uncompressed_bytes, ws.uncompressed_bytes);
  EXPECT_EQ(rs.uncompressed_bytes, total);
  EXPECT_EQ(rs.records, written.size());
  EXPECT_EQ(rs.by_kind.at(log::Record::INPUT).records, 4u);
  EXPECT_EQ(rs.by_kind.at(log::Record::END).records, 1u);
  EXPECT_EQ(rs.by_kind.at(log::Record::FAULT).records, 1u);
  EXPECT_FALSE(reader->torn_tail().has_value());
  EXPECT_TRUE(reader->warnings().empty());
  // The end is sticky.
  auto again = reader->Next();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, nullptr);
}

TEST_P(LogFileTest, ManyRecordsAcrossManySegmentsWithBoundedBuffer) {
  const size_t segment_bytes = 2048;
  const std::string path = TempPath("many.xvlog");
  auto writer = LogWriter::Create(path, Options(segment_bytes));
  ASSERT_TRUE(writer.ok()) << writer.status();
  AppendHeader(*writer);
  const int n = 3000;
  for (int i = 1; i <= n; ++i) {
    size_t bytes = 0;
    ASSERT_TRUE(AppendInput(*writer, i, i % 97, &bytes).ok());
    EXPECT_LE(writer->buffered_bytes(), segment_bytes + bytes);
    EXPECT_LT(writer->buffered_bytes(), segment_bytes);
  }
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(writer->buffered_bytes(), 0u);
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_GE(writer->stats().frames, 10u);

  auto reader = LogReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.views.size(), n + 1u);
  for (int i = 1; i <= n; ++i) {
    EXPECT_EQ(r.views[i].index, static_cast<uint64_t>(i));
    EXPECT_GE(r.views[i].frame_offset, r.views[i - 1].frame_offset);
  }
  EXPECT_EQ(reader->stats().frames, writer->stats().frames);
  EXPECT_EQ(Frames(ReadFile(path)).size(), writer->stats().frames);
  // Record 3000's payload came through.
  auto last = LogReader::Open(path);
  ASSERT_TRUE(last.ok());
  const RecordView* v = nullptr;
  for (int i = 0; i <= n; ++i) v = *last->Next();
  EXPECT_EQ(v->record.getInput().getEsn(), static_cast<uint64_t>(n));
  EXPECT_EQ(v->record.getInput().getUartRx().size(), n % 97u);
}

TEST_P(LogFileTest, RecordLargerThanASegmentGetsItsOwnFrame) {
  const size_t segment_bytes = 4096;
  const std::string path = TempPath("big.xvlog");
  auto writer = LogWriter::Create(path, Options(segment_bytes));
  ASSERT_TRUE(writer.ok()) << writer.status();
  AppendHeader(*writer);
  ASSERT_TRUE(AppendInput(*writer, 1, 100).ok());
  size_t big = 0;
  ASSERT_TRUE(AppendInput(*writer, 2, size_t{300} << 10, &big).ok());
  EXPECT_GT(big, segment_bytes);
  EXPECT_EQ(writer->buffered_bytes(), 0u);  // written at once
  EXPECT_EQ(writer->stats().frames, 2u);
  ASSERT_TRUE(AppendInput(*writer, 3, 100).ok());
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_EQ(writer->stats().frames, 3u);

  auto reader = LogReader::Open(path);
  ASSERT_TRUE(reader.ok());
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.views.size(), 4u);
  EXPECT_EQ(r.views[0].frame_offset, r.views[1].frame_offset);
  EXPECT_LT(r.views[1].frame_offset, r.views[2].frame_offset);
  EXPECT_LT(r.views[2].frame_offset, r.views[3].frame_offset);
  EXPECT_EQ(r.views[2].bytes, big);
}

TEST_P(LogFileTest, TruncationAtEveryByteIsATornTailOrAClearError) {
  const std::string full =
      SmallLog("trunc.xvlog", Options(/*segment_bytes=*/300), 5, 40);
  const std::vector<FrameInfo> frames = Frames(full);
  ASSERT_EQ(frames.size(), 3u);
  const ReadResult complete = ReadBytes(full);
  ASSERT_TRUE(complete.status.ok());
  for (size_t len = 0; len < full.size(); ++len) {
    SCOPED_TRACE(
        absl::StrFormat("truncated to %d of %d bytes", len, full.size()));
    auto reader = LogReader::FromBytes(full.substr(0, len), "LOG");
    if (len < kLogFileHeaderBytes) {
      ASSERT_FALSE(reader.ok());
      EXPECT_THAT(std::string(reader.status().message()),
                  len == 0 ? HasSubstr("empty") : HasSubstr("truncated"));
      continue;
    }
    ASSERT_TRUE(reader.ok()) << reader.status();
    ReadResult r = ReadAll(*reader);
    ASSERT_TRUE(r.status.ok()) << r.status;
    // Every complete frame's records, and nothing else.
    uint64_t boundary = kLogFileHeaderBytes;
    size_t records = 0;
    for (const FrameInfo& f : frames) {
      if (f.end > len) break;
      boundary = f.end;
      records = f.end == frames.back().end ? complete.texts.size()
                                           : (&f + 1)->first_record;
    }
    ASSERT_EQ(r.texts.size(), records);
    for (size_t i = 0; i < records; ++i)
      EXPECT_EQ(r.texts[i], complete.texts[i]);
    if (len == boundary) {
      EXPECT_FALSE(reader->torn_tail().has_value());
    } else {
      ASSERT_TRUE(reader->torn_tail().has_value());
      EXPECT_EQ(reader->torn_tail()->offset, boundary);
      EXPECT_EQ(reader->torn_tail()->bytes_discarded, len - boundary);
    }
  }
}

TEST_P(LogFileTest, FlippedPayloadByteNamesTheFrameAndItsFirstRecord) {
  const std::string full = SmallLog("flip.xvlog", Options(300), 8, 40);
  const std::vector<FrameInfo> frames = Frames(full);
  ASSERT_GE(frames.size(), 3u);
  const FrameInfo& f = frames[1];
  ASSERT_GT(f.first_record, 0u);
  for (uint64_t at : {f.offset + kLogFrameHeaderBytes, f.end - 1,
                      f.offset + 8 /* the checksum itself */}) {
    std::string bad = full;
    bad[at] ^= 0x20;
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr(absl::StrFormat(
                    "LOG: frame at byte offset %d (records from #%d): "
                    "checksum mismatch",
                    f.offset, f.first_record)));
    // The frames before it were read.
    EXPECT_EQ(r.texts.size(), f.first_record);
  }
}

TEST_P(LogFileTest, ErrorsAreFinal) {
  const std::string full = SmallLog("sticky.xvlog", Options(300), 8, 40);
  std::string bad = full;
  bad[Frames(full)[1].offset + kLogFrameHeaderBytes] ^= 1;
  auto reader = LogReader::FromBytes(bad, "LOG");
  ASSERT_TRUE(reader.ok());
  ReadResult r = ReadAll(*reader);
  ASSERT_FALSE(r.status.ok());
  auto again = reader->Next();
  EXPECT_EQ(again.status(), r.status);
}

TEST(LogReaderTest, BadMagic) {
  std::string bytes = SmallLog("magic.xvlog", {});
  bytes[0] = 'Y';
  ReadResult r = ReadBytes(bytes);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("LOG: not an xvirt log (it starts with \"YVIRTLOG\""));
  r = ReadBytes("hello");
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("not an xvirt log"));
}

TEST(LogReaderTest, WrongContainerVersion) {
  std::string bytes = SmallLog("version.xvlog", {});
  StoreLe32(reinterpret_cast<uint8_t*>(bytes.data()) + 8, 7);
  ReadResult r = ReadBytes(bytes);
  EXPECT_EQ(r.status, absl::FailedPreconditionError(
                          "LOG: log container version 7 is not supported by "
                          "this xvirt (it reads version 1)"));
}

TEST(LogReaderTest, ReservedHeaderField) {
  std::string bytes = SmallLog("reserved.xvlog", {});
  bytes[12] = 1;
  EXPECT_EQ(ReadBytes(bytes).status.code(), absl::StatusCode::kDataLoss);
}

TEST(LogReaderTest, UnknownFrameFlags) {
  const std::string full = SmallLog("flags.xvlog", {.segment_bytes = 300});
  const std::vector<FrameInfo> frames = Frames(full);
  std::string bad = full;
  bad[frames[1].offset + 4] |= 0x4;
  ReadResult r = ReadBytes(bad);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(
      std::string(r.status.message()),
      HasSubstr(absl::StrFormat("frame at byte offset %d (records "
                                "from #%d): unknown flag bits 0x4",
                                frames[1].offset, frames[1].first_record)));
  EXPECT_EQ(r.texts.size(), frames[1].first_record);
}

TEST(LogReaderTest, ImplausibleLengthIsCorruptionNotATornTail) {
  std::string bad = SmallLog("length.xvlog", {});
  StoreLe32(reinterpret_cast<uint8_t*>(bad.data()) + kLogFileHeaderBytes,
            0x7fffffff);
  ReadResult r = ReadBytes(bad);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("declares a 2147483647-byte payload"));
}

TEST(LogReaderTest, ShortAndEmptyFiles) {
  EXPECT_THAT(std::string(ReadBytes("").status.message()),
              HasSubstr("LOG: the file is empty"));
  ReadResult r = ReadBytes(std::string("XVIRTLOG\1\0", 10));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("truncated: the file is 10 bytes"));
  // Just the file header: a log torn before its first frame.
  r = ReadBytes(SmallLog("header_only.xvlog", {}).substr(0, 16));
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.texts.empty());
}

TEST(LogReaderTest, MalformedMessageWithAValidChecksum) {
  const std::string full =
      SmallLog("capnp.xvlog", {.compress = false, .segment_bytes = 300});
  const std::vector<FrameInfo> frames = Frames(full);
  const FrameInfo& f = frames[1];
  const uint64_t payload = f.offset + kLogFrameHeaderBytes;
  {
    // The first message's segment table claims more words than remain.
    std::string bad = full;
    StoreLe32(reinterpret_cast<uint8_t*>(bad.data()) + payload + 4, 100000);
    FixChecksum(bad, f.offset);
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr(absl::StrFormat(
                    "LOG: record #%d (in the frame at byte offset %d, byte 0 "
                    "of its segment): the segment ends inside it",
                    f.first_record, f.offset)));
  }
  {
    // The root pointer points far outside the message.
    std::string bad = full;
    StoreLe32(reinterpret_cast<uint8_t*>(bad.data()) + payload + 8, 0x0ffffff0);
    FixChecksum(bad, f.offset);
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr(absl::StrFormat(
                    "LOG: record #%d (in the frame at byte offset %d, byte 0 "
                    "of its segment): malformed Cap'n Proto message",
                    f.first_record, f.offset)));
  }
  {
    // Text that is not NUL-terminated, deep in a later record: only a walk of
    // the whole message finds it.
    capnp::MallocMessageBuilder m;
    auto d = m.initRoot<log::Record>().initOutputDigest();
    d.setDevice("uart");
    kj::Array<capnp::word> words = capnp::messageToFlatArray(m);
    std::string msg(reinterpret_cast<const char*>(words.begin()),
                    words.size() * sizeof(capnp::word));
    const size_t nul = msg.find(std::string("uart\0", 5));
    ASSERT_NE(nul, std::string::npos);
    msg[nul + 4] = 'X';
    std::string bad = full.substr(0, f.offset);
    uint8_t header[kLogFrameHeaderBytes];
    LogFrameHeader{
        static_cast<uint32_t>(msg.size()), 0,
        LogPayloadChecksum(
            {reinterpret_cast<const uint8_t*>(msg.data()), msg.size()})}
        .Encode(header);
    bad.append(reinterpret_cast<const char*>(header), sizeof header);
    bad += msg;
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr(absl::StrFormat("record #%d", f.first_record)));
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr("malformed Cap'n Proto message"));
  }
}

TEST(LogReaderTest, GarbageAfterTheLastRecordOfASegment) {
  const std::string full =
      SmallLog("garbage.xvlog", {.compress = false, .segment_bytes = 1 << 20});
  ASSERT_EQ(Frames(full).size(), 1u);
  // A word that reads as the segment table of a 1000-word message.
  std::string bad = full + std::string("\0\0\0\0\xe8\x03\0\0", 8);
  StoreLe32(reinterpret_cast<uint8_t*>(bad.data()) + kLogFileHeaderBytes,
            full.size() + 8 - kLogFileHeaderBytes - kLogFrameHeaderBytes);
  FixChecksum(bad, kLogFileHeaderBytes);
  ReadResult r = ReadBytes(bad);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("record #9 (in the frame at byte offset 16"));
  EXPECT_EQ(r.texts.size(), 9u);
}

TEST(LogReaderTest, CorruptZstdWithAValidChecksum) {
  const std::string full = SmallLog("zstd.xvlog", {.segment_bytes = 1 << 20});
  const uint64_t payload = kLogFileHeaderBytes + kLogFrameHeaderBytes;
  ASSERT_EQ(LoadLe32(reinterpret_cast<const uint8_t*>(full.data()) +
                     kLogFileHeaderBytes + 4),
            kLogFrameCompressed);
  {
    std::string bad = full;
    bad[payload] ^= 0xff;  // the zstd magic
    FixChecksum(bad, kLogFileHeaderBytes);
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr("frame at byte offset 16 (records from #0): the "
                          "compressed payload is not a zstd frame"));
  }
  {
    std::string bad = full;
    for (size_t i = payload + 12; i < bad.size(); i += 3) bad[i] ^= 0x55;
    FixChecksum(bad, kLogFileHeaderBytes);
    ReadResult r = ReadBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
  }
}

// A Record whose union discriminant is `kind`, as a newer writer would
// produce for a kind this schema does not have.
void AppendUnknownKind(LogWriter& writer, uint16_t kind, bool optional) {
  capnp::MallocMessageBuilder m;
  auto record = m.initRoot<log::Record>();
  record.setOptional(optional);
  record.initCheckpoint().setEsn(99);  // something behind the pointer
  capnp::AnyStruct::Builder any = log::Record::Builder(record);
  const size_t offset = capnp::Schema::from<log::Record>()
                            .getProto()
                            .getStruct()
                            .getDiscriminantOffset();
  kj::ArrayPtr<capnp::byte> data = any.getDataSection();
  ASSERT_GE(data.size(), 2 * offset + 2);
  data[2 * offset] = static_cast<capnp::byte>(kind);
  data[2 * offset + 1] = static_cast<capnp::byte>(kind >> 8);
  ASSERT_EQ(static_cast<uint16_t>(record.which()), kind);
  ASSERT_TRUE(writer.Append(m).ok());
}

TEST(LogReaderTest, UnknownOptionalKindIsSkippedWithAWarning) {
  const std::string path = TempPath("optional.xvlog");
  auto writer = LogWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  AppendHeader(*writer);
  AppendUnknownKind(*writer, 9, /*optional=*/true);
  ASSERT_TRUE(AppendInput(*writer, 5, 3).ok());
  ASSERT_TRUE(writer->Close().ok());

  auto reader = LogReader::Open(path);
  ASSERT_TRUE(reader.ok());
  ReadResult r = ReadAll(*reader);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.views.size(), 2u);
  EXPECT_EQ(r.views[1].index, 2u);  // numbers count the skipped record
  ASSERT_EQ(reader->warnings().size(), 1u);
  EXPECT_EQ(reader->warnings()[0],
            path +
                ": skipped record #1 (frame at byte offset 16): its kind 9 "
                "is unknown to this xvirt, and the writer marked it "
                "optional");
  EXPECT_EQ(reader->stats().skipped_records, 1u);
  EXPECT_EQ(reader->stats().by_kind.at(9).records, 1u);
  EXPECT_EQ(RecordKindName(9), "unknown kind 9");
  EXPECT_EQ(RecordKindName(log::Record::OUTPUT_DIGEST), "outputDigest");
}

TEST(LogReaderTest, UnknownMandatoryKindNeedsANewerXvirt) {
  const std::string path = TempPath("mandatory.xvlog");
  auto writer = LogWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  AppendHeader(*writer);
  AppendUnknownKind(*writer, 6, /*optional=*/false);
  ASSERT_TRUE(writer->Close().ok());
  auto reader = LogReader::Open(path);
  ASSERT_TRUE(reader.ok());
  ReadResult r = ReadAll(*reader);
  EXPECT_EQ(r.status,
            absl::FailedPreconditionError(
                path + ": record #1 (frame at byte offset 16) is of kind 6, "
                       "which this xvirt does not know: the log needs a "
                       "newer xvirt"));
  EXPECT_EQ(r.views.size(), 1u);
}

TEST(LogReaderTest, FirstRecordMustBeTheHeader) {
  capnp::MallocMessageBuilder m;
  m.initRoot<log::Record>().initCheckpoint().setEsn(1);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(m);
  const auto* p = reinterpret_cast<const uint8_t*>(words.begin());
  const size_t n = words.size() * sizeof(capnp::word);
  std::string bytes = SmallLog("first.xvlog", {}).substr(0, 16);
  uint8_t header[kLogFrameHeaderBytes];
  LogFrameHeader{static_cast<uint32_t>(n), 0, LogPayloadChecksum({p, n})}
      .Encode(header);
  bytes.append(reinterpret_cast<const char*>(header), sizeof header);
  bytes.append(reinterpret_cast<const char*>(p), n);
  ReadResult r = ReadBytes(bytes);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("record #0 (frame at byte offset 16) is a(n) "
                        "checkpoint record, not the Header"));
}

TEST(LogReaderTest, OpenNamesAMissingFile) {
  auto reader = LogReader::Open(TempPath("no/such.xvlog"));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(reader.status().message()),
              HasSubstr("no/such.xvlog: cannot open"));
}

TEST(LogReaderTest, RecordViewSurvivesAMoveOfTheReader) {
  auto reader = LogReader::FromBytes(SmallLog("move.xvlog", {}), "LOG");
  ASSERT_TRUE(reader.ok());
  const RecordView* v = *reader->Next();
  LogReader moved = std::move(*reader);
  EXPECT_EQ(v->record.getHeader().getFormatVersion(), 1u);
  EXPECT_EQ((*moved.Next())->index, 1u);
}

TEST(LogWriterTest, FirstRecordMustBeTheHeader) {
  auto writer = LogWriter::Create(TempPath("w_first.xvlog"));
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(AppendInput(*writer, 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LogWriterTest, RefusesARecordLargerThanTheSegmentLimit) {
  auto writer = LogWriter::Create(TempPath("w_huge.xvlog"));
  ASSERT_TRUE(writer.ok());
  AppendHeader(*writer);
  const size_t buffered = writer->buffered_bytes();
  absl::Status s = AppendInput(*writer, 1, kLogMaxSegmentBytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("record 1 is"));
  EXPECT_EQ(writer->buffered_bytes(), buffered);
  // The writer is still usable.
  EXPECT_TRUE(AppendInput(*writer, 1, 10).ok());
  EXPECT_TRUE(writer->Close().ok());
}

TEST(LogWriterTest, CloseIsFinal) {
  auto writer = LogWriter::Create(TempPath("w_close.xvlog"));
  ASSERT_TRUE(writer.ok());
  AppendHeader(*writer);
  ASSERT_TRUE(writer->Close().ok());
  EXPECT_TRUE(writer->Close().ok());
  EXPECT_EQ(AppendInput(*writer, 1, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Flush().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LogWriterTest, DestructorWritesWhatWasBuffered) {
  const std::string path = TempPath("w_dtor.xvlog");
  {
    auto writer = LogWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    AppendHeader(*writer);
    ASSERT_TRUE(AppendInput(*writer, 1, 1).ok());
  }
  ReadResult r = ReadBytes(ReadFile(path));
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.texts.size(), 2u);
}

TEST(LogWriterTest, BadOptionsAndPaths) {
  EXPECT_EQ(
      LogWriter::Create(TempPath("x"), {.segment_bytes = 0}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LogWriter::Create(TempPath("x"), {.zstd_level = 1000}).status().code(),
      absl::StatusCode::kInvalidArgument);
  auto w = LogWriter::Create(TempPath("no/such/dir.xvlog"));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr("no/such/dir.xvlog: cannot create"));
}

TEST(LogWriterTest, WriteErrorsNameTheFileAndOffset) {
  // /dev/full accepts open() and fails every write with ENOSPC.
  auto w = LogWriter::Create("/dev/full");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr("/dev/full: writing the file header (16 bytes at byte "
                        "offset 0) failed at byte offset 0"));
}

}  // namespace
}  // namespace xv
