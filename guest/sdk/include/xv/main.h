// The workload's entry point. The runtime calls it at CPL3 (IOPL=0, every
// port allowed by the TSS I/O bitmap, interrupts enabled, SSE usable) once
// the console and the command line are ready, and ends the VM with its
// return value through xv_exit().
#ifndef XV_MAIN_H_
#define XV_MAIN_H_

int xv_main(void);

#endif  // XV_MAIN_H_
