exception: raising pf at CPL3
guest: exception 14 \(#PF\) at RIP 0x[0-9a-f]+, error code 0x6, CPL 3, RSP 0x[0-9a-f]+, RFLAGS 0x[0-9a-f]+, CR2 0x100000000
