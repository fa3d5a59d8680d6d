#!/usr/bin/env bash
# `xvirt inspect` on kvstore recordings made on the emulator: the state at a
# position (registers, the instruction at RIP disassembled and named by the
# kernel's symbols, its source line from the DWARF, memory, logged inputs),
# the same as JSON, a kernel without DWARF, and bad input:
# a position past the end, one past the next exit, a bad --mem, a kernel
# without symbols. Also `replay --until ESN+N`, which reaches the same
# point. Needs no KVM.
set -euo pipefail
xvirt="$1"
kernel="$2"
work="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
printf 'SET x 10\nSET y 20\nGET x\nQUIT\n' >"$work/in"
"$xvirt" record "$kernel" -o "$work/kv.log" --backend emu <"$work/in" >/dev/null 2>"$work/record.err"

"$xvirt" inspect "$work/kv.log" --at 60+3 --mem 0x100000:64 --json >"$work/at.json"
python3 - "$work/at.json" <<'PY' || fail "inspect --json: $(cat "$work/at.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["position"] == "60+3", j["position"]
assert j["instructions_since_boot"] > 0
rip = j["registers"]["rip"]
at_rip = [c for c in j["code"] if c["at_rip"]]
assert len(at_rip) == 1 and at_rip[0]["address"] == rip, (rip, j["code"])
assert j["symbol"] and j["symbol"] == at_rip[0]["symbol"], j["symbol"]
assert len(j["code"]) > 1
# The multiboot header sits at the start of the image: its magic.
assert j["memory"]["bytes"].startswith("02b0ad1b"), j["memory"]["bytes"][:16]
PY

# Two views of one position agree: text shows the same RIP and symbol.
"$xvirt" inspect "$work/kv.log" --at 60+3 >"$work/at.txt"
rip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["registers"]["rip"])' "$work/at.json")
grep -q "^rip $rip " "$work/at.txt" || fail "text output lacks 'rip $rip': $(cat "$work/at.txt")"
grep -q "^=> $rip " "$work/at.txt" || fail "text listing does not mark RIP"

# The guests carry DWARF: RIP's source line, as binutils' addr2line finds it
# (which names it relative to the DWARF's compilation directory, ".").
source=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("source", ""))' "$work/at.json")
want=$(addr2line -e "$kernel" "$rip" | sed 's/ (discriminator [0-9]*)$//; s|^\./||')
[[ "$source" =~ ^guest/.+\.[chS]:[0-9]+$ ]] || fail "inspect --json: source '$source' is not a guest file:line"
[[ "$source" == "$want" ]] || fail "inspect --json: source '$source', addr2line says '$want'"
grep -q "^rip $rip .* at $source\$" "$work/at.txt" || fail "text output lacks 'at $source': $(cat "$work/at.txt")"

expect_usage_error() {  # pattern, args...
  local pattern="$1"; shift
  set +e
  "$xvirt" inspect "$work/kv.log" "$@" >"$work/bad.out" 2>"$work/bad.err"
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "inspect $* exited $rc, not 2: $(cat "$work/bad.err")"
  grep -q "$pattern" "$work/bad.err" || fail "inspect $*: no '$pattern' in: $(cat "$work/bad.err")"
  [[ $(wc -l <"$work/bad.err") -eq 1 ]] || fail "inspect $*: not one line: $(cat "$work/bad.err")"
}
expect_usage_error "past the end" --at 99999
expect_usage_error "does not exist" --at 5+100000000
expect_usage_error "want ADDR" --at 5 --mem zz
expect_usage_error "position" --at 5+x
expect_usage_error "required"

# Device state: every front-end, field by field, in JSON; in text with
# --devices.
python3 - "$work/at.json" <<'PY' || fail "inspect --json devices: $(cat "$work/at.json")"
import json, sys
d = json.load(open(sys.argv[1]))["devices"]
for name in ("pic", "pit", "rtc", "uart0"):
    assert d.get(name), (name, list(d))
# The guest programmed the UART for 8N1 and the PIC's vector bases.
assert d["uart0"]["lcr"] == "0x03", d["uart0"]
assert d["pic"]["master.icw2.vector_base"] == "0x20", d["pic"]
PY
"$xvirt" inspect "$work/kv.log" --at 60+3 --devices >"$work/devices.txt"
grep -qE "^  uart0: .*lcr=0x03" "$work/devices.txt" || fail "inspect --devices: $(cat "$work/devices.txt")"

# `replay --until 60+3` verifies to exit 60 and reaches the same point.
"$xvirt" replay "$work/kv.log" --until 60+3 --quiet --json >"$work/until.json" 2>"$work/until.err" ||
  fail "replay --until 60+3 exited $?: $(cat "$work/until.err")"
python3 - "$work/until.json" "$work/at.json" <<'PY' || fail "replay --until 60+3: $(cat "$work/until.json")"
import json, sys
r = json.load(open(sys.argv[1]))
i = json.load(open(sys.argv[2]))
assert r["verified"] and r["esn"] == 60, r
p = r["at_position"]
assert p["position"] == "60+3", p
assert p["rip"] == i["registers"]["rip"], (p, i["registers"]["rip"])
assert p["instructions_since_boot"] == i["instructions_since_boot"], p
PY
got=0
"$xvirt" replay "$work/kv.log" --until 60+100000000 --quiet >/dev/null 2>"$work/until.err" || got=$?
[[ $got == 2 ]] || fail "replay --until past the next exit: exit $got, want 2"
grep -q "position 60+100000000 does not exist" "$work/until.err" || fail "replay --until: $(cat "$work/until.err")"

# Without DWARF, symbols but no source line.
objcopy --strip-debug "$kernel" "$work/nodwarf.elf"
"$xvirt" record "$work/nodwarf.elf" -o "$work/nodwarf.log" --backend emu <"$work/in" >/dev/null 2>&1
"$xvirt" inspect "$work/nodwarf.log" --at 60+3 >"$work/nodwarf.txt"
grep -q "^rip $rip [a-z_][^ ]*\$" "$work/nodwarf.txt" || fail "kernel without DWARF: $(cat "$work/nodwarf.txt")"

# A kernel without symbols still inspects, and says why names are missing.
objcopy --strip-all "$kernel" "$work/stripped.elf"
"$xvirt" record "$work/stripped.elf" -o "$work/stripped.log" --backend emu <"$work/in" >/dev/null 2>&1
"$xvirt" inspect "$work/stripped.log" --at 60 >"$work/stripped.txt"
grep -q "the kernel in the log has no symbols" "$work/stripped.txt" || fail "stripped kernel: $(cat "$work/stripped.txt")"
echo PASS
