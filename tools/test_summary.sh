#!/usr/bin/env bash
# tools/test_summary.sh BEP_JSON: after `bazel test`, counts the GoogleTest
# cases that were skipped (GTEST_SKIP, e.g. no usable /dev/kvm) in the test
# results of that invocation, and prints each distinct reason once. Bazel's
# summary reports a test target that skipped every case as PASSED.
set -uo pipefail
events="$1"
[[ -s "$events" ]] || exit 0

# test.xml of every test action of this invocation (cached ones included).
mapfile -t xmls < <(grep -o '"uri":"file://[^"]*/test\.xml"' "$events" |
  sed 's|"uri":"file://||; s|"$||' | sort -u)
((${#xmls[@]})) || exit 0

ran=0
skipped=0
declare -A reasons=()
for xml in "${xmls[@]}"; do
  [[ -f "$xml" ]] || continue
  n=$(grep -c '<testcase ' "$xml" || true)
  s=$(grep -c 'result="skipped"' "$xml" || true)
  ran=$((ran + n))
  skipped=$((skipped + s))
  if ((s > 0)); then
    while IFS= read -r msg; do
      reasons["$msg"]=$((${reasons["$msg"]:-0} + 1))
    done < <(grep -o '<skipped message="[^"]*"' "$xml" |
      sed 's/<skipped message="//; s/"$//; s/^[^&]*&#x0A;//; s/&#x0A;/ /g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g')
  fi
done

echo "Test cases: $ran, of which $skipped skipped."
for msg in "${!reasons[@]}"; do
  echo "  ${reasons[$msg]} skipped: $msg"
done
