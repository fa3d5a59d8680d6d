#include "devices/uart16550.h"

#include "base/check.h"
#include "devices/byte_ports.h"

namespace xv {
namespace {

constexpr uint32_t kBaudBase = 115200;
constexpr uint64_t kNsPerSecond = 1'000'000'000;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRdi = 0x01;
constexpr uint8_t kIerThri = 0x02;
constexpr uint8_t kIerRlsi = 0x04;
constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirThri = 0x02;
constexpr uint8_t kIirRdi = 0x04;
constexpr uint8_t kIirRlsi = 0x06;
constexpr uint8_t kIirCti = 0x0c;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrBi = 0x10;
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;
constexpr uint8_t kLsrErrors = 0x1e;
constexpr uint8_t kMsrLine = 0xb0;  // DCD | DSR | CTS
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrRxReset = 0x02;
constexpr uint8_t kFcrTxReset = 0x04;
constexpr uint8_t kFcrSticky = 0xc9;

// Character time of QEMU's power-on setting: 9600 baud, 10-bit frames.
constexpr uint64_t kDefaultCharTimeNs = (kNsPerSecond / 9600) * 10;

}  // namespace

Uart16550::Uart16550(const VirtualClock* clock, IrqSink* irq, int irq_line,
                     OutputSink* out)
    : clock_(clock),
      irq_(irq),
      irq_line_(irq_line),
      out_(out),
      char_time_ns_(kDefaultCharTimeNs) {
  XV_CHECK(clock != nullptr && irq != nullptr && out != nullptr,
           "UART needs a clock, an IRQ and an output");
}

size_t Uart16550::TriggerLevel() const {
  static constexpr size_t kLevels[] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

uint8_t Uart16550::InterruptId() const {
  if ((ier_ & kIerRlsi) && (lsr_ & kLsrErrors)) return kIirRlsi;
  // Like QEMU (and real parts), IER.RDI also masks the timeout indication.
  if ((ier_ & kIerRdi) && timeout_pending_) return kIirCti;
  if ((ier_ & kIerRdi) && (lsr_ & kLsrDr) &&
      (!FifoEnabled() || rx_fifo_.size() >= TriggerLevel())) {
    return kIirRdi;
  }
  if ((ier_ & kIerThri) && thr_pending_) return kIirThri;
  return kIirNone;  // modem status never changes, so no MSI
}

void Uart16550::UpdateIrq() {
  const bool level = InterruptId() != kIirNone;
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrqLevel(irq_line_, level);
}

void Uart16550::UpdateCharTime() {
  // QEMU keeps the old parameters for a divisor it cannot use.
  if (divisor_ == 0) return;
  const uint64_t speed = kBaudBase / divisor_;
  const uint64_t frame_bits =
      1 + ((lcr_ & 0x08) ? 1 : 0) + (lcr_ & 0x03) + 5 + ((lcr_ & 0x04) ? 2 : 1);
  char_time_ns_ = (kNsPerSecond / speed) * frame_bits;
}

void Uart16550::ArmCharTimeout() {
  timeout_armed_ = true;
  timeout_ns_ = clock_->now_ns() + 4 * char_time_ns_;
}

void Uart16550::ReceiveByte(uint8_t byte) {
  if (FifoEnabled()) {
    // An overrun does not overwrite what the FIFO holds.
    if (rx_fifo_.size() < kFifoSize) {
      rx_fifo_.push_back(byte);
    } else {
      lsr_ |= kLsrOe;
    }
    lsr_ |= kLsrDr;
    ArmCharTimeout();
  } else {
    if (lsr_ & kLsrDr) lsr_ |= kLsrOe;
    rbr_ = byte;
    lsr_ |= kLsrDr;
  }
}

size_t Uart16550::RxFree() const {
  if (mcr_ & kMcrLoop) return 0;
  if (FifoEnabled()) return kFifoSize - rx_fifo_.size();
  return (lsr_ & kLsrDr) ? 0 : 1;
}

void Uart16550::Receive(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) ReceiveByte(b);
  UpdateIrq();
}

void Uart16550::Transmit(uint8_t byte) {
  // Writing THR clears the THRE indication; the byte leaves at once, so
  // THRE comes back and raises a fresh THRE interrupt (the IRQ line pulses,
  // as in QEMU).
  thr_pending_ = false;
  lsr_ &= ~(kLsrThre | kLsrTemt);
  UpdateIrq();
  if (mcr_ & kMcrLoop) {
    ReceiveByte(byte);
  } else {
    const DeviceOutput output{.kind = OutputKind::kSerialTx,
                              .device = name(),
                              .arg = 0,
                              .count = 1,
                              .data = std::span<const uint8_t>(&byte, 1)};
    out_->Emit(output);
  }
  lsr_ |= kLsrThre | kLsrTemt;
  thr_pending_ = true;
  UpdateIrq();
}

void Uart16550::WriteIer(uint8_t value) {
  const uint8_t changed = (ier_ ^ value) & 0x0f;
  ier_ = value & 0x0f;
  // Enabling the THRE interrupt while THR is empty raises it even if an IIR
  // read had consumed it (QEMU; drivers rely on toggling IER).
  if (changed & kIerThri) {
    thr_pending_ = (ier_ & kIerThri) && (lsr_ & kLsrThre);
  }
}

void Uart16550::WriteFcr(uint8_t value) {
  // Switching FIFOs on or off flushes both.
  if ((value ^ fcr_) & kFcrEnable) value |= kFcrRxReset | kFcrTxReset;
  if (value & kFcrRxReset) {
    lsr_ &= ~(kLsrDr | kLsrBi);
    timeout_armed_ = false;
    timeout_pending_ = false;
    rx_fifo_.clear();
  }
  if (value & kFcrTxReset) {
    lsr_ |= kLsrThre;
    thr_pending_ = true;
  }
  fcr_ = value & kFcrSticky;
}

uint8_t Uart16550::ReadByte(uint16_t port) {
  switch (port - kBase) {
    case 0:
      if (lcr_ & kLcrDlab) return static_cast<uint8_t>(divisor_);
      {
        uint8_t v;
        if (FifoEnabled()) {
          v = 0;
          if (!rx_fifo_.empty()) {
            v = rx_fifo_.front();
            rx_fifo_.erase(rx_fifo_.begin());
          }
          if (rx_fifo_.empty()) {
            lsr_ &= ~(kLsrDr | kLsrBi);
            timeout_armed_ = false;  // would find the FIFO empty anyway
          } else {
            ArmCharTimeout();
          }
          timeout_pending_ = false;
        } else {
          v = rbr_;
          lsr_ &= ~(kLsrDr | kLsrBi);
        }
        return v;
      }
    case 1:
      if (lcr_ & kLcrDlab) return static_cast<uint8_t>(divisor_ >> 8);
      return ier_;
    case 2: {
      const uint8_t id = InterruptId();
      // Reading IIR while it reports THRE acknowledges that interrupt.
      if (id == kIirThri) thr_pending_ = false;
      return static_cast<uint8_t>(id | (FifoEnabled() ? kIirFifoEnabled : 0));
    }
    case 3:
      return lcr_;
    case 4:
      return mcr_;
    case 5: {
      const uint8_t v = lsr_;
      lsr_ &= ~(kLsrBi | kLsrOe);
      return v;
    }
    case 6:
      if (mcr_ & kMcrLoop) {
        // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
        return static_cast<uint8_t>((mcr_ & 0x0c) << 4 | (mcr_ & 0x02) << 3 |
                                    (mcr_ & 0x01) << 5);
      }
      return kMsrLine;
    case 7:
      return scr_;
    default:
      return 0xff;
  }
}

void Uart16550::WriteByte(uint16_t port, uint8_t value) {
  switch (port - kBase) {
    case 0:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | value);
        UpdateCharTime();
      } else {
        Transmit(value);
      }
      break;
    case 1:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | value << 8);
        UpdateCharTime();
      } else {
        WriteIer(value);
      }
      break;
    case 2:
      WriteFcr(value);
      break;
    case 3:
      lcr_ = value;
      UpdateCharTime();
      break;
    case 4:
      mcr_ = value & 0x1f;
      break;
    case 7:
      scr_ = value;
      break;
    default:  // LSR and MSR are read-only
      break;
  }
}

