// IrqSink: where a front-end drives its interrupt line (the PIC pair).
#ifndef EXTRAVIRT_DEVICES_IRQ_SINK_H_
#define EXTRAVIRT_DEVICES_IRQ_SINK_H_

namespace xv {

class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // Level of ISA IRQ line `irq` (0-15). The PIC latches rising edges (edge
  // triggered mode), so a pulse is SetIrqLevel(irq, true) then false.
  virtual void SetIrqLevel(int irq, bool level) = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_IRQ_SINK_H_
