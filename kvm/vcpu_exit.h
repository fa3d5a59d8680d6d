// DecodeExit: kvm_run decoded once into the backend-neutral CpuExit
// (STYLE #3); nothing else in the project reads the raw kvm_run union.
#ifndef EXTRAVIRT_KVM_VCPU_EXIT_H_
#define EXTRAVIRT_KVM_VCPU_EXIT_H_

#include "hypervisor/cpu_exit.h"

struct kvm_run;

namespace xv {

// Decodes the exit KVM_RUN just reported in `run`. PIO data spans point
// into `run`'s page. PioExit::elements_left is left 0: telling a string
// instruction's exits apart needs the instruction (KvmCpu does that).
CpuExit DecodeExit(kvm_run* run);

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VCPU_EXIT_H_
