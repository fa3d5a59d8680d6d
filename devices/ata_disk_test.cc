#include "devices/ata_disk.h"

#include <memory>
#include <string>
#include <vector>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint16_t kData = 0x1f0, kError = 0x1f1, kCount = 0x1f2, kLba0 = 0x1f3,
                   kLba1 = 0x1f4, kLba2 = 0x1f5, kDevice = 0x1f6,
                   kStatus = 0x1f7, kCommand = 0x1f7, kControl = 0x3f6;
constexpr uint64_t kDiskSectors = 1000;

std::vector<uint8_t> Pattern(uint64_t lba, uint32_t count) {
  std::vector<uint8_t> v(count * kAtaSectorBytes);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>((lba + i / 512) * 7 + i * 13);
  }
  return v;
}

class AtaTest : public ::testing::Test {
 protected:
  void Attach(uint64_t sectors) {
    ata_ = std::make_unique<AtaDisk>(sectors, &irq_, 14, &out_);
  }
  void SetUp() override { Attach(kDiskSectors); }

  void Out(uint16_t port, uint8_t v) { ata_->PioWrite(port, {&v, 1}); }
  uint8_t In(uint16_t port) {
    uint8_t v = 0;
    ata_->PioRead(port, {&v, 1});
    return v;
  }
  uint16_t InWord() {
    uint8_t b[2] = {0, 0};
    ata_->PioRead(kData, b);
    return static_cast<uint16_t>(b[0] | b[1] << 8);
  }
  void OutWord(uint16_t w) {
    const uint8_t b[2] = {static_cast<uint8_t>(w),
                          static_cast<uint8_t>(w >> 8)};
    ata_->PioWrite(kData, b);
  }
  std::vector<uint8_t> ReadBlock(size_t bytes) {
    std::vector<uint8_t> v;
    for (size_t i = 0; i < bytes; i += 2) {
      const uint16_t w = InWord();
      v.push_back(static_cast<uint8_t>(w));
      v.push_back(static_cast<uint8_t>(w >> 8));
    }
    return v;
  }
  void WriteBlock(const uint8_t* p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 2) {
      OutWord(static_cast<uint16_t>(p[i] | p[i + 1] << 8));
    }
  }
  // Task file for an LBA28 command on device 0.
  void Address(uint32_t lba, uint8_t count) {
    Out(kDevice, static_cast<uint8_t>(0xe0 | (lba >> 24 & 0x0f)));
    Out(kCount, count);
    Out(kLba0, static_cast<uint8_t>(lba));
    Out(kLba1, static_cast<uint8_t>(lba >> 8));
    Out(kLba2, static_cast<uint8_t>(lba >> 16));
  }
  uint32_t TaskFileLba() {
    return In(kLba0) | In(kLba1) << 8 | In(kLba2) << 16 |
           (In(kDevice) & 0x0f) << 24;
  }
  bool Irq() const { return irq_.levels[14]; }
  int Edges() const { return irq_.rising_edges[14]; }

  RecordingIrqSink irq_;
  RecordingOutputSink out_;
  std::unique_ptr<AtaDisk> ata_;
};

TEST_F(AtaTest, PowerOnSignature) {
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_EQ(In(kControl), 0x50);
  EXPECT_EQ(In(kError), 0x00);
  EXPECT_EQ(In(kCount), 0x01);
  EXPECT_EQ(In(kLba0), 0x01);
  EXPECT_EQ(In(kLba1), 0x00);
  EXPECT_EQ(In(kLba2), 0x00);
  EXPECT_EQ(In(kDevice), 0xa0);
  EXPECT_EQ(In(kData), 0xff);   // byte reads of the data port
  EXPECT_EQ(InWord(), 0x0000);  // no DRQ: nothing to read
  EXPECT_FALSE(Irq());
}

