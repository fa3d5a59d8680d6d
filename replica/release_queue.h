// ReleaseQueue: the output gate's sink in a replicated run. Outputs the
// gate verified wait here for the leader's thread, the only one that
// touches the back-ends (LiveEnvironment is single-threaded). Internal to
// RunReplicated.
#ifndef EXTRAVIRT_REPLICA_RELEASE_QUEUE_H_
#define EXTRAVIRT_REPLICA_RELEASE_QUEUE_H_

#include <cstddef>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "devices/output_sink.h"
#include "replica/output_gate.h"

namespace xv::replica_internal {

class ReleaseQueue : public OutputSink {
 public:
  void Emit(const DeviceOutput& o) override;
  // Returns how many outputs it handed on.
  size_t DrainTo(OutputSink& sink);

 private:
  absl::Mutex mu_;
  std::deque<GateOutput> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_RELEASE_QUEUE_H_
