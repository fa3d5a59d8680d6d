# The nondeterminism log (DESIGN §3): everything a replay needs besides the
# code of xvirt itself. A log is self-contained: the header carries the guest
# kernel image and the machine configuration.
#
# Evolution rules: never renumber or retype a field; add fields at the end;
# add record kinds as new union members. A record whose kind an older reader
# does not know is skipped with a warning when the writer marked it
# `optional`, and is a hard error otherwise.
@0xd1c5e02a5b7f4e31;

$import "/capnp/c++.capnp".namespace("xv::log");

using Shared = import "../hypervisor/cpu_state.capnp";

struct Header {
  # Bumped on incompatible changes; readers refuse versions they do not know.
  formatVersion @0 :UInt32;
  # "xvirt <version>" of the recorder, for humans.
  recordedBy @1 :Text;
  # Wall-clock start of the recording (ns since the Unix epoch), for humans.
  recordedAtUnixNs @2 :Int64;

  kernelName @3 :Text;
  kernelImage @4 :Data;
  cmdline @5 :Text;
  memoryBytes @6 :UInt64;
  diskSectors @7 :UInt64;
  rtcEpochSeconds @8 :Int64;
  # The guest's CPUID: replay sets exactly this, whatever the host offers.
  cpuid @9 :List(Shared.CpuidEntry);

  # Hash of the whole machine state after boot, before the first exit.
  initialStateHash @10 :Shared.Hash128;
  # A Checkpoint record every this many exits (0: none).
  checkpointInterval @11 :UInt64;
  # Output digests cover at most this many bytes of one device's outputs.
  outputDigestBytes @12 :UInt32;
  # ... and outputs at most this many exits old.
  outputDigestExits @13 :UInt64;
  # The CPU backend that recorded it ("kvm"), for information: any backend
  # replays any log.
  backend @14 :Text;
}

# One input applied after the exit `esn` was handled and before re-entry.
struct Input {
  esn @0 :UInt64;
  union {
    # The virtual clock moves to this time (ns since boot).
    clockAdvance @1 :UInt64;
    # Bytes arriving at the UART's receiver.
    uartRx @2 :Data;
    # A disk read completing, with the sectors read.
    diskRead :group {
      lba @3 :UInt64;
      data @4 :Data;
    }
    # The value a guest read returned from a device that cannot be split
    # into a front-end and a back-end.
    boundaryRead :group {
      address @5 :UInt64;
      size @6 :UInt8;
      isMmio @7 :Bool;
      value @8 :UInt64;
    }
  }
}

# Hash of the whole machine state at the rendezvous after exit `esn`: the
# exit handled, its inputs applied and any interrupt injected.
struct Checkpoint {
  esn @0 :UInt64;
  stateHash @1 :Shared.Hash128;
}

# Digest of the outputs one device emitted since its previous digest, taken
# at the rendezvous after exit `esn`.
struct OutputDigest {
  esn @0 :UInt64;
  device @1 :Text;
  # Number of outputs covered and their payload bytes.
  outputs @2 :UInt32;
  bytes @3 :UInt64;
  hash @4 :Shared.Hash128;
  # Taken when the run ended (after the End record's ESN), not at a
  # rendezvous.
  atEnd @5 :Bool;
}

struct End {
  esn @0 :UInt64;
  # What `xvirt` exited with, and why the run stopped.
  exitStatus @1 :Int32;
  stopReason @2 :Text;
  debugExitValue @3 :UInt64;
  # False when the run stopped between two exits (a timeout or an interrupt
  # while the guest computed): the final state then depends on host timing
  # and replay cannot reproduce it.
  finalStateComparable @4 :Bool;
  finalStateHash @5 :Shared.Hash128;
  exits @6 :UInt64;
  wallSeconds @7 :Float64;
}

# A fault injected on purpose (`xvirt replay LOG --inject SPEC --record
# OUT`): one bit of a general register flipped at the rendezvous after exit
# `esn`, after that exit's inputs were applied and before its state hash.
# Not an input from the environment: it is logged so that a replay of the
# faulty run reproduces it, and so that nobody takes the log for a clean
# run.
struct Fault {
  esn @0 :UInt64;
  # "rax", ..., "rip", "rflags".
  register @1 :Text;
  bit @2 :UInt8;
}

struct Record {
  # Readers that do not know this record's kind may skip it.
  optional @0 :Bool;
  union {
    header @1 :Header;
    input @2 :Input;
    checkpoint @3 :Checkpoint;
    outputDigest @4 :OutputDigest;
    end @5 :End;
    fault @6 :Fault;
  }
}
