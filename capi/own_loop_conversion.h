// xv_input / xv_output / xv_run_end <-> the C++ record/replay types, with
// the checks a C caller's values need.
#ifndef EXTRAVIRT_CAPI_OWN_LOOP_CONVERSION_H_
#define EXTRAVIRT_CAPI_OWN_LOOP_CONVERSION_H_

#include "absl/status/statusor.h"
#include "devices/output_sink.h"
#include "extravirt/extravirt.h"
#include "machine/input_event.h"
#include "replay/log_records.h"
#include "replay/log_replayer.h"

namespace xv::capi {

absl::StatusOr<InputEvent> InputFromC(const xv_input& in);
// `out.data` points into `in`.
xv_input InputToC(const InputEvent& in);
// `out.device` and `out.data` point into `in`.
absl::StatusOr<DeviceOutput> OutputFromC(const xv_output& in);
// The caller's `output` argument of `function`, checked (struct size,
// fields) and converted; an error is reported (xv_last_error) and returned.
// `out` points into the caller's memory: use it during the call only.
xv_status ReadOutputArgument(const char* function, const xv_output* output,
                             DeviceOutput& out);
LoggedEnd LoggedEndFromC(const xv_run_end& end);
ReplayedEnd ReplayedEndFromC(const xv_run_end& end);

}  // namespace xv::capi

#endif  // EXTRAVIRT_CAPI_OWN_LOOP_CONVERSION_H_
