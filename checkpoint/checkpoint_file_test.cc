#include "checkpoint/checkpoint_file.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.capnp.h"
#include "hypervisor/arch_state.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"
#include "tests/runfiles.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace xv {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kPages = 64;

std::vector<uint8_t> Pattern(uint64_t page, uint8_t seed) {
  std::vector<uint8_t> data(kPageSize);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(page * 31 + i * 7 + seed + (i >> 9));
  }
  return data;
}

// Base pages 0, 1, 2, 10 and 40 hold data; the delta overwrites page 2 and
// page 40 (with zeros, so page 40 is a zero page of the checkpoint).
Checkpoint MakeCheckpoint() {
  Checkpoint cp;
  cp.esn = 123456789;
  cp.memory_bytes = kPages * kPageSize;
  cp.platform.disk_sectors = 2048;
  cp.platform.rtc_epoch_seconds = 1700000000;

  cp.cpuid = {{.function = 0,
               .eax = 0xd,
               .ebx = 0x756e6547,
               .ecx = 0x6c65746e,
               .edx = 0x49656e69},
              {.function = 7,
               .index = 0,
               .flags = kCpuidSubleafSignificant,
               .ebx = 0x29c67af}};

  cp.base = MemoryBase::Create(cp.memory_bytes).value();
  for (uint64_t p : {0, 1, 2, 10, 40}) {
    EXPECT_TRUE(cp.base->WritePages(p, Pattern(p, 1)).ok());
  }
  cp.delta_pages = {2, 40};
  const std::vector<uint8_t> delta2 = Pattern(2, 99);
  cp.delta_data.insert(cp.delta_data.end(), delta2.begin(), delta2.end());
  cp.delta_data.resize(2 * kPageSize, 0);
  auto hashes = PageHashes::OfBase(*cp.base).value();
  hashes.Set(2, HashPage(delta2.data()));
  hashes.Set(40, ZeroPageHash());
  cp.page_hashes = std::make_shared<const PageHashes>(std::move(hashes));

  ArchState& a = cp.cpu.arch;
  a.regs.rax = 42;
  a.regs.rip = 0x100000;
  a.regs.rsp = 0x7ff0;
  a.regs.rflags = 0x202;
  a.cr0 = 0x80000011;
  a.cr3 = 0x1000;
  a.efer = 0x500;
  a.cs = 0x8;
  a.tr = {0x28, 0x104000, 0x67};
  a.xcr0 = 7;
  a.st[3][9] = 0x40;
  a.xmm[15][0] = 0xaa;
  a.ymm_high[1][15] = 0x55;
  a.dr[2] = 0x1234;
  a.queued_interrupt = 0x20;
  a.interrupt_shadow = true;
  a.msrs[0] = 0x8;                    // SYSENTER_CS
  a.msrs[4] = 0x0023001000000000ull;  // STAR
  a.msrs[8] = 0xffff888000000000ull;  // KERNEL_GS_BASE
  cp.cpu.backend = "kvm";
  cp.cpu.blob = {1, 2, 3, 4, 5, 6, 7, 8};

  cp.front_ends = {{"uart16550", {1, 2, 3, 4, 5}},
                   {"pit8254", {0xde, 0xad, 0xbe, 0xef}}};
  cp.clock_ns = 987654321;
  cp.state_hash = CheckpointStateHash(cp);
  return cp;
}

// Page `p` of base + delta.
std::vector<uint8_t> PageOf(const Checkpoint& cp, uint64_t p) {
  for (size_t i = 0; i < cp.delta_pages.size(); ++i) {
    if (cp.delta_pages[i] == p) {
      return {cp.delta_data.begin() + static_cast<long>(i * kPageSize),
              cp.delta_data.begin() + static_cast<long>((i + 1) * kPageSize)};
    }
  }
  std::vector<uint8_t> page(kPageSize);
  EXPECT_TRUE(cp.base->Read(p * kPageSize, page).ok());
  return page;
}

