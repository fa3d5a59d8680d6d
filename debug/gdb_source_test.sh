#!/usr/bin/env bash
# Source-level debugging with real gdb (Debian's, in batch mode) against
# `xvirt debug`, on the DWARF the guests carry: a debug_steps recording made
# on the emulator (guest/testcases/debug_steps.c, built -O0). Breaks on a
# source line and on a function, next/step/finish forward with the locals'
# values at each line, reverse-next (also back over a call),
# reverse-step into the callee and reverse-finish out of it, `info line`,
# backtraces and `list` naming guest/testcases/debug_steps.c. Twice: gdb on
# the ELF64 copy (debug_steps.debug.elf, what users are told to use), and on
# the ELF32 image itself with `set architecture i386:x86-64` (there gdb
# analyses prologues as i386 code, so the function breakpoint is left out).
# Runs without /dev/kvm: recording and debugging both use the emulator.
set -euo pipefail
xvirt="$1"
kernel="$2"        # debug_steps.elf, the multiboot image (ELF32)
debug_kernel="$3"  # debug_steps.debug.elf, the same as ELF64
source="$4"        # guest/testcases/debug_steps.c, also found by gdb from here
command -v gdb >/dev/null || { echo "FAIL: gdb is not installed (./bazelw installs it)" >&2; exit 1; }
work="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$xvirt" record "$kernel" -o "$work/steps.log" --backend emu </dev/null >"$work/out" 2>"$work/record.err" ||
  fail "xvirt record exited $?: $(cat "$work/record.err")"
grep -qx "debug_steps: value=961 total=1486" "$work/out" || fail "guest output: $(cat "$work/out")"

# The source's lines, by their `// step: NAME` markers.
line_of() {
  local n
  n=$(grep -n "// step: $1\$" "$source" | cut -d: -f1)
  [[ -n "$n" ]] || fail "no '// step: $1' in $source"
  echo "$n"
}
triple=$(line_of triple)
add=$(line_of add)
call=$(line_of call)
total=$(line_of total)
square=$(line_of square)
square_end=$(($(line_of square_return) + 1))  # the closing brace
file=guest/testcases/debug_steps.c

serve() {
  "$xvirt" debug "$work/steps.log" --gdb 127.0.0.1:0 2>"$work/debug.err" &
  server=$!
  for _ in $(seq 100); do
    # The background xvirt may not have created its stderr file yet.
    port=$(sed -n 's/.*target remote 127.0.0.1:\([0-9]*\).*/\1/p' "$work/debug.err" 2>/dev/null || true)
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  fail "xvirt debug did not start: $(cat "$work/debug.err")"
}

# Each `echo TAG\n` is followed by `info line *$pc`: at(TAG, LINE) checks
# that gdb put the PC on that source line there.
steps_gdb() {  # architecture command; then the command file on stdout
  cat <<GDB
set pagination off
set confirm off
$1
target remote 127.0.0.1:@PORT@
break debug_steps.c:$triple
continue
continue
printf "HIT i=%lu value=%lu total=%lu\n", i, value, debug_steps_total
echo AT_HIT\n
info line *\$pc
next
printf "NEXT1 value=%lu\n", value
echo AT_NEXT1\n
info line *\$pc
next
printf "NEXT2 value=%lu\n", value
echo AT_NEXT2\n
info line *\$pc
step
printf "STEP x=%lu\n", x
echo AT_STEP\n
info line *\$pc
bt 2
finish
printf "FINISH value=%lu\n", value
echo AT_FINISH\n
info line *\$pc
next
printf "NEXT3 value=%lu total=%lu\n", value, debug_steps_total
echo AT_NEXT3\n
info line *\$pc
next
printf "NEXT4 total=%lu\n", debug_steps_total
reverse-next
printf "RNEXT1 value=%lu total=%lu\n", value, debug_steps_total
echo AT_RNEXT1\n
info line *\$pc
reverse-next
printf "RNEXT2 value=%lu\n", value
echo AT_RNEXT2\n
info line *\$pc
reverse-next
printf "RNEXT3 value=%lu\n", value
echo AT_RNEXT3\n
info line *\$pc
next
next
reverse-step
printf "RSTEP x=%lu squared=%lu\n", x, squared
echo AT_RSTEP\n
info line *\$pc
bt 2
reverse-finish
printf "RFINISH value=%lu pc=%lx\n", value, \$pc
echo AT_RFINISH\n
info line *\$pc
reverse-continue
printf "RCONT i=%lu value=%lu\n", i, value
echo AT_RCONT\n
info line *\$pc
list $square,$square
GDB
}

