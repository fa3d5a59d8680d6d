#include "devices/pic8259.h"

#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

class PicTest : public ::testing::Test {
 protected:
  void Out(uint16_t port, uint8_t v) { pic_.PioWrite(port, {&v, 1}); }
  uint8_t In(uint16_t port) {
    uint8_t v = 0;
    pic_.PioRead(port, {&v, 1});
    return v;
  }
  // The standard PC initialisation: vectors 0x20/0x28, cascade on IR2.
  void InitPair(uint8_t icw4 = 0x01) {
    Out(0x20, 0x11);
    Out(0x21, 0x20);
    Out(0x21, 0x04);
    Out(0x21, icw4);
    Out(0xa0, 0x11);
    Out(0xa1, 0x28);
    Out(0xa1, 0x02);
    Out(0xa1, icw4);
    Out(0x21, 0x00);
    Out(0xa1, 0x00);
  }
  void Pulse(int irq) {
    pic_.SetIrqLevel(irq, true);
    pic_.SetIrqLevel(irq, false);
  }
  uint8_t MasterIsr() {
    Out(0x20, 0x0b);
    return In(0x20);
  }
  uint8_t MasterIrr() {
    Out(0x20, 0x0a);
    return In(0x20);
  }

  PicPair pic_;
};

TEST_F(PicTest, InitSequenceSetsVectorBasesAndClearsMask) {
  Out(0x21, 0xff);  // before init: plain OCW1
  EXPECT_EQ(In(0x21), 0xff);
  Out(0x20, 0x11);
  EXPECT_TRUE(pic_.master().initializing());
  EXPECT_EQ(In(0x21), 0x00);  // ICW1 clears IMR
  Out(0x21, 0x20);
  Out(0x21, 0x04);
  EXPECT_TRUE(pic_.master().initializing());
  Out(0x21, 0x01);
  EXPECT_FALSE(pic_.master().initializing());
  EXPECT_EQ(pic_.master().vector_base(), 0x20);

  // Without IC4 the sequence ends after ICW3; in single mode after ICW2.
  Out(0xa0, 0x10);
  Out(0xa1, 0x70);
  Out(0xa1, 0x02);
  EXPECT_FALSE(pic_.slave().initializing());
  EXPECT_EQ(pic_.slave().vector_base(), 0x70);
  Out(0xa0, 0x12);
  Out(0xa1, 0x48);
  EXPECT_FALSE(pic_.slave().initializing());
  EXPECT_EQ(pic_.slave().vector_base(), 0x48);
  Out(0xa1, 0x5a);  // now OCW1
  EXPECT_EQ(In(0xa1), 0x5a);
}

TEST_F(PicTest, EdgeLatchesDeliversAndWaitsForEoi) {
  InitPair();
  EXPECT_FALSE(pic_.InterruptPending());
  pic_.SetIrqLevel(1, true);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(MasterIrr(), 0x02);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x21);
  EXPECT_EQ(MasterIsr(), 0x02);
  EXPECT_EQ(MasterIrr(), 0x00);
  EXPECT_FALSE(pic_.InterruptPending());
  // The line is still high: no new request without a new edge.
  Out(0x20, 0x20);  // non-specific EOI
  EXPECT_EQ(MasterIsr(), 0x00);
  EXPECT_FALSE(pic_.InterruptPending());
  // A new edge while in service is latched but held until EOI.
  pic_.SetIrqLevel(1, false);
  pic_.SetIrqLevel(1, true);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x21);
  pic_.SetIrqLevel(1, false);
  Pulse(1);
  EXPECT_FALSE(pic_.InterruptPending());
  EXPECT_EQ(MasterIrr(), 0x02);
  Out(0x20, 0x20);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x21);
}

TEST_F(PicTest, LatchedEdgeSurvivesTheLineDropping) {
  InitPair();
  Pulse(4);  // as QEMU: an edge request stays until acknowledged
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x24);
}

TEST_F(PicTest, PriorityAndNesting) {
  InitPair();
  Pulse(3);
  Pulse(1);
  Pulse(5);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x21);  // lowest number wins
  // IRQ3 and IRQ5 wait while IRQ1 is in service; IRQ0 nests.
  EXPECT_FALSE(pic_.InterruptPending());
  Pulse(0);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x20);
  EXPECT_EQ(MasterIsr(), 0x03);
  Out(0x20, 0x20);  // EOI ends IRQ0, the highest in service
  EXPECT_EQ(MasterIsr(), 0x02);
  EXPECT_FALSE(pic_.InterruptPending());
  Out(0x20, 0x20);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x23);
  Out(0x20, 0x63);  // specific EOI for IRQ3
  EXPECT_EQ(MasterIsr(), 0x00);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x25);
}

TEST_F(PicTest, MaskHoldsRequestsBack) {
  InitPair();
  Out(0x21, 0x02);
  Pulse(1);
  EXPECT_FALSE(pic_.InterruptPending());
  EXPECT_EQ(MasterIrr(), 0x02);
  Out(0x21, 0x00);
  EXPECT_TRUE(pic_.InterruptPending());
}

