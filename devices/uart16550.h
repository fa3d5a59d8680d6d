// Uart16550: a 16550A UART at 0x3f8-0x3ff (COM1), IRQ4, with QEMU's
// hw/char/serial.c as the behavioural reference.
//
// Transmission is instantaneous: every THR write leaves as one kSerialTx
// output and THRE/TEMT read 1 again at once (in loopback mode the byte goes
// to the receiver instead). Received bytes come from PcPlatform inputs into
// the 16-byte receive FIFO (or the single holding register with FIFOs off).
// The character-timeout indication fires four character times (at the
// programmed baud rate and frame size, computed as QEMU does) after the last
// receive or RBR read, on the virtual clock.
//
// As in QEMU, MCR.OUT2 does not gate IRQ4 (a real PC board would), the modem
// status inputs read as DCD|DSR|CTS with no deltas, and line status errors
// other than overrun never occur.
#ifndef EXTRAVIRT_DEVICES_UART16550_H_
#define EXTRAVIRT_DEVICES_UART16550_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "devices/device_state.h"
#include "devices/front_end.h"
#include "devices/irq_sink.h"
#include "devices/output_sink.h"
#include "devices/virtual_clock.h"

namespace xv {

class Uart16550 : public FrontEnd {
 public:
  static constexpr uint16_t kBase = 0x3f8;
  static constexpr size_t kFifoSize = 16;

  Uart16550(const VirtualClock* clock, IrqSink* irq, int irq_line,
            OutputSink* out);

  std::string_view name() const override { return "uart0"; }
  uint32_t state_version() const override { return 1; }

  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override;
  absl::Status LoadState(StateReader& r) override;
  void OnClockAdvanced() override;
  std::optional<uint64_t> NextDeadlineNs() const override;

  // Room for received bytes: free FIFO entries, or 1 when FIFOs are off and
  // the holding register is empty; 0 in loopback mode, where the receiver
  // is disconnected from the line.
  size_t RxFree() const;
  // Bytes arriving from the line. Delivering more than RxFree() overruns
  // (LSR.OE), exactly as on hardware.
  void Receive(std::span<const uint8_t> bytes);

  bool irq_level() const { return irq_level_; }

 private:
  void ReceiveByte(uint8_t byte);
  void Transmit(uint8_t byte);
  void WriteFcr(uint8_t value);
  void WriteIer(uint8_t value);
  void UpdateCharTime();
  void ArmCharTimeout();
  uint8_t InterruptId() const;
  void UpdateIrq();
  uint8_t ReadByte(uint16_t port);
  void WriteByte(uint16_t port, uint8_t value);
  bool FifoEnabled() const { return fcr_ & 0x01; }
  size_t TriggerLevel() const;

  const VirtualClock* clock_;
  IrqSink* irq_;
  int irq_line_;
  OutputSink* out_;

  uint8_t ier_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0x08;  // OUT2, as QEMU resets it
  uint8_t lsr_ = 0x60;  // THRE | TEMT
  uint8_t scr_ = 0;
  uint8_t fcr_ = 0;  // the bits that stick: enable, DMA mode, trigger
  uint8_t rbr_ = 0;
  uint16_t divisor_ = 12;  // 9600 baud
  std::vector<uint8_t> rx_fifo_;
  bool thr_pending_ = false;
  bool timeout_pending_ = false;
  bool timeout_armed_ = false;
  uint64_t timeout_ns_ = 0;
  uint64_t char_time_ns_;
  bool irq_level_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_UART16550_H_
