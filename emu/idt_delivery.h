// Delivery of an interrupt or exception through the guest's IDT in IA-32e
// (long) mode, as the processor does it (Intel SDM vol. 3, 6.12-6.15):
// what a backend whose CPU never delivers events itself (Unicorn) runs when
// it injects an external interrupt or reflects an exception or `int n`.
// Pure: no Unicorn, guest memory through LinearMemory.
//
// What it does: reads the 16-byte gate (beyond the IDT limit: #GP; not an
// interrupt or trap gate: #GP; `int n` with gate DPL < CPL: #GP; not
// present: #NP — all with the IDT error code vector*8+2+EXT); loads the
// target code segment from the GDT (64-bit code, DPL <= CPL, present,
// accessed bit set in memory); picks the stack (TSS.RSPn on a privilege
// change, TSS.ISTn when the gate names one; SS becomes the null selector
// with RPL = new CPL on a privilege change); aligns RSP down to 16; pushes
// SS, RSP, RFLAGS, CS, RIP and the error code (exceptions 8, 10-14, 17,
// 21, 29, 30); clears TF, NT, RF, VM, and IF through an interrupt gate.
// RFLAGS is pushed with RF=1 for fault-class exceptions (SDM vol. 3,
// 17.3.1.1), as the CPU does.
//
// A fault while delivering is handled as SDM Table 6-5 says: after a
// contributory exception (#DE, #TS, #NP, #SS, #GP) a contributory fault,
// and after a #PF a #PF or contributory fault, become #DF(0); a fault
// while delivering #DF shuts the CPU down (triple fault); otherwise (after
// an external interrupt, `int n` or a benign exception) the new fault is
// delivered instead. A #PF during delivery also sets CR2.
//
// Not supported (Unimplemented): outside IA-32e mode; a gate's code
// segment in the LDT. Not modelled: page protection on the supervisor
// accesses (a read-only or user page is written as any other) and the
// accessed/dirty bits of the page tables; the RF=1 of an interrupt taken
// between iterations of a string instruction (the caller sets RF).
#ifndef EXTRAVIRT_EMU_IDT_DELIVERY_H_
#define EXTRAVIRT_EMU_IDT_DELIVERY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/page_walk.h"
#include "hypervisor/segment_descriptor.h"
#include "memshare/guest_memory.h"

namespace xv {

// Guest memory by linear address, as the CPU's supervisor-mode implicit
// accesses during delivery see it.
class LinearMemory {
 public:
  // An access either completes or stops at the first linear address whose
  // page is not mapped (a #PF), having written nothing.
  struct Access {
    bool done = true;
    uint64_t unmapped = 0;
  };
  virtual ~LinearMemory() = default;
  virtual absl::StatusOr<Access> Read(uint64_t linear,
                                      std::span<uint8_t> out) = 0;
  virtual absl::StatusOr<Access> Write(uint64_t linear,
                                       std::span<const uint8_t> data) = 0;
};

// LinearMemory over a GuestMemory and the guest's page tables
// (hypervisor/page_walk.h). Writes go through GuestMemory::Write (so they
// count as VMM writes there) and each guest-physical page written is also
// passed to `on_page_written` (when set) and listed in pages_written().
// A translation to a page outside guest memory is an error (OutOfRange).
class GuestLinearMemory : public LinearMemory {
 public:
  GuestLinearMemory(GuestMemory& memory, const PagingState& paging,
                    std::function<void(uint64_t page)> on_page_written = {})
      : memory_(memory),
        paging_(paging),
        on_page_written_(std::move(on_page_written)) {}

  absl::StatusOr<Access> Read(uint64_t linear, std::span<uint8_t> out) override;
  absl::StatusOr<Access> Write(uint64_t linear,
                               std::span<const uint8_t> data) override;

  // Guest-physical page numbers (gpa / kPageSize) written, in order.
  const std::vector<uint64_t>& pages_written() const { return pages_written_; }

 private:
  GuestMemory& memory_;
  PagingState paging_;
  std::function<void(uint64_t)> on_page_written_;
  std::vector<uint64_t> pages_written_;
};

enum class EventKind {
  kExternalInterrupt,  // from the interrupt controller (EXT=1)
  kSoftwareInterrupt,  // int n, int3, into: the gate's DPL is checked
  kException,          // a processor exception (EXT=1)
};

struct Event {
  uint8_t vector = 0;
  EventKind kind = EventKind::kExternalInterrupt;
  // Pushed only for exceptions whose vector has one (ExceptionHasErrorCode).
  uint32_t error_code = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

// Exceptions 8, 10-14, 17, 21, 29, 30 push an error code.
bool ExceptionHasErrorCode(uint8_t vector);

// The CPU at the point of delivery.
struct DeliveryState {
  // RIP is the return address: the faulting instruction for a fault, the
  // next one for a trap or `int n`.
  GeneralRegisters regs;
  uint8_t cpl = 0;
  SegmentDescriptor cs;  // its selector is pushed
  SegmentDescriptor ss;  // its selector is pushed; kept at the same CPL
  DescriptorTable idtr;
  DescriptorTable gdtr;
  SystemSegment tr;  // the 64-bit TSS (RSP0-2, IST1-7)
  uint64_t cr0 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;
};

struct DeliveryResult {
  // A triple fault: the CPU shuts down; nothing below is meaningful, and
  // `shutdown_reason` says which faults led there.
  bool shutdown = false;
  std::string shutdown_reason;

  // The event the handler runs for: `event`, a fault raised while
  // delivering it, or #DF.
  Event delivered;
  GeneralRegisters regs;
  uint8_t cpl = 0;
  SegmentDescriptor cs;
  SegmentDescriptor ss;
  // Set when a #PF was raised while delivering.
  std::optional<uint64_t> cr2;
};

absl::StatusOr<DeliveryResult> DeliverEvent(const Event& event,
                                            const DeliveryState& state,
                                            LinearMemory& memory);

}  // namespace xv

#endif  // EXTRAVIRT_EMU_IDT_DELIVERY_H_