std::string TestPath(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/" +
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  ::mkdir(dir.c_str(), 0755);
  return dir + "/" + name;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

uint64_t Le64(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

// A checkpoint file with a well-formed container (header, checksum) around
// `payload`, as stored.
std::string WithPayload(const std::string& payload) {
  std::string header(kCheckpointHeaderBytes, '\0');
  std::memcpy(header.data(), kCheckpointMagic, sizeof kCheckpointMagic);
  const uint32_t version = kCheckpointFileVersion;
  const uint64_t length = payload.size();
  const uint64_t checksum = XXH3_64bits(payload.data(), payload.size());
  std::memcpy(header.data() + 8, &version, sizeof version);
  std::memcpy(header.data() + 16, &length, sizeof length);
  std::memcpy(header.data() + 24, &checksum, sizeof checksum);
  return header + payload;
}

// ... around `content` compressed into one zstd frame.
std::string WithContent(const std::string& content) {
  std::string compressed(ZSTD_compressBound(content.size()), '\0');
  const size_t n = ZSTD_compress(compressed.data(), compressed.size(),
                                 content.data(), content.size(), 1);
  EXPECT_FALSE(ZSTD_isError(n));
  compressed.resize(ZSTD_isError(n) ? 0 : n);
  return WithPayload(compressed);
}

// The decompressed payload of a checkpoint file: its Cap'n Proto message.
std::string ContentOf(const std::string& file) {
  const std::string payload = file.substr(kCheckpointHeaderBytes);
  const unsigned long long size =
      ZSTD_getFrameContentSize(payload.data(), payload.size());
  EXPECT_NE(size, ZSTD_CONTENTSIZE_ERROR);
  EXPECT_NE(size, ZSTD_CONTENTSIZE_UNKNOWN);
  std::string content(size, '\0');
  EXPECT_EQ(ZSTD_decompress(content.data(), content.size(), payload.data(),
                            payload.size()),
            size);
  return content;
}

// Decodes the file's message, lets `edit` change it, and writes it back as
// a well-formed file (checksum and all), so the reader's checks past the
// container can be reached.
void RewriteMessage(
    const std::string& path,
    const std::function<void(ckpt::CheckpointFile::Builder)>& edit) {
  const std::string content = ContentOf(ReadBytes(path));
  std::vector<capnp::word> words(content.size() / sizeof(capnp::word));
  std::memcpy(words.data(), content.data(), content.size());
  capnp::FlatArrayMessageReader reader(
      kj::arrayPtr(words.data(), words.size()));
  capnp::MallocMessageBuilder builder;
  builder.setRoot(reader.getRoot<ckpt::CheckpointFile>());
  edit(builder.getRoot<ckpt::CheckpointFile>());
  const kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  const kj::ArrayPtr<const kj::byte> bytes = flat.asBytes();
  WriteBytes(path,
             WithContent(std::string(
                 reinterpret_cast<const char*>(bytes.begin()), bytes.size())));
}

// A status that is `code` and whose message names `path` and `what`.
void ExpectRefused(const absl::Status& status, absl::StatusCode code,
                   const std::string& path, const std::string& what) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr(path), HasSubstr(what)));
}

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_ = MakeCheckpoint();
    path_ = TestPath("cp.xvc");
    origin_ = {.high = 0x0123456789abcdefull, .low = 0xfedcba9876543210ull};
    ASSERT_TRUE(WriteCheckpointFile(path_, cp_, origin_).ok());
    bytes_ = ReadBytes(path_);
  }

  absl::Status Read() { return ReadCheckpointFile(path_).status(); }

  Checkpoint cp_;
  std::string path_;
  Hash128 origin_;
  std::string bytes_;
};