TEST_F(AtaTest, IdentifyDevice) {
  Out(kDevice, 0xa0);
  Out(kCommand, 0xec);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kControl), 0x58);  // alternate status leaves INTRQ alone
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_FALSE(Irq());
  const std::vector<uint8_t> id = ReadBlock(512);
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_FALSE(Irq());  // no interrupt at the end of a PIO-in transfer
  auto word = [&id](size_t w) {
    return static_cast<uint16_t>(id[2 * w] | id[2 * w + 1] << 8);
  };
  auto text = [&id](int first, int words) {
    std::string s;
    for (int i = 0; i < 2 * words; ++i)
      s += static_cast<char>(id[first * 2 + (i ^ 1)]);
    return s;
  };
  EXPECT_EQ(word(0), 0x0040);
  EXPECT_EQ(text(27, 20), "XVIRT HARDDISK                          ");
  EXPECT_EQ(text(10, 10), "XV00000001          ");
  EXPECT_EQ(text(23, 4), "1.0     ");
  EXPECT_EQ(id[size_t{27} * 2], 'V');  // byte-swapped: "XV" is stored 'V', 'X'
  EXPECT_EQ(word(47), 0x8010);
  EXPECT_EQ(word(49) & 0x0200, 0x0200);  // LBA
  EXPECT_EQ(word(59), 0x0110);           // multiple mode on, 16 sectors
  EXPECT_EQ(word(60), kDiskSectors);
  EXPECT_EQ(word(61), 0);
  EXPECT_EQ(word(80), 0x0078);
  EXPECT_EQ(word(83) & 0xc000, 0x4000);
  EXPECT_EQ(word(83) & 0x0400, 0);  // no LBA48
  EXPECT_EQ(id[510], 0xa5);
  uint8_t sum = 0;
  for (uint8_t b : id) sum = static_cast<uint8_t>(sum + b);
  EXPECT_EQ(sum, 0);
}

TEST_F(AtaTest, IdentifyCapacityIsClampedToLba28) {
  const auto id = AtaDisk::IdentifyBlock(AtaDisk::kMaxSectors, 0);
  EXPECT_EQ(id[120] | id[121] << 8 | id[122] << 16 | id[123] << 24, 0x0fffffff);
  EXPECT_EQ(id[118] | id[119] << 8, 0);  // multiple mode off
}

TEST_F(AtaTest, ReadSectorsWaitsForTheBackEndThenInterruptsPerSector) {
  Address(5, 2);
  Out(kCommand, 0x20);
  ASSERT_EQ(out_.outputs.size(), 1u);
  EXPECT_EQ(out_.outputs[0].kind, OutputKind::kDiskReadRequest);
  EXPECT_EQ(out_.outputs[0].device, "ata0");
  EXPECT_EQ(out_.outputs[0].arg, 5u);
  EXPECT_EQ(out_.outputs[0].count, 2u);
  EXPECT_EQ(In(kStatus), 0xd0);  // BSY
  EXPECT_FALSE(Irq());
  Out(kCommand, 0xec);  // ignored while busy
  Out(kCount, 9);       // so are register writes
  EXPECT_EQ(out_.outputs.size(), 1u);

  const std::vector<uint8_t> data = Pattern(5, 2);
  ASSERT_TRUE(ata_->DiskReadCompleted(5, data).ok());
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_FALSE(Irq());
  // As in QEMU the task file already points past the sector being read.
  EXPECT_EQ(TaskFileLba(), 6u);
  EXPECT_EQ(In(kCount), 1);
  const std::vector<uint8_t> first = ReadBlock(512);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), data.begin()));
  EXPECT_TRUE(Irq());  // second sector ready
  EXPECT_EQ(In(kStatus), 0x58);
  const std::vector<uint8_t> second = ReadBlock(512);
  EXPECT_TRUE(std::equal(second.begin(), second.end(), data.begin() + 512));
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_EQ(TaskFileLba(), 7u);
  EXPECT_EQ(In(kCount), 0);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(ata_->outstanding_reads(), 0u);
}

