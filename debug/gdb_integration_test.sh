#!/usr/bin/env bash
# gdb_integration_test.sh STUB: Debian's gdb against gdb_fake_stub. Proves
# what unit tests cannot: that a real gdb accepts our target description and
# reads the `g` layout as we write it (a wrong size or order shows as wrong
# values or a "g packet" error), fetches memory and writes a register.
set -euo pipefail
stub="$1"

if ! command -v gdb >/dev/null; then
  echo "FAIL: gdb is not installed (expected /usr/bin/gdb). ./bazelw installs" \
    "it (Debian package gdb); or: sudo apt-get install gdb" >&2
  exit 1
fi

work="${TEST_TMPDIR:-$(mktemp -d)}"
port_file="$work/port"
rm -f "$port_file"
"$stub" --port-file "$port_file" 2>"$work/stub.log" &
stub_pid=$!
trap 'kill "$stub_pid" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  [[ -s "$port_file" ]] && break
  sleep 0.1
done
if [[ ! -s "$port_file" ]]; then
  echo "FAIL: the stub wrote no port" >&2
  cat "$work/stub.log" >&2
  exit 1
fi
port=$(cat "$port_file")

status=0
timeout 45 gdb -nx -batch \
  -ex 'set architecture i386:x86-64' \
  -ex "target remote 127.0.0.1:$port" \
  -ex 'info registers rip' \
  -ex 'info registers rax' \
  -ex 'info registers eflags' \
  -ex 'info registers cs' \
  -ex 'info registers cr0' \
  -ex 'info registers efer' \
  -ex 'p/x $cr3' \
  -ex 'p/x $fs_base' \
  -ex 'p/x $xmm1.uint128' \
  -ex 'p $st0' \
  -ex 'info registers mxcsr' \
  -ex 'x/4xb 0x1000' \
  -ex 'set $rax = 0x42' \
  -ex 'p/x $rax' \
  >"$work/gdb.out" 2>&1 || status=$?
cat "$work/gdb.out"
if ((status != 0)); then
  echo "FAIL: gdb exited with status $status" >&2
  cat "$work/stub.log" >&2
  exit 1
fi

fail=0
expect() {
  if ! grep -Eq -- "$1" "$work/gdb.out"; then
    echo "FAIL: gdb's output lacks /$1/" >&2
    fail=1
  fi
}
expect '^rip +0x401000 +0x401000'
expect '^rax +0x1122334455667788 '
expect '^eflags +0x246 +\[ .*IF.* \]'
expect '^cs +0x10 '
expect '^cr0 +0x80050033 +\[ PE .*PG \]'
expect '^efer +0xd01 +\[ .*LMA.* \]'
expect '^\$[0-9]+ = 0x1000$'
expect '^\$[0-9]+ = 0x7f0000001000$'
expect '^\$[0-9]+ = 0xf0e0d0c0b0a09080706050403020100$'
expect '^\$[0-9]+ = 1$'
expect '^mxcsr +0x1f80 '
expect '^0x1000:[[:space:]]+0x00[[:space:]]+0x00[[:space:]]+0x00[[:space:]]+0x00'
expect '^\$[0-9]+ = 0x42$'
for bad in "g' packet" 'Truncated register' 'Remote failure' \
  'Could not load XML' 'Invalid remote reply' 'unknown type'; do
  if grep -Fqi -- "$bad" "$work/gdb.out"; then
    echo "FAIL: gdb complained: $bad" >&2
    fail=1
  fi
done

# gdb ends the session on exit: the stub must see a kill, detach or
# disconnection and exit cleanly.
for _ in $(seq 100); do
  kill -0 "$stub_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$stub_pid" 2>/dev/null; then
  echo "FAIL: the stub still runs after gdb exited" >&2
  kill "$stub_pid"
  fail=1
fi
stub_status=0
wait "$stub_pid" || stub_status=$?
trap - EXIT
if ((stub_status != 0)); then
  echo "FAIL: the stub exited with status $stub_status" >&2
  fail=1
fi
if ((fail)); then
  cat "$work/stub.log" >&2
  exit 1
fi
echo "PASS"
