// Guests for the scripted fake backend (hypervisor/fake_cpu.h) that use the
// PC devices of our machine the way SDK guests do — the UART, the PIC and
// PIT, debug-exit — so machine, checkpoint, record/replay and replica tests
// run on any host, no hypervisor needed.
#ifndef EXTRAVIRT_MACHINE_TESTING_FAKE_GUESTS_H_
#define EXTRAVIRT_MACHINE_TESTING_FAKE_GUESTS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "hypervisor/fake_cpu.h"

namespace xv::testing {

inline constexpr uint16_t kFakeUartData = 0x3f8;
inline constexpr uint16_t kFakeUartLsr = 0x3fd;
inline constexpr uint16_t kFakeDebugExit = 0xf4;
// Where the echo guest keeps the last byte and the count it echoed.
inline constexpr uint64_t kFakeEchoLastByteGpa = 0x300000;
inline constexpr uint64_t kFakeEchoCountGpa = 0x301000;

// Prints `text` on COM1, stores a word to memory, writes `exit_value` to
// debug-exit.
FakeProgram FakeHello(std::string_view text, uint8_t exit_value = 0);

// Polls COM1 and echoes every byte it receives (also storing it and a count
// in memory) until it echoes 'Q'; then exits 0. Its state depends on every
// input byte.
FakeProgram FakeEcho();

// Programs the PIC (vectors 0x20-0x2f, auto-EOI) and the PIT (channel 0 at
// `divisor`), enables interrupts and halts until `ticks` timer interrupts
// came, counting them in R13; prints "ticks\n" and exits 0.
FakeProgram FakeTicker(uint64_t ticks, uint16_t divisor = 1193);

// `rep outs` of `text` to COM1 in one instruction (RSI, RCX), then exits 0.
FakeProgram FakeStringOut(std::string_view text, uint64_t buffer_gpa);

// Spins forever without an exit.
FakeProgram FakeSpin();

// Reads a host value (a TSC) into a register between exits and exits 0: a
// guest replay must catch.
FakeProgram FakeHostReader();

// A multiboot image the loader accepts (the fake ignores its code): what a
// machine boots and what a log header carries for a fake guest.
std::vector<uint8_t> FakeKernelImage();

}  // namespace xv::testing

#endif  // EXTRAVIRT_MACHINE_TESTING_FAKE_GUESTS_H_
