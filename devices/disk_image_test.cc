#include "devices/disk_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/scoped_fd.h"
#include "devices/backend_test_util.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

// Creates a (sparse) file of `bytes` bytes.
void MakeFile(const std::string& path, uint64_t bytes) {
  ScopedFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
}

bool Mentions(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(DiskImageTest, RefusesMissingEmptyRaggedAndOversizedImages) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string missing = dir.File("missing.img");
  auto r = DiskImage::Open(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_TRUE(Mentions(r.status(), missing));

  const std::string empty = dir.File("empty.img");
  MakeFile(empty, 0);
  r = DiskImage::Open(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Mentions(r.status(), empty));
  EXPECT_TRUE(Mentions(r.status(), "empty"));

  const std::string ragged = dir.File("ragged.img");
  MakeFile(ragged, 1000);
  r = DiskImage::Open(ragged);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Mentions(r.status(), ragged));
  EXPECT_TRUE(Mentions(r.status(), "1000"));

  const std::string huge = dir.File("huge.img");
  MakeFile(huge, (uint64_t{1} << 37) + 512);  // 128 GiB + 1 sector
  r = DiskImage::Open(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Mentions(r.status(), "LBA28"));

  r = DiskImage::Open(dir.File(""));  // the directory itself
  EXPECT_FALSE(r.ok());
}

TEST(DiskImageTest, LargestLba28ImageIsAccepted) {
  ScratchDir dir;
  const std::string path = dir.File("max.img");
  MakeFile(path, uint64_t{1} << 37);
  auto image = DiskImage::Open(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->sectors(), uint64_t{1} << 28);
}

TEST(DiskImageTest, ReadWriteFlushRoundTrip) {
  ScratchDir dir;
  const std::string path = dir.File("disk.img");
  MakeFile(path, 16 * kSectorSize);
  auto image = DiskImage::Open(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->sectors(), 16u);
  EXPECT_EQ(image->path(), path);

  std::vector<uint8_t> data(2 * kSectorSize);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<uint8_t>(i * 3);
  ASSERT_TRUE(image->Write(14, data).ok());
  ASSERT_TRUE(image->Flush().ok());
  std::vector<uint8_t> back(2 * kSectorSize);
  ASSERT_TRUE(image->Read(14, back).ok());
  EXPECT_EQ(back, data);
  std::vector<uint8_t> zero(kSectorSize, 0xff);
  ASSERT_TRUE(image->Read(0, zero).ok());
  EXPECT_EQ(zero, std::vector<uint8_t>(kSectorSize, 0));

  // Survives reopening: it really went to the file.
  DiskImage moved = std::move(*image);
  auto again = DiskImage::Open(path);
  ASSERT_TRUE(again.ok());
  std::vector<uint8_t> third(kSectorSize);
  ASSERT_TRUE(again->Read(15, third).ok());
  EXPECT_TRUE(std::equal(third.begin(), third.end(), data.begin() + 512));
}

TEST(DiskImageTest, RangeAndSizeErrorsNameThePath) {
  ScratchDir dir;
  const std::string path = dir.File("disk.img");
  MakeFile(path, 4 * kSectorSize);
  auto image = DiskImage::Open(path);
  ASSERT_TRUE(image.ok());
  std::vector<uint8_t> two(2 * kSectorSize);
  absl::Status s = image->Read(3, two);
  EXPECT_TRUE(absl::IsOutOfRange(s));
  EXPECT_TRUE(Mentions(s, path));
  s = image->Write(4, std::vector<uint8_t>(kSectorSize));
  EXPECT_TRUE(absl::IsOutOfRange(s));
  s = image->Write(~uint64_t{0}, std::vector<uint8_t>(kSectorSize));
  EXPECT_TRUE(absl::IsOutOfRange(s));
  std::vector<uint8_t> odd(100);
  s = image->Read(0, odd);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_TRUE(Mentions(s, path));
}

TEST(DiskImageTest, ShrunkImageIsReportedNotZeroFilled) {
  ScratchDir dir;
  const std::string path = dir.File("disk.img");
  MakeFile(path, 4 * kSectorSize);
  auto image = DiskImage::Open(path);
  ASSERT_TRUE(image.ok());
  MakeFile(path, kSectorSize);  // someone truncated it behind our back
  std::vector<uint8_t> buf(kSectorSize);
  const absl::Status s = image->Read(2, buf);
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_TRUE(Mentions(s, path));
}

}  // namespace
}  // namespace xv
