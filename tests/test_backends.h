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

// OK when OpenTestBackend(name) succeeds here, else its error; for tests
// that run `xvirt --backend name` rather than a Hypervisor of their own.
// Asked once per backend in the process.
absl::Status TestBackendUsable(const std::string& name);

}  // namespace xv::testing

// In a TEST body: opens the backend `name` (a std::string expression) into
// `var` (a std::unique_ptr<Hypervisor>) or skips the test with the reason.
// For suites whose parameter holds more than the backend (::testing::Combine).
#define XV_OPEN_NAMED_BACKEND_OR_SKIP(var, name)                       \
  std::unique_ptr<::xv::Hypervisor> var;                               \
  do {                                                                 \
    const std::string xv_backend_name = (name);                        \
    auto xv_backend = ::xv::testing::OpenTestBackend(xv_backend_name); \
    if (!xv_backend.ok()) {                                            \
      GTEST_SKIP() << "backend " << xv_backend_name                    \
                   << " is not usable here: " << xv_backend.status();  \
    }                                                                  \
    var = std::move(*xv_backend);                                      \
  } while (0)

// In a TEST_P body over TestBackends(): opens GetParam() into `var` (a
// std::unique_ptr<Hypervisor>) or skips the test with the reason.
#define XV_OPEN_BACKEND_OR_SKIP(var) \
  XV_OPEN_NAMED_BACKEND_OR_SKIP(var, GetParam())

// In a test that runs guests on the backend `name` (e.g. through
// `xvirt --backend name`): skips the test with the reason when that backend
// is not usable here.
#define XV_SKIP_UNLESS_BACKEND_USABLE(name)                 \
  do {                                                      \
    const std::string xv_backend_name = (name);             \
    absl::Status xv_usable =                                \
        ::xv::testing::TestBackendUsable(xv_backend_name);  \
    if (!xv_usable.ok()) {                                  \
      GTEST_SKIP() << "backend " << xv_backend_name         \
                   << " is not usable here: " << xv_usable; \
    }                                                       \
  } while (0)

#endif  // EXTRAVIRT_TESTS_TEST_BACKENDS_H_
