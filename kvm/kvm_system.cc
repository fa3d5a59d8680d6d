#include "kvm/kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "kvm/vm.h"

namespace xv {
namespace {

struct RequiredCap {
  long cap;
  const char* name;
};

constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
};

std::string OpenAdvice(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return " (KVM is not available on this host: load the kvm module, or "
             "enable (nested) virtualization for this machine)";
    case EACCES:
    case EPERM:
      return " (no permission: add your user to the 'kvm' group or run as "
             "root)";
    default:
      return "";
  }
}

}  // namespace

std::string DefaultKvmDevicePath() {
  const char* env = std::getenv("XVIRT_KVM_DEVICE");
  return env != nullptr && *env != '\0' ? env : "/dev/kvm";
}

absl::StatusOr<KvmSystem> KvmSystem::Open(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    return absl::ErrnoToStatus(
        err, absl::StrFormat("cannot open %s%s", path, OpenAdvice(err)));
  }
  int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: KVM_GET_API_VERSION returned %d, expected %d (is this a KVM "
        "device?)",
        path, version, KVM_API_VERSION));
  }
  for (const RequiredCap& rc : kRequiredCaps) {
    if (::ioctl(fd.get(), KVM_CHECK_EXTENSION, rc.cap) <= 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: KVM lacks %s, which xvirt requires", path, rc.name));
    }
  }
  // General registers at every exit for free; segment registers too, for
  // decoding the instruction at RIP (string I/O, kvm_cpu.h).
  constexpr int kSynced = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  if ((::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & kSynced) !=
      kSynced) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: KVM_CAP_SYNC_REGS does not cover general and segment registers",
        path));
  }
  int mmap_size = ::ioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("%s: KVM_GET_VCPU_MMAP_SIZE", path));
  }
  return KvmSystem(std::move(fd), path, static_cast<size_t>(mmap_size));
}

int KvmSystem::CheckExtension(long capability) const {
  int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  return r < 0 ? 0 : r;
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> KvmSystem::SupportedCpuid()
    const {
  // The kernel says E2BIG until the buffer is large enough.
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    size_t bytes = sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2);
    auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.get());
    std::memset(cpuid, 0, bytes);
    cpuid->nent = n;
    if (::ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
      return std::vector<kvm_cpuid_entry2>(cpuid->entries,
                                           cpuid->entries + cpuid->nent);
    }
    if (errno != E2BIG) {
      return absl::ErrnoToStatus(errno, "KVM_GET_SUPPORTED_CPUID");
    }
  }
  return absl::ResourceExhaustedError(
      "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

absl::StatusOr<std::vector<uint32_t>> KvmSystem::MsrIndexList() const {
  kvm_msr_list probe{};
  probe.nmsrs = 0;
  // With nmsrs == 0 the kernel fails with E2BIG and reports the count.
  if (::ioctl(fd_.get(), KVM_GET_MSR_INDEX_LIST, &probe) == 0) {
    return std::vector<uint32_t>();
  }
  if (errno != E2BIG) {
    return absl::ErrnoToStatus(errno, "KVM_GET_MSR_INDEX_LIST");
  }
  uint32_t n = probe.nmsrs;
  auto buf = std::make_unique<uint32_t[]>(1 + n);
  auto* list = reinterpret_cast<kvm_msr_list*>(buf.get());
  list->nmsrs = n;
  if (::ioctl(fd_.get(), KVM_GET_MSR_INDEX_LIST, list) != 0) {
    return absl::ErrnoToStatus(errno, "KVM_GET_MSR_INDEX_LIST");
  }
  return std::vector<uint32_t>(list->indices, list->indices + list->nmsrs);
}

absl::StatusOr<Vm> KvmSystem::CreateVm() const {
  // KVM_CREATE_VM can fail with EINTR on some kernels; retry.
  int vm_fd;
  do {
    vm_fd = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
  } while (vm_fd < 0 && errno == EINTR);
  if (vm_fd < 0) return absl::ErrnoToStatus(errno, "KVM_CREATE_VM");
  return Vm(ScopedFd(vm_fd), vcpu_mmap_size_);
}

}  // namespace xv
