#include "devices/uart16550.h"

#include <optional>
#include <vector>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint16_t kThr = 0x3f8, kIer = 0x3f9, kIir = 0x3fa, kFcr = 0x3fa,
                   kLcr = 0x3fb, kMcr = 0x3fc, kLsr = 0x3fd, kMsr = 0x3fe,
                   kScr = 0x3ff;

class UartTest : public ::testing::Test {
 protected:
  void Out(uint16_t port, uint8_t v) { uart_.PioWrite(port, {&v, 1}); }
  uint8_t In(uint16_t port) {
    uint8_t v = 0;
    uart_.PioRead(port, {&v, 1});
    return v;
  }
  void Receive(std::vector<uint8_t> bytes) { uart_.Receive(bytes); }
  void Advance(uint64_t ns) {
    clock_.AdvanceTo(ns);
    uart_.OnClockAdvanced();
  }
  bool Irq() const { return irq_.levels[4]; }

  VirtualClock clock_;
  RecordingIrqSink irq_;
  RecordingOutputSink out_;
  Uart16550 uart_{&clock_, &irq_, 4, &out_};
};

TEST_F(UartTest, PowerOnRegistersMatchQemu) {
  EXPECT_EQ(In(kIer), 0x00);
  EXPECT_EQ(In(kIir), 0x01);
  EXPECT_EQ(In(kLcr), 0x00);
  EXPECT_EQ(In(kMcr), 0x08);
  EXPECT_EQ(In(kLsr), 0x60);
  EXPECT_EQ(In(kMsr), 0xb0);
  EXPECT_EQ(In(kScr), 0x00);
  EXPECT_FALSE(Irq());
}

TEST_F(UartTest, EachThrWriteIsOneOutputAndTheTransmitterStaysEmpty) {
  Out(kThr, 'h');
  EXPECT_EQ(In(kLsr), 0x60);
  Out(kThr, 'i');
  ASSERT_EQ(out_.outputs.size(), 2u);
  EXPECT_EQ(out_.outputs[0].kind, OutputKind::kSerialTx);
  EXPECT_EQ(out_.outputs[0].device, "uart0");
  EXPECT_EQ(out_.outputs[0].data, std::vector<uint8_t>{'h'});
  EXPECT_EQ(out_.SerialText(), "hi");
}

TEST_F(UartTest, DivisorLatchAccess) {
  Out(kLcr, 0x80);
  EXPECT_EQ(In(kThr), 12);  // 9600 baud at power-on
  EXPECT_EQ(In(kIer), 0);
  Out(kThr, 0x01);
  Out(kIer, 0x00);
  EXPECT_EQ(In(kThr), 0x01);
  Out(kLcr, 0x03);
  EXPECT_EQ(In(kLcr), 0x03);
  Out(kIer, 0x05);
  EXPECT_EQ(In(kIer), 0x05);
  Out(kLcr, 0x83);
  EXPECT_EQ(In(kIer), 0x00);          // DLM
  EXPECT_TRUE(out_.outputs.empty());  // DLL writes do not transmit
  Out(kIer, 0xff);
  Out(kLcr, 0x03);
  EXPECT_EQ(In(kIer), 0x05);
}

TEST_F(UartTest, ThreInterruptIdentificationAndAcknowledge) {
  Out(kIer, 0x02);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kIir), 0x02);  // reading IIR reporting THRE acknowledges it
  EXPECT_FALSE(Irq());
  EXPECT_EQ(In(kIir), 0x01);
  // Every THR write raises a fresh THRE interrupt: the line pulses.
  irq_.ClearCounts();
  Out(kThr, 'x');
  EXPECT_TRUE(Irq());
  EXPECT_EQ(irq_.rising_edges[4], 1);
  Out(kThr, 'y');  // line was high: it drops and rises again
  EXPECT_EQ(irq_.rising_edges[4], 2);
  // Toggling IER re-arms it (drivers rely on that).
  EXPECT_EQ(In(kIir), 0x02);
  Out(kIer, 0x00);
  Out(kIer, 0x02);
  EXPECT_EQ(In(kIir), 0x02);
}

TEST_F(UartTest, ReceiveWithoutFifo) {
  EXPECT_EQ(uart_.RxFree(), 1u);
  Receive({'a'});
  EXPECT_EQ(uart_.RxFree(), 0u);
  EXPECT_EQ(In(kLsr), 0x61);
  EXPECT_FALSE(Irq());
  Out(kIer, 0x01);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kIir), 0x04);
  EXPECT_EQ(In(kThr), 'a');
  EXPECT_FALSE(Irq());
  EXPECT_EQ(In(kLsr), 0x60);
  EXPECT_EQ(uart_.RxFree(), 1u);
}

TEST_F(UartTest, OverrunSetsOeAndLineStatusInterrupt) {
  Out(kIer, 0x05);
  Receive({'a', 'b'});        // more than RxFree(): the second byte overruns
  EXPECT_EQ(In(kIir), 0x06);  // line status outranks data available
  EXPECT_EQ(In(kLsr), 0x63);
  EXPECT_EQ(In(kLsr), 0x61);  // OE clears on read
  EXPECT_EQ(In(kIir), 0x04);
  EXPECT_EQ(In(kThr), 'b');
}

