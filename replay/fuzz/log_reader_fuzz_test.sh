#!/usr/bin/env bash
# log_reader_fuzz_test.sh SEEDS_BIN SOURCE...: builds the log reader fuzz
# target with clang (libFuzzer, ASan, UBSan) from SOURCE... (paths relative to
# the runfiles root, which is also the include root: replay/log.capnp.h is
# the generated header there) and fuzzes it for $FUZZ_SECONDS (default 30),
# starting from the logs SEEDS_BIN writes. Any crash, sanitizer report or
# escaping exception fails the test; libFuzzer saves the input under
# $TEST_UNDECLARED_OUTPUTS_DIR (bazel-testlogs/.../test.outputs/) and
# //replay/fuzz:log_reader_fuzz_regression_test reproduces it with gcc:
#   bazel run //replay/fuzz:log_reader_fuzz_regression_test -- /abs/crash-...
set -euo pipefail

seeds_bin=$1
shift
sources=("$@")
seconds=${FUZZ_SECONDS:-30}
work=${TEST_TMPDIR:-$(mktemp -d)}
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}

for tool in clang++ pkg-config; do
  if ! command -v "$tool" >/dev/null; then
    echo "log_reader_fuzz_test: $tool is missing (./bazelw installs clang," \
      "libclang-rt-14-dev and pkg-config)" >&2
    exit 1
  fi
done

libs=(capnp libzstd libxxhash absl_status absl_statusor absl_str_format
  absl_strings)
read -r -a cflags <<<"$(pkg-config --cflags "${libs[@]}")"
read -r -a ldflags <<<"$(pkg-config --libs "${libs[@]}")"

# One object per source, compiled in parallel.
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=all -I. "${cflags[@]}")
objects=()
pids=()
start=$SECONDS
for src in "${sources[@]}"; do
  case "$src" in
    *.h) continue ;;
  esac
  obj="$work/$(echo "$src" | tr / _).o"
  clang++ "${flags[@]}" -c "$src" -o "$obj" &
  pids+=($!)
  objects+=("$obj")
done
for pid in "${pids[@]}"; do wait "$pid"; done
clang++ "${flags[@]}" "${objects[@]}" -o "$work/log_reader_fuzzer" \
  "${ldflags[@]}"
echo "log_reader_fuzz_test: built with clang in $((SECONDS - start)) s"

corpus="$work/corpus"
mkdir -p "$corpus"
"$seeds_bin" "$corpus"

# -rss_limit_mb: the reader caps what one input may allocate (64 MiB
# segments); -timeout: no input may take a second.
status=0
"$work/log_reader_fuzzer" "$corpus" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" \
  >"$work/fuzz.log" 2>&1 || status=$?
grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|INFO: seed|stat::)' "$work/fuzz.log" || true
if ((status != 0)); then
  echo "log_reader_fuzz_test: the fuzzer failed (exit $status):" >&2
  tail -n 80 "$work/fuzz.log" >&2
  exit 1
fi
