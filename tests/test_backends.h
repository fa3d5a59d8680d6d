// The CPU backends integration tests boot real guests on: every backend of
// the project (TEST_P over TestBackends()), each skipped with its reason
// where this machine cannot run it, so a machine without KVM still runs
// every test its other backends can.
#ifndef EXTRAVIRT_TESTS_TEST_BACKENDS_H_
#define EXTRAVIRT_TESTS_TEST_BACKENDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv::testing {

// "kvm" and "emu" (the emulator, loaded from libxvirt_emu.so).
std::vector<std::string> TestBackends();

// The backend `name`, or why it is unusable here.
absl::StatusOr<std::unique_ptr<Hypervisor>> OpenTestBackend(
    const std::string& name);

}  // namespace xv::testing

// In a TEST_P body over TestBackends(): opens GetParam() into `var` (a
// std::unique_ptr<Hypervisor>) or skips the test with the reason.
#define XV_OPEN_BACKEND_OR_SKIP(var)                                  \
  std::unique_ptr<::xv::Hypervisor> var;                              \
  do {                                                                \
    auto xv_backend = ::xv::testing::OpenTestBackend(GetParam());     \
    if (!xv_backend.ok()) {                                           \
      GTEST_SKIP() << "backend " << GetParam()                        \
                   << " is not usable here: " << xv_backend.status(); \
    }                                                                 \
    var = std::move(*xv_backend);                                     \
  } while (0)

#endif  // EXTRAVIRT_TESTS_TEST_BACKENDS_H_
