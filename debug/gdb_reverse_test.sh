#!/usr/bin/env bash
# Real gdb (Debian's, in batch mode) against `xvirt debug`: a kvstore
# session recorded on the emulator; break on a guest function by symbol,
# continue, reverse-continue back to an earlier hit, reverse-stepi/stepi,
# a watchpoint on a global firing forward and in reverse, and reverse past
# the first instruction ("No more reverse-execution history"). Runs without
# /dev/kvm: recording and debugging both use the emulator.
set -euo pipefail
xvirt="$1"
kernel="$2"
command -v gdb >/dev/null || { echo "FAIL: gdb is not installed (./bazelw installs it)" >&2; exit 1; }
work="${TEST_TMPDIR:-$(mktemp -d)}"
printf 'SET x 10\nSET y 20\nGET x\nSET x 11\nQUIT\n' >"$work/in"
"$xvirt" record "$kernel" -o "$work/kv.log" --backend emu <"$work/in" >"$work/out" 2>"$work/record.err"

# One debug session per gdb run; port 0: xvirt prints the port it got.
serve() {
  rm -f "$work/debug.err"
  "$xvirt" debug "$work/kv.log" --gdb 127.0.0.1:0 2>"$work/debug.err" &
  server=$!
  for _ in $(seq 100); do
    # The background xvirt may not have created its stderr file yet.
    port=$(sed -n 's/.*target remote 127.0.0.1:\([0-9]*\).*/\1/p' "$work/debug.err" 2>/dev/null || true)
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  echo "FAIL: xvirt debug did not start:" >&2
  cat "$work/debug.err" >&2
  exit 1
}

run_gdb() {  # command file -> output file
  serve
  sed "s/@PORT@/$port/; s/@CLAIMED@/$claimed/g" "$1" >"$work/cmds"
  timeout 120 gdb -nx -batch -x "$work/cmds" "$kernel" >"$2" 2>&1 || true
  wait "$server" || { echo "FAIL: xvirt debug exited with $?:" >&2; cat "$work/debug.err" >&2; exit 1; }
}

expect() {  # file, pattern, what
  if ! grep -qE "$2" "$1"; then
    echo "FAIL: $3: no line matching '$2' in:" >&2
    cat "$1" >&2
    exit 1
  fi
}

kv_set=$(nm "$kernel" | awk '$3 == "kv_set" {print $1}')
[[ -n "$kv_set" ]] || { echo "FAIL: no kv_set symbol in $kernel" >&2; exit 1; }
# kv_table.c's count of claimed slots, a static size_t, watched by address
# through a cast (symbols only: this test does not rely on the DWARF).
claimed=$(nm "$kernel" | awk '$3 == "claimed" {print $1}')
[[ -n "$claimed" ]] || { echo "FAIL: no claimed symbol in $kernel" >&2; exit 1; }

cat >"$work/breaks.gdb" <<'GDB'
set pagination off
set confirm off
set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
break kv_set
continue
printf "FIRST rip=%lx rdi=%lx\n", $rip, $rdi
continue
printf "SECOND rip=%lx rdi=%lx\n", $rip, $rdi
continue
printf "THIRD rip=%lx\n", $rip
reverse-continue
printf "BACK rip=%lx rdi=%lx\n", $rip, $rdi
stepi
printf "STEPPED rip=%lx\n", $rip
reverse-stepi
printf "RSTEPPED rip=%lx\n", $rip
delete
reverse-continue
printf "START rip=%lx\n", $rip
reverse-stepi
detach
GDB
run_gdb "$work/breaks.gdb" "$work/breaks.out"
f=$work/breaks.out
expect "$f" "^Breakpoint 1 at 0x0*${kv_set#00}" "break on a guest symbol"
expect "$f" "^FIRST rip=${kv_set#00}" "continue to the breakpoint"
expect "$f" "^SECOND rip=${kv_set#00}" "continue to the second hit"
second_rdi=$(sed -n 's/^SECOND rip=[0-9a-f]* rdi=\([0-9a-f]*\)/\1/p' "$f")
# reverse-continue from the third hit lands on the second, with its
# arguments (RDI: the key) as they were then.
expect "$f" "^BACK rip=${kv_set#00} rdi=${second_rdi}\$" "reverse-continue to the previous hit"
stepped=$(sed -n 's/^STEPPED rip=//p' "$f")
[[ "$stepped" != "${kv_set#00}" ]] || { echo "FAIL: stepi did not move" >&2; exit 1; }
expect "$f" "^RSTEPPED rip=${kv_set#00}\$" "reverse-stepi back onto the breakpoint"
expect "$f" "No more reverse-execution history" "reverse past the first instruction"

cat >"$work/watch.gdb" <<'GDB'
set pagination off
set confirm off
set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
watch *(long *)0x@CLAIMED@
continue
printf "WATCH1 claimed=%ld\n", *(long *)0x@CLAIMED@
continue
printf "WATCH2 claimed=%ld\n", *(long *)0x@CLAIMED@
reverse-continue
printf "RWATCH claimed=%ld\n", *(long *)0x@CLAIMED@
detach
GDB
run_gdb "$work/watch.gdb" "$work/watch.out"
f=$work/watch.out
expect "$f" "^WATCH1 claimed=1\$" "a write watchpoint fires forward"
expect "$f" "^WATCH2 claimed=2\$" "and again at the next write"
expect "$f" "^RWATCH claimed=1\$" "and fires in reverse, before the write"
echo "PASS"
