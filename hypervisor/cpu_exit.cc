#include "hypervisor/cpu_exit.h"

#include "absl/strings/str_format.h"

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

}  // namespace

std::string_view ExitKindName(ExitKind kind) {
  return kKinds[static_cast<int>(kind)].name;
}

bool IsGuestInitiated(ExitKind kind) {
  return kKinds[static_cast<int>(kind)].guest_initiated;
}

std::string CpuExit::Describe() const {
  switch (kind) {
    case ExitKind::kPio:
      return absl::StrFormat("pio %s port 0x%x size %d count %d",
                             io.in ? "in" : "out", io.port, io.size, io.count);
    case ExitKind::kMmio:
      return absl::StrFormat("mmio %s gpa 0x%x size %d",
                             mmio.write ? "write" : "read", mmio.gpa,
                             mmio.data.size());
    case ExitKind::kShutdown:
      return "shutdown (triple fault)";
    case ExitKind::kInternalError:
    case ExitKind::kFailEntry:
    case ExitKind::kUnsupported:
      return absl::StrFormat("%s: %s", ExitKindName(kind), detail);
    case ExitKind::kHlt:
    case ExitKind::kHostInterrupt:
      break;
  }
  return std::string(ExitKindName(kind));
}

}  // namespace xv
