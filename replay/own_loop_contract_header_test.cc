// This header must work for a VMM that already includes the kernel's
// own KVM header (as every VMM does) before ours: it may not pull in
// kvm/kvm_uapi.h, whose guard refuses <linux/kvm.h>.
#include <linux/kvm.h>

#include "gtest/gtest.h"
#include "replay/own_loop_contract.h"

namespace xv {
namespace {

TEST(OwnLoopContractHeaderTest, CompilesAfterTheKernelsKvmHeader) {
  RecordedMachine machine;
  machine.cpuid.push_back({.function = 1, .eax = 0x806c1});
  EXPECT_EQ(machine.cpuid[0].eax, 0x806c1u);
  EXPECT_EQ(KVM_EXIT_IO, 2);
}

}  // namespace
}  // namespace xv
