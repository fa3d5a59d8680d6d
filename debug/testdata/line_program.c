// A tiny freestanding program for elf_symbols_test and disassembler_test:
// functions, an object and source lines at known places. The tests find the
// lines by the markers in the comments, so edits here need no test edits.

static volatile int counter;
int table[4] = {1, 2, 3, 4};

static void bump(int n) {  // marker: bump starts
  counter += n;            // marker: bump body
}

void _start(void) {
  bump(table[1]);
  for (;;) {
  }
}
