exception: raising gp at CPL0
guest: exception 13 \(#GP\) at RIP 0x[0-9a-f]+, error code 0x0, CPL 0, RSP 0x[0-9a-f]+, RFLAGS 0x[0-9a-f]+
