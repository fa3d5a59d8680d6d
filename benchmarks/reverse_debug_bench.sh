#!/usr/bin/env bash
# Reverse debugging, ours vs QEMU's, side by side in one run: the time gdb
# waits for `reverse-stepi` and for `reverse-continue` to a breakpoint about
# 10^6 and 10^8 instructions back, on a long compute recording, and the
# memory the automatic checkpoints hold.
#
#   reverse_debug_bench.sh [--rounds N] [--steps N] [--mib N] [--hit K]
#                          [--xvirt PATH] [--guests DIR] [--work DIR]
#                          [--no-qemu] [--timeout S]
#
# The guest is compute.elf (`mib=N`, default 4: about 2.9 x 10^8
# instructions), recorded once by `xvirt record --backend emu` and once by
# QEMU (TCG, `-icount shift=auto,rr=record,rrsnapshot=init` with an empty
# qcow2 drive `id=rr` that holds the snapshot). Both count the same
# instructions (checked: the same distances between the breakpoints
# below), so QEMU's icount = ours + the icount at which QEMU enters
# compute_run minus ours.
#
# The present P = the K-th call of sha256_update (default 23, at about
# 9.9 x 10^7) + 10^6 instructions. From P:
#   near: reverse-stepi x --steps at P, then reverse-continue with a
#         breakpoint on sha256_update (its last call, 10^6 back), then
#         reverse-stepi x --steps there;
#   far:  reverse-continue with a breakpoint on compute_run (called once,
#         at the start: about 10^8 back), then reverse-stepi x --steps
#         there.
# Every session is a fresh process: xvirt starts with `debug --at` at P
# (running there from the boot, snapshots taken on the way); QEMU replays
# from its init snapshot with `-S -gdb`, and gdb moves it to P with
# `monitor replay_break` + continue (timed as "seek"). Rounds interleave
# xvirt near, xvirt far, QEMU near, QEMU far.
#
# gdb (Debian's, batch mode) times each command with time.perf_counter()
# in a Python block; every measurement is one line on stdout,
#   rdb IMPL SCENARIO OP SECONDS FROM TO PC
# (OP seek|rsi_present|rc_1e6|rsi_1e6|rc_1e8|rsi_1e8, FROM/TO the
# instruction counts before and after, in our numbering, PC where it
# stopped), and
#   rdb_mem IMPL SCENARIO VMHWM_KB SNAPSHOTS SNAPSHOT_BYTES
# (the process's peak resident memory; xvirt's snapshot count and bytes
# from `monitor stats`; QEMU's: 1 and the qcow2 file's size). At the end,
# medians [min-max] per IMPL/OP as a Markdown table. A gdb session that
# does not finish within --timeout seconds is killed and reported
# ("rdb_timeout IMPL SCENARIO").
set -euo pipefail

rounds=3
steps=5
mib=4
hit=23
xvirt=""
guests=""
work=/tmp/reverse_debug_bench
qemu=1
timeout_s=600
baseline=""
baseline_lib=""
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --mib) mib="$2"; shift 2 ;;
    --hit) hit="$2"; shift 2 ;;
    --xvirt) xvirt="$2"; shift 2 ;;
    --guests) guests="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --no-qemu) qemu=0; shift ;;
    --baseline) baseline="$2"; shift 2 ;;
    --baseline-emu-library) baseline_lib="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;;
    *) echo "reverse_debug_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Runfiles under `bazel run`; else the checkout's build outputs.
if [[ -z "$xvirt" ]]; then
  for d in "${RUNFILES_DIR:-$0.runfiles}/extravirt" "$PWD" "$PWD/.bazel/bin"; do
    if [[ -x "$d/cli/xvirt" ]]; then xvirt="$d/cli/xvirt"; break; fi
  done
fi
if [[ -z "$guests" ]]; then
  for d in "${RUNFILES_DIR:-$0.runfiles}/extravirt/guest" "$PWD/guest" "$PWD/.bazel/bin/guest"; do
    if [[ -r "$d/compute.elf" ]]; then guests="$d"; break; fi
  done
fi
[[ -x "$xvirt" && -r "$guests/compute.elf" ]] || {
  echo "reverse_debug_bench: no xvirt or compute.elf; build //cli:xvirt //guest:bundled_guests or pass --xvirt/--guests" >&2
  exit 2
}
command -v gdb >/dev/null || { echo "reverse_debug_bench: gdb is not installed" >&2; exit 2; }
if ((qemu)) && ! command -v qemu-system-x86_64 >/dev/null; then
  echo "reverse_debug_bench: qemu-system-x86_64 is not installed; use --no-qemu" >&2
  exit 2
