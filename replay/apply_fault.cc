#include "replay/apply_fault.h"

#include "absl/strings/str_format.h"
#include "hypervisor/arch_state.h"

namespace xv {

absl::Status ApplyFault(Machine& machine, const LoggedFault& fault) {
  GeneralRegisters probe;
  if (GeneralRegister(probe, fault.reg) == nullptr || fault.bit > 63) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot flip bit %d of '%s': no such general register "
                        "bit",
                        fault.bit, fault.reg));
  }
  return machine.cpu().ModifyRegs([&](GeneralRegisters& r) {
    *GeneralRegister(r, fault.reg) ^= uint64_t{1} << fault.bit;
  });
}

}  // namespace xv
