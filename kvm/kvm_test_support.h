// Test support: KVM-backed tests skip (with the reason) where KVM is not
// usable, so the suite still runs on machines without /dev/kvm.
#ifndef EXTRAVIRT_KVM_KVM_TEST_SUPPORT_H_
#define EXTRAVIRT_KVM_KVM_TEST_SUPPORT_H_

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"

namespace xv::testing {

// OK when KVM can be opened; otherwise the reason (the same message xvirt
// prints).
inline absl::Status KvmAvailability() {
  return KvmSystem::Open().status();
}

}  // namespace xv::testing

// Use at the top of a TEST body (or SetUp) that needs KVM.
#define XV_SKIP_WITHOUT_KVM()                                        \
  do {                                                               \
    absl::Status xv_kvm_status = ::xv::testing::KvmAvailability();   \
    if (!xv_kvm_status.ok()) {                                       \
      GTEST_SKIP() << "KVM-backed test skipped, KVM is not usable: " \
                   << xv_kvm_status.message();                       \
    }                                                                \
  } while (0)

#endif  // EXTRAVIRT_KVM_KVM_TEST_SUPPORT_H_
