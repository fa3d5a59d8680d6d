#!/usr/bin/env bash
# Unicorn is GPLv2: only libxvirt_emu.so may link it. Neither xvirt (which
# links the library statically) nor libextravirt.so may have libunicorn among
# their dynamic dependencies; the emulator's shared object must have it and
# Capstone. Capstone (BSD) is also allowed in xvirt, which disassembles for
# `xvirt inspect`; libextravirt.so links neither.
set -euo pipefail
xvirt="$1"
emu="$2"
libextravirt="$3"
fail=0
if grep -E 'libunicorn' <<<"$(ldd "$xvirt")"; then
  echo "FAIL: $xvirt links Unicorn" >&2
  fail=1
fi
if grep -E 'libunicorn|libcapstone' <<<"$(ldd "$libextravirt")"; then
  echo "FAIL: $libextravirt links Unicorn or Capstone" >&2
  fail=1
fi
# ldd's output in a variable: `ldd | grep -q` under pipefail fails when grep
# exits early and ldd dies of SIGPIPE.
emu_deps=$(ldd "$emu")
for lib in libunicorn libcapstone; do
  if ! grep -q "$lib" <<<"$emu_deps"; then
    echo "FAIL: $emu does not link $lib" >&2
    fail=1
  fi
done
exported=$(nm -D --defined-only "$emu" | awk '$2 == "T" {print $3}')
if [[ "$exported" != "xv_emu_open_hypervisor" ]]; then
  echo "FAIL: $emu exports functions other than the entry: $exported" >&2
  fail=1
fi
exit "$fail"
