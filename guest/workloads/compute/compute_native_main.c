// Host build of the compute workload (//guest:compute_native): the same
// computation and result line as compute.elf, for benchmarks against native.
// Usage: compute_native [mib=N]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_core.h"

int main(int argc, char** argv) {
  uint64_t mib = COMPUTE_DEFAULT_MIB;
  for (int i = 1; i < argc; i++) {
    char* end;
    if (strncmp(argv[i], "mib=", 4) != 0 || argv[i][4] == '\0') {
      fprintf(stderr, "usage: %s [mib=N]\n", argv[0]);
      return 2;
    }
    mib = strtoull(argv[i] + 4, &end, 0);
    if (*end != '\0') {
      fprintf(stderr, "compute_native: mib=%s is not a number\n", argv[i] + 4);
      return 2;
    }
  }
  struct compute_result result;
  compute_run(mib, &result);
  char line[COMPUTE_RESULT_LINE_SIZE];
  compute_format_result(&result, line, sizeof(line));
  puts(line);
  return 0;
}
