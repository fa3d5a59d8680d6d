#!/usr/bin/env bash
# Record/replay cost, side by side in one invocation (interleaved rounds):
# `xvirt run` vs `xvirt record` (zstd and raw) vs `xvirt replay`, on compute
# (CPU-bound), kvstore (a scripted session of many commands on COM1) and
# disk (ATA PIO reads and writes of a real image). Prints one line per run,
# then medians, ratios and log sizes per input and per second of guest time.
#
# With QEMU installed, each round also records the same guests under QEMU's
# record/replay (TCG, -icount shift=auto,rr=record; benchmarks/qemu_rr.sh)
# next to `xvirt record`, with the same compute size, disk sectors and a
# shorter kvstore session (--qemu-kv-commands: QEMU's UART input has to be
# paced, a line at a time, and each wait under rr costs ~37 ms).
#
# Usage: record_compare.sh [--rounds N] [--mib N] [--kv-commands N]
#                          [--qemu-kv-commands N] [--sectors N] [--no-qemu]
#                          [--work DIR] [--xvirt PATH] [--backend B]
#   --backend B   xvirt's CPU backend for run, record and replay: auto
#                 (xvirt's default), kvm or emu
# Prefer running it through Bazel, which builds xvirt and the guests:
#   ./bazelw run //benchmarks:record_compare -- --rounds 5
set -euo pipefail

rounds=3
mib=256
kv_commands=3000
sectors=64
qemu_kv_commands=50
qemu=1
work=/tmp/record_compare
xvirt=""
backend=auto
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --mib) mib="$2"; shift 2 ;;
    --kv-commands) kv_commands="$2"; shift 2 ;;
    --sectors) sectors="$2"; shift 2 ;;
    --qemu-kv-commands) qemu_kv_commands="$2"; shift 2 ;;
    --no-qemu) qemu=0; shift ;;
    --work) work="$2"; shift 2 ;;
    --xvirt) xvirt="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set/s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;;
    *) echo "record_compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$xvirt" ]]; then
  for candidate in "${RUNFILES_DIR:-/nonexistent}/extravirt/cli/xvirt" \
                   "$(dirname "$0")/../cli/xvirt" \
                   "$(dirname "$0")/../.bazel/bin/cli/xvirt"; do
    if [[ -x "$candidate" ]]; then xvirt="$candidate"; break; fi
  done
fi
[[ -x "$xvirt" ]] || { echo "record_compare.sh: xvirt not found (--xvirt)" >&2; exit 2; }
mkdir -p "$work"
raw="$work/runs.txt"
: > "$raw"

# A deterministic kvstore session: SET/GET/DEL/COUNT over 200 keys.
kv_session() {
python3 - "$1" <<'EOF'
import random, sys
r = random.Random(1)
for _ in range(int(sys.argv[1])):
    k = "k%d" % r.randrange(200)
    op = r.choice(["SET", "GET", "DEL", "COUNT"])
    print({"SET": f"SET {k} {r.randrange(10**6)}", "GET": f"GET {k}",
           "DEL": f"DEL {k}", "COUNT": "COUNT"}[op])
print("QUIT")
EOF
}
kv_session "$kv_commands" > "$work/kv.in"
kv_session "$qemu_kv_commands" > "$work/kv_small.in"

now_ns() { date +%s%N; }

guest_args() {
  case "$1" in
    compute) echo "compute --cmdline mib=$mib --mem $((mib + 64))" ;;
    kvstore) echo "kvstore --stdin $work/kv.in" ;;
    kvstore_small) echo "kvstore --stdin $work/kv_small.in" ;;
    disk) echo "disk --disk $work/disk.img --cmdline sectors=$sectors" ;;
  esac
}

# One timed run: prints "xvirt VARIANT GUEST WALL_S LOG_BYTES".
one() {
  local variant="$1" guest="$2" log="$work/$2.log" args
  args="$(guest_args "$guest")"
  if [[ "$guest" == disk ]]; then truncate -s 0 "$work/disk.img"; truncate -s 8M "$work/disk.img"; fi
  local start end status=0 bytes=0
  start=$(now_ns)
  case "$variant" in
    run) "$xvirt" run $args --backend "$backend" >/dev/null 2>&1 || status=$? ;;
    record) "$xvirt" record $args --backend "$backend" -o "$log" >/dev/null 2>&1 || status=$? ;;
    record_raw) "$xvirt" record $args --backend "$backend" -o "$log.raw" --no-compress >/dev/null 2>&1 || status=$? ;;
    replay) "$xvirt" replay "$log" --backend "$backend" --quiet >/dev/null 2>&1 || status=$? ;;
  esac
  end=$(now_ns)
  case "$variant" in
    record) bytes=$(stat -c %s "$log") ;;
    record_raw) bytes=$(stat -c %s "$log.raw") ;;
  esac
  if ((status != 0)); then echo "record_compare.sh: $variant $guest exited $status" >&2; fi
  printf 'xvirt %s %s %.4f %s\n' "$variant" "$guest" \
    "$(echo "($end - $start) / 1000000000" | bc -l)" "$bytes" | tee -a "$raw"
}

