#include "checkpoint/checkpoint.h"

#include "absl/strings/str_format.h"
#include "devices/front_end.h"
#include "machine/state_hash.h"

namespace xv {
namespace {

Hash128 StateHashWithMemory(const Checkpoint& cp, const Hash128& memory_root) {
  std::vector<std::span<const uint8_t>> blobs;
  for (const FrontEndState& fe : cp.front_ends) blobs.emplace_back(fe.blob);
  return ComposeStateHash(cp.cpu.arch, blobs, cp.clock_ns, memory_root);
}

}  // namespace

absl::StatusOr<Checkpoint> CaptureCheckpoint(Machine& machine, bool copy_delta,
                                             bool page_digests) {
  if (absl::Status s = machine.SyncMemory(); !s.ok()) return s;
  Checkpoint cp;
  cp.esn = machine.esn();
  cp.memory_bytes = machine.config().memory_bytes;
  cp.platform = machine.config().platform;
  cp.cpuid.assign(machine.cpuid().begin(), machine.cpuid().end());
  auto cpu = machine.CaptureCpu();
  if (!cpu.ok()) return cpu.status();
  cp.cpu = std::move(*cpu);
  for (const FrontEnd* fe : machine.platform().front_ends()) {
    cp.front_ends.push_back({std::string(fe->name()), SaveFrontEnd(*fe)});
  }
  cp.clock_ns = machine.platform().SaveClock();
  cp.base = machine.memory().base();
  const DirtyBitmap& delta = machine.dirty().private_pages();
  cp.delta_pages.reserve(delta.Count());
  if (copy_delta) cp.delta_data.reserve(delta.Count() * kPageSize);
  delta.ForEach([&](uint64_t p) {
    cp.delta_pages.push_back(p);
    if (copy_delta) {
      const uint8_t* page = machine.memory().PageData(p);
      cp.delta_data.insert(cp.delta_data.end(), page, page + kPageSize);
    }
  });
  if (!copy_delta) cp.delta_view = &machine.memory();
  if (page_digests) {
    cp.page_hashes = std::make_shared<const PageHashes>(machine.page_hashes());
  }
  cp.state_hash = StateHashWithMemory(cp, machine.page_hashes().Root());
  return cp;
}

Hash128 CheckpointStateHash(const Checkpoint& cp) {
  return StateHashWithMemory(
      cp, cp.page_hashes ? cp.page_hashes->Root() : Hash128{});
}

absl::Status RehashCheckpointPages(Checkpoint& cp) {
  if (cp.base == nullptr) {
    return absl::FailedPreconditionError("checkpoint without a base");
  }
  auto hashes = PageHashes::OfBase(*cp.base);
  if (!hashes.ok()) return hashes.status();
  for (size_t i = 0; i < cp.delta_pages.size(); ++i) {
    hashes->Set(cp.delta_pages[i], HashPage(cp.DeltaPage(i)));
  }
  if (Hash128 h = StateHashWithMemory(cp, hashes->Root()); h != cp.state_hash) {
    return absl::DataLossError(absl::StrFormat(
        "checkpoint at ESN %d: its base no longer holds its memory (state "
        "hash %s, recomputed %s)",
        cp.esn, cp.state_hash.ToHex(), h.ToHex()));
  }
  cp.page_hashes = std::make_shared<const PageHashes>(*std::move(hashes));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Machine>> RestoreCheckpoint(
    const Hypervisor& hypervisor, const Checkpoint& cp, OutputSink* outputs) {
  if (cp.base == nullptr || cp.page_hashes == nullptr) {
    return absl::InvalidArgumentError("checkpoint has no memory");
  }
  if (cp.delta_view == nullptr &&
      cp.delta_data.size() != cp.delta_pages.size() * kPageSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint delta holds %d bytes for %d pages",
                        cp.delta_data.size(), cp.delta_pages.size()));
  }
  MachineConfig config;
  config.memory_bytes = cp.memory_bytes;
  config.platform = cp.platform;
  config.cpuid = cp.cpuid;
  config.memory_base = cp.base;
  config.memory_base_hashes = cp.page_hashes;
  auto machine = Machine::Create(hypervisor, config, outputs);
  if (!machine.ok()) return machine.status();
  Machine& m = **machine;
  for (size_t i = 0; i < cp.delta_pages.size(); ++i) {
    if (absl::Status s = m.memory().Write(cp.delta_pages[i] * kPageSize,
                                          {cp.DeltaPage(i), kPageSize});
        !s.ok()) {
      return s;
    }
  }
  std::vector<FrontEnd*> fes = m.platform().front_ends();
  if (fes.size() != cp.front_ends.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "checkpoint has %d device states, this machine has %d devices",
        cp.front_ends.size(), fes.size()));
  }
  for (size_t i = 0; i < fes.size(); ++i) {
    if (fes[i]->name() != cp.front_ends[i].name) {
      return absl::InvalidArgumentError(
          absl::StrFormat("checkpoint device %d is %s, this machine's is %s", i,
                          cp.front_ends[i].name, fes[i]->name()));
    }
    if (absl::Status s = LoadFrontEnd(*fes[i], cp.front_ends[i].blob);
        !s.ok()) {
      return s;
    }
  }
  m.platform().LoadClock(cp.clock_ns);
  if (absl::Status s = m.cpu().RestoreState(cp.cpu); !s.ok()) return s;
  m.set_esn(cp.esn);
  auto hash = m.StateHash();
  if (!hash.ok()) return hash.status();
  if (*hash != cp.state_hash) {
    return absl::DataLossError(absl::StrFormat(
        "the machine restored from the checkpoint at ESN %d hashes to %s, "
        "the checkpoint says %s",
        cp.esn, hash->ToHex(), cp.state_hash.ToHex()));
  }
  return machine;
}

}  // namespace xv
