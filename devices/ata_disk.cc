#include "devices/ata_disk.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_format.h"
#include "base/check.h"

namespace xv {
namespace {

constexpr uint8_t kStatusBsy = 0x80;
constexpr uint8_t kStatusDrdy = 0x40;
constexpr uint8_t kStatusDsc = 0x10;
constexpr uint8_t kStatusDrq = 0x08;
constexpr uint8_t kStatusErr = 0x01;
constexpr uint8_t kErrorAbrt = 0x04;
constexpr uint8_t kErrorIdnf = 0x10;
constexpr uint8_t kErrorUnc = 0x40;
// Execute device diagnostic: device 0 passed, device 1 absent.
constexpr uint8_t kDiagnosticPassed = 0x01;
constexpr uint8_t kControlNien = 0x02;
constexpr uint8_t kControlSrst = 0x04;
constexpr uint8_t kSelectLba = 0x40;
constexpr uint8_t kSelectAlwaysOne = 0xa0;
// What QEMU's idle, absent device 1 holds in its status register; it only
// decides whether register writes are accepted while device 1 is selected.
constexpr uint8_t kAbsentDeviceStatus = kStatusDrdy | kStatusDsc;
constexpr size_t kMaxOutstandingReads = 1024;

constexpr std::string_view kModel = "XVIRT HARDDISK";
constexpr std::string_view kSerial = "XV00000001";
constexpr std::string_view kFirmware = "1.0";

// ATA strings hold the first character of each pair in the high byte.
void PutAtaString(std::array<uint8_t, 512>& block, int first_word, int chars,
                  std::string_view s) {
  for (int i = 0; i < chars; ++i) {
    const char c = i < static_cast<int>(s.size()) ? s[i] : ' ';
    block[first_word * 2 + (i ^ 1)] = static_cast<uint8_t>(c);
  }
}

void PutWord(std::array<uint8_t, 512>& block, size_t word, uint16_t value) {
  block[word * 2] = static_cast<uint8_t>(value);
  block[word * 2 + 1] = static_cast<uint8_t>(value >> 8);
}

}  // namespace

std::array<uint8_t, 512> AtaDisk::IdentifyBlock(uint64_t sectors,
                                                uint8_t multiple_sectors) {
  std::array<uint8_t, 512> b{};
  PutWord(b, 0, 0x0040);  // fixed, non-removable ATA device
  PutAtaString(b, 10, 20, kSerial);
  PutAtaString(b, 23, 8, kFirmware);
  PutAtaString(b, 27, 40, kModel);
  PutWord(b, 47, 0x8000 | kMaxMultipleSectors);
  PutWord(b, 48, 0x0001);  // 32-bit PIO data transfers
  PutWord(b, 49, 1 << 9);  // LBA supported; no DMA
  PutWord(b, 50, 0x4000);
  PutWord(b, 51, 0x0200);  // PIO timing mode 2 (read by older drivers)
  PutWord(b, 53, 0x0002);  // words 64-70 valid
  if (multiple_sectors != 0) PutWord(b, 59, 0x0100 | multiple_sectors);
  const uint64_t lba28 = std::min<uint64_t>(sectors, 0x0fffffff);
  PutWord(b, 60, static_cast<uint16_t>(lba28));
  PutWord(b, 61, static_cast<uint16_t>(lba28 >> 16));
  PutWord(b, 64, 0x0003);  // PIO modes 3 and 4
  for (int w = 65; w <= 68; ++w) PutWord(b, w, 120);
  PutWord(b, 80, 0x0078);            // ATA-3 to ATA-6
  PutWord(b, 83, 0x4000 | 1 << 12);  // FLUSH CACHE supported
  PutWord(b, 84, 0x4000);
  PutWord(b, 86, 1 << 12);  // FLUSH CACHE enabled
  PutWord(b, 87, 0x4000);
  // Integrity word: signature 0xa5 and a checksum making all bytes sum to 0.
  b[510] = 0xa5;
  uint8_t sum = 0;
  for (int i = 0; i < 511; ++i) sum = static_cast<uint8_t>(sum + b[i]);
  b[511] = static_cast<uint8_t>(-sum);
  return b;
}

AtaDisk::AtaDisk(uint64_t sectors, IrqSink* irq, int irq_line, OutputSink* out)
    : sectors_(sectors), irq_(irq), irq_line_(irq_line), out_(out) {
  XV_CHECK(irq != nullptr && out != nullptr, "ATA needs an IRQ and an output");
  XV_CHECK(sectors <= kMaxSectors, "disk larger than LBA28 can address");
  ResetRegisters();
}

void AtaDisk::ResetRegisters() {
  for (int unit = 0; unit < 2; ++unit) {
    tf_[unit] = TaskFile{};
    const uint8_t cyl = (unit == 0 && has_disk()) ? 0x00 : 0xff;
    tf_[unit].lcyl = cyl;
    tf_[unit].hcyl = cyl;
  }
  multiple_ = kMaxMultipleSectors;
  error_ = 0;
}

void AtaDisk::SetSignature() {
  TaskFile& t = tf_[0];
  t.select &= 0xf0;
  t.nsector = 1;
  t.sector = 1;
  t.lcyl = t.hcyl = has_disk() ? 0x00 : 0xff;
}

void AtaDisk::SetTaskFileLba(uint64_t lba) {
  lba = std::min<uint64_t>(lba, 0x0fffffff);
  TaskFile& t = tf_[0];
  t.sector = static_cast<uint8_t>(lba);
  t.lcyl = static_cast<uint8_t>(lba >> 8);
  t.hcyl = static_cast<uint8_t>(lba >> 16);
  t.select = static_cast<uint8_t>((t.select & 0xf0) | ((lba >> 24) & 0x0f));
}

void AtaDisk::UpdateIrq() {
  const bool level = intrq_ && !(control_ & kControlNien);
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrqLevel(irq_line_, level);
}

void AtaDisk::RaiseIrq() {
  // As in QEMU, an interrupt that happens while nIEN is set is not kept.
  if (!(control_ & kControlNien)) intrq_ = true;
  UpdateIrq();
}

void AtaDisk::LowerIrq() {
  intrq_ = false;
  UpdateIrq();
}

void AtaDisk::Complete() {
  status_ = kStatusDrdy | kStatusDsc;
  phase_ = Phase::kIdle;
  RaiseIrq();
}

void AtaDisk::Abort(uint8_t error) {
  status_ = kStatusDrdy | kStatusErr;
  error_ = error;
  phase_ = Phase::kIdle;
  buffer_.clear();
  pos_ = block_end_ = 0;
  sectors_left_ = 0;
  RaiseIrq();
}

bool AtaDisk::RangeOk(uint64_t lba, uint32_t count) {
  if (lba + count <= sectors_) return true;
  // The LBA registers report the first sector that does not exist.
  SetTaskFileLba(std::max(lba, sectors_));
  Abort(kErrorIdnf);
  return false;
}

void AtaDisk::StartRead(uint64_t lba, uint32_t count, uint32_t block_sectors) {
  if (!RangeOk(lba, count)) return;
  status_ = kStatusDrdy | kStatusDsc | kStatusBsy;
  phase_ = Phase::kReadWait;
  lba_ = lba;
  sectors_left_ = count;
  block_sectors_ = block_sectors;
  buffer_.clear();
  pos_ = block_end_ = 0;
  reads_.push_back(PendingRead{lba, count, true});
  DeviceOutput request{.kind = OutputKind::kDiskReadRequest,
                       .device = name(),
                       .arg = lba,
                       .count = count,
                       .data = {}};
  out_->Emit(request);
}

void AtaDisk::StartInBlock() {
  const uint32_t n = std::min(block_sectors_, sectors_left_);
  block_end_ = pos_ + n * static_cast<uint32_t>(kAtaSectorBytes);
  // Like QEMU, the task file already points past the block being read.
  lba_ += n;
  sectors_left_ -= n;
  SetTaskFileLba(lba_);
  tf_[0].nsector = static_cast<uint16_t>(sectors_left_);
  status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
  phase_ = Phase::kDataIn;
  RaiseIrq();
}

void AtaDisk::StartWrite(uint64_t lba, uint32_t count, uint32_t block_sectors) {
  if (!RangeOk(lba, count)) return;
  lba_ = lba;
  sectors_left_ = count;
  block_sectors_ = block_sectors;
  StartOutBlock();  // PIO out: no interrupt before the first block
}

void AtaDisk::StartOutBlock() {
  const uint32_t n = std::min(block_sectors_, sectors_left_);
  buffer_.assign(n * kAtaSectorBytes, 0);
  pos_ = 0;
  block_end_ = static_cast<uint32_t>(buffer_.size());
  status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
  phase_ = Phase::kDataOut;
}

void AtaDisk::ExecuteCommand(uint8_t command) {
  if (unit_ != 0) return;  // nobody answers for the absent device 1
  // QEMU ignores commands while BSY or DRQ (device reset is ATAPI only).
  if (status_ & (kStatusBsy | kStatusDrq)) return;
  error_ = 0;
  // Extracts the LBA28 address and count, or aborts the command.
  auto address = [this](uint64_t* lba, uint32_t* count) {
    const TaskFile& t = tf_[0];
    if (!has_disk() || !(t.select & kSelectLba)) {
      Abort(kErrorAbrt);  // no medium, or CHS addressing
      return false;
    }
    *lba = uint64_t{t.select & 0x0fu} << 24 | uint64_t{t.hcyl} << 16 |
           uint64_t{t.lcyl} << 8 | t.sector;
    const uint32_t n = t.nsector & 0xff;
    *count = n == 0 ? 256 : n;
    return true;
  };
  uint64_t lba;
  uint32_t count;
  switch (command) {
    case 0xec:  // IDENTIFY DEVICE
      if (!has_disk()) {
        Abort(kErrorAbrt);
        break;
      }
      {
        const std::array<uint8_t, 512> id = IdentifyBlock(sectors_, multiple_);
        buffer_.assign(id.begin(), id.end());
      }
      pos_ = 0;
      block_end_ = static_cast<uint32_t>(buffer_.size());
      sectors_left_ = 0;
      status_ = kStatusDrdy | kStatusDsc | kStatusDrq;
      phase_ = Phase::kDataIn;
      RaiseIrq();
      break;
    case 0x20:  // READ SECTORS
    case 0x21:  // READ SECTORS without retries
      if (address(&lba, &count)) StartRead(lba, count, 1);
      break;
    case 0xc4:  // READ MULTIPLE
      if (has_disk() && multiple_ == 0) {
        Abort(kErrorAbrt);
      } else if (address(&lba, &count)) {
        StartRead(lba, count, multiple_);
      }
      break;
    case 0x30:  // WRITE SECTORS
    case 0x31:  // WRITE SECTORS without retries
      if (address(&lba, &count)) StartWrite(lba, count, 1);
      break;
    case 0xc5:  // WRITE MULTIPLE
      if (has_disk() && multiple_ == 0) {
        Abort(kErrorAbrt);
      } else if (address(&lba, &count)) {
        StartWrite(lba, count, multiple_);
      }
      break;
    case 0xc6: {  // SET MULTIPLE MODE (0 disables)
      const uint32_t n = tf_[0].nsector & 0xff;
      if (n > kMaxMultipleSectors || (n & (n - 1)) != 0) {
        Abort(kErrorAbrt);
      } else {
        multiple_ = static_cast<uint8_t>(n);
        Complete();
      }
      break;
    }
    case 0x40:  // READ VERIFY SECTORS
    case 0x41:
      // Without a disk there is nothing to verify; with one, the range must
      // be valid (else address() or RangeOk() aborted the command).
      if (!has_disk() || (address(&lba, &count) && RangeOk(lba, count))) {
        Complete();
      }
      break;
    case 0xef:  // SET FEATURES: accepted, nothing to change in PIO mode
      if (has_disk()) {
        Complete();
      } else {
        Abort(kErrorAbrt);
      }
      break;
    case 0x90:  // EXECUTE DEVICE DIAGNOSTIC
      SetSignature();
      error_ = kDiagnosticPassed;
      Complete();
      break;
    case 0xe5:  // CHECK POWER MODE: active or idle
    case 0x98:
      tf_[0].nsector = 0xff;
      Complete();
      break;
    case 0xe7:  // FLUSH CACHE: writes already left as outputs
    case 0x91:  // INITIALIZE DEVICE PARAMETERS: CHS geometry is not used
    case 0x10:  // RECALIBRATE
    case 0x70:  // SEEK
    case 0xe0:  // STANDBY IMMEDIATE
    case 0x94:
    case 0xe1:  // IDLE IMMEDIATE
    case 0x95:
      Complete();
      break;
    default:  // IDENTIFY PACKET DEVICE (0xa1) included: not a packet device
      Abort(kErrorAbrt);
      break;
  }
}

absl::Status AtaDisk::DiskReadCompleted(uint64_t lba,
                                        std::span<const uint8_t> data) {
  if (reads_.empty()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: disk read completion for LBA %d, but no read is outstanding",
        name(), lba));
  }
  const PendingRead front = reads_.front();
  if (lba != front.lba || data.size() != front.count * kAtaSectorBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: disk read completion for LBA %d with %d bytes does not match "
        "the outstanding request for LBA %d, %d sectors (%d bytes)",
        name(), lba, data.size(), front.lba, front.count,
        front.count * kAtaSectorBytes));
  }
  reads_.pop_front();
  if (!front.wanted) return absl::OkStatus();
  XV_CHECK(phase_ == Phase::kReadWait && reads_.empty(),
           "the wanted disk read is the newest and the device waits for it");
  buffer_.assign(data.begin(), data.end());
  pos_ = 0;
  StartInBlock();
  return absl::OkStatus();
}

