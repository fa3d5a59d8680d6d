#include "devices/pic8259.h"

#include "base/check.h"
#include "devices/byte_ports.h"

namespace xv {
namespace {

constexpr uint8_t kIcw1Init = 0x10;
constexpr uint8_t kIcw1Ic4 = 0x01;
constexpr uint8_t kIcw1Single = 0x02;
constexpr uint8_t kIcw1Ltim = 0x08;
constexpr uint8_t kIcw4AutoEoi = 0x02;
constexpr uint8_t kIcw4Sfnm = 0x10;
constexpr uint8_t kOcw3 = 0x08;
constexpr uint8_t kOcw3Poll = 0x04;
constexpr uint8_t kOcw3ReadRegister = 0x02;
constexpr uint8_t kOcw3ReadIsr = 0x01;
constexpr uint8_t kOcw3SetSpecialMask = 0x40;
constexpr uint8_t kOcw3SpecialMask = 0x20;

}  // namespace

Pic8259::Pic8259(bool master, uint8_t elcr_mask)
    : master_(master), elcr_mask_(elcr_mask) {}

uint8_t Pic8259::LevelMask() const {
  return s_.level_triggered ? 0xff : s_.elcr;
}

int Pic8259::BestRank(uint8_t mask) const {
  if (mask == 0) return 8;
  int rank = 0;
  while ((mask & (1 << ((rank + s_.priority_base) & 7))) == 0) ++rank;
  return rank;
}

int Pic8259::PendingLine() const {
  const int request = BestRank(s_.irr & ~s_.imr);
  if (request == 8) return -1;
  uint8_t in_service = s_.isr;
  // Special mask mode lets lower-priority lines in while a masked line is
  // in service.
  if (s_.special_mask) in_service &= ~s_.imr;
  // Special fully nested mode: further slave requests may nest inside a
  // slave interrupt already in service.
  if (s_.special_fully_nested && master_) in_service &= ~(1 << 2);
  if (request < BestRank(in_service)) return (request + s_.priority_base) & 7;
  return -1;
}

void Pic8259::SetInput(int line, bool level) {
  const uint8_t bit = static_cast<uint8_t>(1 << line);
  if (LevelMask() & bit) {
    s_.irr = level ? (s_.irr | bit) : (s_.irr & ~bit);
  } else if (level && !(s_.input_level & bit)) {
    s_.irr |= bit;
  }
  s_.input_level = level ? (s_.input_level | bit) : (s_.input_level & ~bit);
}

void Pic8259::Acknowledge(int line) {
  const uint8_t bit = static_cast<uint8_t>(1 << line);
  if (s_.auto_eoi) {
    if (s_.rotate_on_auto_eoi) s_.priority_base = (line + 1) & 7;
  } else {
    s_.isr |= bit;
  }
  // A level-triggered request stays while its input is high.
  if (!(LevelMask() & bit)) s_.irr &= ~bit;
}

void Pic8259::Initialize(uint8_t icw1) {
  // ICW1 clears IMR and ISR, drops pending edges and resets the modes set by
  // ICW4 and OCW3. The remembered input levels stay: the datasheet asks for
  // a fresh low-to-high transition before an edge line requests again.
  s_.imr = 0;
  s_.isr = 0;
  s_.priority_base = 0;
  s_.vector_base = 0;
  s_.read_isr = false;
  s_.poll = false;
  s_.special_mask = false;
  s_.auto_eoi = false;
  s_.rotate_on_auto_eoi = false;
  s_.special_fully_nested = false;
  s_.icw4_expected = (icw1 & kIcw1Ic4) != 0;
  s_.single = (icw1 & kIcw1Single) != 0;
  s_.level_triggered = (icw1 & kIcw1Ltim) != 0;
  s_.irr = s_.input_level & LevelMask();
  s_.init_step = 1;
}

void Pic8259::WriteOcw2(uint8_t value) {
  const int command = value >> 5;
  const int level = value & 7;
  switch (command) {
    case 0:  // clear rotate in automatic EOI mode
    case 4:  // set rotate in automatic EOI mode
      s_.rotate_on_auto_eoi = command == 4;
      break;
    case 1:    // non-specific EOI
    case 5: {  // rotate on non-specific EOI
      const int rank = BestRank(s_.isr);
      if (rank == 8) break;
      const int line = (rank + s_.priority_base) & 7;
      s_.isr &= ~(1 << line);
      if (command == 5) s_.priority_base = (line + 1) & 7;
      break;
    }
    case 3:  // specific EOI
      s_.isr &= ~(1 << level);
      break;
    case 6:  // set priority: `level` becomes the lowest
      s_.priority_base = (level + 1) & 7;
      break;
    case 7:  // rotate on specific EOI
      s_.isr &= ~(1 << level);
      s_.priority_base = (level + 1) & 7;
      break;
    default:  // 2: no operation
      break;
  }
}

void Pic8259::WritePort(int a0, uint8_t value) {
  if (a0 == 0) {
    if (value & kIcw1Init) {
      Initialize(value);
    } else if (value & kOcw3) {
      if (value & kOcw3Poll) s_.poll = true;
      if (value & kOcw3ReadRegister) s_.read_isr = (value & kOcw3ReadIsr) != 0;
      if (value & kOcw3SetSpecialMask) {
        s_.special_mask = (value & kOcw3SpecialMask) != 0;
      }
    } else {
      WriteOcw2(value);
    }
    return;
  }
  switch (s_.init_step) {
    case 0:  // OCW1
      s_.imr = value;
      break;
    case 1:  // ICW2
      s_.vector_base = value & 0xf8;
      s_.init_step = s_.single ? (s_.icw4_expected ? 3 : 0) : 2;
      break;
    case 2:  // ICW3: the PC's cascade wiring is fixed, nothing to record.
      s_.init_step = s_.icw4_expected ? 3 : 0;
      break;
    default:  // ICW4 (8086 mode assumed; buffered-mode bits are board wiring)
      s_.special_fully_nested = (value & kIcw4Sfnm) != 0;
      s_.auto_eoi = (value & kIcw4AutoEoi) != 0;
      s_.init_step = 0;
      break;
  }
}

uint8_t Pic8259::ReadPort(int a0) {
  if (s_.poll) {
    // Poll command: the next read acknowledges the best request, either port.
    s_.poll = false;
    const int line = PendingLine();
    if (line < 0) return 0;
    Acknowledge(line);
    return static_cast<uint8_t>(0x80 | line);
  }
  if (a0 == 0) return s_.read_isr ? s_.isr : s_.irr;
  return s_.imr;
}

void Pic8259::SaveState(StateWriter& w) const {
  w.U8("irr", s_.irr);
  w.U8("imr", s_.imr);
  w.U8("isr", s_.isr);
  w.U8("input_level", s_.input_level);
  w.U8("priority_base", s_.priority_base);
  w.U8("icw2.vector_base", s_.vector_base);
  w.U8("init_step", s_.init_step);
  w.Bool("icw1.ic4", s_.icw4_expected);
  w.Bool("icw1.sngl", s_.single);
  w.Bool("icw1.ltim", s_.level_triggered);
  w.Bool("icw4.aeoi", s_.auto_eoi);
  w.Bool("rotate_on_aeoi", s_.rotate_on_auto_eoi);
  w.Bool("icw4.sfnm", s_.special_fully_nested);
  w.Bool("ocw3.smm", s_.special_mask);
  w.Bool("ocw3.ris", s_.read_isr);
  w.Bool("ocw3.poll", s_.poll);
  w.U8("elcr", s_.elcr);
}

void Pic8259::LoadState(StateReader& r) {
  State s;
  s.irr = r.U8();
  s.imr = r.U8();
  s.isr = r.U8();
  s.input_level = r.U8();
  s.priority_base = r.U8();
  r.Check(s.priority_base < 8, "priority_base");
  s.vector_base = r.U8();
  r.Check((s.vector_base & 7) == 0, "vector_base");
  s.init_step = r.U8();
  r.Check(s.init_step <= 3, "init_step");
  s.icw4_expected = r.Bool();
  s.single = r.Bool();
  s.level_triggered = r.Bool();
  s.auto_eoi = r.Bool();
  s.rotate_on_auto_eoi = r.Bool();
  s.special_fully_nested = r.Bool();
  s.special_mask = r.Bool();
  s.read_isr = r.Bool();
  s.poll = r.Bool();
  s.elcr = r.U8();
  r.Check((s.elcr & ~elcr_mask_) == 0, "elcr");
  if (r.ok()) s_ = s;
}

PicPair::PicPair() : master_(true, 0xf8), slave_(false, 0xde) {}

void PicPair::SetIrqLevel(int irq, bool level) {
  XV_CHECK(irq >= 0 && irq < 16, "ISA IRQ out of range");
  if (irq == 2) irq = 9;
  if (irq < 8) {
    master_.SetInput(irq, level);
  } else {
    slave_.SetInput(irq - 8, level);
    UpdateCascade();
  }
}

bool PicPair::IrqUnmasked(int irq) const {
  if (irq == 2) irq = 9;  // as SetIrqLevel routes it
  if (irq < 8) return (master_.imr() & (1u << irq)) == 0;
  return (slave_.imr() & (1u << (irq - 8))) == 0 &&
         (master_.imr() & (1u << 2)) == 0;
}

uint8_t PicPair::AcknowledgeInterrupt() {
  const int line = master_.PendingLine();
  if (line < 0) return master_.vector_base() + 7;
  uint8_t vector;
  if (line == 2) {
    const int slave_line = slave_.PendingLine();
    if (slave_line >= 0) {
      slave_.Acknowledge(slave_line);
      vector = static_cast<uint8_t>(slave_.vector_base() + slave_line);
    } else {
      vector = slave_.vector_base() + 7;
    }
    UpdateCascade();
  } else {
    vector = static_cast<uint8_t>(master_.vector_base() + line);
  }
  master_.Acknowledge(line);
  return vector;
}

uint8_t PicPair::ReadByte(uint16_t port) {
  switch (port) {
    case 0x20:
    case 0x21:
      return master_.ReadPort(port & 1);
    case 0xa0:
    case 0xa1: {
      const uint8_t v = slave_.ReadPort(port & 1);
      UpdateCascade();  // a poll may have acknowledged a slave request
      return v;
    }
    case 0x4d0:
      return master_.elcr();
    case 0x4d1:
      return slave_.elcr();
    default:
      return 0xff;
  }
}

void PicPair::WriteByte(uint16_t port, uint8_t value) {
  switch (port) {
    case 0x20:
    case 0x21:
      master_.WritePort(port & 1, value);
      break;
    case 0xa0:
    case 0xa1:
      slave_.WritePort(port & 1, value);
      UpdateCascade();
      break;
    case 0x4d0:
      master_.WriteElcr(value);
      break;
    case 0x4d1:
      slave_.WriteElcr(value);
      break;
    default:
      break;
  }
}

void PicPair::PioRead(uint16_t port, std::span<uint8_t> data) {
  ReadBytewise(port, data, [this](uint16_t p) { return ReadByte(p); });
}

void PicPair::PioWrite(uint16_t port, std::span<const uint8_t> data) {
  WriteBytewise(port, data, [this](uint16_t p, uint8_t v) { WriteByte(p, v); });
}

void PicPair::SaveState(StateWriter& w) const {
  {
    const auto scope = w.Scope("master");
    master_.SaveState(w);
  }
  const auto scope = w.Scope("slave");
  slave_.SaveState(w);
}

absl::Status PicPair::LoadState(StateReader& r) {
  Pic8259 master = master_;
  Pic8259 slave = slave_;
  master.LoadState(r);
  slave.LoadState(r);
  if (!r.ok()) return r.status();
  master_ = master;
  slave_ = slave;
  return absl::OkStatus();
}

}  // namespace xv
