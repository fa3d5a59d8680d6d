// Checkpoint files: a Checkpoint on disk, so a replica can start from a
// rendezvous of a recording without replaying it from the beginning.
//
// Byte layout (all integers little-endian):
//
//    0  8  magic "XVIRTCKP"
//    8  4  format version (kCheckpointFileVersion)
//   12  4  reserved, 0
//   16  8  payload length L
//   24  8  XXH3-64 (seed 0) of the L payload bytes as stored
//   32  L  payload: one zstd frame that declares its content size; the
//          content is one Cap'n Proto message in flat (unpacked) form, an
//          `xv::ckpt::CheckpointFile` (checkpoint.capnp)
//
// Nothing follows the payload. Memory is stored as the runs of pages whose
// digest is not the zero page's, each page with its XXH3-128 digest; every
// other page is zero.
//
// A file is written under a temporary name in the same directory, synced
// and renamed, so a file under its final name is always complete. A reader
// checks everything (container, checksum, encoding, sizes, page digests)
// and finally that the content hashes to the state hash the file records.
#ifndef EXTRAVIRT_CHECKPOINT_CHECKPOINT_FILE_H_
#define EXTRAVIRT_CHECKPOINT_CHECKPOINT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "checkpoint/checkpoint.h"

namespace xv {

inline constexpr char kCheckpointMagic[8] = {'X', 'V', 'I', 'R',
                                             'T', 'C', 'K', 'P'};
// Written in the header and in the message; a reader refuses any other
// ("made by an older xvirt"). 2: the CPU as its architectural state
// (hypervisor/cpu_state.capnp), no longer KVM's structs.
inline constexpr uint32_t kCheckpointFileVersion = 2;
inline constexpr size_t kCheckpointHeaderBytes = 32;

// A checkpoint and the recording it belongs to (`origin`: an identity the
// writer chooses; replay/ uses RecordingOrigin() of the log's header).
struct CheckpointFileContents {
  Checkpoint checkpoint;
  Hash128 origin;
};

// Writes `cp` to `path` atomically (a temporary file in the same directory,
// fsync, rename). Stores every page of base + delta whose digest in
// cp.page_hashes is not ZeroPageHash(), and refuses a checkpoint whose
// pages do not match those digests.
absl::Status WriteCheckpointFile(const std::string& path, const Checkpoint& cp,
                                 const Hash128& origin);

// Reads and fully validates a checkpoint file. The checkpoint it returns
// has a new MemoryBase holding the stored pages, an empty delta, page
// hashes computed from the stored content (zero elsewhere), and every other
// field as written. Corruption is a DataLossError; a file that is not a
// checkpoint, or one of another version, is InvalidArgument or
// FailedPrecondition; every message names the file.
absl::StatusOr<CheckpointFileContents> ReadCheckpointFile(
    const std::string& path);

}  // namespace xv

#endif  // EXTRAVIRT_CHECKPOINT_CHECKPOINT_FILE_H_
