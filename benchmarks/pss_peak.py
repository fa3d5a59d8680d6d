#!/usr/bin/env python3
"""Runs a command and prints its wall time and peak memory.

Samples, every 50 ms while the command runs, /proc/PID/smaps_rollup's Pss
(each page the process maps, divided among its mappers) and the allocated
size (st_blocks * 512) of the process's /memfd: descriptors: the shared
base of a replicated xvirt run, whose unmapped pages Pss does not see.

  python3 benchmarks/pss_peak.py xvirt replicate memtouch --cmdline mib=64
"""
import os
import subprocess
import sys
import time


def sample(pid):
    pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    memfd = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                memfd += os.stat(f"/proc/{pid}/fd/{fd}").st_blocks * 512
        except OSError:
            pass  # closed meanwhile
    return pss, memfd


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: pss_peak.py COMMAND [ARGS...]")
    start = time.monotonic()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    peak_pss = peak_memfd = 0
    while child.poll() is None:
        try:
            pss, memfd = sample(child.pid)
            peak_pss, peak_memfd = max(peak_pss, pss), max(peak_memfd, memfd)
        except OSError:
            pass  # exited between poll() and the read
        time.sleep(0.05)
    print(f"wall {time.monotonic() - start:.2f}s "
          f"peakPss {peak_pss / 2**20:.0f}MiB "
          f"peakMemfd {peak_memfd / 2**20:.0f}MiB "
          f"exit {child.returncode}")


if __name__ == "__main__":
    main()
