#include "replica/release_queue.h"

namespace xv::replica_internal {

void ReleaseQueue::Emit(const DeviceOutput& o) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(GateOutput::Copy(0, o));
}

size_t ReleaseQueue::DrainTo(OutputSink& sink) {
  std::deque<GateOutput> ready;
  {
    absl::MutexLock lock(&mu_);
    ready.swap(queue_);
  }
  // Outside the lock: the back-ends may take their time.
  for (const GateOutput& o : ready) sink.Emit(o.view());
  return ready.size();
}

}  // namespace xv::replica_internal