void Uart16550::PioRead(uint16_t port, std::span<uint8_t> data) {
  ReadBytewise(port, data, [this](uint16_t p) {
    const uint8_t v = ReadByte(p);
    UpdateIrq();
    return v;
  });
}

void Uart16550::PioWrite(uint16_t port, std::span<const uint8_t> data) {
  WriteBytewise(port, data, [this](uint16_t p, uint8_t v) {
    WriteByte(p, v);
    UpdateIrq();
  });
}

void Uart16550::OnClockAdvanced() {
  if (!timeout_armed_ || clock_->now_ns() < timeout_ns_) return;
  timeout_armed_ = false;
  if (!rx_fifo_.empty()) timeout_pending_ = true;
  UpdateIrq();
}

std::optional<uint64_t> Uart16550::NextDeadlineNs() const {
  if (timeout_armed_ && (ier_ & kIerRdi) && !timeout_pending_) {
    return timeout_ns_;
  }
  return std::nullopt;
}

void Uart16550::SaveState(StateWriter& w) const {
  w.U8("ier", ier_);
  w.U8("lcr", lcr_);
  w.U8("mcr", mcr_);
  w.U8("lsr", lsr_);
  w.U8("scr", scr_);
  w.U8("fcr", fcr_);
  w.U8("rbr", rbr_);
  w.U16("divisor", divisor_);  // DLM:DLL
  w.Bytes("rx_fifo", rx_fifo_);
  w.Bool("thre_interrupt_pending", thr_pending_);
  w.Bool("char_timeout_pending", timeout_pending_);
  w.Bool("char_timeout_armed", timeout_armed_);
  w.U64("char_timeout_ns", timeout_ns_);
  w.U64("char_time_ns", char_time_ns_);
  w.Bool("irq_level", irq_level_);
}

