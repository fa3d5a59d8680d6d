#include "replay/inputs_at_esn.h"

namespace xv {

absl::Status TakeInputsAt(LoggedInputs& log, uint64_t esn,
                          std::vector<InputEvent>& out,
                          absl::FunctionRef<absl::Status(uint64_t)> missed) {
  for (;;) {
    absl::StatusOr<std::optional<NextLogged>> next = log.Peek();
    if (!next.ok()) return next.status();
    if (!next->has_value() || (*next)->esn > esn) return absl::OkStatus();
    if ((*next)->esn < esn) return missed((*next)->esn);
    if (!(*next)->is_input) return absl::OkStatus();
    log.TakeInput(out);
  }
}

}  // namespace xv
