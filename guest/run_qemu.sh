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
#   --rr MODE        QEMU record/replay: record or replay (TCG only). Adds
#                    -icount shift=auto,rr=MODE,rrfile=FILE and attaches
#                    --disk through the blkreplay driver (which rr needs).
#                    Under replay, --input is not sent: QEMU replays the
#                    recorded COM1 input from the log. --disk must then
#                    hold what it held at the start of the recording.
#   --rrfile FILE    the rr log (required with --rr)
#   --input-pace P   how to send --input. 0 (the default): all at once.
#                    S > 0: in 16-byte chunks (the 16550's receive FIFO),
#                    S seconds apart. sync: a line at a time, waiting after
#                    each (up to 1 s) until the guest has printed more;
#                    longer lines in 16-byte chunks 0.05 s apart. Under
#                    --rr record the default is sync: QEMU rr delivers COM1
#                    input without flow control, so the FIFO overruns
#                    unless the input is paced.
#   --time FILE      write QEMU's wall time (seconds, spawn to exit) to FILE
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
rr=""
rrfile=""
input_pace=""
time_file=""
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
    --rr) rr="$2"; shift 2 ;;
    --rrfile) rrfile="$2"; shift 2 ;;
    --input-pace) input_pace="$2"; shift 2 ;;
    --time) time_file="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    -*) echo "run_qemu.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$kernel" ]] || usage; kernel="$1"; shift ;;
  esac
done
[[ -n "$kernel" ]] || usage
case "$rr" in
  "") [[ -z "$rrfile" ]] || usage ;;
  record|replay) [[ -n "$rrfile" && "$accel" == tcg ]] || usage ;;
  *) usage ;;
esac
[[ -z "$input_pace" || "$input_pace" == sync || "$input_pace" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  usage
[[ -n "$input_pace" ]] || { [[ "$rr" == record ]] && input_pace=sync || input_pace=0; }
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
if [[ -n "$rr" ]]; then
  args+=(-icount "shift=auto,rr=$rr,rrfile=$rrfile")
  [[ -n "$disk" ]] && args+=(
    -drive "file=$disk,format=raw,if=none,id=img-direct"
    -drive "driver=blkreplay,if=none,image=img-direct,id=img-blkreplay"
    -device "ide-hd,drive=img-blkreplay,bus=ide.0,unit=0")
else
  [[ -n "$disk" ]] && args+=(-drive "file=$disk,format=raw,if=ide,index=0,media=disk")
fi

: >"$work/serial"
start=$(date +%s.%N)
timeout -k 5 "$timeout_s" "$qemu" "${args[@]}" "${extra[@]}" \
  <"$work/com1.in" >"$work/serial" 2>"$work/qemu.err" &
qemu_pid=$!
# Stream the output as it arrives; tail ends shortly after QEMU.
tail -s 0.05 -c +1 -f --pid="$qemu_pid" "$work/serial" &
tail_pid=$!

if [[ -n "$input" && "$rr" != replay ]]; then
  while kill -0 "$qemu_pid" 2>/dev/null && ! grep -q $'\n' "$work/serial"; do
    sleep 0.01
  done
  if [[ "$input_pace" =~ ^0*(\.0*)?$ ]]; then
    cat "$input" >&3
  elif [[ "$input_pace" == sync ]]; then
    eof=0
    while ((!eof)); do
      if IFS= read -r line; then
        line+=$'\n'
      else
        eof=1
        [[ -n "$line" ]] || break
      fi
      kill -0 "$qemu_pid" 2>/dev/null || break
      printed=$(stat -c %s "$work/serial")
      while ((${#line} > 16)); do
        printf '%s' "${line:0:16}" >&3
        line=${line:16}
        sleep 0.05
      done
      printf '%s' "$line" >&3
      for ((poll = 0; poll < 200; poll++)); do
        (($(stat -c %s "$work/serial") > printed)) && break
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 0.005
      done
    done <"$input"
  else
    size=$(stat -c %s "$input")
    for ((chunk = 0; chunk * 16 < size; chunk++)); do
      ((chunk == 0)) || sleep "$input_pace"
      kill -0 "$qemu_pid" 2>/dev/null || break
      dd if="$input" bs=16 skip="$chunk" count=1 status=none >&3
    done
  fi
fi

wait "$qemu_pid"
status=$?
end=$(date +%s.%N)
[[ -n "$time_file" ]] &&
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }' >"$time_file"
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
