#include "kvm/kvm_uapi.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "kvm/kvm_ioctl_numbers_c.h"

namespace xv {
namespace {

TEST(KvmUapiTest, IoctlNumbersMatchC) {
  std::map<std::string, unsigned long> cxx;
#define XV_IOCTL(name) cxx[#name] = static_cast<unsigned long>(name);
#include "kvm/kvm_ioctl_numbers.inc"
#undef XV_IOCTL
  size_t compared = 0;
  for (const xv_named_ioctl* e = xv_kvm_ioctls_from_c; e->name != nullptr;
       ++e) {
    ASSERT_TRUE(cxx.count(e->name)) << e->name;
    EXPECT_EQ(cxx[e->name], e->number)
        << e->name << ": C++ computes a different ioctl number than C";
    ++compared;
  }
  EXPECT_EQ(compared, cxx.size());
  // The ones Debian 12's headers break in C++ without the fix.
  EXPECT_GT(compared, 30u);
}

}  // namespace
}  // namespace xv
