// AtaDisk: the primary ATA channel (0x1f0-0x1f7, device control and
// alternate status at 0x3f6, IRQ14) with a PIO-only hard disk as device 0
// and no device 1. QEMU's hw/ide/core.c is the behavioural reference for
// register semantics, absent devices and interrupt timing.
//
// The front-end never touches the image (DESIGN §2): a read command emits
// kDiskReadRequest(lba, count) and keeps the device BSY until the machine
// applies DiskReadCompleted() with the data; every sector the guest writes
// leaves as one kDiskWrite(lba, 512 bytes) as soon as its last byte arrives.
//
// Commands: IDENTIFY DEVICE, READ/WRITE SECTORS, READ/WRITE MULTIPLE, SET
// MULTIPLE MODE, READ VERIFY, FLUSH CACHE, SET FEATURES, INITIALIZE DEVICE
// PARAMETERS, EXECUTE DEVICE DIAGNOSTIC, RECALIBRATE, SEEK, CHECK POWER
// MODE, STANDBY/IDLE IMMEDIATE. LBA28 only: CHS addressing, LBA48 and DMA
// commands are aborted (ERR, ABRT), as are IDENTIFY PACKET and anything else.
// Out-of-range sectors fail with ERR and IDNF before any data moves.
#ifndef EXTRAVIRT_DEVICES_ATA_DISK_H_
#define EXTRAVIRT_DEVICES_ATA_DISK_H_

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "devices/device_state.h"
#include "devices/front_end.h"
#include "devices/irq_sink.h"
#include "devices/output_sink.h"

namespace xv {

inline constexpr size_t kAtaSectorBytes = 512;

class AtaDisk : public FrontEnd {
 public:
  static constexpr uint16_t kCommandBase = 0x1f0;
  static constexpr uint16_t kControlPort = 0x3f6;
  // READ/WRITE MULTIPLE block size limit, and the power-on block size (QEMU).
  static constexpr uint8_t kMaxMultipleSectors = 16;
  // Largest capacity LBA28 can address.
  static constexpr uint64_t kMaxSectors = uint64_t{1} << 28;

  // `sectors` == 0: no disk; the channel then reads as QEMU's IDE channel
  // with no drive attached (every register 0).
  AtaDisk(uint64_t sectors, IrqSink* irq, int irq_line, OutputSink* out);

  std::string_view name() const override { return "ata0"; }
  uint32_t state_version() const override { return 1; }

  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override;
  absl::Status LoadState(StateReader& r) override;

  // Answers the oldest outstanding kDiskReadRequest. Refuses (and changes
  // nothing) when none is outstanding or when lba/size differ from it. A
  // request the guest abandoned (software reset) is answered and dropped.
  absl::Status DiskReadCompleted(uint64_t lba, std::span<const uint8_t> data);
  // The back-end could not read the oldest outstanding request: the command
  // ends with ERR and UNC (uncorrectable data), as a failing disk reports.
  absl::Status DiskReadFailed(uint64_t lba);

  uint64_t sectors() const { return sectors_; }
  bool has_disk() const { return sectors_ != 0; }
  size_t outstanding_reads() const { return reads_.size(); }
  bool irq_level() const { return irq_level_; }

  // The 512-byte IDENTIFY DEVICE block for a disk of `sectors`, with the
  // given READ/WRITE MULTIPLE setting (0: disabled).
  static std::array<uint8_t, 512> IdentifyBlock(uint64_t sectors,
                                                uint8_t multiple_sectors);

 private:
  enum class Phase : uint8_t {
    kIdle = 0,
    kReset = 1,     // SRST held
    kReadWait = 2,  // BSY until the read completes
    kDataIn = 3,    // DRQ: the guest reads buffer_
    kDataOut = 4,   // DRQ: the guest writes buffer_
  };
  struct TaskFile {
    uint8_t feature = 0;
    uint16_t nsector = 1;  // 256 after a command with count 0 (QEMU)
    uint8_t sector = 1;
    uint8_t lcyl = 0;
    uint8_t hcyl = 0;
    uint8_t select = 0xa0;
  };
  struct PendingRead {
    uint64_t lba = 0;
    uint32_t count = 0;
    bool wanted = false;
  };

  uint8_t ReadRegister(uint16_t port);
  void WriteRegister(uint16_t port, uint8_t value);
  void ReadData(std::span<uint8_t> data);
  void WriteData(std::span<const uint8_t> data);
  void WriteControl(uint8_t value);
  void ExecuteCommand(uint8_t command);
  // Ends a command without data: status DRDY|DSC (+ERR), interrupt.
  void Complete();
  void Abort(uint8_t error);
  void SetSignature();
  void ResetRegisters();
  void StartRead(uint64_t lba, uint32_t count, uint32_t block_sectors);
  void StartWrite(uint64_t lba, uint32_t count, uint32_t block_sectors);
  void StartInBlock();
  void StartOutBlock();
  void SetTaskFileLba(uint64_t lba);
  bool RangeOk(uint64_t lba, uint32_t count);
  void RaiseIrq();
  void LowerIrq();
  void UpdateIrq();
  bool Absent() const { return !has_disk() || unit_ != 0; }

  uint64_t sectors_;
  IrqSink* irq_;
  int irq_line_;
  OutputSink* out_;

  // Registers are written to both devices on the cable (QEMU keeps both
  // copies); commands only change device 0's.
  std::array<TaskFile, 2> tf_;
  uint8_t unit_ = 0;
  uint8_t status_ = 0x50;  // DRDY | DSC
  uint8_t error_ = 0;
  uint8_t control_ = 0;
  uint8_t multiple_ = kMaxMultipleSectors;
  Phase phase_ = Phase::kIdle;
  // Data phase: buffer_ holds what the command moves (reads: all sectors;
  // writes: the current block); [pos_, block_end_) is the current block.
  uint64_t lba_ = 0;            // LBA of the first sector of buffer_'s block
  uint32_t sectors_left_ = 0;   // sectors not yet handed over
  uint32_t block_sectors_ = 0;  // sectors per DRQ block
  std::vector<uint8_t> buffer_;
  uint32_t pos_ = 0;
  uint32_t block_end_ = 0;
  std::deque<PendingRead> reads_;
  bool intrq_ = false;
  bool irq_level_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_ATA_DISK_H_