TEST_F(AtaTest, ReadCompletionMustMatchTheRequest) {
  EXPECT_FALSE(ata_->DiskReadCompleted(0, Pattern(0, 1)).ok());
  Address(10, 1);
  Out(kCommand, 0x20);
  EXPECT_FALSE(ata_->DiskReadCompleted(11, Pattern(11, 1)).ok());
  EXPECT_FALSE(ata_->DiskReadCompleted(10, Pattern(10, 2)).ok());
  EXPECT_EQ(In(kStatus), 0xd0);  // still waiting, untouched
  EXPECT_TRUE(ata_->DiskReadCompleted(10, Pattern(10, 1)).ok());
  EXPECT_EQ(In(kStatus), 0x58);
}

TEST_F(AtaTest, ThirtyTwoBitDataReads) {
  Address(0, 1);
  Out(kCommand, 0x21);
  const std::vector<uint8_t> data = Pattern(0, 1);
  ASSERT_TRUE(ata_->DiskReadCompleted(0, data).ok());
  std::vector<uint8_t> got(512);
  for (size_t i = 0; i < 512; i += 4) {
    ata_->PioRead(kData, std::span<uint8_t>(got).subspan(i, 4));
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(In(kStatus), 0x50);
}

TEST_F(AtaTest, SectorCountZeroMeans256) {
  Address(100, 0);
  Out(kCommand, 0x20);
  ASSERT_EQ(out_.outputs.size(), 1u);
  EXPECT_EQ(out_.outputs[0].count, 256u);
}

TEST_F(AtaTest, WriteSectorsEmitsEverySectorAndInterruptsAfterEach) {
  Address(10, 2);
  Out(kCommand, 0x30);
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_FALSE(Irq());  // no interrupt before the first sector
  const std::vector<uint8_t> data = Pattern(10, 2);
  WriteBlock(data.data(), 510);
  EXPECT_TRUE(out_.outputs.empty());
  WriteBlock(data.data() + 510, 2);
  ASSERT_EQ(out_.outputs.size(), 1u);
  EXPECT_EQ(out_.outputs[0].kind, OutputKind::kDiskWrite);
  EXPECT_EQ(out_.outputs[0].arg, 10u);
  EXPECT_EQ(out_.outputs[0].data,
            std::vector<uint8_t>(data.begin(), data.begin() + 512));
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_EQ(TaskFileLba(), 11u);
  WriteBlock(data.data() + 512, 512);
  ASSERT_EQ(out_.outputs.size(), 2u);
  EXPECT_EQ(out_.outputs[1].arg, 11u);
  EXPECT_EQ(out_.outputs[1].data,
            std::vector<uint8_t>(data.begin() + 512, data.end()));
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_EQ(TaskFileLba(), 12u);
  OutWord(0x1234);  // no DRQ: ignored
  EXPECT_EQ(out_.outputs.size(), 2u);
}

TEST_F(AtaTest, MultipleModeTransfersBlocks) {
  Out(kCount, 4);
  Out(kCommand, 0xc6);  // SET MULTIPLE MODE 4
  EXPECT_EQ(In(kStatus), 0x50);
  Address(20, 8);
  Out(kCommand, 0xc4);
  ASSERT_TRUE(ata_->DiskReadCompleted(20, Pattern(20, 8)).ok());
  irq_.ClearCounts();
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_EQ(TaskFileLba(), 24u);
  ReadBlock(size_t{4} * 512 - 2);
  EXPECT_EQ(Edges(), 0);  // one interrupt per block, not per sector
  ReadBlock(2);
  EXPECT_EQ(Edges(), 1);
  EXPECT_EQ(In(kStatus), 0x58);
  EXPECT_EQ(ReadBlock(size_t{4} * 512), std::vector<uint8_t>(Pattern(24, 4)));
  EXPECT_EQ(In(kStatus), 0x50);

  Address(30, 5);
  Out(kCommand, 0xc5);  // WRITE MULTIPLE: blocks of 4, then 1
  const std::vector<uint8_t> data = Pattern(30, 5);
  irq_.ClearCounts();
  WriteBlock(data.data(), size_t{4} * 512);
  EXPECT_EQ(out_.outputs.size(), 1u + 4u);
  EXPECT_EQ(Edges(), 1);
  EXPECT_EQ(In(kStatus), 0x58);
  WriteBlock(data.data() + size_t{4} * 512, 512);
  EXPECT_EQ(out_.outputs.back().arg, 34u);
  EXPECT_EQ(In(kStatus), 0x50);

  Out(kCount, 3);
  Out(kCommand, 0xc6);  // not a power of two
  EXPECT_EQ(In(kStatus), 0x41);
  EXPECT_EQ(In(kError), 0x04);
  Out(kCount, 0);
  Out(kCommand, 0xc6);  // disables
  Address(0, 1);
  Out(kCommand, 0xc4);
  EXPECT_EQ(In(kStatus), 0x41);
}

TEST_F(AtaTest, OutOfRangeFailsWithIdnfBeforeAnyData) {
  Address(999, 2);
  Out(kCommand, 0x20);
  EXPECT_TRUE(out_.outputs.empty());
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x41);
  EXPECT_EQ(In(kError), 0x10);
  EXPECT_EQ(TaskFileLba(), 1000u);  // the first sector that does not exist
  Address(5000, 1);
  Out(kCommand, 0x30);
  EXPECT_EQ(In(kStatus), 0x41);
  EXPECT_EQ(In(kError), 0x10);
  Address(999, 1);  // the last sector is fine
  Out(kCommand, 0x20);
  EXPECT_EQ(out_.outputs.size(), 1u);
}

