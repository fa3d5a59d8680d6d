#include "cli/replica_settings.h"

namespace xv::cli {

std::vector<OptionSpec> ReplicaOptionSpecs() {
  return {
      {"checkpoint-every", "N",
       "verify and merge the replicas every N exits (default 20000; 0: not "
       "by count)"},
      {"checkpoint-ms", "T",
       "also verify and merge every T ms of the leader's run"},
      {"hang-timeout", "S",
       "a replica that stays this many seconds behind the other without "
       "progress is hung (default 2)"},
      {"reclaim-zero-pages", "",
       "give back at once the memory a first write to a page costs the "
       "shared base, instead of at the next checkpoint: less memory for "
       "guests that write much between checkpoints, one more page fault per "
       "page"},
  };
}

absl::StatusOr<ReplicaOptions> ParseReplicaOptions(const ParsedArgs& args) {
  ReplicaOptions options;
  auto every = args.GetNumber("checkpoint-every", 0, 1e12);
  if (!every.ok()) return every.status();
  if (*every) options.checkpoint_every = static_cast<uint64_t>(**every);
  auto ms = args.GetNumber("checkpoint-ms", 0.1, 1e9);
  if (!ms.ok()) return ms.status();
  options.checkpoint_ms = *ms;
  auto hang = args.GetNumber("hang-timeout", 0.01, 1e6);
  if (!hang.ok()) return hang.status();
  if (*hang) options.hang_timeout_seconds = **hang;
  options.reclaim_zero_pages = args.Has("reclaim-zero-pages");
  return options;
}

}  // namespace xv::cli
