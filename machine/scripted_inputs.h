// ScriptedInputs: an InputSource whose inputs depend only on the machine's
// state, never on the host: the clock advances a fixed step per exit, and a
// halted guest is woken by jumping virtual time to its next timer deadline.
// With it a run is a pure function of the guest image and the script: what
// determinism tests and reproducible benchmarks need.
#ifndef EXTRAVIRT_MACHINE_SCRIPTED_INPUTS_H_
#define EXTRAVIRT_MACHINE_SCRIPTED_INPUTS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "machine/run_loop.h"

namespace xv {

class ScriptedInputs : public InputSource {
 public:
  // `step_ns`: virtual time added after every exit. `serial`: bytes fed to
  // the UART as fast as it takes them.
  explicit ScriptedInputs(uint64_t step_ns, std::string serial = "")
      : step_ns_(step_ns), serial_(serial.begin(), serial.end()) {}

  absl::Status Poll(const Machine& machine,
                    std::vector<InputEvent>& out) override;
  absl::Status WaitForWakeup(const Machine& machine, uint64_t host_deadline_ns,
                             std::vector<InputEvent>& out) override;

 private:
  uint64_t step_ns_;
  std::deque<uint8_t> serial_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_SCRIPTED_INPUTS_H_
