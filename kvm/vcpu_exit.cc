#include "kvm/vcpu_exit.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kvm/kvm_uapi.h"

namespace xv {
namespace {

struct KindInfo {
  std::string_view name;
  bool guest_initiated;
};

constexpr KindInfo kKinds[] = {
#define XV_INFO(e, name, guest) {name, guest},
    XV_EXIT_KINDS(XV_INFO)
#undef XV_INFO
};

std::string_view InternalSuberrorName(uint32_t suberror) {
  switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
      return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
      return "exception while delivering exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
      return "event delivery failed";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return "unexpected exit reason";
    default:
      return "unknown suberror";
  }
}

}  // namespace

std::string_view ExitKindName(ExitKind kind) {
  return kKinds[static_cast<int>(kind)].name;
}

bool IsGuestInitiated(ExitKind kind) {
  return kKinds[static_cast<int>(kind)].guest_initiated;
}

VcpuExit DecodeExit(kvm_run* run) {
  VcpuExit exit;
  exit.raw_reason = run->exit_reason;
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      exit.kind = ExitKind::kIo;
      exit.io.port = run->io.port;
      exit.io.size = run->io.size;
      exit.io.in = run->io.direction == KVM_EXIT_IO_IN;
      exit.io.count = run->io.count;
      exit.io.data = {reinterpret_cast<uint8_t*>(run) + run->io.data_offset,
                      static_cast<size_t>(run->io.size) * run->io.count};
      break;
    }
    case KVM_EXIT_MMIO:
      exit.kind = ExitKind::kMmio;
      exit.mmio.gpa = run->mmio.phys_addr;
      exit.mmio.write = run->mmio.is_write != 0;
      exit.mmio.data = {run->mmio.data,
                        std::min<size_t>(run->mmio.len, sizeof run->mmio.data)};
      break;
    case KVM_EXIT_HLT:
      exit.kind = ExitKind::kHlt;
      break;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      exit.kind = ExitKind::kIrqWindowOpen;
      break;
    case KVM_EXIT_SHUTDOWN:
      exit.kind = ExitKind::kShutdown;
      break;
    case KVM_EXIT_INTERNAL_ERROR: {
      exit.kind = ExitKind::kInternalError;
      exit.suberror = run->internal.suberror;
      uint32_t n = std::min<uint32_t>(run->internal.ndata,
                                      std::size(run->internal.data));
      exit.details.assign(run->internal.data, run->internal.data + n);
      break;
    }
    case KVM_EXIT_FAIL_ENTRY:
      exit.kind = ExitKind::kFailEntry;
      exit.details = {run->fail_entry.hardware_entry_failure_reason};
      break;
    case KVM_EXIT_INTR:
      exit.kind = ExitKind::kHostInterrupt;
      break;
    case KVM_EXIT_DEBUG:
      exit.kind = ExitKind::kDebug;
      break;
    case KVM_EXIT_SYSTEM_EVENT:
      exit.kind = ExitKind::kSystemEvent;
      exit.suberror = run->system_event.type;
      break;
    default:
      exit.kind = ExitKind::kUnknown;
      break;
  }
  return exit;
}

std::string VcpuExit::Describe() const {
  switch (kind) {
    case ExitKind::kIo:
      return absl::StrFormat("pio %s port 0x%x size %d count %d",
                             io.in ? "in" : "out", io.port, io.size, io.count);
    case ExitKind::kMmio:
      return absl::StrFormat("mmio %s gpa 0x%x size %d",
                             mmio.write ? "write" : "read", mmio.gpa,
                             mmio.data.size());
    case ExitKind::kInternalError:
      return absl::StrFormat(
          "internal_error (KVM_EXIT_INTERNAL_ERROR, %s, suberror %d) data "
          "[%s]",
          InternalSuberrorName(suberror), suberror,
          absl::StrJoin(details, " ", [](std::string* out, uint64_t v) {
            absl::StrAppendFormat(out, "0x%x", v);
          }));
    case ExitKind::kFailEntry:
      return absl::StrFormat(
          "fail_entry (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%x)",
          details.empty() ? 0 : details[0]);
    case ExitKind::kShutdown:
      return "shutdown (KVM_EXIT_SHUTDOWN: triple fault)";
    case ExitKind::kUnknown:
      return absl::StrFormat("unknown (KVM exit reason %d)", raw_reason);
    default:
      return std::string(ExitKindName(kind));
  }
}

}  // namespace xv
