#!/usr/bin/env bash
# QEMU's own record/replay (TCG, -icount shift=auto,rr=record|replay) on the
# bundled guests: the peer that `xvirt record`/`replay` is compared with.
# Every run goes through guest/run_qemu.sh (--rr, --time) and prints one
# machine-readable line.
#
#   qemu_rr.sh run VARIANT GUEST [options]   one timed run
#   qemu_rr.sh bench [options]               interleaved rounds, then medians
#   source qemu_rr.sh                        defines the qrr_* functions only
#
# VARIANT  tcg     plain TCG (no icount), the baseline
#          icount  TCG with -icount shift=auto, no rr: what rr costs on its own
#          record  -icount shift=auto,rr=record,rrfile=WORK/GUEST.rr
#          replay  -icount shift=auto,rr=replay from that file (run record
#                  first); its output must equal the recording's, byte for byte
# GUEST    compute  compute.elf, mib=--mib
#          kvstore  kvstore.elf fed --kv-input on COM1, paced (--pace) for
#                   every variant alike; replay gets no input (QEMU replays it)
#          disk     disk.elf, sectors=--sectors, a fresh zero-filled raw image
#                   of --disk-sectors sectors before every run (replay needs
#                   the image as it was when the recording started)
#
# Options:
#   --guests DIR        guest kernels (default: the runfiles' guest/, else
#                       .bazel/bin/guest of the checkout)
#   --work DIR          rr logs, images and outputs (default /tmp/qemu_rr)
#   --mib N             compute's data size (default 256)
#   --sectors N         disk's sectors= option (default 8, as in cases.txt)
#   --disk-sectors N    disk image size in sectors (default 2048)
#   --kv-input FILE     kvstore's session (default guest/testdata/kvstore.in,
#                       whose output must be kvstore.out; any other must end in
#                       QUIT and get one answer per non-empty line)
#   --pace P            how kvstore's input is sent: sync (default: a line at
#                       a time, each after the guest answered the previous
#                       one), 0 (all at once: QEMU rr drops input then), or
#                       seconds between 16-byte chunks (run_qemu.sh
#                       --input-pace)
#   --timeout S         per run (default 300; a replay that diverges from its
#                       recording hangs silently until then)
#   --rounds N          bench: rounds (default 3)
#   --guest-list "G.."  bench: guests (default "compute kvstore disk")
#   --variants "V.."    bench: variants, in round order (default
#                       "tcg icount record replay"; replay needs record)
#   --raw FILE          bench: also append the result lines to FILE
#
# Result line (run and bench), space-separated:
#   qemu_rr VARIANT GUEST WALL_S LOG_BYTES LOG_ZSTD_BYTES OUTPUT_OK EXIT
# WALL_S is QEMU's lifetime (spawn to exit); LOG_* are the rr file, raw and
# `zstd -3`-compressed (0 for tcg/icount); OUTPUT_OK is 1 if the serial
# output is the expected one (and, for replay, equal to the recording's);
# EXIT is run_qemu.sh's status (0 = the guest's debug-exit 0).
# bench then prints, per guest and variant,
#   qemu_rr_median GUEST VARIANT WALL_S LOG_BYTES LOG_ZSTD_BYTES OK/ROUNDS
# and the ratios
#   qemu_rr_ratio GUEST record/tcg|record/icount|replay/record RATIO
# Exit status: 0 if every output was right, 1 if not, 2 on usage errors.
#
# Sourced, the caller sets qrr_guests/qrr_work (and qrr_mib, ...) as it
# likes and calls `qrr_run VARIANT GUEST`, which prints the result line;
# qrr_median NAME COLUMN reads lines collected in a file.
set -euo pipefail

qrr_self="${BASH_SOURCE[0]}"
qrr_root="$(cd "$(dirname "$(readlink -f "$qrr_self")")/.." && pwd)"
qrr_run_qemu="$qrr_root/guest/run_qemu.sh"
qrr_testdata="$qrr_root/guest/testdata"
qrr_guests="${qrr_guests:-}"
qrr_work="${qrr_work:-/tmp/qemu_rr}"
qrr_mib="${qrr_mib:-256}"
qrr_sectors="${qrr_sectors:-8}"
qrr_disk_sectors="${qrr_disk_sectors:-2048}"
qrr_pace="${qrr_pace:-sync}"
qrr_kv_input="${qrr_kv_input:-}"
qrr_timeout="${qrr_timeout:-300}"

