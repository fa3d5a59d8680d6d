// KvmSystem: an open /dev/kvm, the capabilities it reports, and the factory
// for VMs.
#ifndef EXTRAVIRT_KVM_KVM_SYSTEM_H_
#define EXTRAVIRT_KVM_KVM_SYSTEM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "kvm/kvm_uapi.h"

namespace xv {

class Vm;

// $XVIRT_KVM_DEVICE if set (lets tests and users point elsewhere, e.g. to
// show how xvirt behaves without KVM), else /dev/kvm.
std::string DefaultKvmDevicePath();

class KvmSystem {
 public:
  // Opens the device and checks the API version and the capabilities this
  // project relies on (user memory, immediate exit, sync regs). The error
  // says why KVM is unusable and what to do about it.
  static absl::StatusOr<KvmSystem> Open(
      const std::string& path = DefaultKvmDevicePath());

  // KVM_CHECK_EXTENSION: 0 when unsupported, else a capability-specific
  // positive value.
  int CheckExtension(long capability) const;
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

  absl::StatusOr<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;
  absl::StatusOr<std::vector<uint32_t>> MsrIndexList() const;

  absl::StatusOr<Vm> CreateVm() const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  KvmSystem(ScopedFd fd, std::string path, size_t vcpu_mmap_size)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        vcpu_mmap_size_(vcpu_mmap_size) {}

  ScopedFd fd_;
  std::string path_;
  size_t vcpu_mmap_size_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_SYSTEM_H_
