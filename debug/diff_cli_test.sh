#!/usr/bin/env bash
# `xvirt diff` on kvstore recordings made on the emulator: two sessions that
# differ in one command (the first differing input is that command's byte,
# at the ESN where the log delivered it), text and JSON agreeing, a log
# against itself (nothing differs, exit 0), a what-if run with a register
# bit flipped (`replay --inject --record`: the fault, the register, the
# point; inspect there), and bad input. Needs no KVM.
set -euo pipefail
xvirt="$1"
kernel="$2"
work="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
record() {  # name, session (with \n escapes)
  printf '%b' "$2" >"$work/$1.in"
  "$xvirt" record "$kernel" -o "$work/$1.log" --backend emu --mem 16 \
    --rtc 1700000000 <"$work/$1.in" >/dev/null 2>"$work/$1.err" ||
    fail "record $1: $(cat "$work/$1.err")"
}
record a 'SET x 10\nSET y 20\nGET x\nQUIT\n'
record b 'SET x 10\nSET y 20\nGET y\nQUIT\n'  # byte 22: "x" -> "y"

rc=0
"$xvirt" diff "$work/a.log" "$work/b.log" --json >"$work/ab.json" || rc=$?
[[ $rc == 1 ]] || fail "diff of differing logs exited $rc, want 1"
"$xvirt" log dump "$work/a.log" --json >"$work/a.dump"
python3 - "$work/ab.json" "$work/a.dump" <<'PY' || fail "diff --json: $(cat "$work/ab.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["differ"] is True
assert j["header"] == [], j["header"]
inputs = [d for d in j["logged"] if d["kind"] == "input"]
assert len(inputs) == 1, j["logged"]
d = inputs[0]
assert d["what"] == "serial_rx byte 22", d
assert d["a"].startswith('"x\\nQUIT'), d["a"]
assert d["b"].startswith('"y\\nQUIT'), d["b"]
# Where a's log delivered byte 22 of the serial stream, from its own dump.
seen = 0
want = None
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("kind") == "input" and r.get("input") == "serial_rx":
        seen += int(r["detail"].split()[0])
        if seen > 22:
            want = r["esn"]
            break
assert want is not None, "no serial byte 22 in the dump"
assert d["esn_a"] == want, (d, want)
# The states differ no later than that input (the clock may differ first).
s = j["state"]
assert s is not None
esn = int(s["position_a"].split("+")[0])
assert esn <= want, (s["position_a"], want)
assert s["code_a"]["code"], s
PY

# The text says the same.
"$xvirt" diff "$work/a.log" "$work/b.log" >"$work/ab.txt" || true
want_esn=$(python3 -c 'import json,sys; print([d for d in json.load(open(sys.argv[1]))["logged"] if d["kind"]=="input"][0]["esn_a"])' "$work/ab.json")
grep -qE "^first differing input: ESN $want_esn \(a\) / [0-9]+ \(b\): serial_rx byte 22$" "$work/ab.txt" ||
  fail "text diff: $(cat "$work/ab.txt")"
grep -q '^state: first differs at ESN ' "$work/ab.txt" || fail "text diff has no state: $(cat "$work/ab.txt")"

# A log against itself: nothing differs, exit 0.
"$xvirt" diff "$work/a.log" "$work/a.log" >"$work/aa.txt" || fail "diff of a log with itself exited $?: $(cat "$work/aa.txt")"
grep -q '^logged: no difference$' "$work/aa.txt" || fail "self diff: $(cat "$work/aa.txt")"
grep -q '^state: the same at every exit both reach$' "$work/aa.txt" || fail "self diff: $(cat "$work/aa.txt")"

# A what-if run of a with rbx bit 5 flipped after exit 30, recorded: it
# replays verified, and diff names the fault, the register and the point.
"$xvirt" replay "$work/a.log" --inject reg:rbx:5@30 --record "$work/f.log" \
  --quiet >/dev/null 2>"$work/inject.err" || fail "replay --inject exited $?: $(cat "$work/inject.err")"
