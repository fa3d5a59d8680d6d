// Divergence -> xv_divergence.
#ifndef EXTRAVIRT_CAPI_DIVERGENCE_CONVERSION_H_
#define EXTRAVIRT_CAPI_DIVERGENCE_CONVERSION_H_

#include "capi/c_status.h"
#include "extravirt/extravirt.h"
#include "replay/log_replayer.h"

namespace xv::capi {

inline xv_divergence ToC(const Divergence& d) {
  xv_divergence out{};
  out.struct_size = sizeof out;
  out.esn = d.esn;
  out.last_verified_esn = d.last_verified_esn;
  out.has_rip = d.rip.has_value() ? 1 : 0;
  out.rip = d.rip.value_or(0);
  CopyText(out.what, d.what);
  CopyText(out.expected, d.expected);
  CopyText(out.actual, d.actual);
  return out;
}

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_DIVERGENCE_CONVERSION_H_
