// The one place this project includes <linux/kvm.h>; include this instead.
//
// Debian 12's kernel headers (linux-libc-dev 6.1) declare flexible array
// members with __DECLARE_FLEX_ARRAY, which in C++ wraps them in an anonymous
// struct holding an empty struct. That changes the size of kvm_cpuid2,
// kvm_msrs, kvm_msr_list, kvm_signal_mask, ... in C++ only, and with it every
// ioctl number computed from those sizes (KVM_SET_CPUID2, KVM_GET_MSRS, ...),
// which then fail with EINVAL. Redefining the macro as a zero-length array
// restores the C layout; kvm_uapi_test.cc checks the numbers against C.
#ifndef EXTRAVIRT_KVM_KVM_UAPI_H_
#define EXTRAVIRT_KVM_KVM_UAPI_H_

#ifdef _LINUX_KVM_H
#error "<linux/kvm.h> was included before kvm/kvm_uapi.h; include only this"
#endif

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

static_assert(sizeof(struct kvm_cpuid2) == 8, "kvm_cpuid2 has C++ layout");
static_assert(sizeof(struct kvm_msrs) == 8, "kvm_msrs has C++ layout");
static_assert(sizeof(struct kvm_msr_list) == 4, "kvm_msr_list has C++ layout");

#endif  // EXTRAVIRT_KVM_KVM_UAPI_H_
