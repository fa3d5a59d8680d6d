#include "machine/testing/fake_guests.h"

#include "machine/test_kernel_builder.h"

namespace xv::testing {
namespace {

void ExitWith(FakeProgram& p, uint8_t value) {
  p.Set("rax", value).Out(kFakeDebugExit, "rax");
}

}  // namespace

FakeProgram FakeHello(std::string_view text, uint8_t exit_value) {
  FakeProgram p;
  p.Print(kFakeUartData, text);
  p.Set("rbx", 0x1234).Store(0x200000, "rbx");
  ExitWith(p, exit_value);
  return p;
}

FakeProgram FakeEcho() {
  FakeProgram p;
  const uint64_t poll = p.here();
  p.In(kFakeUartLsr, "rax").And("rax", 1).JumpIfZero("rax", poll);
  // `in` sets only the low byte, as on x86.
  p.In(kFakeUartData, "rbx").And("rbx", 0xff);
  p.Out(kFakeUartData, "rbx");
  p.Store(kFakeEchoLastByteGpa, "rbx");
  p.Add("rcx", 1).Store(kFakeEchoCountGpa, "rcx");
  const uint64_t check = p.here();
  p.JumpIfEqual("rbx", 'Q', check + 2);
  p.Jump(poll);
  ExitWith(p, 0);
  return p;
}

FakeProgram FakeTicker(uint64_t ticks, uint16_t divisor) {
  FakeProgram p;
  // The PIC pair as the SDK sets it up: ICW1-4, vectors 0x20/0x28, auto-EOI,
  // every line masked but the timer's (and the cascade's).
  for (auto [port, value] : {std::pair<uint16_t, uint8_t>{0x20, 0x11},
                             {0xa0, 0x11},
                             {0x21, 0x20},
                             {0xa1, 0x28},
                             {0x21, 0x04},
                             {0xa1, 0x02},
                             {0x21, 0x03},
                             {0xa1, 0x03},
                             {0x21, 0xfa},
                             {0xa1, 0xff}}) {
    p.Set("rax", value).Out(port, "rax");
  }
  // PIT channel 0, lobyte/hibyte, rate generator.
  p.Set("rax", 0x34).Out(0x43, "rax");
  p.Set("rax", divisor & 0xff).Out(0x40, "rax");
  p.Set("rax", divisor >> 8).Out(0x40, "rax");
  p.Set("r13", 0);
  p.Sti();
  const uint64_t wait = p.here();
  p.Hlt();
  p.JumpIfEqual("r13", ticks, wait + 3);
  p.Jump(wait);
  p.Cli();
  p.Print(kFakeUartData, "ticks\n");
  ExitWith(p, 0);
  const uint64_t handler = p.here();
  p.Add("r13", 1).Store(0x302000, "r13").Iret();
  p.OnInterrupt(0x20, handler);
  return p;
}

FakeProgram FakeStringOut(std::string_view text, uint64_t buffer_gpa) {
  FakeProgram p;
  // The text into memory 8 bytes at a time, then one rep outsb.
  for (size_t i = 0; i < text.size(); i += 8) {
    uint64_t word = 0;
    for (size_t j = 0; j < 8 && i + j < text.size(); ++j) {
      word |= uint64_t{static_cast<uint8_t>(text[i + j])} << (8 * j);
    }
    p.Set("rax", word).Store(buffer_gpa + i, "rax");
  }
  p.Set("rsi", buffer_gpa).Set("rcx", text.size()).Outs(kFakeUartData);
  ExitWith(p, 0);
  return p;
}

FakeProgram FakeSpin() {
  FakeProgram p;
  p.Add("rax", 1).Jump(0);
  return p;
}

FakeProgram FakeHostReader() {
  FakeProgram p;
  p.Print(kFakeUartData, "a");
  p.HostValue("rdx");
  p.Print(kFakeUartData, "b");
  ExitWith(p, 0);
  return p;
}

std::vector<uint8_t> FakeKernelImage() { return ElfBuilder{}.Build(); }

}  // namespace xv::testing
