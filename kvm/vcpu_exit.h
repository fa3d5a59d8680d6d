// VcpuExit: kvm_run decoded once into a typed exit (STYLE #3); nothing else
// in the project reads the raw kvm_run union.
#ifndef EXTRAVIRT_KVM_VCPU_EXIT_H_
#define EXTRAVIRT_KVM_VCPU_EXIT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct kvm_run;

namespace xv {

// name, guest-initiated. Guest-initiated exits are the positions of the
// instruction stream that the ESN counts (DESIGN §2); the others are caused
// by the host or end the run, and must be invisible to the guest.
#define XV_EXIT_KINDS(X)               \
  X(kIo, "pio", true)                  \
  X(kMmio, "mmio", true)               \
  X(kHlt, "hlt", true)                 \
  X(kIrqWindowOpen, "irq_window", true) \
  X(kShutdown, "shutdown", true)       \
  X(kInternalError, "internal_error", false) \
  X(kFailEntry, "fail_entry", false)   \
  X(kHostInterrupt, "host_interrupt", false) \
  X(kDebug, "debug", false)            \
  X(kSystemEvent, "system_event", false) \
  X(kUnknown, "unknown", false)

enum class ExitKind : uint8_t {
#define XV_ENUM(e, name, guest) e,
  XV_EXIT_KINDS(XV_ENUM)
#undef XV_ENUM
};
inline constexpr int kNumExitKinds = static_cast<int>(ExitKind::kUnknown) + 1;

std::string_view ExitKindName(ExitKind kind);
bool IsGuestInitiated(ExitKind kind);

struct IoExit {
  uint16_t port = 0;
  uint8_t size = 0;  // 1, 2 or 4 bytes per element
  bool in = false;
  // Elements of a `rep ins/outs` batch (1 for a plain in/out).
  uint32_t count = 0;
  // count*size bytes inside the kvm_run page: filled by the handler for `in`,
  // read by it for `out`. Valid until the next KVM_RUN.
  std::span<uint8_t> data;
};

struct MmioExit {
  uint64_t gpa = 0;
  bool write = false;
  std::span<uint8_t> data;  // 1-8 bytes; filled by the handler for reads
};

struct VcpuExit {
  ExitKind kind = ExitKind::kUnknown;
  uint32_t raw_reason = 0;  // KVM_EXIT_*
  IoExit io;                // kIo
  MmioExit mmio;            // kMmio
  // kInternalError: suberror and data words; kFailEntry: hardware reason.
  uint32_t suberror = 0;
  std::vector<uint64_t> details;

  // One line for reports: "pio out port 0x3f8 size 1", "internal_error
  // (emulation failure) ...".
  std::string Describe() const;
};

// Decodes the exit KVM_RUN just reported in `run`.
VcpuExit DecodeExit(kvm_run* run);

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VCPU_EXIT_H_
