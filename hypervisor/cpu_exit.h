// CpuExit: why a backend's CPU stopped running guest code, as one typed value
// (what KVM's kvm_run or the emulator's stop reason decode into), and the
// rule that turns exits into positions — the exit sequence number (ESN,
// DESIGN §2) — identically for every backend.
//
// The ESN counts guest-initiated exits: PIO and MMIO accesses, HLT and
// shutdown, one each. Exits the host causes (a kick, a signal) and backend
// failures do not count. Every guest-initiated exit that does not end the
// run is followed by a rendezvous (inputs, interrupt injection, state
// hashes), so which exits a guest makes must be the same on every backend;
// for string I/O, where a CPU could report elements one by one or in any
// batch, string_io.h defines it.
#ifndef EXTRAVIRT_HYPERVISOR_CPU_EXIT_H_
#define EXTRAVIRT_HYPERVISOR_CPU_EXIT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace xv {

// name, guest-initiated (counted by the ESN rule).
#define XV_EXIT_KINDS(X)                     \
  X(kPio, "pio", true)                       \
  X(kMmio, "mmio", true)                     \
  X(kHlt, "hlt", true)                       \
  X(kShutdown, "shutdown", true)             \
  X(kHostInterrupt, "host_interrupt", false) \
  X(kInternalError, "internal_error", false) \
  X(kFailEntry, "fail_entry", false)         \
  X(kUnsupported, "unsupported", false)

// kShutdown: a triple fault. kHostInterrupt: the host stopped the CPU (a
// kick, a signal) between two guest instructions; invisible to the guest.
// kInternalError: the backend cannot execute the guest's instruction;
// kFailEntry: it could not enter the guest at all; kUnsupported: an exit
// this project does not handle. These three carry CpuExit::detail.
enum class ExitKind : uint8_t {
#define XV_ENUM(e, name, guest) e,
  XV_EXIT_KINDS(XV_ENUM)
#undef XV_ENUM
};
inline constexpr int kNumExitKinds =
    static_cast<int>(ExitKind::kUnsupported) + 1;

std::string_view ExitKindName(ExitKind kind);
bool IsGuestInitiated(ExitKind kind);

struct PioExit {
  uint16_t port = 0;
  uint8_t size = 0;  // 1, 2 or 4 bytes per element
  bool in = false;
  // Elements in this exit: 1 for a plain in/out; for a string instruction,
  // as string_io.h says.
  uint32_t count = 0;
  // count*size bytes owned by the backend: filled by the handler for `in`,
  // read by it for `out`. Valid until the next call on the CPU.
  std::span<uint8_t> data;
};

struct MmioExit {
  uint64_t gpa = 0;
  bool write = false;
  std::span<uint8_t> data;  // 1-8 bytes; filled by the handler for reads
};

struct CpuExit {
  ExitKind kind = ExitKind::kUnsupported;
  PioExit io;     // kPio
  MmioExit mmio;  // kMmio
  // kInternalError, kFailEntry, kUnsupported: the backend's own account,
  // one line ("KVM_EXIT_INTERNAL_ERROR (emulation failure, suberror 1) data
  // [0x0 0x1]").
  std::string detail;

  // One line for reports: "pio out port 0x3f8 size 1 count 1".
  std::string Describe() const;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_CPU_EXIT_H_