absl::Status Uart16550::LoadState(StateReader& r) {
  const uint8_t ier = r.U8();
  r.Check(ier <= 0x0f, "ier");
  const uint8_t lcr = r.U8();
  const uint8_t mcr = r.U8();
  r.Check(mcr <= 0x1f, "mcr");
  const uint8_t lsr = r.U8();
  r.Check((lsr & 0x80) == 0, "lsr");
  const uint8_t scr = r.U8();
  const uint8_t fcr = r.U8();
  r.Check((fcr & ~kFcrSticky) == 0, "fcr");
  const uint8_t rbr = r.U8();
  const uint16_t divisor = r.U16();
  std::vector<uint8_t> rx_fifo = r.Bytes(kFifoSize);
  r.Check(rx_fifo.empty() || (fcr & kFcrEnable), "rx_fifo");
  const bool thr_pending = r.Bool();
  const bool timeout_pending = r.Bool();
  const bool timeout_armed = r.Bool();
  const uint64_t timeout_ns = r.U64();
  const uint64_t char_time_ns = r.U64();
  r.Check(char_time_ns > 0 && char_time_ns < kNsPerSecond * 16, "char_time");
  const bool irq_level = r.Bool();
  if (!r.ok()) return r.status();
  ier_ = ier;
  lcr_ = lcr;
  mcr_ = mcr;
  lsr_ = lsr;
  scr_ = scr;
  fcr_ = fcr;
  rbr_ = rbr;
  divisor_ = divisor;
  rx_fifo_ = std::move(rx_fifo);
  thr_pending_ = thr_pending;
  timeout_pending_ = timeout_pending;
  timeout_armed_ = timeout_armed;
  timeout_ns_ = timeout_ns;
  char_time_ns_ = char_time_ns;
  irq_level_ = irq_level;
  return absl::OkStatus();
}

}  // namespace xv