TEST_F(AtaTest, UnknownAndUnsupportedCommandsAbort) {
  for (uint8_t command : {0xa1, 0x24, 0xc8, 0x00, 0xff}) {
    Out(kCommand, command);
    EXPECT_TRUE(Irq()) << int{command};
    EXPECT_EQ(In(kStatus), 0x41) << int{command};
    EXPECT_EQ(In(kError), 0x04) << int{command};
  }
  // CHS addressing is not supported either.
  Out(kDevice, 0xa0);
  Out(kCommand, 0x20);
  EXPECT_EQ(In(kStatus), 0x41);
  EXPECT_TRUE(out_.outputs.empty());
  // Then a good command clears the error.
  Out(kCommand, 0xe7);
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_EQ(In(kError), 0x00);
}

TEST_F(AtaTest, NonDataCommandsComplete) {
  for (uint8_t command : {0xe7, 0xef, 0x91, 0x10, 0x70, 0xe0, 0xe1}) {
    Out(kCommand, command);
    EXPECT_TRUE(Irq()) << int{command};
    EXPECT_EQ(In(kStatus), 0x50) << int{command};
  }
  Out(kCommand, 0xe5);
  EXPECT_EQ(In(kCount), 0xff);  // CHECK POWER MODE: active
  Address(10, 5);
  Out(kCommand, 0x40);  // READ VERIFY
  EXPECT_EQ(In(kStatus), 0x50);
  Address(998, 5);
  Out(kCommand, 0x40);
  EXPECT_EQ(In(kError), 0x10);
  Out(kLba0, 0x55);
  Out(kCommand, 0x90);  // EXECUTE DEVICE DIAGNOSTIC
  EXPECT_EQ(In(kError), 0x01);
  EXPECT_EQ(In(kStatus), 0x50);
  EXPECT_EQ(In(kLba0), 0x01);
  EXPECT_EQ(In(kCount), 0x01);
}

