# A checkpoint file's content (checkpoint/checkpoint_file.h has the
# container around it): one CheckpointFile message holding everything a
# Checkpoint holds, with memory as the runs of pages that are not zero.
#
# Evolution rules (as log.capnp): never renumber or retype a field; add
# fields at the end, with defaults that mean what an older writer meant.
# Bump kCheckpointFileVersion only for a change an older reader must not
# read (it refuses the file). Version 2 replaced the KVM structs of version
# 1 with the architectural state (hypervisor/cpu_state.capnp).
@0x922cc7513daaa6d1;

$import "/capnp/c++.capnp".namespace("xv::ckpt");

using Shared = import "../hypervisor/cpu_state.capnp";

# One device front-end's state blob, as SaveFrontEnd() makes it.
struct FrontEnd {
  name @0 :Text;
  blob @1 :Data;
}

# Pages [firstPage, firstPage + pageCount) of guest memory. Runs are in
# ascending order and do not overlap; every page not in a run is zero.
struct PageRun {
  firstPage @0 :UInt64;
  pageCount @1 :UInt64;
  # pageCount * 4096 bytes.
  data @2 :Data;
  # XXH3-128 of each page of `data`, in order.
  digests @3 :List(Shared.Hash128);
}

struct CheckpointFile {
  formatVersion @0 :UInt32;

  # The rendezvous the checkpoint was taken at, and the state hash there.
  esn @1 :UInt64;
  stateHash @2 :Shared.Hash128;
  # The recording the checkpoint belongs to: its log header's
  # initialStateHash.
  origin @3 :Shared.Hash128;

  # What the guest runs on.
  memoryBytes @4 :UInt64;
  diskSectors @5 :UInt64;
  rtcEpochSeconds @6 :Int64;
  cpuid @7 :List(Shared.CpuidEntry);

  # The architectural state, and the capturing backend's own image of it.
  cpu @8 :Shared.CpuState;
  # In PcPlatform::front_ends() order.
  frontEnds @9 :List(FrontEnd);
  clockNs @10 :UInt64;

  pageRuns @11 :List(PageRun);
}