absl::Status AtaDisk::DiskReadFailed(uint64_t lba) {
  if (reads_.empty() || reads_.front().lba != lba) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: disk read failure for LBA %d, but the oldest outstanding read "
        "is %s",
        name(), lba,
        reads_.empty() ? std::string("none")
                       : absl::StrFormat("for LBA %d", reads_.front().lba)));
  }
  const PendingRead front = reads_.front();
  reads_.pop_front();
  if (!front.wanted) return absl::OkStatus();
  XV_CHECK(phase_ == Phase::kReadWait && reads_.empty(),
           "the wanted disk read is the newest and the device waits for it");
  SetTaskFileLba(front.lba);
  Abort(kErrorUnc);
  return absl::OkStatus();
}

void AtaDisk::WriteControl(uint8_t value) {
  const bool was_reset = control_ & kControlSrst;
  const bool reset = value & kControlSrst;
  control_ = value;
  if (!was_reset && reset) {
    // Software reset asserted: abandon whatever was going on. Reads already
    // requested will still be answered; they are dropped then.
    for (PendingRead& r : reads_) r.wanted = false;
    phase_ = Phase::kReset;
    status_ = kStatusBsy;
    buffer_.clear();
    pos_ = block_end_ = 0;
    sectors_left_ = 0;
    intrq_ = false;
  } else if (was_reset && !reset) {
    // Reset released: registers to defaults, diagnostic passed, device 0
    // selected. QEMU signals the diagnostic's completion with an interrupt.
    ResetRegisters();
    unit_ = 0;
    error_ = kDiagnosticPassed;
    Complete();
  }
  UpdateIrq();
}

