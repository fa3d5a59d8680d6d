#!/usr/bin/env bash
# The library as another project uses it (issue 14): install into a
# temporary prefix with //:install, then build the examples and
# tests/capi_misuse.c with the system C compiler through pkg-config alone
# (no Bazel, no path into this tree) and run them:
#   - record_replay: record a bundled guest, replay it verified, and run it
#     replicated with a fault whose recovery the event callback reports;
#   - own_loop_vmm: a Unicorn vCPU loop whose recording replays verified,
#     and whose tampered replay is caught;
#   - capi_misuse: NULL, stale and wrong-type handles, bad arguments, bad
#     files: error codes, never a crash;
#   - cpp_api_check (built with c++): extravirt.hpp, the C++ wrapper;
#   - under valgrind: no leak, no invalid access.
# On the emulator always; on KVM too where /dev/kvm is usable.
set -euo pipefail

runfiles="${TEST_SRCDIR:?}/extravirt"
work="${TEST_TMPDIR:?}/install_test"
rm -rf "$work"
mkdir -p "$work/src"
prefix="$work/prefix"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# Runs "$@" expecting its output to contain every one of the patterns that
# follow "--"; the output goes to the test log.
expect_output() {
  local args=() patterns=() seen_sep=0 out rc=0
  for a in "$@"; do
    if ((seen_sep)); then patterns+=("$a");
    elif [[ "$a" == "--" ]]; then seen_sep=1;
    else args+=("$a"); fi
  done
  out=$("${args[@]}" 2>&1) || rc=$?
  printf '$ %s\n%s\n(exit %d)\n' "${args[*]}" "$out" "$rc"
  for p in "${patterns[@]}"; do
    if ! grep -qE -- "$p" <<<"$out"; then
      fail "'${args[*]}': no line matching '$p'"
    fi
  done
  return 0
}

# 1. Install.
RUNFILES_DIR="$TEST_SRCDIR" "$runfiles/tools/install.sh" --prefix "$prefix"

# 2. Only what pkg-config says.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
version=$(pkg-config --modversion extravirt)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "pkg-config version '$version'"
libdir=$(pkg-config --variable=libdir extravirt)
guestdir=$(pkg-config --variable=guestdir extravirt)
lib="$libdir/libextravirt.so"
[[ "$(readlink "$lib")" == "libextravirt.so.${version%%.*}" ]] ||
  fail "libextravirt.so does not point at the soname"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" == "libextravirt.so.${version%%.*}" ]] || fail "soname '$soname'"
others=$(nm -D --defined-only "$lib" | awk '$3 !~ /^xv_/ {print $3}')
[[ -z "$others" ]] || fail "libextravirt.so exports more than xv_*: $others"

cp "$runfiles/examples/record_replay.c" "$runfiles/examples/own_loop_vmm.c" \
  "$runfiles/tests/capi_misuse.c" "$runfiles/tests/cpp_api_check.cc" \
  "$work/src/"
cd "$work/src"
# The include and link flags come only from pkg-config (Unicorn has no .pc
# file in Debian: -lunicorn for the example that drives it itself).
read -r -a xv_flags <<<"$(pkg-config --cflags --libs extravirt)"
for f in record_replay capi_misuse; do
  cc -std=c99 -Wall -Wextra -Werror -o "$f" "$f.c" "${xv_flags[@]}"
done
cc -std=c99 -Wall -Wextra -Werror -o own_loop_vmm own_loop_vmm.c \
  "${xv_flags[@]}" -lunicorn
# The C++ wrapper, extravirt.hpp, with the system C++ compiler.
c++ -std=c++17 -Wall -Wextra -Werror -o cpp_api_check cpp_api_check.cc \
  "${xv_flags[@]}"
export LD_LIBRARY_PATH="$libdir"
# Nothing may lead the library to this build's files: the emulator must be
# found where //:install put it, next to libextravirt.so.
unset XVIRT_EMU_LIBRARY RUNFILES_DIR RUNFILES_MANIFEST_FILE TEST_SRCDIR

backends=(emu)
# (Output in a variable: `| grep -q` under pipefail fails when grep exits
# first and the writer dies of SIGPIPE.)
probe=$(./record_replay "$guestdir/hello.elf" "$work/probe.xvlog" --backend emu)
if grep -q "kvm: yes" <<<"$probe"; then
  backends+=(kvm)