TEST_F(CheckpointFileTest, RoundTripKeepsEveryField) {
  auto read = ReadCheckpointFile(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  const Checkpoint& got = read->checkpoint;
  EXPECT_EQ(read->origin, origin_);
  EXPECT_EQ(got.esn, cp_.esn);
  EXPECT_EQ(got.state_hash, cp_.state_hash);
  EXPECT_EQ(got.memory_bytes, cp_.memory_bytes);
  EXPECT_EQ(got.platform.disk_sectors, cp_.platform.disk_sectors);
  EXPECT_EQ(got.platform.rtc_epoch_seconds, cp_.platform.rtc_epoch_seconds);
  EXPECT_EQ(got.cpuid, cp_.cpuid);
  EXPECT_EQ(got.cpu.arch, cp_.cpu.arch);
  EXPECT_EQ(got.cpu.backend, cp_.cpu.backend);
  EXPECT_EQ(got.cpu.blob, cp_.cpu.blob);
  ASSERT_EQ(got.front_ends.size(), cp_.front_ends.size());
  for (size_t i = 0; i < got.front_ends.size(); ++i) {
    EXPECT_EQ(got.front_ends[i].name, cp_.front_ends[i].name);
    EXPECT_EQ(got.front_ends[i].blob, cp_.front_ends[i].blob);
  }
  EXPECT_EQ(got.clock_ns, cp_.clock_ns);

  // Memory: a new base holding base + delta, no delta.
  ASSERT_NE(got.base, nullptr);
  EXPECT_NE(got.base, cp_.base);
  EXPECT_EQ(got.base->size(), cp_.memory_bytes);
  EXPECT_TRUE(got.delta_pages.empty());
  EXPECT_TRUE(got.delta_data.empty());
  for (uint64_t p = 0; p < kPages; ++p) {
    std::vector<uint8_t> page(kPageSize);
    ASSERT_TRUE(got.base->Read(p * kPageSize, page).ok());
    EXPECT_EQ(page, PageOf(cp_, p)) << "page " << p;
  }
  EXPECT_EQ(PageOf(cp_, 2), Pattern(2, 99));  // the delta page, not the base's
  ASSERT_NE(got.page_hashes, nullptr);
  EXPECT_EQ(got.page_hashes->Root(), cp_.page_hashes->Root());
  for (uint64_t p = 0; p < kPages; ++p) {
    EXPECT_EQ(got.page_hashes->page(p), cp_.page_hashes->page(p)) << p;
  }
  EXPECT_EQ(CheckpointStateHash(got), cp_.state_hash);
  // Only the 4 non-zero pages are stored: the base holds nothing else.
  auto runs = got.base->DataRuns();
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(*runs, (std::vector<PageRun>{{0, 3}, {10, 1}}));
}

TEST_F(CheckpointFileTest, ZeroPagesAreNotStored) {
  // 4 non-zero pages of 64: well under their 16 KiB even before zstd.
  EXPECT_LT(bytes_.size(), 4 * kPageSize + 8192);
  EXPECT_EQ(bytes_.compare(0, 8, std::string(kCheckpointMagic, 8)), 0);
  EXPECT_EQ(Le64(bytes_, 16), bytes_.size() - kCheckpointHeaderBytes);
}

TEST_F(CheckpointFileTest, WritesAtomicallyAndReplaces) {
  // No temporary file is left behind; writing again replaces the file.
  const std::string dir = path_.substr(0, path_.rfind('/'));
  EXPECT_EQ(DirEntries(dir), std::vector<std::string>{"cp.xvc"});
  cp_.esn += 1;
  cp_.state_hash = CheckpointStateHash(cp_);
  ASSERT_TRUE(WriteCheckpointFile(path_, cp_, origin_).ok());
  EXPECT_EQ(DirEntries(dir), std::vector<std::string>{"cp.xvc"});
  auto read = ReadCheckpointFile(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->checkpoint.esn, cp_.esn);
}

TEST_F(CheckpointFileTest, RefusesMissingFile) {
  const std::string missing = TestPath("no-such.xvc");
  auto read = ReadCheckpointFile(missing);
  ExpectRefused(read.status(), absl::StatusCode::kNotFound, missing,
                "cannot open");
}

TEST_F(CheckpointFileTest, RefusesEmptyFile) {
  WriteBytes(path_, "");
  ExpectRefused(Read(), absl::StatusCode::kInvalidArgument, path_,
                "not an xvirt checkpoint file: the file is empty");
}

TEST_F(CheckpointFileTest, RefusesWrongMagic) {
  WriteBytes(path_, "XVIRTLOG" + bytes_.substr(8));
  ExpectRefused(Read(), absl::StatusCode::kInvalidArgument, path_,
                "not an xvirt checkpoint file");
  WriteBytes(path_, "hello, world\n");
  ExpectRefused(Read(), absl::StatusCode::kInvalidArgument, path_,
                "not an xvirt checkpoint file");
}

TEST_F(CheckpointFileTest, RefusesFutureVersion) {
  std::string bytes = bytes_;
  bytes[8] = static_cast<char>(kCheckpointFileVersion + 1);
  WriteBytes(path_, bytes);
  ExpectRefused(Read(), absl::StatusCode::kFailedPrecondition, path_,
                absl::StrFormat("made by a newer xvirt (format %d)",
                                kCheckpointFileVersion + 1));
}

// A checkpoint file of format 1 (KVM's structs), written by xvirt before
// the backend seam: refused with a message that says what to do.
TEST(CheckpointFileFormatTest, RefusesAnOlderFormat) {
  const std::string path =
      testing::RunfilePath("checkpoint/testdata/format1_hello_20.xvcp");
  auto read = ReadCheckpointFile(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(),
              HasSubstr("made by an older xvirt (format 1); re-record it"));
}

TEST_F(CheckpointFileTest, RefusesTruncatedFile) {
  for (size_t length :
       {size_t{3}, size_t{8}, size_t{20}, kCheckpointHeaderBytes,
        kCheckpointHeaderBytes + 1, kCheckpointHeaderBytes + 100,
        bytes_.size() / 2, bytes_.size() - 1}) {
    SCOPED_TRACE(length);
    WriteBytes(path_, bytes_.substr(0, length));
    ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_, "truncated");
  }
}