uint8_t AtaDisk::ReadRegister(uint16_t port) {
  if (port == kControlPort) return Absent() ? 0 : status_;  // alternate status
  const TaskFile& t = tf_[unit_];
  switch (port - kCommandBase) {
    case 0:
      return 0xff;  // byte reads of the data port (QEMU)
    case 1:
      return Absent() ? 0 : error_;
    case 2:
      return has_disk() ? static_cast<uint8_t>(t.nsector) : 0;
    case 3:
      return has_disk() ? t.sector : 0;
    case 4:
      return has_disk() ? t.lcyl : 0;
    case 5:
      return has_disk() ? t.hcyl : 0;
    case 6:
      return has_disk() ? t.select : 0;
    case 7: {
      const uint8_t v = Absent() ? 0 : status_;
      LowerIrq();  // reading status acknowledges INTRQ
      return v;
    }
    default:
      return 0xff;
  }
}

void AtaDisk::WriteRegister(uint16_t port, uint8_t value) {
  if (port == kControlPort) {
    WriteControl(value);
    return;
  }
  const int reg = port - kCommandBase;
  if (reg == 7) {
    LowerIrq();
    ExecuteCommand(value);
    return;
  }
  if (reg <= 0 || reg > 7) return;  // byte writes to the data port: ignored
  // Register writes are ignored while the selected device is busy.
  const uint8_t selected_status = unit_ == 0 ? status_ : kAbsentDeviceStatus;
  if (selected_status & (kStatusBsy | kStatusDrq)) return;
  for (TaskFile& t : tf_) {
    switch (reg) {
      case 1:
        t.feature = value;
        break;
      case 2:
        t.nsector = value;
        break;
      case 3:
        t.sector = value;
        break;
      case 4:
        t.lcyl = value;
        break;
      case 5:
        t.hcyl = value;
        break;
      default:
        t.select = value | kSelectAlwaysOne;
        break;
    }
  }
  if (reg == 6) unit_ = (value >> 4) & 1;
}

