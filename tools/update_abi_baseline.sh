#!/usr/bin/env bash
# Rewrites the ABI baseline of libextravirt.so (capi/abi/) from the current
# build. Only for a deliberate ABI change: an addition (a new xv_ function, a
# field at the end of a sized struct), or a break that comes with a new
# soname (XV_VERSION_MAJOR). tests/abi_test.sh compares against it.
set -euo pipefail
cd "$(dirname "$0")/.."
./bazelw build //capi:libextravirt.so
lib="$(./bazelw info bazel-bin 2>/dev/null)/capi/libextravirt.so"
abidw --no-corpus-path --no-comp-dir-path --no-show-locs --drop-private-types \
  --drop-undefined-syms --headers-dir include/extravirt "$lib" \
  >capi/abi/libextravirt.abi
nm -D --defined-only "$lib" | awk '{print $3}' | sort >capi/abi/libextravirt.symbols
echo "updated capi/abi/ from $lib"
