#!/usr/bin/env bash
# tools/clang_tidy.sh [FILE...]: runs clang-tidy (the checks of .clang-tidy)
# over the project's C++ sources — every source Bazel compiles, or the given
# files — with the compile commands Bazel uses, and fails if it reports
# anything. CI runs it after the tests. Needs clang-tidy and python3
# (./bazelw installs them).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd -P)"
cd "$root"
for tool in clang-tidy python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "clang_tidy.sh: $tool is missing (./bazelw installs it)" >&2
    exit 1
  fi
done

# Generated headers (Cap'n Proto) must exist for the analysis.
./bazelw build //... >/dev/null 2>&1 || ./bazelw build //...
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bazel aquery 'mnemonic("CppCompile", //...)' --output=jsonproto \
  >"$work/aquery.json" 2>/dev/null
execroot=$(bazel info execution_root 2>/dev/null)
python3 tools/compile_commands.py "$work/aquery.json" "$execroot" \
  >"$work/compile_commands.json"

if (($# > 0)); then
  files=("$@")
else
  mapfile -t files < <(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])):
    print(e["file"])' "$work/compile_commands.json")
fi
echo "clang_tidy.sh: ${#files[@]} files" >&2

# clang-tidy runs in the execroot, where Bazel's include paths are valid;
# the sources there are links to this checkout. One process per core.
out="$work/tidy.out"
(cd "$execroot" && printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy --quiet -p "$work" \
    --config-file="$root/.clang-tidy" 2>/dev/null) >"$out" || true
# Only diagnostics about project files count (not system headers).
if grep -E '^[^/][^:]*:[0-9]+:[0-9]+: (warning|error):' "$out" >/dev/null; then
  grep -E -A3 '^[^/][^:]*:[0-9]+:[0-9]+: (warning|error):' "$out" >&2
  n=$(grep -cE '^[^/][^:]*:[0-9]+:[0-9]+: (warning|error):' "$out")
  echo "clang_tidy.sh: $n finding(s)" >&2
  exit 1
fi
echo "clang_tidy.sh: no findings" >&2