void AtaDisk::ReadData(std::span<uint8_t> data) {
  if (Absent() || phase_ != Phase::kDataIn || pos_ + data.size() > block_end_) {
    std::fill(data.begin(), data.end(), 0);
    return;
  }
  std::copy_n(buffer_.begin() + pos_, data.size(), data.begin());
  pos_ += static_cast<uint32_t>(data.size());
  if (pos_ != block_end_) return;
  if (pos_ < buffer_.size()) {
    StartInBlock();
    return;
  }
  // PIO in ends without an interrupt after the last block.
  status_ = kStatusDrdy | kStatusDsc;
  phase_ = Phase::kIdle;
  buffer_.clear();
  pos_ = block_end_ = 0;
}

void AtaDisk::WriteData(std::span<const uint8_t> data) {
  if (Absent() || phase_ != Phase::kDataOut ||
      pos_ + data.size() > block_end_) {
    return;
  }
  std::copy(data.begin(), data.end(), buffer_.begin() + pos_);
  pos_ += static_cast<uint32_t>(data.size());
  if (pos_ % kAtaSectorBytes == 0) {
    const uint32_t index = pos_ / kAtaSectorBytes - 1;
    const DeviceOutput write{
        .kind = OutputKind::kDiskWrite,
        .device = name(),
        .arg = lba_ + index,
        .count = 1,
        .data = std::span<const uint8_t>(
            buffer_.data() + index * kAtaSectorBytes, kAtaSectorBytes)};
    out_->Emit(write);
  }
  if (pos_ != block_end_) return;
  const uint32_t n = block_end_ / kAtaSectorBytes;
  lba_ += n;
  sectors_left_ -= n;
  SetTaskFileLba(lba_);
  tf_[0].nsector = static_cast<uint16_t>(sectors_left_);
  if (sectors_left_ == 0) {
    status_ = kStatusDrdy | kStatusDsc;
    phase_ = Phase::kIdle;
    buffer_.clear();
    pos_ = block_end_ = 0;
  } else {
    StartOutBlock();
  }
  RaiseIrq();
}

