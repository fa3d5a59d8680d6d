#include "kvm/vm.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/scoped_mapping.h"
#include "kvm/kvm_uapi.h"
#include "kvm/vcpu.h"

namespace xv {

absl::Status Vm::SetMemorySlot(uint32_t slot, uint64_t gpa,
                               std::span<uint8_t> host, uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = host.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(host.data());
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("KVM_SET_USER_MEMORY_REGION(slot %d, gpa 0x%x, "
                               "size 0x%x, flags 0x%x)",
                               slot, gpa, host.size(), flags));
  }
  return absl::OkStatus();
}

absl::Status Vm::RemoveMemorySlot(uint32_t slot) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrFormat("KVM_SET_USER_MEMORY_REGION(remove slot %d)", slot));
  }
  return absl::OkStatus();
}

absl::Status Vm::GetDirtyLog(uint32_t slot, std::span<uint64_t> bitmap) {
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("KVM_GET_DIRTY_LOG(slot %d)", slot));
  }
  return absl::OkStatus();
}

absl::Status Vm::SetTssAddr(uint64_t gpa) {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, gpa) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrFormat("KVM_SET_TSS_ADDR(0x%x)", gpa));
  }
  return absl::OkStatus();
}

absl::StatusOr<Vcpu> Vm::CreateVcpu(int id) {
  int vcpu_fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, id);
  if (vcpu_fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrFormat("KVM_CREATE_VCPU(%d)", id));
  }
  ScopedFd fd(vcpu_fd);
  auto run = ScopedMapping::Map(vcpu_mmap_size_, PROT_READ | PROT_WRITE,
                                MAP_SHARED, fd.get(), 0,
                                absl::StrFormat("kvm_run of vCPU %d", id));
  if (!run.ok()) return run.status();
  return Vcpu::Create(std::move(fd), std::move(*run));
}

}  // namespace xv
