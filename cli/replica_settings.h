// The options `replicate` and `campaign` share: when the replicas are
// verified (--checkpoint-every, --checkpoint-ms) and when one is hung
// (--hang-timeout).
#ifndef EXTRAVIRT_CLI_REPLICA_SETTINGS_H_
#define EXTRAVIRT_CLI_REPLICA_SETTINGS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "cli/command_line.h"
#include "replica/replicated_run.h"

namespace xv::cli {

std::vector<OptionSpec> ReplicaOptionSpecs();

// The options above, into ReplicaOptions' defaults. Errors name the option.
absl::StatusOr<ReplicaOptions> ParseReplicaOptions(const ParsedArgs& args);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_REPLICA_SETTINGS_H_
