#include "emu/unicorn_engine.h"

#include "absl/strings/str_format.h"

namespace xv {

absl::Status UcStatus(uc_err err, std::string_view what) {
  if (err == UC_ERR_OK) return absl::OkStatus();
  return absl::InternalError(absl::StrFormat("unicorn: %s: %s (uc_err %d)",
                                             what, uc_strerror(err),
                                             static_cast<int>(err)));
}

absl::StatusOr<UcEngine> OpenX86Engine() {
  uc_engine* uc = nullptr;
  if (absl::Status s = UcStatus(uc_open(UC_ARCH_X86, UC_MODE_64, &uc),
                                "uc_open(x86, 64-bit)");
      !s.ok()) {
    return s;
  }
  return UcEngine(uc);
}

}  // namespace xv