TEST_F(CheckpointFileTest, RefusesTrailingBytes) {
  WriteBytes(path_, bytes_ + "x");
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "1 bytes follow the");
}

TEST_F(CheckpointFileTest, RefusesFlippedPayloadByte) {
  for (size_t at :
       {kCheckpointHeaderBytes, bytes_.size() / 2, bytes_.size() - 1}) {
    SCOPED_TRACE(at);
    std::string bytes = bytes_;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
    WriteBytes(path_, bytes);
    ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                  "checksum mismatch");
  }
}

TEST_F(CheckpointFileTest, RefusesWrongStateHash) {
  cp_.state_hash.low ^= 1;
  ASSERT_TRUE(WriteCheckpointFile(path_, cp_, origin_).ok());
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "content does not match its state hash");
}

TEST_F(CheckpointFileTest, RefusesPageNotMatchingItsDigest) {
  RewriteMessage(path_, [](ckpt::CheckpointFile::Builder root) {
    auto run = root.getPageRuns()[1];  // page 10 alone
    ASSERT_EQ(run.getFirstPage(), 10u);
    run.getData()[100] ^= 1;
  });
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "page 10 (gpa 0xa000) does not match its digest");
}

TEST_F(CheckpointFileTest, RefusesBadPageRuns) {
  struct Case {
    const char* name;
    std::function<void(ckpt::CheckpointFile::Builder)> edit;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"outside memory",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[1].setFirstPage(kPages);
       },
       "page run #1 (1 pages from page 64): it is outside the memory's 64 "
       "pages"},
      {"runs past the end",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[1].setFirstPage(kPages - 1);
         root.getPageRuns()[1].setPageCount(2);
       },
       "it is outside the memory's 64 pages"},
      {"overlapping",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[1].setFirstPage(2);
       },
       "page run #1 (1 pages from page 2): it overlaps or precedes the "
       "previous run, which ends at page 3"},
      {"out of order",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[0].setFirstPage(20);
       },
       "page run #1 (1 pages from page 10): it overlaps or precedes"},
      {"data size",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[1].setPageCount(2);
       },
       "page run #1 (2 pages from page 10): it holds 4096 bytes, not 8192"},
      {"empty",
       [](ckpt::CheckpointFile::Builder root) {
         root.getPageRuns()[1].setPageCount(0);
       },
       "it is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WriteBytes(path_, bytes_);
    RewriteMessage(path_, c.edit);
    ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_, c.error);
  }
}

TEST_F(CheckpointFileTest, RefusesABadCpuState) {
  RewriteMessage(path_, [](ckpt::CheckpointFile::Builder root) {
    root.getCpu().getArch().initXmm(15);
  });
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "the CPU state's xmm has 15 registers, not 16");
  WriteBytes(path_, bytes_);
  RewriteMessage(path_, [](ckpt::CheckpointFile::Builder root) {
    root.getCpu().getArch().getMsrs()[3].setIndex(0x10);
  });
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "MSR 0x10 which is not architectural state here");
}

TEST_F(CheckpointFileTest, RefusesBadMessageFields) {
  RewriteMessage(path_, [](ckpt::CheckpointFile::Builder root) {
    root.setFormatVersion(kCheckpointFileVersion + 1);
  });
  ExpectRefused(Read(), absl::StatusCode::kFailedPrecondition, path_,
                "made by a newer xvirt (format 3)");
  WriteBytes(path_, bytes_);
  RewriteMessage(path_, [](ckpt::CheckpointFile::Builder root) {
    root.setMemoryBytes(kPageSize * kPages + 1);
  });
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "memory size 262145 is not a positive multiple of 4096");
}

TEST_F(CheckpointFileTest, RefusesPayloadThatIsNotZstd) {
  WriteBytes(path_, WithPayload(std::string(64, 'g')));
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "cannot be decompressed: it is not a zstd frame");
}

