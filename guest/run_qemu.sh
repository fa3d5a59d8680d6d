#!/usr/bin/env bash
# Runs a guest kernel under QEMU (TCG by default) the way tests and
# benchmarks expect, streams the guest's serial output (COM1) to stdout and
# exits with the guest's debug-exit value.
#
# Usage: run_qemu.sh [options] KERNEL.elf [-- extra QEMU arguments]
#   --append STR     multiboot command line (the guest's options)
#   --disk FILE      raw disk image, attached as the ATA primary master
#   --input FILE     bytes for COM1, sent once the guest has printed its first
#                    line (a 16550 drops what arrives before the guest enables
#                    its FIFOs, and the firmware takes a while)
#   --memory MIB     guest RAM (default 256)
#   --timeout SECS   stop QEMU after this long (default 60)
#   --accel ACCEL    tcg (default) or kvm. Under PVM, QEMU-KVM emulates the
#                    firmware and all CPL0 code: TCG is faster for these guests.
#   --output FILE    also write the serial output to FILE
#
# Exit status:
#   0-127  the guest's debug-exit value v (QEMU itself exits (v << 1) | 1)
#   200    the VM stopped without debug-exit (shutdown, e.g. a triple fault)
#   201    timeout
#   202    QEMU failed (its messages are on stderr)
#   203    qemu-system-x86_64 is not installed
#   204    usage error
#
# QEMU runs without -nographic: with it, SeaBIOS also prints its banner on the
# serial port. Without it, the serial output is exactly the guest's.
set -uo pipefail

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
  exit 204
}

append=""
disk=""
input=""
memory=256
timeout_s=60
accel=tcg
output=""
kernel=""
extra=()
while (($# > 0)); do
  case "$1" in
    --append) append="$2"; shift 2 ;;
    --disk) disk="$2"; shift 2 ;;
    --input) input="$2"; shift 2 ;;
    --memory) memory="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --accel) accel="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    -*) echo "run_qemu.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$kernel" ]] || usage; kernel="$1"; shift ;;
  esac
done
[[ -n "$kernel" ]] || usage
for f in "$kernel" ${disk:+"$disk"} ${input:+"$input"}; do
  [[ -r "$f" ]] || { echo "run_qemu.sh: cannot read $f" >&2; exit 204; }
done
qemu=$(command -v qemu-system-x86_64) || {
  echo "run_qemu.sh: qemu-system-x86_64 is not installed" >&2
  exit 203
}

work=$(mktemp -d "${TMPDIR:-/tmp}/run_qemu.XXXXXX")
cleanup() {
  [[ -n "${qemu_pid:-}" ]] && kill "$qemu_pid" 2>/dev/null
  [[ -n "${tail_pid:-}" ]] && kill "$tail_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# COM1 is QEMU's stdio. Its stdin is a FIFO this script holds open
# read-write, so QEMU never sees EOF and nothing blocks on opening it.
mkfifo "$work/com1.in"
exec 3<>"$work/com1.in"
args=(
  -accel "$accel" -m "$memory" -kernel "$kernel" -append "$append"
  -display none -monitor none -nic none -no-reboot -serial stdio
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
)
[[ -n "$disk" ]] && args+=(-drive "file=$disk,format=raw,if=ide,index=0,media=disk")

: >"$work/serial"
timeout -k 5 "$timeout_s" "$qemu" "${args[@]}" "${extra[@]}" \
  <"$work/com1.in" >"$work/serial" 2>"$work/qemu.err" &
qemu_pid=$!
# Stream the output as it arrives; tail ends shortly after QEMU.
tail -s 0.05 -c +1 -f --pid="$qemu_pid" "$work/serial" &
tail_pid=$!

if [[ -n "$input" ]]; then
  while kill -0 "$qemu_pid" 2>/dev/null && ! grep -q $'\n' "$work/serial"; do
    sleep 0.01
  done
  cat "$input" >&3
fi

wait "$qemu_pid"
status=$?
qemu_pid=""
wait "$tail_pid"
tail_pid=""
exec 3>&-
[[ -n "$output" ]] && cp "$work/serial" "$output"

# QEMU exits 1 both for debug-exit(0) and for its own errors: tell them
# apart by what it printed.
errors=$(grep -v 'warning:' "$work/qemu.err")
[[ -s "$work/qemu.err" ]] && cat "$work/qemu.err" >&2
if ((status == 124 || status == 137)); then
  echo "run_qemu.sh: timeout after ${timeout_s}s" >&2
  exit 201
elif ((status == 0)); then
  echo "run_qemu.sh: the VM stopped without debug-exit (shutdown or triple fault)" >&2
  exit 200
elif ((status % 2 == 1)) && [[ -z "$errors" ]]; then
  exit $((status >> 1))
else
  echo "run_qemu.sh: QEMU failed (exit status $status)" >&2
  exit 202
fi
