// compute_native (the compute workload built for the host, used by the
// benchmarks) must print exactly what the compute guest prints.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/runfiles.h"
#include "tests/subprocess.h"

namespace xv::guest_testing {
namespace {

using ::xv::testing::ProcessResult;
using ::xv::testing::RunfilePath;
using ::xv::testing::RunProcess;

TEST(ComputeNativeTest, PrintsTheGuestsLine) {
  ProcessResult result =
      RunProcess({RunfilePath("guest/compute_native"), "mib=2"});
  EXPECT_EQ(result.exit_status, 0);
  std::ifstream in(RunfilePath("guest/testdata/compute_mib2.out"));
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(result.out, expected.str());
}

}  // namespace
}  // namespace xv::guest_testing