fi
elf="$guests/compute.elf"
mkdir -p "$work"
raw="$work/raw.txt"
: >"$raw"
port_base=$((24000 + $$ % 4000))
port=$port_base
session=0
# next_port: a fresh port for every session (a killed target's may linger).
next_port() { session=$((session + 1)); port=$((port_base + session)); }

# --- the gdb side: one Python driver for both targets -----------------------
cat >"$work/driver.py" <<'EOF'
import os, re, time
import gdb

impl, scenario = os.environ["RDB_IMPL"], os.environ["RDB_SCENARIO"]
steps = int(os.environ["RDB_STEPS"])
offset = int(os.environ.get("RDB_OFFSET", "0"))  # QEMU icount - ours
pid = os.environ.get("RDB_PID", "")

def say(line):
    print(line, flush=True)
    with open(os.environ["RDB_RAW"], "a") as f:
        f.write(line + "\n")

def now():
    """The present instruction count, in xvirt's numbering."""
    if impl != "qemu":
        out = gdb.execute("monitor stats", to_string=True)
        return int(re.search(r"time=(\d+)", out).group(1))
    out = gdb.execute("monitor info replay", to_string=True)
    return int(re.search(r"instruction count = (\d+)", out).group(1)) - offset

def timed(op, command):
    before = now()
    t = time.perf_counter()
    gdb.execute(command, to_string=True)
    dt = time.perf_counter() - t
    pc = int(gdb.parse_and_eval("$pc")) & 0xffffffffffffffff
    say("rdb %s %s %s %.6f %d %d %x" % (impl, scenario, op, dt, before, now(), pc))

gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("set architecture i386:x86-64", to_string=True)
gdb.execute("target remote 127.0.0.1:" + os.environ["RDB_PORT"], to_string=True)
if impl == "qemu":
    gdb.execute("monitor replay_break %d" % (int(os.environ["RDB_PRESENT"]) + offset))
    timed("seek", "continue")
if scenario == "near":
    for _ in range(steps):
        timed("rsi_present", "reverse-stepi")
    gdb.execute("break sha256_update", to_string=True)
    timed("rc_1e6", "reverse-continue")
    gdb.execute("delete", to_string=True)
    for _ in range(steps):
        timed("rsi_1e6", "reverse-stepi")
else:
    gdb.execute("break compute_run", to_string=True)
    timed("rc_1e8", "reverse-continue")
    gdb.execute("delete", to_string=True)
    for _ in range(steps):
        timed("rsi_1e8", "reverse-stepi")
hwm, snaps, snap_bytes = 0, 0, 0
if pid:
    with open("/proc/%s/status" % pid) as f:
        hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
if impl != "qemu":
    out = gdb.execute("monitor stats", to_string=True)
    snaps = int(re.search(r"snapshots=(\d+)", out).group(1))
    snap_bytes = int(re.search(r"snapshot_bytes=(\d+)", out).group(1))
else:
    snaps, snap_bytes = 1, os.path.getsize(os.environ["RDB_QCOW2"])
say("rdb_mem %s %s %d %d %d" % (impl, scenario, hwm, snaps, snap_bytes))
gdb.execute("detach", to_string=True)
EOF

