// Guest entry of the compute workload. Options: mib=N (default
// COMPUTE_DEFAULT_MIB). All the work runs at CPL3 without exits.
#include "compute_core.h"
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"mib", NULL});
  uint64_t mib = xv_cmdline_u64("mib", COMPUTE_DEFAULT_MIB);
  struct compute_result result;
  compute_run(mib, &result);
  char line[COMPUTE_RESULT_LINE_SIZE];
  compute_format_result(&result, line, sizeof(line));
  xv_puts(line);
  return XV_EXIT_SUCCESS;
}
