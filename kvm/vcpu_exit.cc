#include "kvm/vcpu_exit.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kvm/kvm_uapi.h"

namespace xv {
namespace {

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

std::string_view ExitReasonName(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_DEBUG:
      return "KVM_EXIT_DEBUG";
    case KVM_EXIT_SYSTEM_EVENT:
      return "KVM_EXIT_SYSTEM_EVENT";
    case KVM_EXIT_EXCEPTION:
      return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_HYPERCALL:
      return "KVM_EXIT_HYPERCALL";
    default:
      return "KVM exit";
  }
}

}  // namespace

CpuExit DecodeExit(kvm_run* run) {
  CpuExit exit;
  switch (run->exit_reason) {
    case KVM_EXIT_IO:
      exit.kind = ExitKind::kPio;
      exit.io.port = run->io.port;
      exit.io.size = run->io.size;
      exit.io.in = run->io.direction == KVM_EXIT_IO_IN;
      exit.io.count = run->io.count;
      exit.io.data = {reinterpret_cast<uint8_t*>(run) + run->io.data_offset,
                      static_cast<size_t>(run->io.size) * run->io.count};
      break;
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
    case KVM_EXIT_SHUTDOWN:
      exit.kind = ExitKind::kShutdown;
      break;
    case KVM_EXIT_INTR:
      exit.kind = ExitKind::kHostInterrupt;
      break;
    case KVM_EXIT_INTERNAL_ERROR: {
      exit.kind = ExitKind::kInternalError;
      const uint32_t n = std::min<uint32_t>(run->internal.ndata,
                                            std::size(run->internal.data));
      exit.detail = absl::StrFormat(
          "KVM_EXIT_INTERNAL_ERROR (%s, suberror %d) data [%s]",
          InternalSuberrorName(run->internal.suberror), run->internal.suberror,
          absl::StrJoin(run->internal.data, run->internal.data + n, " ",
                        [](std::string* out, uint64_t v) {
                          absl::StrAppendFormat(out, "0x%x", v);
                        }));
      break;
    }
    case KVM_EXIT_FAIL_ENTRY:
      exit.kind = ExitKind::kFailEntry;
      exit.detail = absl::StrFormat(
          "KVM_EXIT_FAIL_ENTRY (hardware reason 0x%x)",
          static_cast<uint64_t>(run->fail_entry.hardware_entry_failure_reason));
      break;
    default:
      exit.kind = ExitKind::kUnsupported;
      exit.detail =
          absl::StrFormat("%s (exit reason %d)",
                          ExitReasonName(run->exit_reason), run->exit_reason);
      break;
  }
  return exit;
}

}  // namespace xv
