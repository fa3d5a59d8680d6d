// Pic8259 / PicPair: the PC's two cascaded Intel 8259A interrupt controllers
// (master at 0x20/0x21, slave at 0xa0/0xa1 on the master's IR2, ELCR at
// 0x4d0/0x4d1), modelled after the datasheet with QEMU's hw/intc/i8259.c as
// the behavioural reference (same guest binaries, same answers).
//
// The pair is the IrqSink every other front-end drives, and what the machine
// asks for the interrupt to inject (DESIGN §2: userspace irqchip).
#ifndef EXTRAVIRT_DEVICES_PIC8259_H_
#define EXTRAVIRT_DEVICES_PIC8259_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "devices/device_state.h"
#include "devices/front_end.h"
#include "devices/irq_sink.h"

namespace xv {

// One 8259A. Not a FrontEnd by itself: the pair owns the ports.
class Pic8259 {
 public:
  // `elcr_mask`: the lines whose trigger mode the ELCR may switch to level
  // (PIIX: 0xf8 on the master, 0xde on the slave).
  explicit Pic8259(bool master, uint8_t elcr_mask);

  // Level of input line IRn. Edge-triggered lines latch IRR on a rising
  // edge and keep it until acknowledged (as QEMU); level-triggered lines
  // (ICW1.LTIM or ELCR) follow the input.
  void SetInput(int line, bool level);
  // The INT output: an unmasked request outranks everything in service.
  bool Output() const { return PendingLine() >= 0; }
  // The line INT is asserted for, or -1.
  int PendingLine() const;
  // First INTA pulse for `line`: sets ISR (or performs the automatic EOI)
  // and clears an edge-triggered request.
  void Acknowledge(int line);
  uint8_t vector_base() const { return s_.vector_base; }

  // a0 = port & 1.
  uint8_t ReadPort(int a0);
  void WritePort(int a0, uint8_t value);
  uint8_t elcr() const { return s_.elcr; }
  void WriteElcr(uint8_t value) { s_.elcr = value & elcr_mask_; }

  // Register views for tests and debuggers.
  uint8_t irr() const { return s_.irr; }
  uint8_t isr() const { return s_.isr; }
  uint8_t imr() const { return s_.imr; }
  bool auto_eoi() const { return s_.auto_eoi; }
  bool initializing() const { return s_.init_step != 0; }

  void SaveState(StateWriter& w) const;
  void LoadState(StateReader& r);  // errors stay in `r`

 private:
  struct State {
    uint8_t irr = 0;
    uint8_t imr = 0;
    uint8_t isr = 0;
    uint8_t input_level = 0;    // last level seen on each IRn (edge detect)
    uint8_t priority_base = 0;  // the line with the highest priority
    uint8_t vector_base = 0;
    uint8_t init_step = 0;  // 0 ready; 1, 2, 3: expecting ICW2, ICW3, ICW4
    bool icw4_expected = false;
    bool single = false;
    bool level_triggered = false;  // ICW1.LTIM
    bool auto_eoi = false;
    bool rotate_on_auto_eoi = false;
    bool special_fully_nested = false;
    bool special_mask = false;
    bool read_isr = false;
    bool poll = false;
    uint8_t elcr = 0;
  };

  uint8_t LevelMask() const;
  // Priority rank (0 = highest) of the best line in `mask`, or 8 if none.
  int BestRank(uint8_t mask) const;
  void Initialize(uint8_t icw1);
  void WriteOcw2(uint8_t value);

  bool master_;
  uint8_t elcr_mask_;
  State s_;
};

class PicPair : public FrontEnd, public IrqSink {
 public:
  PicPair();

  std::string_view name() const override { return "pic"; }
  uint32_t state_version() const override { return 1; }

  // ISA IRQ 0-15. IRQ2 is the cascade on an AT; a device asking for it is
  // routed to IRQ9, as the AT bus does.
  void SetIrqLevel(int irq, bool level) override;

  // INTR towards the CPU.
  bool InterruptPending() const { return master_.Output(); }
  // Whether a request on ISA `irq` can reach the CPU: not masked in its
  // chip's IMR, nor (for IRQ 8-15) the cascade in the master's.
  bool IrqUnmasked(int irq) const;
  // The INTA cycle: the vector to inject. With nothing pending it returns
  // the master's IRQ7 vector (spurious), and a cascade whose slave request
  // vanished yields the slave's IRQ15 vector, as the hardware does.
  uint8_t AcknowledgeInterrupt();

  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override;
  absl::Status LoadState(StateReader& r) override;

  const Pic8259& master() const { return master_; }
  const Pic8259& slave() const { return slave_; }

 private:
  uint8_t ReadByte(uint16_t port);
  void WriteByte(uint16_t port, uint8_t value);
  // The slave's INT drives the master's IR2.
  void UpdateCascade() { master_.SetInput(2, slave_.Output()); }

  Pic8259 master_;
  Pic8259 slave_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_PIC8259_H_
