#!/usr/bin/env bash
# Whole-run comparison of xvirt against its peers on this machine, all
# variants interleaved round-robin in one run so that machine noise hits
# them alike. Prints Markdown tables (medians and ratios) for RESULTS.md.
#
#   ./bazelw run //benchmarks:compare_runs -- [--runs N] [--mib M] [--pio N]
#
#   --runs N   repetitions of every variant (default 5)
#   --mib M    data size for the compute guest (default 256, ~1 s natively)
#   --pio N    port writes for the exit-cost runs (default 20000)
#
# Variants: the compute workload natively on the host (same C source),
# under xvirt, under QEMU with KVM and under QEMU TCG; boot to first output
# of the hello guest under each VMM; pio_bench at CPL3 and CPL0 under
# xvirt and QEMU-KVM (per-exit cost = (t(N) - t(0)) / N).
set -euo pipefail

runs=5
mib=256
pio=20000
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --mib) mib="$2"; shift 2 ;;
    --pio) pio="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;;
    *) echo "compare_runs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Runfiles: `bazel run` starts us in them; otherwise find them beside $0.
if [[ ! -x cli/xvirt ]]; then
  cd "${RUNFILES_DIR:-$0.runfiles}/extravirt"
fi
xvirt=$PWD/cli/xvirt
fo=$PWD/benchmarks/first_output
native=$PWD/guest/compute_native
g=$PWD/guest
qemu=$(command -v qemu-system-x86_64 || true)
[[ -n "$qemu" ]] || { echo "compare_runs: qemu-system-x86_64 is not installed" >&2; exit 1; }

raw=$(mktemp /tmp/compare_runs.XXXXXX.tsv)
echo "compare_runs: raw samples in $raw" >&2

# qemu_cmd ACCEL KERNEL APPEND: sets the array `q` to the QEMU command line
# (what guest/run_qemu.sh uses, minus its input and timeout plumbing).
qemu_cmd() {
  q=("$qemu" -accel "$1" -m 256 -kernel "$2" -append "$3" -display none
    -monitor none -nic none -no-reboot -serial stdio
    -device isa-debug-exit,iobase=0xf4,iosize=0x04)
}

# sample NAME EXPECTED_STDOUT_REGEX CMD...: one timed run, appended to $raw.
sample() {
  local name="$1" expect="$2"
  shift 2
  local out stats
  out=$("$fo" "$@" 2>/tmp/compare_runs.stats </dev/null) || true
  stats=$(grep '^{"first_output_s"' /tmp/compare_runs.stats | tail -1)
  if ! grep -Eq "$expect" <<<"$out"; then
    echo "compare_runs: $name printed unexpected output: $out" >&2
    exit 1
  fi
  local first total
  first=$(sed 's/.*"first_output_s": \([-0-9.]*\).*/\1/' <<<"$stats")
  total=$(sed 's/.*"total_s": \([0-9.]*\).*/\1/' <<<"$stats")
  printf '%s\t%s\t%s\n' "$name" "$first" "$total" >>"$raw"
}

compute_re="^compute: mib=$mib sha256=[0-9a-f]{64} crc32=[0-9a-f]{8}$"
hello_re="^Hello from the xvirt guest SDK!$"
for ((i = 1; i <= runs; i++)); do
  echo "compare_runs: round $i/$runs" >&2
  sample compute_native "$compute_re" "$native" "mib=$mib"
  sample compute_xvirt "$compute_re" "$xvirt" run "$g/compute.elf" --cmdline "mib=$mib"
  qemu_cmd kvm "$g/compute.elf" "mib=$mib"
  sample compute_qemu_kvm "$compute_re" "${q[@]}"
  qemu_cmd tcg "$g/compute.elf" "mib=$mib"
  sample compute_qemu_tcg "$compute_re" "${q[@]}"
  sample hello_echo "." /bin/echo hello
  sample hello_xvirt "$hello_re" "$xvirt" run "$g/hello.elf"
  qemu_cmd kvm "$g/hello.elf" ""
  sample hello_qemu_kvm "$hello_re" "${q[@]}"
  qemu_cmd tcg "$g/hello.elf" ""
  sample hello_qemu_tcg "$hello_re" "${q[@]}"
  for mode in cpl3 cpl0; do
    for n in 0 "$pio"; do
      sample "pio_${mode}_${n}_xvirt" "done" "$xvirt" run "$g/testcases/pio_bench.elf" \
        --cmdline "mode=$mode n=$n"
      qemu_cmd kvm "$g/testcases/pio_bench.elf" "mode=$mode n=$n"
      sample "pio_${mode}_${n}_qemu_kvm" "done" "${q[@]}"
    done
  done
done

# median NAME COLUMN (2 = first output, 3 = total)
median() {
  awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$raw" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "Machine: $cpu, $(nproc) CPUs, $(uname -r); /dev/kvm: PVM. $runs runs of each variant, interleaved; medians."
echo
echo "### compute guest (mib=$mib), whole run"
echo
echo "| variant | median wall (s) | ÷ native |"
echo "|---|---|---|"
base=$(median compute_native 3)
for v in native xvirt qemu_kvm qemu_tcg; do
  t=$(median "compute_$v" 3)
  echo "| $v | $(awk -v t="$t" 'BEGIN { printf "%.3f", t }') | $(ratio "$t" "$base") |"
done
echo
echo "### boot to first output (hello guest)"
echo
echo "| variant | median first byte (ms) | median whole run (ms) | ÷ xvirt (first byte) |"
echo "|---|---|---|---|"
xb=$(median hello_xvirt 2)
for v in echo xvirt qemu_kvm qemu_tcg; do
  f=$(median "hello_$v" 2)
  t=$(median "hello_$v" 3)
  echo "| $v | $(ms "$f") | $(ms "$t") | $(ratio "$f" "$xb") |"
done
echo
echo "### one port-I/O exit, from whole runs of pio_bench (n=$pio)"
echo
echo "| guest loop at | VMM | per exit (µs) | ÷ xvirt |"
echo "|---|---|---|---|"
for mode in cpl3 cpl0; do
  xe=$(awk -v a="$(median "pio_${mode}_${pio}_xvirt" 3)" -v b="$(median "pio_${mode}_0_xvirt" 3)" -v n="$pio" 'BEGIN { print (a - b) / n * 1e6 }')
  for vmm in xvirt qemu_kvm; do
    e=$(awk -v a="$(median "pio_${mode}_${pio}_${vmm}" 3)" -v b="$(median "pio_${mode}_0_${vmm}" 3)" -v n="$pio" 'BEGIN { print (a - b) / n * 1e6 }')
    echo "| $mode | $vmm | $(awk -v e="$e" 'BEGIN { printf "%.1f", e }') | $(ratio "$e" "$xe") |"
  done
done