run_gdb() {  # elf file, command file -> $work/gdb.out
  serve
  sed "s/@PORT@/$port/" "$2" >"$work/cmds"
  timeout 300 gdb -nx -batch -x "$work/cmds" "$1" >"$work/gdb.out" 2>&1 || true
  wait "$server" || fail "xvirt debug exited with $?: $(cat "$work/debug.err")"
}
f=$work/gdb.out

expect() {  # pattern, what
  grep -qE "$1" "$f" || fail "$2: no line matching '$1' in:
$(cat "$f")"
}
at() {  # tag, line, what: the line after the tag is "Line LINE of FILE"
  local got
  got=$(awk -v tag="$1" 'found { print; exit } $0 == tag { found = 1 }' "$f")
  [[ "$got" == "Line $2 of \"$file\""* ]] ||
    fail "$3: after $1 want 'Line $2 of \"$file\"', got '$got' in:
$(cat "$f")"
}

check_steps() {  # on $f
  expect "^Breakpoint 1 at 0x[0-9a-f]+: file $file, line $triple\.\$" "break by file:line"
  # The second hit: the loop's second iteration (i = 1), the local and the
  # global as they are then.
  expect "^HIT i=1 value=16 total=16\$" "locals and a global at the breakpoint"
  at AT_HIT "$triple" "the breakpoint's line"
  expect "^NEXT1 value=48\$" "next: the local's new value"
  at AT_NEXT1 "$add" "next moves to the next line"
  expect "^NEXT2 value=50\$" "next again"
  at AT_NEXT2 "$call" "next to the call"
  expect "^debug_steps_square \(x=50\) at $file:$square\$" "step into the function: the frame line"
  expect "^STEP x=50\$" "step: the callee's argument"
  at AT_STEP "$square" "step into the function's first line"
  expect "^#1  0x[0-9a-f]+ in xv_main \(\) at $file:$call\$" "backtrace from the callee"
  expect "^Value returned is \\\$[0-9]+ = 500\$" "finish: the returned value"
  expect "^FINISH value=50\$" "finish: back before the assignment"
  at AT_FINISH "$call" "finish returns to the call's line"
  expect "^NEXT3 value=500 total=16\$" "next after finish"
  at AT_NEXT3 "$total" "next to the global's update"
  expect "^NEXT4 total=516\$" "next updates the global"
  # Backwards: each reverse-next undoes one line, and the values are the
  # earlier ones again.
  expect "^RNEXT1 value=500 total=16\$" "reverse-next: the global's previous value"
  at AT_RNEXT1 "$total" "reverse-next returns to the previous line"
  expect "^RNEXT2 value=50\$" "reverse-next back over the call"
  at AT_RNEXT2 "$call" "reverse-next back over the call's line"
  expect "^RNEXT3 value=48\$" "reverse-next: the local's previous value"
  at AT_RNEXT3 "$add" "reverse-next again"
  expect "^RSTEP x=50 squared=2500\$" "reverse-step into the callee: its locals at its end"
  at AT_RSTEP "$square_end" "reverse-step into the callee's last line"
  # reverse-finish stops on the call instruction: 5 bytes before the return
  # address the backtrace showed.
  ret=$(sed -n "/^AT_RSTEP\$/,\$ s/^#1  0x0*\([0-9a-f]*\) in xv_main .*/\1/p" "$f" | head -1)
  [[ -n "$ret" ]] || fail "no caller frame after reverse-step: $(cat "$f")"
  expect "^RFINISH value=50 pc=$(printf '%x' $((0x$ret - 5)))\$" "reverse-finish: on the call, the local before it"
  at AT_RFINISH "$call" "reverse-finish back to the call's line"
  expect "^RCONT i=1 value=16\$" "reverse-continue to the line breakpoint"
  at AT_RCONT "$triple" "reverse-continue's line"
  expect "^${square}[[:space:]]+uint64_t squared = x \* x;" "list shows the source"
}

# The ELF64 copy: no `set architecture`; also a breakpoint on a function,
# hit again going forward after the reverse execution above.
{
  steps_gdb ""
  cat <<GDB
delete
break debug_steps_square
continue
printf "FUNC x=%lu\n", x
echo AT_FUNC\n
info line *\$pc
detach
GDB
} >"$work/elf64.gdb"
run_gdb "$debug_kernel" "$work/elf64.gdb"
check_steps
expect "^Breakpoint 2 at 0x[0-9a-f]+: file $file, line $square\.\$" "break by function: after its prologue"
expect "^FUNC x=50\$" "forward again after reverse execution: the function breakpoint"
at AT_FUNC "$square" "the function breakpoint's line"

# The multiboot image itself (the file the log holds).
{
  steps_gdb "set architecture i386:x86-64"
  echo detach
} >"$work/elf32.gdb"
run_gdb "$kernel" "$work/elf32.gdb"
check_steps
echo PASS
