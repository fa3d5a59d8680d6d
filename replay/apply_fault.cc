#include "replay/apply_fault.h"

#include "hypervisor/arch_state.h"

namespace xv {

absl::Status ApplyFault(Machine& machine, const LoggedFault& fault) {
  if (absl::Status s = CheckFault(fault); !s.ok()) return s;
  return machine.cpu().ModifyRegs([&](GeneralRegisters& r) {
    *GeneralRegister(r, fault.reg) ^= uint64_t{1} << fault.bit;
  });
}

}  // namespace xv
