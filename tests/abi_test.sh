#!/usr/bin/env bash
# ABI discipline for libextravirt.so (issue 14): against the baseline in
# capi/abi/ (tools/update_abi_baseline.sh writes it),
#   - the exported symbols are exactly the listed ones: none removed (a
#     break) and none added without being listed (so additions are
#     deliberate);
#   - abidiff finds no incompatible change in the functions and the types of
#     extravirt.h (additions are compatible: reported, not failed).
# First it checks that both checks can fail, on a baseline doctored to lack
# a function (xv_version renamed away).
set -euo pipefail
lib="$1"
baseline_abi="$2"
baseline_symbols="$3"
headers="$(dirname "$4")"
work="${TEST_TMPDIR:?}/abi_test"
mkdir -p "$work"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# abidiff's exit status is a bit set: 1 error, 2 usage error, 4 an ABI
# change, 8 an incompatible ABI change.
abi_compare() {  # OLD NEW -> 0 compatible, 1 incompatible or error
  local rc=0
  abidiff --no-show-locs --hd1 "$headers" --hd2 "$headers" \
    "$1" "$2" >"$work/abidiff.out" 2>&1 || rc=$?
  cat "$work/abidiff.out"
  if ((rc & 3)); then echo "abidiff failed to run (exit $rc)"; return 1; fi
  if ((rc & 8)); then return 1; fi
  if ((rc & 4)); then
    echo "note: compatible ABI additions; run tools/update_abi_baseline.sh"
  fi
  return 0
}

nm -D --defined-only "$lib" | awk '{print $3}' | sort >"$work/symbols"

# The checks can fail: a baseline that had one more function.
sed '/^xv_version$/d' "$baseline_symbols" >"$work/fewer"
if cmp -s "$work/fewer" "$work/symbols"; then
  fail "self-check: a symbol list without xv_version matched the library"
fi
sed "s/'xv_version'/'xv_version_gone'/g" "$baseline_abi" >"$work/doctored.abi"
if abi_compare "$baseline_abi" "$work/doctored.abi" >/dev/null; then
  fail "self-check: abidiff did not call removing xv_version incompatible"
fi

# The real checks.
if ! diff -u "$baseline_symbols" "$work/symbols"; then
  fail "exported symbols differ from $baseline_symbols ('-' removed: an ABI" \
    "break; '+' added: list it with tools/update_abi_baseline.sh)"
fi
if ! abi_compare "$baseline_abi" "$lib"; then
  fail "abidiff: incompatible change against $baseline_abi"
fi

((fails == 0)) || exit 1
echo "abi_test: passed ($(wc -l <"$work/symbols") exported symbols)"
