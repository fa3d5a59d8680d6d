// Checkpoint: everything needed to build a replica that behaves bit for bit
// like the one it was taken from, at a rendezvous (DESIGN §4): CPU state,
// device front-end state, the virtual clock, and memory as a base plus the
// pages that differ from it.
//
// In a process, the base is shared (the memfd replicas map) and the delta
// holds copies, so nothing a replica does after the capture can change the
// checkpoint: the base takes only verified content (PageMerger), and the
// delta is private to the checkpoint.
#ifndef EXTRAVIRT_CHECKPOINT_CHECKPOINT_H_
#define EXTRAVIRT_CHECKPOINT_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpuid.h"
#include "hypervisor/guest_cpu.h"
#include "machine/machine.h"
#include "memshare/guest_memory.h"
#include "memshare/memory_base.h"
#include "memshare/page_hashes.h"

namespace xv {

// One front-end's state blob, as SaveFrontEnd() makes it.
struct FrontEndState {
  std::string name;
  std::vector<uint8_t> blob;
};

struct Checkpoint {
  // The rendezvous it was taken at.
  uint64_t esn = 0;
  // Machine::StateHash() at that rendezvous.
  Hash128 state_hash;

  // What the guest runs on: a checkpoint restores only into the same.
  uint64_t memory_bytes = 0;
  PcPlatformConfig platform;
  std::vector<CpuidLeaf> cpuid;

  // The architectural state, and the capturing backend's own image of it.
  CpuState cpu;
  // In PcPlatform::front_ends() order.
  std::vector<FrontEndState> front_ends;
  uint64_t clock_ns = 0;

  // Memory = base, overwritten by the delta pages.
  std::shared_ptr<MemoryBase> base;
  std::vector<uint64_t> delta_pages;  // ascending page numbers
  std::vector<uint8_t> delta_data;    // their content, kPageSize each
  // Instead of delta_data: the captured machine's own memory, read in
  // place (CaptureCheckpoint with copy_delta=false). Valid only until that
  // machine runs again: for writing a file at once without a copy of every
  // page the guest ever wrote.
  const GuestMemory* delta_view = nullptr;
  // Digests of every page of base + delta. Unset when captured without
  // them (see CaptureCheckpoint); the state hash covers them either way.
  std::shared_ptr<const PageHashes> page_hashes;

  // Content of delta page i (from delta_data or delta_view).
  const uint8_t* DeltaPage(size_t i) const {
    return delta_view != nullptr ? delta_view->PageData(delta_pages[i])
                                 : delta_data.data() + i * kPageSize;
  }
};

// Captures `machine` at a rendezvous (its CPU stopped). The delta
// is every page the machine holds a private copy of, so the checkpoint is
// exact whatever the base holds, as long as the base is not changed.
// `copy_delta` false: the delta is read from the machine in place (see
// Checkpoint::delta_view).
//
// `page_digests` false: the checkpoint keeps no copy of the page digests
// (16 B per guest page): a replica pair holds its last verified checkpoint
// only in case it needs a third replica, and RehashCheckpointPages()
// recomputes them then.
absl::StatusOr<Checkpoint> CaptureCheckpoint(Machine& machine,
                                             bool copy_delta = true,
                                             bool page_digests = true);

// Gives a checkpoint captured without page digests its digests again, from
// its base and delta, and checks them against its state hash. Valid only
// while the base holds what it held at the capture (a merge changes it).
absl::Status RehashCheckpointPages(Checkpoint& checkpoint);

// A new machine on `hypervisor`, on `checkpoint.base` with the delta written
// over it, in exactly the checkpoint's state; its outputs go to `outputs`.
// Verifies the restored state hash against the checkpoint's.
absl::StatusOr<std::unique_ptr<Machine>> RestoreCheckpoint(
    const Hypervisor& hypervisor, const Checkpoint& checkpoint,
    OutputSink* outputs);

// The state hash the checkpoint describes, computed from its fields alone
// (no CPU): what a checkpoint file is checked against.
Hash128 CheckpointStateHash(const Checkpoint& checkpoint);

}  // namespace xv

#endif  // EXTRAVIRT_CHECKPOINT_CHECKPOINT_H_
