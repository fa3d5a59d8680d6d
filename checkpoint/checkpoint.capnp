# A checkpoint file's content (checkpoint/checkpoint_file.h has the
# container around it): one CheckpointFile message holding everything a
# Checkpoint holds, with memory as the runs of pages that are not zero.
#
# Evolution rules (as log.capnp): never renumber or retype a field; add
# fields at the end, with defaults that mean what an older writer meant.
# Bump kCheckpointFormatVersion only for a change an older reader must not
# read (it refuses the file).
@0x922cc7513daaa6d1;

$import "/capnp/c++.capnp".namespace("xv::ckpt");

struct Hash128 {
  low @0 :UInt64;
  high @1 :UInt64;
}

struct CpuidEntry {
  function @0 :UInt32;
  index @1 :UInt32;
  flags @2 :UInt32;
  eax @3 :UInt32;
  ebx @4 :UInt32;
  ecx @5 :UInt32;
  edx @6 :UInt32;
}

struct Msr {
  index @0 :UInt32;
  value @1 :UInt64;
}

# The KVM structs as the kernel's x86-64 ABI lays them out (little-endian,
# padding included); a reader refuses a blob whose size is not the struct's.
struct VcpuState {
  regs @0 :Data;       # struct kvm_regs
  sregs @1 :Data;      # struct kvm_sregs
  xsave @2 :Data;      # struct kvm_xsave
  xcrs @3 :Data;       # struct kvm_xcrs
  events @4 :Data;     # struct kvm_vcpu_events
  debugregs @5 :Data;  # struct kvm_debugregs
  msrs @6 :List(Msr);
}

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
  digests @3 :List(Hash128);
}

struct CheckpointFile {
  formatVersion @0 :UInt32;

  # The rendezvous the checkpoint was taken at, and the state hash there.
  esn @1 :UInt64;
  stateHash @2 :Hash128;
  # The recording the checkpoint belongs to: its log header's
  # initialStateHash.
  origin @3 :Hash128;

  # What the guest runs on.
  memoryBytes @4 :UInt64;
  diskSectors @5 :UInt64;
  rtcEpochSeconds @6 :Int64;
  cpuid @7 :List(CpuidEntry);

  vcpu @8 :VcpuState;
  # In PcPlatform::front_ends() order.
  frontEnds @9 :List(FrontEnd);
  clockNs @10 :UInt64;

  pageRuns @11 :List(PageRun);
}
