// The string-I/O rule: which exits a `rep ins` or `rep outs` makes, and
// the guest's state after each, on every backend. Every exit is followed by
// a rendezvous and counts one ESN (cpu_exit.h), so a recording made on one
// backend replays on another only if they agree on this.
//
// * OUTS (with or without REP) exits once per element. After the exit the
//   element has been transferred: RCX is one less (with REP), RSI has moved
//   by the element size, and RIP is still at the instruction — past it once
//   RCX reached 0 (or without REP).
// * INS exits in batches. A batch starting with RDI and RCX holds
//   InsBatchElements() elements; after the exit is settled (the handler has
//   supplied their data) RCX is that much less, RDI has moved by the bytes
//   transferred, and RIP is at the instruction — past it once RCX reached 0.
// * A REP string instruction whose count is 0 makes no exit.
// RCX counts with the instruction's address size (67h prefix: ECX or CX).
//
// This is what KVM does (its instruction emulator reads ahead for INS),
// written down as the project's rule: a backend that sees each element (an
// emulator) groups them the same way, and tests check that KVM keeps to it.
// Interrupts: a rendezvous inside a string instruction is an interruptible
// point like any other (the architecture allows interrupts between the
// iterations of a REP string instruction); an interrupt queued there is
// delivered before the next element.
#ifndef EXTRAVIRT_HYPERVISOR_STRING_IO_H_
#define EXTRAVIRT_HYPERVISOR_STRING_IO_H_

#include <cstdint>

namespace xv {

// Elements in the INS batch that starts with `remaining` elements to go
// (RCX, masked to the address size; at least 1), the destination at `rdi`,
// `element_size` bytes each, the direction flag `df`:
//   min(bytes from RDI to the end of its page (DF=1: from the start of the
//       page to RDI), 1024 / element_size, remaining), at least 1.
// The minimum compares bytes with elements as KVM does; it is the rule.
uint64_t InsBatchElements(uint64_t remaining, uint64_t rdi, bool df,
                          uint8_t element_size);

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_STRING_IO_H_