TEST_F(PicTest, AutoEoiNeedsNoEoiAndLeavesIsrClear) {
  InitPair(/*icw4=*/0x03);
  EXPECT_TRUE(pic_.master().auto_eoi());
  Pulse(0);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x20);
  EXPECT_EQ(MasterIsr(), 0x00);
  // Without any EOI, a lower-priority and then the same line come through.
  Pulse(6);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x26);
  Pulse(0);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x20);
  // Slave interrupts in AEOI mode on both chips.
  pic_.SetIrqLevel(14, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x2e);
  EXPECT_EQ(pic_.master().isr(), 0x00);
  EXPECT_EQ(pic_.slave().isr(), 0x00);
  pic_.SetIrqLevel(14, false);
  pic_.SetIrqLevel(14, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x2e);
}

TEST_F(PicTest, RotateOnAutoEoiMakesTheServedLineLowest) {
  InitPair(/*icw4=*/0x03);
  Out(0x20, 0x80);  // set rotate in AEOI mode
  Pulse(1);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x21);
  Pulse(1);
  Pulse(3);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x23);  // IRQ1 is now lowest
}

TEST_F(PicTest, SlaveInterruptsCascadeThroughIrq2) {
  InitPair();
  pic_.SetIrqLevel(8, true);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x28);
  EXPECT_EQ(pic_.master().isr(), 0x04);
  EXPECT_EQ(pic_.slave().isr(), 0x01);
  // A lower-priority slave line waits for the slave's EOI and then arrives
  // as a fresh edge on IR2, which the master delivers after its own EOI.
  pic_.SetIrqLevel(12, true);
  EXPECT_FALSE(pic_.InterruptPending());
  Out(0xa0, 0x20);
  EXPECT_FALSE(pic_.InterruptPending());
  Out(0x20, 0x20);
  EXPECT_TRUE(pic_.InterruptPending());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x2c);
}

TEST_F(PicTest, SpuriousVectorsWhenTheRequestVanished) {
  InitPair();
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x27);  // nothing pending at all
  EXPECT_EQ(pic_.master().isr(), 0x00);          // and nothing in service
  // Slave request latched by the master, then masked in the slave.
  pic_.SetIrqLevel(10, true);
  EXPECT_TRUE(pic_.InterruptPending());
  Out(0xa1, 0x04);
  EXPECT_TRUE(pic_.InterruptPending());  // IR2's edge is still latched
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x2f);
  EXPECT_EQ(pic_.master().isr(), 0x04);  // the master did take IR2
  EXPECT_EQ(pic_.slave().isr(), 0x00);
}

TEST_F(PicTest, PollCommandAcknowledges) {
  InitPair();
  Out(0x20, 0x0c);
  EXPECT_EQ(In(0x20), 0x00);  // nothing
  Pulse(5);
  Out(0x20, 0x0c);
  EXPECT_EQ(In(0x20), 0x85);
  EXPECT_EQ(MasterIsr(), 0x20);
  EXPECT_FALSE(pic_.InterruptPending());
}

TEST_F(PicTest, LevelTriggeredThroughElcrAndLtim) {
  InitPair();
  Out(0x4d1, 0xff);
  EXPECT_EQ(In(0x4d1), 0xde);  // IRQ8 and IRQ13 cannot be level triggered
  Out(0x4d0, 0x08);
  EXPECT_EQ(In(0x4d0), 0x08);
  pic_.SetIrqLevel(3, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x23);
  Out(0x20, 0x20);
  // Still high: requests again without a new edge.
  EXPECT_TRUE(pic_.InterruptPending());
  pic_.SetIrqLevel(3, false);
  EXPECT_FALSE(pic_.InterruptPending());

  // ICW1.LTIM makes every line of the chip level triggered.
  Out(0x4d0, 0x00);
  Out(0x20, 0x19);
  Out(0x21, 0x20);
  Out(0x21, 0x04);
  Out(0x21, 0x01);
  pic_.SetIrqLevel(6, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x26);
  Out(0x20, 0x20);
  EXPECT_TRUE(pic_.InterruptPending());
}

TEST_F(PicTest, InitialisationDropsPendingEdges) {
  InitPair();
  Pulse(1);
  pic_.SetIrqLevel(4, true);
  InitPair();
  EXPECT_FALSE(pic_.InterruptPending());
  // IRQ4 is still high: only a fresh edge requests.
  pic_.SetIrqLevel(4, false);
  pic_.SetIrqLevel(4, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x24);
}

TEST_F(PicTest, SetPriorityAndRotateOnSpecificEoi) {
  InitPair();
  Out(0x20, 0xc4);  // IRQ4 lowest, so IRQ5 highest
  Pulse(0);
  Pulse(5);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x25);
  Out(0x20, 0xe5);  // rotate on specific EOI 5: IRQ6 highest
  Pulse(7);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x27);
}

TEST_F(PicTest, Irq2IsRoutedToIrq9) {
  InitPair();
  pic_.SetIrqLevel(2, true);
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x29);
}

TEST_F(PicTest, WordAccessReachesBothPorts) {
  InitPair();
  Out(0x21, 0x5a);
  uint8_t two[2] = {0, 0};
  pic_.PioRead(0x20, two);
  EXPECT_EQ(two[1], 0x5a);
}

TEST_F(PicTest, LoadStateRejectsBadFieldsAndKeepsState) {
  InitPair();
  Pulse(3);
  StateWriter w;
  pic_.SaveState(w);
  std::vector<uint8_t> bad = w.bytes();
  bad[5] = 0x21;  // master vector base not a multiple of 8
  StateReader r(bad, "state of pic");
  EXPECT_FALSE(pic_.LoadState(r).ok());
  EXPECT_EQ(pic_.AcknowledgeInterrupt(), 0x23);
}

}  // namespace
}  // namespace xv