else
  echo "note: KVM is not usable here; the examples run on the emulator only"
fi

printf 'SET colour blue\nSET size 42\nGET colour\nCOUNT\nQUIT\n' >"$work/kv.txt"
for backend in "${backends[@]}"; do
  expect_output ./record_replay "$guestdir/hello.elf" "$work/hello-$backend.xvlog" \
    --backend "$backend" -- \
    "^Hello from the xvirt guest SDK" \
    "^recorded: .*exit status 0, ESN [0-9]+, backend $backend" \
    "^replay: verified, ESN [0-9]+"
  # A memory bit flipped in the leader: the next checkpoint sees it, the
  # third replica votes, the follower is promoted.
  expect_output ./record_replay "$guestdir/kvstore.elf" "$work/kv-$backend.xvlog" \
    --backend "$backend" --input "$work/kv.txt" --checkpoint-every 25 \
    --fault "mem:0x1a5000:3@60:leader" -- \
    "^replay: verified" \
    "^event: divergence at ESN [0-9]+" \
    "^event: vote at ESN [0-9]+: .*the leader \(A\) is voted out" \
    "^event: recovered at ESN [0-9]+" \
    "^replicate: fault injected, 1 divergence\(s\), 1 recovered, run completed, exit status 0"
done

expect_output ./own_loop_vmm record "$work/own.xvlog" 500 -- \
  "^recorded 500 readings, ESN 1002, result 0x[0-9a-f]{8}"
recorded=$(./own_loop_vmm replay "$work/own.xvlog" 2>&1) || fail "own_loop_vmm replay: $recorded"
echo "$recorded"
grep -qE "^replay verified: ESN 1002, result 0x[0-9a-f]{8}" <<<"$recorded" ||
  fail "own_loop_vmm replay did not verify"
rc=0
tampered=$(./own_loop_vmm replay-tampered "$work/own.xvlog" 2>&1) || rc=$?
echo "$tampered"
[[ $rc == 2 ]] || fail "a tampered replay exited $rc, not 2 (diverged)"
grep -qE "replay diverged at ESN [0-9]+" <<<"$tampered" ||
  fail "a tampered replay did not name its divergence"

expect_output ./capi_misuse "$guestdir/hello.elf" "$work" -- "^passed: 0 failure"
for backend in "${backends[@]}"; do
  expect_output ./cpp_api_check "$guestdir/hello.elf" "$backend" "$work" -- \
    "^ok   Replay verified" "^ok   own-loop replay verified" \
    "^ok   a tampered own-loop replay diverges" "^passed: 0 failure"
done

# 3. valgrind: the examples and the misuse checks, clean.
if ! command -v valgrind >/dev/null; then
  fail "valgrind is not installed (./bazelw installs it)"
else
  vg=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99)
  runs=(
    "./capi_misuse $guestdir/hello.elf $work"
    "./cpp_api_check $guestdir/hello.elf emu $work"
    # Replicas on threads; valgrind's slowdown may also trip the hang
    # detector (2 s), which the vote then settles: still exit 0.
    "./record_replay $guestdir/kvstore.elf $work/vg-kv.xvlog --backend emu --input $work/kv.txt --checkpoint-every 25 --fault mem:0x1a5000:3@60:leader"
    "./own_loop_vmm record $work/vg-own.xvlog 200"
    "./own_loop_vmm replay $work/vg-own.xvlog"
  )
  for backend in "${backends[@]}"; do
    runs+=("./record_replay $guestdir/hello.elf $work/vg-$backend.xvlog --backend $backend")
  done
  for r in "${runs[@]}"; do
    rc=0
    # shellcheck disable=SC2086  # the words of a command line
    out=$("${vg[@]}" $r 2>&1) || rc=$?
    if [[ $rc != 0 ]]; then
      printf '%s\n' "$out"
      fail "under valgrind, '$r' exited $rc"
    else
      echo "valgrind clean: $r"
    fi
  done
fi

if ((fails)); then
  echo "install_test: $fails failure(s)" >&2
  exit 1
fi
echo "install_test: passed (backends: ${backends[*]})"