TEST_F(AtaTest, NienMasksTheInterrupt) {
  Out(kControl, 0x02);
  Out(kCommand, 0xe7);
  EXPECT_FALSE(Irq());
  Out(kControl, 0x00);
  EXPECT_FALSE(Irq());  // as in QEMU, it was not kept pending
  Out(kCommand, 0xe7);
  EXPECT_TRUE(Irq());
  Out(kControl, 0x02);
  EXPECT_FALSE(Irq());
  Out(kControl, 0x00);
  EXPECT_TRUE(Irq());   // still pending until status is read
  Out(kCommand, 0xe7);  // writing a command also clears it first
  EXPECT_EQ(Edges(), 3);
}

TEST_F(AtaTest, AbsentDevice1ReadsZeroAndIgnoresCommands) {
  Out(kDevice, 0xb0);
  EXPECT_EQ(In(kStatus), 0x00);
  EXPECT_EQ(In(kControl), 0x00);
  EXPECT_EQ(In(kError), 0x00);
  EXPECT_EQ(In(kDevice), 0xb0);
  Out(kCommand, 0xec);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(InWord(), 0);
  Out(kDevice, 0xa0);
  EXPECT_EQ(In(kStatus), 0x50);
}

TEST_F(AtaTest, NoDiskChannelReadsAllZeroButStillInterrupts) {
  Attach(0);
  for (uint16_t port :
       {kError, kCount, kLba0, kLba1, kLba2, kDevice, kStatus, kControl}) {
    EXPECT_EQ(In(port), 0x00) << port;
  }
  Out(kDevice, 0xa0);
  Out(kCommand, 0xec);  // aborted, as QEMU does with no drive
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x00);
  Address(0, 1);
  Out(kCommand, 0x20);
  EXPECT_TRUE(out_.outputs.empty());
}

TEST_F(AtaTest, SoftwareResetAbandonsAReadAndRestoresTheSignature) {
  Address(40, 1);
  Out(kCommand, 0x20);
  Out(kControl, 0x04);  // SRST
  EXPECT_EQ(In(kStatus), 0x80);
  Out(kControl, 0x00);
  EXPECT_EQ(In(kError), 0x01);
  EXPECT_EQ(In(kCount), 0x01);
  EXPECT_EQ(In(kLba0), 0x01);
  EXPECT_EQ(TaskFileLba(), 1u);
  EXPECT_EQ(In(kStatus), 0x50);
  // The abandoned request is still answered, and dropped.
  EXPECT_EQ(ata_->outstanding_reads(), 1u);
  Address(50, 1);
  Out(kCommand, 0x20);
  EXPECT_EQ(ata_->outstanding_reads(), 2u);
  ASSERT_TRUE(ata_->DiskReadCompleted(40, Pattern(40, 1)).ok());
  EXPECT_EQ(In(kStatus), 0xd0);  // still waiting for LBA 50
  ASSERT_TRUE(ata_->DiskReadCompleted(50, Pattern(50, 1)).ok());
  EXPECT_EQ(ReadBlock(512), Pattern(50, 1));
}

TEST_F(AtaTest, ReadFailureReportsUncorrectable) {
  Address(60, 3);
  Out(kCommand, 0x20);
  EXPECT_FALSE(ata_->DiskReadFailed(61).ok());
  ASSERT_TRUE(ata_->DiskReadFailed(60).ok());
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kStatus), 0x41);
  EXPECT_EQ(In(kError), 0x40);
  EXPECT_EQ(ata_->outstanding_reads(), 0u);
}

TEST_F(AtaTest, LoadStateRejectsInconsistentPhase) {
  Address(10, 1);
  Out(kCommand, 0x20);  // waiting for a read
  StateWriter w;
  ata_->SaveState(w);
  std::vector<uint8_t> bad = w.bytes();
  // Byte 19 is the phase (after two 7-byte task files and 5 registers).
  ASSERT_EQ(bad[19], 2);
  bad[19] = 0;  // idle, yet a wanted read outstanding
  StateReader r(bad, "state of ata0");
  EXPECT_FALSE(ata_->LoadState(r).ok());
  EXPECT_EQ(In(kStatus), 0xd0);
}

}  // namespace
}  // namespace xv
