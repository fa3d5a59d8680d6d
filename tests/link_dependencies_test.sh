#!/usr/bin/env bash
# Unicorn is GPLv2: only libxvirt_emu.so may link it. xvirt (which links
# the library statically) and libextravirt.so must not have libunicorn or
# libcapstone among their dynamic dependencies; the emulator's shared object
# must have both.
set -euo pipefail
xvirt="$1"
emu="$2"
libextravirt="$3"
fail=0
for binary in "$xvirt" "$libextravirt"; do
  deps=$(ldd "$binary")
  if grep -E 'libunicorn|libcapstone' <<<"$deps"; then
    echo "FAIL: $binary links Unicorn or Capstone" >&2
    fail=1
  fi
done
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
