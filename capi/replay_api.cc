// xv_replay: replay/machine_replayer.h for C.
#include <string>

#include "capi/c_status.h"
#include "capi/divergence_conversion.h"
#include "capi/run_result_conversion.h"
#include "devices/output_sink.h"
#include "extravirt/extravirt.h"
#include "replay/machine_replayer.h"
#include "session/backend_choice.h"

namespace xv::capi {
namespace {

// Hands the replayed serial bytes to the caller's function.
class SerialCallbackSink : public OutputSink {
 public:
  SerialCallbackSink(xv_serial_write_fn write, void* opaque)
      : write_(write), opaque_(opaque) {}
  void Emit(const DeviceOutput& output) override {
    if (output.kind == OutputKind::kSerialTx) {
      write_(opaque_, output.data.data(), output.data.size());
    }
  }

 private:
  xv_serial_write_fn write_;
  void* opaque_;
};

}  // namespace
}  // namespace xv::capi

extern "C" {

xv_status xv_replay(const char* log_path, const xv_replay_options* options,
                    xv_replay_result* result) {
  using xv::capi::Report;
  const char* const fn = __func__;
  return xv::capi::Guarded(fn, [&] {
    if (log_path == nullptr) {
      return xv::capi::NullArgument(fn, "log_path");
    }
    xv_replay_options o;
    if (xv_status c = xv::capi::ReadOptionalSized(fn, "options", options, &o);
        c != XV_OK) {
      return c;
    }
    if (xv_status c = xv::capi::CheckOptionalOutSize(fn, "result", result);
        c != XV_OK) {
      return c;
    }
    const std::string backend = o.backend == nullptr ? "auto" : o.backend;
    auto hypervisor = xv::OpenBackend(backend, /*note_fallback=*/false);
    if (!hypervisor.ok()) {
      return Report(absl::Status(
          hypervisor.status().code(),
          std::string(fn) + ": " + std::string(hypervisor.status().message())));
    }
    xv::ReplayOptions replay;
    if (o.until_esn != 0) replay.until = o.until_esn;
    std::optional<xv::capi::SerialCallbackSink> sink;
    if (o.serial_write != nullptr) {
      replay.outputs = &sink.emplace(o.serial_write, o.serial_opaque);
    }
    auto outcome = xv::ReplayLog(**hypervisor, log_path, replay);
    if (!outcome.ok()) {
      return xv::capi::ReportLogOpenError(fn, outcome.status());
    }
    if (result == nullptr) return XV_OK;
    xv_replay_result r{};
    r.struct_size = sizeof r;
    xv::RunResult run = outcome->result;
    // As `xvirt replay`: a verified whole recording ends as it was recorded.
    if (outcome->recorded_end && outcome->complete) {
      run.exit_status = outcome->recorded_end->exit_status;
    }
    r.run = xv::capi::ToC(run, outcome->backend, outcome->final_state_hash);
    r.inputs = outcome->counts.inputs;
    r.checkpoints = outcome->counts.checkpoints;
    if (outcome->divergence) {
      r.verdict = XV_VERDICT_DIVERGED;
      r.divergence = xv::capi::ToC(*outcome->divergence);
    } else {
      r.verdict =
          outcome->complete ? XV_VERDICT_VERIFIED : XV_VERDICT_INCOMPLETE;
      r.divergence.struct_size = sizeof r.divergence;
    }
    *result = r;
    return XV_OK;
  });
}

}  // extern "C"
