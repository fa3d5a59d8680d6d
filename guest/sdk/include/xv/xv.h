// Everything a workload usually needs.
#ifndef XV_XV_H_
#define XV_XV_H_

#include "xv/ata.h"
#include "xv/cmdline.h"
#include "xv/console.h"
#include "xv/exit.h"
#include "xv/format.h"
#include "xv/irq.h"
#include "xv/main.h"
#include "xv/memory.h"
#include "xv/panic.h"
#include "xv/pic.h"
#include "xv/pit.h"
#include "xv/port_io.h"
#include "xv/rtc.h"
#include "xv/string.h"
#include "xv/syscall.h"
#include "xv/uart.h"
#include "xv/vro.h"

#endif  // XV_XV_H_
