exception: raising ud at CPL3
guest: exception 6 \(#UD\) at RIP 0x[0-9a-f]+, error code 0x0, CPL 3, RSP 0x[0-9a-f]+, RFLAGS 0x[0-9a-f]+