# wait_port PORT: until a socket listens there (up to 600 s), seen in
# /proc/net/tcp (a probe connection would be taken for gdb).
wait_port() {
  local i hex
  hex=$(printf '%04X' "$1")
  for ((i = 0; i < 6000; i++)); do
    awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }' \
      /proc/net/tcp && return 0
    sleep 0.1
  done
  return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s (a QEMU that hung in a
# reverse command ignores SIGTERM), then reap it.
stop_pid() {
  local i
  kill "$1" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# run_gdb IMPL SCENARIO PID [VAR=VALUE...]: the driver against the target
# on $port, with a timeout.
run_gdb() {
  local impl="$1" scenario="$2" pid="$3"
  shift 3
  local st=0
  env RDB_IMPL="$impl" RDB_SCENARIO="$scenario" RDB_STEPS="$steps" \
    RDB_PORT="$port" RDB_RAW="$raw" RDB_PID="$pid" "$@" \
    timeout -k 5 "$timeout_s" gdb -nx -batch -x "$work/driver.py" "$elf" \
    >"$work/gdb.$impl.$scenario.out" 2>&1 || st=$?
  if ((st != 0)); then
    # 124: gdb still waited for the target's reply after --timeout s.
    echo "rdb_timeout $impl $scenario gdb_status=$st after_op=$(tail -1 "$raw" | cut -d' ' -f4)" | tee -a "$raw"
  fi
}

# run_xvirt IMPL BINARY SCENARIO: one xvirt session at the present.
run_xvirt() {
  local impl="$1" bin="$2" scenario="$3" t0 t1 xv_pid lib=()
  [[ "$impl" != baseline || -z "$baseline_lib" ]] || lib=(XVIRT_EMU_LIBRARY="$baseline_lib")
  next_port
  t0=$(date +%s.%N)
  env "${lib[@]}" "$bin" debug "$log" --gdb "127.0.0.1:$port" --at "$at" 2>"$work/$impl.err" &
  xv_pid=$!
  wait_port "$port"
  t1=$(date +%s.%N)
  echo "rdb $impl $scenario seek $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') 0 $present -" >>"$raw"
  run_gdb "$impl" "$scenario" "$xv_pid"
  stop_pid "$xv_pid"
}

# --- recordings ---------------------------------------------------------------
log="$work/compute.xvlog"
echo "reverse_debug_bench: recording compute mib=$mib (xvirt emu, QEMU rr)" >&2
"$xvirt" record "$elf" -o "$log" --backend emu --mem 32 --cmdline "mib=$mib" \
  --stdin /dev/null >"$work/record.out"
qemu_common=(-accel tcg -m 32 -kernel "$elf" -append "mib=$mib" -display none
  -monitor none -nic none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04)
# new_qcow2 FILE: an empty 64 MiB qcow2 image (qemu-img may be absent; the
# storage daemon creates one through QMP).
new_qcow2() {
  rm -f "$1"
  : >"$1"
  { printf '%s\n' '{"execute":"qmp_capabilities"}' \
      "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"file\",\"filename\":\"$1\",\"node-name\":\"f\"}}" \
      '{"execute":"blockdev-create","arguments":{"job-id":"j","options":{"driver":"qcow2","file":"f","size":67108864}}}'
    sleep 1
    printf '%s\n' '{"execute":"quit"}'; } |
    timeout 20 qemu-storage-daemon --chardev stdio,id=c --monitor c >/dev/null
}
if ((qemu)); then
  new_qcow2 "$work/rr.qcow2"
  status=0
  timeout 300 qemu-system-x86_64 "${qemu_common[@]}" -serial "file:$work/qemu.record.out" \
    -icount "shift=auto,rr=record,rrfile=$work/compute.rr,rrsnapshot=init" \
    -drive "file=$work/rr.qcow2,if=none,id=rr" 2>"$work/qemu.record.err" || status=$?
  ((status == 1)) || { echo "reverse_debug_bench: QEMU record failed ($status)" >&2; cat "$work/qemu.record.err" >&2; exit 1; }
  cmp -s "$work/qemu.record.out" "$work/record.out" ||
    { echo "reverse_debug_bench: QEMU's output differs from xvirt's" >&2; exit 1; }
fi

# --- where the present is -----------------------------------------------------
# One xvirt session finds the K-th call of sha256_update and compute_run's
# time; the present is 10^6 after that call, named as a position ESN+N.
next_port
"$xvirt" debug "$log" --gdb "127.0.0.1:$port" 2>"$work/find.err" &
xv_pid=$!
wait_port "$port"
timeout "$timeout_s" gdb -nx -batch "$elf" \
  -ex "set architecture i386:x86-64" -ex "target remote 127.0.0.1:$port" \
  -ex "break compute_run" -ex continue -ex "monitor stats" -ex delete \
  -ex "break sha256_update" -ex continue -ex "continue $((hit - 1))" -ex "monitor stats" -ex detach \
  >"$work/find.out" 2>&1
wait "$xv_pid" || true
mapfile -t found < <(sed -n 's/^time=\([0-9]*\) position=\([0-9]*\)+\([0-9]*\).*/\1 \2 \3/p' "$work/find.out")
((${#found[@]} == 2)) || { echo "reverse_debug_bench: could not find the breakpoints (see $work/find.out)" >&2; exit 1; }
read -r t_run _ _ <<<"${found[0]}"
read -r t_hit esn steps_hit <<<"${found[1]}"
present=$((t_hit + 1000000))
at="$esn+$((steps_hit + 1000000))"
echo "reverse_debug_bench: compute_run at $t_run, call $hit of sha256_update at $t_hit; present $present = --at $at" >&2
echo "rdb_setup t_compute_run=$t_run t_hit=$t_hit present=$present at=$at" >>"$raw"

offset=0
if ((qemu)); then
  next_port
  qemu-system-x86_64 "${qemu_common[@]}" -serial null \
    -icount "shift=auto,rr=replay,rrfile=$work/compute.rr,rrsnapshot=init" \
    -drive "file=$work/rr.qcow2,if=none,id=rr" -gdb "tcp:127.0.0.1:$port" -S 2>"$work/qemu.find.err" &
  q_pid=$!
  wait_port "$port"
  timeout "$timeout_s" gdb -nx -batch "$elf" \
    -ex "set architecture i386:x86-64" -ex "target remote 127.0.0.1:$port" \
    -ex "break compute_run" -ex continue -ex "monitor info replay" -ex kill \
    >"$work/qemu.find.out" 2>&1 || true
  stop_pid "$q_pid"
  q_run=$(sed -n 's/.*instruction count = \([0-9]*\).*/\1/p' "$work/qemu.find.out" | head -1)
  [[ -n "$q_run" ]] || { echo "reverse_debug_bench: QEMU did not reach compute_run (see $work/qemu.find.out)" >&2; exit 1; }
  offset=$((q_run - t_run))
  echo "rdb_setup qemu_icount_compute_run=$q_run offset=$offset" >>"$raw"
fi

# --- rounds -------------------------------------------------------------------
for ((r = 1; r <= rounds; r++)); do
  echo "reverse_debug_bench: round $r/$rounds" >&2
  for scenario in near far; do
    run_xvirt xvirt "$xvirt" "$scenario"
    [[ -z "$baseline" ]] || run_xvirt baseline "$baseline" "$scenario"
  done
  if ((qemu)); then
    for scenario in near far; do
      next_port
      qemu-system-x86_64 "${qemu_common[@]}" -serial null \
        -icount "shift=auto,rr=replay,rrfile=$work/compute.rr,rrsnapshot=init" \
        -drive "file=$work/rr.qcow2,if=none,id=rr" -gdb "tcp:127.0.0.1:$port" -S \
        2>"$work/qemu.$scenario.err" &
      q_pid=$!
      wait_port "$port"
      run_gdb qemu "$scenario" "$q_pid" RDB_OFFSET="$offset" RDB_PRESENT="$present" \
        RDB_QCOW2="$work/rr.qcow2"
      stop_pid "$q_pid"
    done
  fi
done

# --- medians ------------------------------------------------------------------
python3 - "$raw" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
ops = ["seek", "rsi_present", "rc_1e6", "rsi_1e6", "rc_1e8", "rsi_1e8"]
names = {"seek": "to the present P (start-up + run there)",
         "rsi_present": "reverse-stepi at P", "rc_1e6": "reverse-continue to sha256_update",
         "rsi_1e6": "reverse-stepi there", "rc_1e8": "reverse-continue to compute_run",
         "rsi_1e8": "reverse-stepi there"}
def cell(v):
    if not v: return "-"
    return "%.3f s [%.3f-%.3f] (%d)" % (statistics.median(v), min(v), max(v), len(v))
impls = [i for i in ("xvirt", "baseline", "qemu") if any(r[0] == "rdb" and r[1] == i for r in rows)]
print("| operation | distance back (instructions): " + " / ".join(impls) + " | " + " | ".join(impls) + " |")
print("|---|---|" + "---|" * len(impls))
for op in ops:
    v = {i: [float(r[4]) for r in rows if r[0] == "rdb" and r[1] == i and r[3] == op] for i in impls}
    ds = []
    for i in impls:
        d = sorted({int(r[5]) - int(r[6]) for r in rows if r[0] == "rdb" and r[1] == i and r[3] == op})
        ds.append(",".join("{:,}".format(x) for x in d) or "-")
    dist = "-" if op == "seek" else " / ".join(ds)
    print("| %s | %s | %s |" % (names[op], dist, " | ".join(cell(v[i]) for i in impls)))
for i in impls:
    m = [r for r in rows if r[0] == "rdb_mem" and r[1] == i]
    if m:
        print("%s: peak RSS (VmHWM) median %.1f MiB [%.1f-%.1f]; snapshots %s, bytes %s" % (
            i, statistics.median(int(r[3]) for r in m) / 1024, min(int(r[3]) for r in m) / 1024,
            max(int(r[3]) for r in m) / 1024, sorted({int(r[4]) for r in m}),
            sorted({int(r[5]) for r in m})))
for r in rows:
    if r[0] in ("rdb_timeout", "rdb_setup"): print(" ".join(r))
EOF
