#!/usr/bin/env bash
# ./bazelw run //:install -- --prefix DIR [--keep-debug] [--dry-run]
#
# Installs libextravirt as a system library is laid out:
#   DIR/include/extravirt/extravirt.h         the C API
#   DIR/include/extravirt/extravirt.hpp       its C++ wrapper
#   DIR/lib/libextravirt.so.X.Y.Z             with its soname link (.so.X)
#                                             and development link (.so)
#   DIR/lib/xvirt/libxvirt_emu.so              the software CPU (Unicorn)
#   DIR/lib/pkgconfig/extravirt.pc
#   DIR/bin/xvirt                              the CLI
#   DIR/share/extravirt/guests/*.elf           the bundled guests
# A relative DIR is taken from the directory `bazel run` was started in.
# Binaries are installed without debug information, as distributions ship
# them (the library: 1.2 MB instead of 10.6), unless --keep-debug.
set -euo pipefail

die() { echo "install: $*" >&2; exit 2; }
usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

prefix=""
dry_run=0
keep_debug=0
while (($#)); do
  case "$1" in
    --prefix) (($# >= 2)) || die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    --keep-debug) keep_debug=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[[ -n "$prefix" ]] || die "--prefix DIR is required (try --help)"
if [[ "$prefix" != /* ]]; then
  prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix"
fi

# The built files, from this script's runfiles.
runfiles="${RUNFILES_DIR:-$0.runfiles}/extravirt"
[[ -d "$runfiles" ]] || die "no runfiles at $runfiles: run me with 'bazel run //:install'"
header="$runfiles/include/extravirt/extravirt.h"
header_cpp="$runfiles/include/extravirt/extravirt.hpp"
lib="$runfiles/capi/libextravirt.so"
emu="$runfiles/emu/libxvirt_emu.so"
xvirt="$runfiles/cli/xvirt"
pc_in="$runfiles/capi/extravirt.pc.in"
for f in "$header" "$header_cpp" "$lib" "$emu" "$xvirt" "$pc_in"; do
  [[ -f "$f" ]] || die "missing from the build: $f"
done

# One version, the header's.
version=$(sed -n 's/^#define XV_VERSION_STRING "\(.*\)"$/\1/p' "$header")
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read XV_VERSION_STRING from $header"
major="${version%%.*}"
soname="libextravirt.so.$major"
real="libextravirt.so.$version"

run() { if ((dry_run)); then echo "$*"; else "$@"; fi; }
# cp + chmod rather than install(1): this script is itself named `install`
# in its runfiles, where a PATH with "." would find it first.
put() { run cp -f "$2" "$3"; run chmod "$1" "$3"; }
put_binary() {
  put 0755 "$1" "$2"
  if ((!keep_debug)); then run strip --strip-debug "$2"; fi
}

run mkdir -p "$prefix/include/extravirt" "$prefix/lib/xvirt" \
  "$prefix/lib/pkgconfig" "$prefix/bin" "$prefix/share/extravirt/guests"
put 0644 "$header" "$prefix/include/extravirt/extravirt.h"
put 0644 "$header_cpp" "$prefix/include/extravirt/extravirt.hpp"
put_binary "$lib" "$prefix/lib/$real"
run ln -sfn "$real" "$prefix/lib/$soname"
run ln -sfn "$soname" "$prefix/lib/libextravirt.so"
put_binary "$emu" "$prefix/lib/xvirt/libxvirt_emu.so"
put_binary "$xvirt" "$prefix/bin/xvirt"
for guest in "$runfiles"/guest/*.elf; do
  put 0644 "$guest" "$prefix/share/extravirt/guests/${guest##*/}"
done
if ((dry_run)); then
  echo "write $prefix/lib/pkgconfig/extravirt.pc"
else
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$pc_in" \
    > "$prefix/lib/pkgconfig/extravirt.pc"
fi
echo "installed libextravirt $version into $prefix"
echo "  build against it: PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc app.c \$(pkg-config --cflags --libs extravirt)"