TEST_F(CheckpointFileTest, RefusesTrailingBytesAfterZstdFrame) {
  WriteBytes(path_, WithPayload(bytes_.substr(kCheckpointHeaderBytes) + "z"));
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "1 bytes follow the zstd frame");
}

TEST_F(CheckpointFileTest, RefusesMalformedMessage) {
  // One segment of 100 words, in 64 bytes.
  std::string content(64, '\0');
  content[4] = 100;
  WriteBytes(path_, WithContent(content));
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "malformed Cap'n Proto message");
  // A whole message, then a word more.
  WriteBytes(path_, WithContent(ContentOf(bytes_) + std::string(8, '\0')));
  ExpectRefused(Read(), absl::StatusCode::kDataLoss, path_,
                "8 bytes follow the Cap'n Proto message");
}

// Corruption that the checksum does not catch (a writer's bug, a crafted
// file) is refused, or read as what it says, but never crashes the reader.
TEST_F(CheckpointFileTest, SurvivesCorruptMessages) {
  const std::string content = ContentOf(bytes_);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string bad = content;
    // Most flips land in the message's pointers and sizes (its first
    // words and the small structs), some in page data.
    const size_t at = i % 3 == 0 ? x % bad.size() : x % 1024;
    bad[at] = static_cast<char>(bad[at] ^ (1u << (x >> 61)));
    WriteBytes(path_, WithContent(bad));
    absl::StatusOr<CheckpointFileContents> read = ReadCheckpointFile(path_);
    if (!read.ok()) {
      ++refused;
      EXPECT_THAT(std::string(read.status().message()), HasSubstr(path_));
    }
  }
  EXPECT_GT(refused, 100);
}

TEST_F(CheckpointFileTest, WriterRefusesInconsistentCheckpoint) {
  const std::string other = TestPath("inconsistent.xvc");
  // The base changed after its pages were hashed.
  ASSERT_TRUE(cp_.base->WritePages(10, Pattern(10, 7)).ok());
  absl::Status s = WriteCheckpointFile(other, cp_, origin_);
  ExpectRefused(s, absl::StatusCode::kFailedPrecondition, other,
                "page 10 (gpa 0xa000) hashes to");
  EXPECT_EQ(::access(other.c_str(), F_OK), -1);
  const std::string dir = other.substr(0, other.rfind('/'));
  EXPECT_EQ(DirEntries(dir), std::vector<std::string>{"cp.xvc"});

  Checkpoint no_memory = MakeCheckpoint();
  no_memory.base = nullptr;
  ExpectRefused(WriteCheckpointFile(other, no_memory, origin_),
                absl::StatusCode::kInvalidArgument, other, "no memory base");
}

// More memory than the default Cap'n Proto traversal limit (64 MiB) and
// runs longer than one stored run may be (128 MiB).
TEST(CheckpointFileLargeTest, RoundTripOfLargeMemory) {
  Checkpoint cp = MakeCheckpoint();
  constexpr uint64_t kLargePages = (uint64_t{160} << 20) / kPageSize;
  cp.memory_bytes = kLargePages * kPageSize;
  cp.base = MemoryBase::Create(cp.memory_bytes).value();
  cp.delta_pages.clear();
  cp.delta_data.clear();
  std::vector<uint8_t> chunk(1024 * kPageSize);
  for (uint64_t first = 0; first < kLargePages; first += 1024) {
    for (uint64_t i = 0; i < 1024; ++i) {
      const uint64_t p = first + i;
      uint64_t* words = reinterpret_cast<uint64_t*>(&chunk[i * kPageSize]);
      for (size_t w = 0; w < kPageSize / 8; ++w) {
        words[w] = (p * 0x9e3779b97f4a7c15ull) ^ (w * 0x100000001b3ull);
      }
    }
    ASSERT_TRUE(cp.base->WritePages(first, chunk).ok());
  }
  cp.page_hashes =
      std::make_shared<const PageHashes>(PageHashes::OfBase(*cp.base).value());
  cp.state_hash = CheckpointStateHash(cp);
  const std::string path = TestPath("large.xvc");
  ASSERT_TRUE(WriteCheckpointFile(path, cp, Hash128{}).ok());
  auto read = ReadCheckpointFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->checkpoint.page_hashes->Root(), cp.page_hashes->Root());
  std::vector<uint8_t> page(kPageSize);
  ASSERT_TRUE(
      read->checkpoint.base->Read((kLargePages - 1) * kPageSize, page).ok());
  EXPECT_EQ(page, PageOf(cp, kLargePages - 1));
}

}  // namespace
}  // namespace xv