grep -q "injected rbx bit 5 flipped after exit 30" "$work/inject.err" || fail "replay --inject: $(cat "$work/inject.err")"
"$xvirt" replay "$work/f.log" --quiet >/dev/null 2>"$work/f.err" || fail "replay of the faulty log exited $?: $(cat "$work/f.err")"
grep -q "^verified: " "$work/f.err" || fail "replay of the faulty log: $(cat "$work/f.err")"
rc=0
"$xvirt" diff "$work/a.log" "$work/f.log" --json >"$work/af.json" || rc=$?
[[ $rc == 1 ]] || fail "diff with the faulty log exited $rc, want 1"
python3 - "$work/af.json" <<'PY' || fail "diff --json of the faulty log: $(cat "$work/af.json")"
import json, sys
j = json.load(open(sys.argv[1]))
first = j["logged"][0]
assert first["kind"] == "fault" and first["esn_b"] == 30, first
assert all(d["kind"] != "timing" for d in j["logged"]), j["logged"]
s = j["state"]
assert s["position_a"] == "30" and s["position_b"] == "30", s
assert [r["name"] for r in s["registers"]] == ["rbx"], s["registers"]
r = s["registers"][0]
assert int(r["a"], 16) ^ int(r["b"], 16) == 32, r
assert s["pages_differing"] == 0 and s["devices"] == [], s
at_rip = [c for c in s["code_a"]["code"] if c["at_rip"]]
assert len(at_rip) == 1 and at_rip[0]["address"] == s["code_a"]["rip"], s["code_a"]
PY

# inspect at the fault's point: rbx there is the good run's with bit 5
# flipped, and RIP is the same.
"$xvirt" inspect "$work/a.log" --at 30 --json >"$work/a30.json"
"$xvirt" inspect "$work/f.log" --at 30 --json >"$work/f30.json"
python3 - "$work/a30.json" "$work/f30.json" <<'PY' || fail "inspect of the faulty log at 30: $(cat "$work/f30.json")"
import json, sys
a = json.load(open(sys.argv[1]))["registers"]
f = json.load(open(sys.argv[2]))["registers"]
assert int(a["rbx"], 16) ^ int(f["rbx"], 16) == 32, (a["rbx"], f["rbx"])
assert a["rip"] == f["rip"], (a["rip"], f["rip"])
PY

# Bad input: one line on stderr, the documented status.
expect_error() {  # status, pattern, args...
  local want="$1" pattern="$2"
  shift 2
  local got=0
  "$xvirt" diff "$@" >"$work/out" 2>"$work/err" || got=$?
  [[ $got == "$want" ]] || fail "diff $*: exit $got, want $want: $(cat "$work/err")"
  [[ $(wc -l <"$work/err") == 1 ]] || fail "diff $*: want one line: $(cat "$work/err")"
  grep -qE "$pattern" "$work/err" || fail "diff $*: '$(cat "$work/err")' lacks '$pattern'"
}
expect_error 2 "usage: xvirt diff" "$work/a.log"
expect_error 125 "nonexistent" "$work/a.log" "$work/nonexistent.log"
head -c 100 "$work/a.log" >"$work/torn.log"
expect_error 125 "torn.log" "$work/a.log" "$work/torn.log"
expect_replay_error() {  # pattern, args...
  local pattern="$1"
  shift
  local got=0
  "$xvirt" replay "$work/a.log" --backend emu --quiet "$@" >"$work/out" 2>"$work/err" || got=$?
  [[ $got == 2 ]] || fail "replay $*: exit $got, want 2: $(cat "$work/err")"
  [[ $(wc -l <"$work/err") == 1 ]] || fail "replay $*: want one line: $(cat "$work/err")"
  grep -qE "$pattern" "$work/err" || fail "replay $*: '$(cat "$work/err")' lacks '$pattern'"
}
expect_replay_error "go together" --inject reg:rbx:5@30
expect_replay_error "only a register bit" --inject mem:0x1000:1@3 --record "$work/g.log"
expect_replay_error "before exit 100000: nothing was injected" --inject reg:rax:0@100000 --record "$work/g.log"
[[ ! -e "$work/g.log" ]] || fail "replay --inject past the end left $work/g.log"
echo PASS
