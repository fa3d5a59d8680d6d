// Vm: one KVM virtual machine (its fd and memory slots) and the factory for
// its vCPU. Userspace irqchip only: no KVM_CREATE_IRQCHIP (DESIGN §2).
#ifndef EXTRAVIRT_KVM_VM_H_
#define EXTRAVIRT_KVM_VM_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"

namespace xv {

class Vcpu;

class Vm {
 public:
  Vm(ScopedFd fd, size_t vcpu_mmap_size)
      : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}
  Vm(Vm&&) noexcept = default;
  Vm& operator=(Vm&&) noexcept = default;

  // KVM_SET_USER_MEMORY_REGION: guest physical [gpa, gpa + host.size())
  // is backed by `host`, which must stay mapped while the VM exists.
  // flags: KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY.
  absl::Status SetMemorySlot(uint32_t slot, uint64_t gpa,
                             std::span<uint8_t> host, uint32_t flags = 0);
  absl::Status RemoveMemorySlot(uint32_t slot);

  // KVM_GET_DIRTY_LOG into `bitmap` (one bit per page of the slot); the
  // kernel then clears its copy.
  absl::Status GetDirtyLog(uint32_t slot, std::span<uint64_t> bitmap);

  // Needed on Intel hosts before the first KVM_RUN; harmless elsewhere.
  absl::Status SetTssAddr(uint64_t gpa);

  absl::StatusOr<Vcpu> CreateVcpu(int id);

  int fd() const { return fd_.get(); }

 private:
  ScopedFd fd_;
  size_t vcpu_mmap_size_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VM_H_
