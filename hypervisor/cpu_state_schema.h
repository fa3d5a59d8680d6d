// Conversion of the shared schema's values (cpu_state.capnp) to and from
// their C++ types: the one place logs and checkpoint files turn hashes,
// CPUID leaves and CPU states into Cap'n Proto and back.
//
// The From* functions validate what they read (list lengths, the MSR set)
// and return an error naming the field; they do not throw on a message a
// reader has already checked for structural validity.
#ifndef EXTRAVIRT_HYPERVISOR_CPU_STATE_SCHEMA_H_
#define EXTRAVIRT_HYPERVISOR_CPU_STATE_SCHEMA_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "hypervisor/arch_state.h"
#include "hypervisor/cpu_state.capnp.h"
#include "hypervisor/cpuid.h"

namespace xv {

void ToSchema(const Hash128& hash, schema::Hash128::Builder out);
Hash128 FromSchema(schema::Hash128::Reader in);

// `out` was initialised with leaves.size() elements.
void ToSchema(std::span<const CpuidLeaf> leaves,
              capnp::List<schema::CpuidEntry>::Builder out);
std::vector<CpuidLeaf> FromSchema(capnp::List<schema::CpuidEntry>::Reader in);

void ToSchema(const ArchState& state, schema::ArchState::Builder out);
absl::StatusOr<ArchState> FromSchema(schema::ArchState::Reader in);

void ToSchema(const CpuState& state, schema::CpuState::Builder out);
absl::StatusOr<CpuState> FromSchema(schema::CpuState::Reader in);

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_CPU_STATE_SCHEMA_H_
