/* Compiled as C on purpose: see kvm_uapi.h. */
#include <linux/kvm.h>

#include "kvm/kvm_ioctl_numbers_c.h"

#define XV_IOCTL(name) {#name, (unsigned long)(name)},
const struct xv_named_ioctl xv_kvm_ioctls_from_c[] = {
#include "kvm/kvm_ioctl_numbers.inc"
    {0, 0},
};
