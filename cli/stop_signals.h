// StopSignals: while alive, Ctrl-C and SIGTERM end a run cleanly through its
// RunController (with a report, logs and images closed), instead of killing
// xvirt mid-write.
#ifndef EXTRAVIRT_CLI_STOP_SIGNALS_H_
#define EXTRAVIRT_CLI_STOP_SIGNALS_H_

#include <signal.h>

#include "machine/run_loop.h"

namespace xv::cli {

class StopSignals {
 public:
  explicit StopSignals(RunController* controller);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_STOP_SIGNALS_H_
