// RAII over one Unicorn engine (uc_open .. uc_close) and the translation of
// Unicorn's error codes into absl::Status. One engine is used by one thread
// only (Unicorn is not thread-safe per engine; separate engines are).
#ifndef EXTRAVIRT_EMU_UNICORN_ENGINE_H_
#define EXTRAVIRT_EMU_UNICORN_ENGINE_H_

#include <unicorn/unicorn.h>

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xv {

// OK for UC_ERR_OK; otherwise an error naming `what` and Unicorn's reason.
absl::Status UcStatus(uc_err err, std::string_view what);

struct UcEngineCloser {
  void operator()(uc_engine* uc) const { uc_close(uc); }
};
using UcEngine = std::unique_ptr<uc_engine, UcEngineCloser>;

// A 64-bit x86 engine.
absl::StatusOr<UcEngine> OpenX86Engine();

// Reads or writes one register; `what` names it in the error.
template <typename T>
absl::StatusOr<T> ReadUcReg(uc_engine* uc, int reg, std::string_view what) {
  T value{};
  if (absl::Status s = UcStatus(uc_reg_read(uc, reg, &value), what); !s.ok()) {
    return s;
  }
  return value;
}

}  // namespace xv

#endif  // EXTRAVIRT_EMU_UNICORN_ENGINE_H_