# qrr_find_guests: sets qrr_guests if it is not set yet.
qrr_find_guests() {
  [[ -z "$qrr_guests" ]] || return 0
  local d
  for d in "${RUNFILES_DIR:-$qrr_self.runfiles}/extravirt/guest" "$PWD/guest" \
    "$qrr_root/.bazel/bin/guest"; do
    if [[ -r "$d/compute.elf" ]]; then qrr_guests="$d"; return 0; fi
  done
  echo "qemu_rr: no guest kernels found; build //guest:bundled_guests or pass --guests" >&2
  return 2
}

# qrr_bytes FILE [zstd]: size of FILE, raw or zstd -3 compressed; 0 if absent.
qrr_bytes() {
  if [[ ! -f "$1" ]]; then echo 0
  elif [[ "${2:-}" == zstd ]]; then zstd -q -3 -c "$1" | wc -c
  else stat -c %s "$1"
  fi
}

# qrr_run VARIANT GUEST: one timed run; prints the result line. Returns 0
# whether or not the output was right (see OUTPUT_OK), 2 on usage errors.
qrr_run() {
  local variant="$1" guest="$2"
  qrr_find_guests || return 2
  mkdir -p "$qrr_work"
  local rrfile="$qrr_work/$guest.rr" out="$qrr_work/$guest.$variant.out"
  local timef="$qrr_work/$guest.$variant.time" img="$qrr_work/$guest.img"
  local args=(--timeout "$qrr_timeout" --output "$out" --time "$timef")
  local expect_file="" expect_re="" extra=()
  case "$guest" in
    compute)
      args+=(--append "mib=$qrr_mib")
      expect_re="^compute: mib=$qrr_mib sha256=[0-9a-f]{64} crc32=[0-9a-f]{8}$" ;;
    kvstore)
      local kv_in="${qrr_kv_input:-$qrr_testdata/kvstore.in}"
      args+=(--input "$kv_in" --input-pace "$qrr_pace")
      if [[ "$kv_in" -ef "$qrr_testdata/kvstore.in" ]]; then
        expect_file="$qrr_testdata/kvstore.out"
      else
        local n
        n=$(grep -c . "$kv_in" || true)
        expect_re="^kvstore: ready
([^
]*
){$((n - 1))}BYE commands=$n keys=[0-9]+$"
      fi ;;
    disk)
      rm -f "$img"
      truncate -s $((qrr_disk_sectors * 512)) "$img"
      args+=(--append "sectors=$qrr_sectors" --disk "$img")
      expect_re="^disk: capacity $qrr_disk_sectors sectors
disk: wrote and read back 3 x $qrr_sectors sectors at LBA .*: verified$" ;;
    *) echo "qemu_rr: unknown guest '$guest'" >&2; return 2 ;;
  esac
  case "$variant" in
    tcg) ;;
    icount) extra=(-- -icount shift=auto) ;;
    record) rm -f "$rrfile"; args=(--rr record --rrfile "$rrfile" "${args[@]}") ;;
    replay)
      [[ -f "$rrfile" ]] || { echo "qemu_rr: no recording $rrfile: run record first" >&2; return 2; }
      args=(--rr replay --rrfile "$rrfile" "${args[@]}") ;;
    *) echo "qemu_rr: unknown variant '$variant'" >&2; return 2 ;;
  esac
  local status=0
  rm -f "$out" "$timef"
  "$qrr_run_qemu" "${args[@]}" "$qrr_guests/$guest.elf" "${extra[@]}" >/dev/null \
    2>"$qrr_work/$guest.$variant.err" || status=$?
  local ok=0 serial
  serial=$(cat "$out" 2>/dev/null || true)
  if [[ -n "$expect_file" ]]; then
    cmp -s "$out" "$expect_file" && ok=1
  elif [[ "$serial" =~ $expect_re ]]; then
    ok=1
  fi
  if [[ "$variant" == record ]]; then
    cp "$out" "$qrr_work/$guest.recorded.out" 2>/dev/null || true
  elif [[ "$variant" == replay ]] && ! cmp -s "$out" "$qrr_work/$guest.recorded.out"; then
    ok=0
  fi
  ((status == 0)) || ok=0
  local log=0 logz=0
  if [[ "$variant" == record || "$variant" == replay ]]; then
    log=$(qrr_bytes "$rrfile")
    logz=$(qrr_bytes "$rrfile" zstd)
  fi
  echo "qemu_rr $variant $guest $(cat "$timef" 2>/dev/null || echo nan) $log $logz $ok $status"
}

