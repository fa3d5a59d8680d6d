// xv_version, xv_has_feature.
#include <string_view>

#include "capi/c_status.h"
#include "extravirt/extravirt.h"
#include "session/backend_choice.h"

extern "C" {

const char* xv_version(void) { return XV_VERSION_STRING; }

int xv_has_feature(const char* feature) {
  if (feature == nullptr) return 0;
  const std::string_view name(feature);
  try {
    if (name == "kvm" || name == "emu") {
      return xv::OpenBackend(name, /*note_fallback=*/false).ok() ? 1 : 0;
    }
  } catch (...) {
    return 0;
  }
  return name == "record" || name == "replay" || name == "replicate" ||
                 name == "own_loop"
             ? 1
             : 0;
}

}  // extern "C"
