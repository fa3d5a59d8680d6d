/* ioctl numbers as a C compiler computes them from <linux/kvm.h>; compared
 * against the C++ values in kvm_uapi_test.cc. */
#ifndef EXTRAVIRT_KVM_KVM_IOCTL_NUMBERS_C_H_
#define EXTRAVIRT_KVM_KVM_IOCTL_NUMBERS_C_H_

#ifdef __cplusplus
extern "C" {
#endif

struct xv_named_ioctl {
  const char* name;
  unsigned long number;
};

/* Terminated by an entry with name == 0. */
extern const struct xv_named_ioctl xv_kvm_ioctls_from_c[];

#ifdef __cplusplus
}
#endif

#endif /* EXTRAVIRT_KVM_KVM_IOCTL_NUMBERS_C_H_ */