# qrr_median FILE VARIANT GUEST COLUMN: median of COLUMN (4 = wall, 5 = log,
# 6 = zstd log) over FILE's result lines for VARIANT and GUEST.
qrr_median() {
  awk -v v="$2" -v g="$3" -v c="$4" '$1 == "qemu_rr" && $2 == v && $3 == g { print $c }' "$1" |
    sort -g | awk '{ x[NR] = $1 } END {
      if (NR == 0) print "nan"; else if (NR % 2) print x[(NR + 1) / 2];
      else print (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}

# qrr_bench ROUNDS "GUESTS" "VARIANTS" RAW: interleaved rounds (in every
# round, each guest runs each variant once, in order), then the medians.
qrr_bench() {
  local rounds="$1" guests="$2" variants="$3" raw="$4" i g v line bad=0
  for ((i = 1; i <= rounds; i++)); do
    echo "qemu_rr: round $i/$rounds" >&2
    for g in $guests; do
      for v in $variants; do
        line=$(qrr_run "$v" "$g")
        echo "$line"
        echo "$line" >>"$raw"
        [[ "$(awk '{ print $7 }' <<<"$line")" == 1 ]] || bad=1
      done
    done
  done
  local med w
  for g in $guests; do
    for v in $variants; do
      echo "qemu_rr_median $g $v $(qrr_median "$raw" "$v" "$g" 4) $(qrr_median "$raw" "$v" "$g" 5)" \
        "$(qrr_median "$raw" "$v" "$g" 6)" \
        "$(awk -v v="$v" -v g="$g" '$1 == "qemu_rr" && $2 == v && $3 == g { n++; ok += $7 } END { print ok "/" n }' "$raw")"
    done
    for pair in record/tcg record/icount replay/record; do
      [[ " $variants " == *" ${pair%/*} "* && " $variants " == *" ${pair#*/} "* ]] || continue
      med=$(qrr_median "$raw" "${pair%/*}" "$g" 4)
      w=$(qrr_median "$raw" "${pair#*/}" "$g" 4)
      echo "qemu_rr_ratio $g $pair $(awk -v a="$med" -v b="$w" 'BEGIN { printf "%.3f", a / b }')"
    done
  done
  return "$bad"
}

qrr_main() {
  local cmd="${1:-}"
  [[ -n "$cmd" ]] && shift
  case "$cmd" in
    -h|--help|help) sed -n '2,/^set -e/s/^# \{0,1\}//p' "$qrr_self" | sed '$d'; return 0 ;;
    run|bench) ;;
    *) echo "qemu_rr: usage: qemu_rr.sh run VARIANT GUEST [options] | bench [options] (see --help)" >&2; return 2 ;;
  esac
  local pos=() rounds=3 guest_list="compute kvstore disk"
  local variants="tcg icount record replay" raw=""
  while (($#)); do
    case "$1" in
      --guests) qrr_guests="$2"; shift 2 ;;
      --work) qrr_work="$2"; shift 2 ;;
      --mib) qrr_mib="$2"; shift 2 ;;
      --sectors) qrr_sectors="$2"; shift 2 ;;
      --disk-sectors) qrr_disk_sectors="$2"; shift 2 ;;
      --pace) qrr_pace="$2"; shift 2 ;;
      --kv-input) qrr_kv_input="$2"; shift 2 ;;
      --timeout) qrr_timeout="$2"; shift 2 ;;
      --rounds) rounds="$2"; shift 2 ;;
      --guest-list) guest_list="$2"; shift 2 ;;
      --variants) variants="$2"; shift 2 ;;
      --raw) raw="$2"; shift 2 ;;
      -h|--help) qrr_main --help; return 0 ;;
      -*) echo "qemu_rr: unknown option '$1' (see --help)" >&2; return 2 ;;
      *) pos+=("$1"); shift ;;
    esac
  done
  if [[ "$cmd" == run ]]; then
    ((${#pos[@]} == 2)) || { echo "qemu_rr: run VARIANT GUEST (see --help)" >&2; return 2; }
    local line
    line=$(qrr_run "${pos[0]}" "${pos[1]}") || return $?
    echo "$line"
    [[ "$(awk '{ print $7 }' <<<"$line")" == 1 ]]
  else
    ((${#pos[@]} == 0)) || { echo "qemu_rr: bench takes no arguments" >&2; return 2; }
    qrr_find_guests || return 2
    mkdir -p "$qrr_work"
    [[ -n "$raw" ]] || raw="$qrr_work/raw.$$.txt"
    echo "qemu_rr: guests $qrr_guests, work $qrr_work, raw lines in $raw" >&2
    qrr_bench "$rounds" "$guest_list" "$variants" "$raw"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  qrr_main "$@"
fi