if ((qemu)) && command -v qemu-system-x86_64 >/dev/null; then
  # shellcheck source=qemu_rr.sh
  source "$(dirname "$(readlink -f "$0")")/qemu_rr.sh"
  qrr_work="$work/qemu"
  qrr_mib="$mib"
  qrr_sectors="$sectors"
  qrr_disk_sectors=16384  # the 8 MiB image xvirt gets
  qrr_kv_input="$work/kv_small.in"
  if [[ -n "${RUNFILES_DIR:-}" ]]; then qrr_guests="$RUNFILES_DIR/extravirt/guest"; fi
  if [[ -z "${qrr_guests:-}" ]]; then qrr_guests="$(dirname "$xvirt")/../guest"; fi
else
  qemu=0
fi

for ((r = 1; r <= rounds; r++)); do
  for guest in compute kvstore disk; do
    for variant in run record record_raw replay; do one "$variant" "$guest"; done
  done
  if ((qemu)); then
    one record kvstore_small
    for guest in compute kvstore disk; do
      # QEMU's replays are slower still (benchmarks/qemu_rr.sh bench).
      qrr_run record "$guest" | tee -a "$raw"
    done
  fi
done

median() {  # median of column 4 for VARIANT GUEST
  awk -v v="$1" -v g="$2" '$1 == "xvirt" && $2 == v && $3 == g { print $4 }' "$raw" |
    sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo
printf '%-8s %9s %9s %9s %9s %8s %8s %8s\n' guest run_s record_s raw_s replay_s rec/run raw/run rep/rec
for guest in compute kvstore disk; do
  run=$(median run "$guest"); rec=$(median record "$guest")
  rraw=$(median record_raw "$guest"); rep=$(median replay "$guest")
  printf '%-8s %9.4f %9.4f %9.4f %9.4f %8.3f %8.3f %8.3f\n' "$guest" "$run" "$rec" "$rraw" "$rep" \
    "$(echo "$rec / $run" | bc -l)" "$(echo "$rraw / $run" | bc -l)" "$(echo "$rep / $rec" | bc -l)"
done

echo
printf '%-8s %8s %8s %10s %10s %8s %9s %9s %10s %10s\n' guest exits inputs zstd_B raw_B guest_s B/in_zstd B/in_raw B/s_zstd B/s_raw
for guest in compute kvstore disk; do
  "$xvirt" log stat "$work/$guest.log" --json > "$work/$guest.stat"
  python3 - "$work/$guest.stat" "$work/$guest.log" "$work/$guest.log.raw" "$guest" <<'EOF'
import json, os, struct, sys
s = json.load(open(sys.argv[1]))
guest = sys.argv[4]

def sizes(path):
    # The recorder writes the header (with the kernel image) as the first
    # frame on its own: a fixed cost, not a rate. [16-byte file header]
    # [u32 length, u32 flags, u64 checksum][payload]...
    with open(path, "rb") as f:
        f.seek(16)
        length = struct.unpack("<I", f.read(4))[0]
    total = os.path.getsize(path)
    return total, total - 16 - 16 - length

zstd, zstd_body = sizes(sys.argv[2])
raw, raw_body = sizes(sys.argv[3])
inputs = s["by_kind"].get("input", {}).get("records", 0)
secs = s["virtual_seconds"]
print(f"{guest:8s} {s['exits']:8d} {inputs:8d} {zstd:10d} {raw:10d} {secs:8.3f} "
      f"{zstd_body / max(inputs, 1):9.1f} {raw_body / max(inputs, 1):9.1f} "
      f"{zstd_body / max(secs, 1e-9):10.0f} {raw_body / max(secs, 1e-9):10.0f}")
EOF
done

if ((qemu)); then
  echo
  echo "QEMU record/replay (TCG, icount) vs xvirt record, medians:"
  printf '%-8s %10s %10s %8s %12s %12s %12s %12s %9s\n' guest xvirt_s qemu_s q/x xvirt_log_B xvirt_no_img qemu_log_B qemu_zstd_B qz/x_noimg
  for guest in compute kvstore disk; do
    xg="$guest"; [[ "$guest" == kvstore ]] && xg=kvstore_small
    xs=$(median record "$xg")
    qs=$(qrr_median "$raw" record "$guest" 4)
    ql=$(qrr_median "$raw" record "$guest" 5)
    qz=$(qrr_median "$raw" record "$guest" 6)
    xl=$(awk -v g="$xg" '$1 == "xvirt" && $2 == "record" && $3 == g { print $5 }' "$raw" | tail -1)
    # xvirt's log also carries the kernel image (a self-contained log);
    # QEMU's needs the kernel given again at replay.
    xh=$(python3 -c 'import struct,sys; f=open(sys.argv[1],"rb"); f.seek(16); print(32+struct.unpack("<I",f.read(4))[0])' "$work/$xg.log")
    printf '%-8s %10.4f %10.4f %8.2f %12d %12d %12d %12d %9.2f\n' "$guest" "$xs" "$qs" \
      "$(echo "$qs / $xs" | bc -l)" "$xl" "$((xl - xh))" "$ql" "$qz" "$(echo "$qz / ($xl - $xh)" | bc -l)"
  done
  grep -E '^qemu_rr .* 0 [0-9]+$' "$raw" >&2 && echo "record_compare.sh: some QEMU runs had wrong output (OUTPUT_OK=0)" >&2 || true
fi
