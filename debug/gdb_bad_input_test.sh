#!/usr/bin/env bash
# `xvirt debug` against a misbehaving client (a raw socket, not gdb): a bad
# checksum is refused with '-', a malformed or oversized packet gets an
# error reply, and the stub keeps serving after each; a client that
# disconnects in the middle of a continue, or in the middle of a packet,
# ends the session cleanly (exit 0, one line saying where gdb left).
# Needs no KVM.
set -euo pipefail
xvirt="$1"
kernel="$2"
work="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
printf 'SET x 10\nGET x\nQUIT\n' >"$work/in"
"$xvirt" record "$kernel" -o "$work/kv.log" --backend emu <"$work/in" >/dev/null 2>"$work/record.err" ||
  fail "record: $(cat "$work/record.err")"

cat >"$work/client.py" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)

def packet(body):
    return b"$%s#%02x" % (body, sum(body) % 256)

def reply():
    """The next packet from the stub, acknowledged."""
    data = b""
    while not (b"#" in data and len(data) - data.index(b"#") == 3):
        c = s.recv(1)
        assert c, "the stub closed the connection"
        data += c
    s.sendall(b"+")
    start = data.index(b"$")
    return data[start + 1:data.index(b"#")]

def ask(body):
    s.sendall(packet(body))
    ack = s.recv(1)
    assert ack == b"+", (body[:20], ack)
    return reply()

if mode == "bad":
    s.sendall(b"$?#00")  # wrong checksum
    assert s.recv(1) == b"-", "bad checksum not refused"
    assert ask(b"?").startswith(b"T"), "no stop reply after a bad checksum"
    assert ask(b"mzz,4").startswith(b"E"), "malformed m accepted"
    assert ask(b"Zq,1,1").startswith(b"E"), "malformed Z accepted"
    assert ask(b"G" + b"00" * 8).startswith(b"E"), "a register write accepted"
    assert ask(b"a" * 70000).startswith(b"E"), "oversized packet accepted"
    assert ask(b"?").startswith(b"T"), "no stop reply after the bad packets"
    print("STILL-SERVING")
    assert ask(b"D") == b"OK"
elif mode == "continue":
    s.sendall(packet(b"c"))
    assert s.recv(1) == b"+"
    time.sleep(0.3)
    s.close()  # while the replay runs
elif mode == "partial":
    s.sendall(b"$m100000,")
    s.close()
PY

session() {  # mode
  rm -f "$work/debug.err"
  "$xvirt" debug "$work/kv.log" --gdb 127.0.0.1:0 2>"$work/debug.err" &
  server=$!
  port=
  for _ in $(seq 100); do
    # The background xvirt may not have created its stderr file yet.
    port=$(sed -n 's/.*target remote 127.0.0.1:\([0-9]*\).*/\1/p' "$work/debug.err" 2>/dev/null || true)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || fail "xvirt debug did not start: $(cat "$work/debug.err")"
  timeout 60 python3 "$work/client.py" "$port" "$1" >"$work/client.out" 2>&1 ||
    fail "$1: client: $(cat "$work/client.out"); stub: $(cat "$work/debug.err")"
  local rc=0
  timeout 60 tail --pid="$server" -f /dev/null || fail "$1: xvirt debug did not exit"
  wait "$server" || rc=$?
  [[ $rc == 0 ]] || fail "$1: xvirt debug exited $rc: $(cat "$work/debug.err")"
  grep -q "^xvirt: gdb left at ESN " "$work/debug.err" || fail "$1: stub said: $(cat "$work/debug.err")"
}

session bad
grep -q STILL-SERVING "$work/client.out" || fail "bad: $(cat "$work/client.out")"
session continue
session partial
echo PASS