void AtaDisk::PioRead(uint16_t port, std::span<uint8_t> data) {
  if (port == kCommandBase && data.size() >= 2) {
    ReadData(data);
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const uint16_t p = static_cast<uint16_t>(port + i);
    const bool ours =
        (p >= kCommandBase && p <= kCommandBase + 7) || p == kControlPort;
    data[i] = ours ? ReadRegister(p) : 0xff;
  }
}

void AtaDisk::PioWrite(uint16_t port, std::span<const uint8_t> data) {
  if (port == kCommandBase && data.size() >= 2) {
    WriteData(data);
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const uint16_t p = static_cast<uint16_t>(port + i);
    if ((p >= kCommandBase && p <= kCommandBase + 7) || p == kControlPort) {
      WriteRegister(p, data[i]);
    }
  }
}

void AtaDisk::SaveState(StateWriter& w) const {
  // Command block registers as each device on the cable holds them.
  for (size_t i = 0; i < tf_.size(); ++i) {
    const TaskFile& t = tf_[i];
    const auto scope = w.Scope(absl::StrFormat("taskfile[%d]", i));
    w.U8("features", t.feature);
    w.U16("sector_count", t.nsector);
    w.U8("lba_low", t.sector);
    w.U8("lba_mid", t.lcyl);
    w.U8("lba_high", t.hcyl);
    w.U8("device", t.select);
  }
  w.U8("selected_device", unit_);
  w.U8("status", status_);
  w.U8("error", error_);
  w.U8("device_control", control_);
  w.U8("multiple_sectors", multiple_);
  w.U8("phase", static_cast<uint8_t>(phase_));
  w.U64("transfer.lba", lba_);
  w.U32("transfer.sectors_left", sectors_left_);
  w.U32("transfer.block_sectors", block_sectors_);
  w.Bytes("transfer.buffer", buffer_);
  w.U32("transfer.pos", pos_);
  w.U32("transfer.block_end", block_end_);
  w.U32("pending_reads", static_cast<uint32_t>(reads_.size()));
  for (size_t i = 0; i < reads_.size(); ++i) {
    const PendingRead& r = reads_[i];
    const auto scope = w.Scope(absl::StrFormat("pending_read[%d]", i));
    w.U64("lba", r.lba);
    w.U32("count", r.count);
    w.Bool("wanted", r.wanted);
  }
  w.Bool("intrq", intrq_);
  w.Bool("irq_level", irq_level_);
}

