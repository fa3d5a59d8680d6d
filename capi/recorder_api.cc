// xv_recorder_*: replay/log_recorder.h for a C VMM with its own vCPU loop.
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "capi/c_status.h"
#include "capi/handle_table.h"
#include "capi/hash_conversion.h"
#include "capi/own_loop_conversion.h"
#include "extravirt/extravirt.h"
#include "replay/log_recorder.h"

namespace xv::capi {
namespace {

struct Recorder {
  std::unique_ptr<LogRecorder> log;
  bool finished = false;
};

HandleTable<xv_recorder, Recorder>& Recorders() {
  static auto* table = new HandleTable<xv_recorder, Recorder>();
  return *table;
}

xv_status Failed(const char* function, const absl::Status& status) {
  return Report(absl::Status(
      status.code(), absl::StrFormat("%s: %s", function, status.message())));
}

// The live, unfinished recorder behind `handle`, or the error to return.
template <typename Fn>
xv_status WithRecorder(const char* function, xv_recorder* handle, Fn&& fn) {
  Recorder* r = Recorders().Find(handle);
  if (r == nullptr) return BadHandle(function, handle);
  if (r->finished) {
    return Report(XV_E_PROTOCOL,
                  absl::StrFormat("%s: the recorder is finished", function));
  }
  return fn(*r);
}

}  // namespace
}  // namespace xv::capi

using xv::capi::Failed;
using xv::capi::Guarded;
using xv::capi::NullArgument;
using xv::capi::Recorder;
using xv::capi::Report;
using xv::capi::WithRecorder;

extern "C" {

xv_status xv_recorder_create(const char* path,
                             const xv_recorded_machine* machine,
                             uint64_t checkpoint_interval, xv_recorder** out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (out == nullptr) return NullArgument(fn, "out");
    *out = nullptr;
    if (path == nullptr) return NullArgument(fn, "path");
    xv_recorded_machine m{};
    if (xv_status c = xv::capi::ReadSized(fn, "machine", machine, &m);
        c != XV_OK) {
      return c;
    }
    if (m.kernel_image == nullptr || m.kernel_image_size == 0) {
      return Report(XV_E_INVALID_ARGUMENT,
                    std::string(fn) +
                        ": machine->kernel_image is empty (a replay "
                        "rebuilds the guest from it)");
    }
    xv::RecordedMachine recorded;
    recorded.recorded_by = m.recorded_by == nullptr ? "" : m.recorded_by;
    recorded.kernel_name = m.kernel_name == nullptr ? "" : m.kernel_name;
    recorded.kernel_image.assign(m.kernel_image,
                                 m.kernel_image + m.kernel_image_size);
    recorded.cmdline = m.cmdline == nullptr ? "" : m.cmdline;
    recorded.memory_bytes = m.memory_bytes;
    recorded.initial_state_hash = xv::capi::FromC(m.initial_state_hash);
    xv::RecorderOptions options;
    if (checkpoint_interval != 0) {
      options.checkpoint_interval = checkpoint_interval;
    }
    auto log = xv::LogRecorder::Create(path, std::move(recorded), options);
    if (!log.ok()) return Failed(fn, log.status());
    auto recorder = std::make_unique<Recorder>();
    recorder->log = std::move(*log);
    *out = xv::capi::Recorders().Add(std::move(recorder));
    return XV_OK;
  });
}

xv_status xv_recorder_input(xv_recorder* recorder, uint64_t esn,
                            const xv_input* input) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithRecorder(fn, recorder, [&](Recorder& r) {
      xv_input in{};
      if (xv_status c = xv::capi::ReadSized(fn, "input", input, &in);
          c != XV_OK) {
        return c;
      }
      auto event = xv::capi::InputFromC(in);
      if (!event.ok()) return Failed(fn, event.status());
      if (absl::Status s = r.log->RecordInput(esn, *event); !s.ok()) {
        return Failed(fn, s);
      }
      return XV_OK;
    });
  });
}

xv_status xv_recorder_output(xv_recorder* recorder, uint64_t esn,
                             const xv_output* output) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithRecorder(fn, recorder, [&](Recorder& r) {
      xv::DeviceOutput converted;
      if (xv_status c = xv::capi::ReadOutputArgument(fn, output, converted);
          c != XV_OK) {
        return c;
      }
      r.log->RecordOutput(esn, converted);
      return XV_OK;
    });
  });
}

xv_status xv_recorder_checkpoint_due(xv_recorder* recorder, uint64_t esn,
                                     int* due) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithRecorder(fn, recorder, [&](Recorder& r) {
      if (due == nullptr) return NullArgument(fn, "due");
      *due = r.log->CheckpointDue(esn) ? 1 : 0;
      return XV_OK;
    });
  });
}

xv_status xv_recorder_rendezvous(xv_recorder* recorder, uint64_t esn,
                                 const xv_hash128* state_hash) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithRecorder(fn, recorder, [&](Recorder& r) {
      const bool due = r.log->CheckpointDue(esn);
      if (due != (state_hash != nullptr)) {
        return Report(
            XV_E_PROTOCOL,
            absl::StrFormat("%s: at ESN %d a state hash is %s (see "
                            "xv_recorder_checkpoint_due)",
                            fn, esn, due ? "required" : "not expected"));
      }
      std::optional<xv::Hash128> hash;
      if (state_hash != nullptr) hash = xv::capi::FromC(*state_hash);
      if (absl::Status s = r.log->Rendezvous(esn, hash); !s.ok()) {
        return Failed(fn, s);
      }
      return XV_OK;
    });
  });
}

xv_status xv_recorder_finish(xv_recorder* recorder, const xv_run_end* end) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithRecorder(fn, recorder, [&](Recorder& r) {
      xv_run_end e{};
      if (xv_status c = xv::capi::ReadSized(fn, "end", end, &e); c != XV_OK) {
        return c;
      }
      r.finished = true;
      if (absl::Status s = r.log->Finish(xv::capi::LoggedEndFromC(e));
          !s.ok()) {
        return Failed(fn, s);
      }
      return XV_OK;
    });
  });
}

xv_status xv_recorder_destroy(xv_recorder* recorder) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (recorder == nullptr) return XV_OK;
    if (xv::capi::Recorders().Remove(recorder) == nullptr) {
      return xv::capi::BadHandle(fn, recorder);
    }
    return XV_OK;
  });
}

}  // extern "C"
