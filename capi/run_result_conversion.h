// RunResult (and what comes with it) -> xv_run_result.
#ifndef EXTRAVIRT_CAPI_RUN_RESULT_CONVERSION_H_
#define EXTRAVIRT_CAPI_RUN_RESULT_CONVERSION_H_

#include <optional>
#include <string_view>

#include "base/hash128.h"
#include "extravirt/extravirt.h"
#include "machine/run_loop.h"

namespace xv::capi {

xv_run_result ToC(const RunResult& result, std::string_view backend,
                  const std::optional<Hash128>& final_state_hash);

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_RUN_RESULT_CONVERSION_H_