TEST_F(UartTest, FifoTriggerLevelAndOrder) {
  Out(kFcr, 0x07);
  EXPECT_EQ(In(kIir), 0xc1);
  EXPECT_EQ(uart_.RxFree(), 16u);
  Out(kFcr, 0x41);  // trigger level 4
  Out(kIer, 0x01);
  Receive({1, 2, 3});
  EXPECT_EQ(uart_.RxFree(), 13u);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(In(kLsr) & 0x01, 0x01);
  Receive({4});
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kIir), 0xc4);
  for (uint8_t want = 1; want <= 4; ++want) EXPECT_EQ(In(kThr), want);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(In(kLsr), 0x60);
  // A full FIFO overruns without losing what it holds.
  std::vector<uint8_t> bytes(17);
  for (int i = 0; i < 17; ++i) bytes[i] = static_cast<uint8_t>(i);
  uart_.Receive(bytes);
  EXPECT_EQ(uart_.RxFree(), 0u);
  EXPECT_EQ(In(kLsr) & 0x02, 0x02);
  EXPECT_EQ(In(kThr), 0);
}

TEST_F(UartTest, CharacterTimeoutAfterFourCharacterTimes) {
  Out(kLcr, 0x83);
  Out(kThr, 1);  // 115200 baud
  Out(kIer, 0);
  Out(kLcr, 0x03);  // 8N1: 10 bits of 8680 ns
  Out(kFcr, 0xc1);  // trigger level 14
  Out(kIer, 0x01);
  Advance(1000);
  Receive({'x', 'y'});
  EXPECT_FALSE(Irq());
  const uint64_t deadline = 1000 + 4 * 86800;
  EXPECT_EQ(uart_.NextDeadlineNs(), deadline);
  Advance(deadline - 1);
  EXPECT_EQ(In(kIir), 0xc1);
  Advance(deadline);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(In(kIir), 0xcc);
  EXPECT_EQ(In(kThr), 'x');  // reading clears the timeout, re-arms it
  EXPECT_FALSE(Irq());
  EXPECT_EQ(uart_.NextDeadlineNs(), deadline + uint64_t{4} * 86800);
  EXPECT_EQ(In(kThr), 'y');
  EXPECT_EQ(uart_.NextDeadlineNs(), std::nullopt);
  Advance(deadline * 10);
  EXPECT_EQ(In(kIir), 0xc1);
}

TEST_F(UartTest, FifoResetAndDisableFlush) {
  Out(kFcr, 0x01);
  Receive({1, 2, 3});
  Out(kFcr, 0x03);
  EXPECT_EQ(In(kLsr), 0x60);
  EXPECT_EQ(uart_.RxFree(), 16u);
  Receive({4});
  Out(kFcr, 0x00);  // disabling flushes too
  EXPECT_EQ(In(kIir), 0x01);
  EXPECT_EQ(In(kLsr), 0x60);
}

TEST_F(UartTest, LoopbackRoutesTransmitToReceiveAndModemLines) {
  Out(kMcr, 0x10);
  EXPECT_EQ(uart_.RxFree(), 0u);
  EXPECT_EQ(In(kMsr), 0x00);
  Out(kThr, 'x');
  EXPECT_TRUE(out_.outputs.empty());
  EXPECT_EQ(In(kLsr), 0x61);
  EXPECT_EQ(In(kThr), 'x');
  Out(kMcr, 0x1f);
  EXPECT_EQ(In(kMsr), 0xf0);
  Out(kMcr, 0x12);  // RTS -> CTS
  EXPECT_EQ(In(kMsr), 0x10);
  Out(kMcr, 0x00);
  EXPECT_EQ(In(kMsr), 0xb0);
  Out(kThr, 'z');
  EXPECT_EQ(out_.SerialText(), "z");
}

TEST_F(UartTest, Out2DoesNotGateTheIrqAsInQemu) {
  Out(kMcr, 0x00);
  Out(kIer, 0x02);
  EXPECT_TRUE(Irq());
}

TEST_F(UartTest, ScratchAndWordAccess) {
  Out(kScr, 0xa5);
  EXPECT_EQ(In(kScr), 0xa5);
  // `outw 0x3f8`: THR then IER.
  const uint8_t word[2] = {'A', 0x02};
  uart_.PioWrite(kThr, word);
  EXPECT_EQ(out_.SerialText(), "A");
  EXPECT_EQ(In(kIer), 0x02);
}

TEST_F(UartTest, LoadStateRejectsOversizedFifo) {
  Out(kFcr, 0x01);
  Receive({1});
  StateWriter w;
  uart_.SaveState(w);
  std::vector<uint8_t> bad = w.bytes();
  bad[9] = 17;  // rx FIFO length prefix (after 7 bytes and the divisor)
  StateReader r(bad, "state of uart0");
  EXPECT_FALSE(uart_.LoadState(r).ok());
  EXPECT_EQ(In(kThr), 1);
}

}  // namespace
}  // namespace xv