absl::Status AtaDisk::LoadState(StateReader& r) {
  std::array<TaskFile, 2> tf;
  for (TaskFile& t : tf) {
    t.feature = r.U8();
    t.nsector = r.U16();
    r.Check(t.nsector <= 256, "nsector");
    t.sector = r.U8();
    t.lcyl = r.U8();
    t.hcyl = r.U8();
    t.select = r.U8();
  }
  const uint8_t unit = r.U8();
  r.Check(unit <= 1, "unit");
  const uint8_t status = r.U8();
  const uint8_t error = r.U8();
  const uint8_t control = r.U8();
  const uint8_t multiple = r.U8();
  r.Check(multiple <= kMaxMultipleSectors, "multiple");
  const uint8_t phase_byte = r.U8();
  r.Check(phase_byte <= static_cast<uint8_t>(Phase::kDataOut), "phase");
  const Phase phase = static_cast<Phase>(phase_byte);
  const uint64_t lba = r.U64();
  const uint32_t sectors_left = r.U32();
  r.Check(sectors_left <= 256, "sectors_left");
  const uint32_t block_sectors = r.U32();
  r.Check(block_sectors <= 256, "block_sectors");
  std::vector<uint8_t> buffer = r.Bytes(256 * kAtaSectorBytes);
  const uint32_t pos = r.U32();
  const uint32_t block_end = r.U32();
  r.Check(pos <= block_end && block_end <= buffer.size(), "block");
  r.Check((phase == Phase::kDataIn || phase == Phase::kDataOut) ==
              (block_end > pos),
          "block");
  const uint32_t nreads = r.U32();
  r.Check(nreads <= kMaxOutstandingReads, "reads");
  std::deque<PendingRead> reads;
  size_t wanted = 0;
  for (uint32_t i = 0; r.ok() && i < nreads; ++i) {
    PendingRead p;
    p.lba = r.U64();
    p.count = r.U32();
    r.Check(p.count >= 1 && p.count <= 256, "read count");
    p.wanted = r.Bool();
    wanted += p.wanted;
    reads.push_back(p);
  }
  // Only the newest request can be wanted, exactly while the device waits.
  r.Check(wanted == (phase == Phase::kReadWait ? 1u : 0u) &&
              (wanted == 0 || reads.back().wanted),
          "reads");
  const bool intrq = r.Bool();
  const bool irq_level = r.Bool();
  if (!r.ok()) return r.status();
  tf_ = tf;
  unit_ = unit;
  status_ = status;
  error_ = error;
  control_ = control;
  multiple_ = multiple;
  phase_ = phase;
  lba_ = lba;
  sectors_left_ = sectors_left;
  block_sectors_ = block_sectors;
  buffer_ = std::move(buffer);
  pos_ = pos;
  block_end_ = block_end;
  reads_ = std::move(reads);
  intrq_ = intrq;
  irq_level_ = irq_level;
  return absl::OkStatus();
}

}  // namespace xv
