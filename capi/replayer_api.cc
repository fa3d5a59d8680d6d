// xv_replayer_*: replay/log_replayer.h for a C VMM with its own vCPU loop.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "capi/c_status.h"
#include "capi/divergence_conversion.h"
#include "capi/handle_table.h"
#include "capi/hash_conversion.h"
#include "capi/own_loop_conversion.h"
#include "extravirt/extravirt.h"
#include "replay/own_loop_contract.h"
#include "replay/log_replayer.h"

namespace xv::capi {
namespace {

struct Replayer {
  std::unique_ptr<LogReplayer> log;
  // The inputs of `loaded_esn` not yet taken, in recorded order.
  std::vector<InputEvent> loaded;
  uint64_t loaded_esn = 0;
  // The input xv_replayer_next_input handed out last (its data lives here).
  InputEvent handed_out{};
};

HandleTable<xv_replayer, Replayer>& Replayers() {
  static auto* table = new HandleTable<xv_replayer, Replayer>();
  return *table;
}

xv_status Failed(const char* function, const absl::Status& status) {
  return Report(absl::Status(
      status.code(), absl::StrFormat("%s: %s", function, status.message())));
}

// A Rendezvous or CheckpointDue error: InvalidArgument is LogReplayer's way
// of saying the caller broke the protocol (a hash given or missing).
xv_status FailedInLoop(const char* function, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    return Report(XV_E_PROTOCOL,
                  absl::StrFormat("%s: %s", function, status.message()));
  }
  return Failed(function, status);
}

template <typename Fn>
xv_status WithReplayer(const char* function, xv_replayer* handle, Fn&& fn) {
  Replayer* r = Replayers().Find(handle);
  if (r == nullptr) return BadHandle(function, handle);
  return fn(*r);
}

}  // namespace
}  // namespace xv::capi

using xv::capi::Failed;
using xv::capi::FailedInLoop;
using xv::capi::Guarded;
using xv::capi::NullArgument;
using xv::capi::Replayer;
using xv::capi::Report;
using xv::capi::WithReplayer;

extern "C" {

xv_status xv_replayer_open(const char* path, xv_replayer** out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (out == nullptr) return NullArgument(fn, "out");
    *out = nullptr;
    if (path == nullptr) return NullArgument(fn, "path");
    auto log = xv::LogReplayer::Open(path);
    if (!log.ok()) return xv::capi::ReportLogOpenError(fn, log.status());
    auto replayer = std::make_unique<Replayer>();
    replayer->log = std::move(*log);
    *out = xv::capi::Replayers().Add(std::move(replayer));
    return XV_OK;
  });
}

xv_status xv_replayer_machine(xv_replayer* replayer, xv_recorded_machine* out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (xv_status c = xv::capi::CheckOutSize(fn, "out", out); c != XV_OK) {
        return c;
      }
      const xv::RecordedMachine& m = r.log->machine();
      xv_recorded_machine c{};
      c.struct_size = sizeof c;
      c.recorded_by = m.recorded_by.c_str();
      c.kernel_name = m.kernel_name.c_str();
      c.kernel_image = m.kernel_image.empty() ? nullptr : m.kernel_image.data();
      c.kernel_image_size = m.kernel_image.size();
      c.cmdline = m.cmdline.c_str();
      c.memory_bytes = m.memory_bytes;
      c.initial_state_hash = xv::capi::ToC(m.initial_state_hash);
      *out = c;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_check_initial_state(xv_replayer* replayer,
                                          const xv_hash128* state_hash) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (state_hash == nullptr) return NullArgument(fn, "state_hash");
      if (absl::Status s =
              r.log->CheckInitialState(xv::capi::FromC(*state_hash));
          !s.ok()) {
        return Failed(fn, s);
      }
      return XV_OK;
    });
  });
}

xv_status xv_replayer_stop_here(xv_replayer* replayer, uint64_t esn,
                                int* stop) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (stop == nullptr) return NullArgument(fn, "stop");
      *stop = r.log->StopHere(esn) ? 1 : 0;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_inputs_at(xv_replayer* replayer, uint64_t esn,
                                size_t* count) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      std::vector<xv::InputEvent> inputs;
      if (absl::Status s = r.log->InputsAt(esn, inputs); !s.ok()) {
        return Failed(fn, s);
      }
      // Again at the same exit: what is new joins what was not taken.
      if (esn != r.loaded_esn) r.loaded.clear();
      r.loaded_esn = esn;
      for (xv::InputEvent& e : inputs) r.loaded.push_back(std::move(e));
      if (count != nullptr) *count = r.loaded.size();
      return XV_OK;
    });
  });
}

xv_status xv_replayer_take_boundary_read(xv_replayer* replayer, uint64_t esn,
                                         uint64_t address, uint8_t size,
                                         int is_mmio, uint64_t* value) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (value == nullptr) return NullArgument(fn, "value");
      if (esn != r.loaded_esn) r.loaded.clear();
      auto taken = xv::TakeBoundaryRead(*r.log, esn, r.loaded, address, size,
                                        is_mmio != 0);
      if (!taken.ok()) return Failed(fn, taken.status());
      *value = *taken;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_next_input(xv_replayer* replayer, xv_input* input,
                                 int* has) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (has == nullptr) return NullArgument(fn, "has");
      if (xv_status c = xv::capi::CheckOutSize(fn, "input", input);
          c != XV_OK) {
        return c;
      }
      *has = 0;
      if (r.loaded.empty()) return XV_OK;
      r.handed_out = std::move(r.loaded.front());
      r.loaded.erase(r.loaded.begin());
      *input = xv::capi::InputToC(r.handed_out);
      *has = 1;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_output(xv_replayer* replayer, uint64_t esn,
                             const xv_output* output) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      xv::DeviceOutput converted;
      if (xv_status c = xv::capi::ReadOutputArgument(fn, output, converted);
          c != XV_OK) {
        return c;
      }
      r.log->OnOutput(esn, converted);
      if (r.log->divergence()) {
        return Report(XV_E_DIVERGED,
                      absl::StrFormat("%s: the replay diverged at ESN %d (%s)",
                                      fn, r.log->divergence()->esn,
                                      r.log->divergence()->what));
      }
      return XV_OK;
    });
  });
}

xv_status xv_replayer_checkpoint_due(xv_replayer* replayer, uint64_t esn,
                                     int* due) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (due == nullptr) return NullArgument(fn, "due");
      auto d = r.log->CheckpointDue(esn);
      if (!d.ok()) return FailedInLoop(fn, d.status());
      *due = *d ? 1 : 0;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_rendezvous(xv_replayer* replayer, uint64_t esn,
                                 const xv_hash128* state_hash) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      std::optional<xv::Hash128> hash;
      if (state_hash != nullptr) hash = xv::capi::FromC(*state_hash);
      if (absl::Status s = r.log->Rendezvous(esn, hash); !s.ok()) {
        return FailedInLoop(fn, s);
      }
      return XV_OK;
    });
  });
}

xv_status xv_replayer_stuck_halted(xv_replayer* replayer, uint64_t esn) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      return Failed(fn, r.log->StuckHalted(esn));
    });
  });
}

xv_status xv_replayer_finish(xv_replayer* replayer, const xv_run_end* end,
                             int* complete) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (complete != nullptr) *complete = 0;
      xv_run_end e{};
      if (xv_status c = xv::capi::ReadSized(fn, "end", end, &e); c != XV_OK) {
        return c;
      }
      if (absl::Status s = r.log->Finish(xv::capi::ReplayedEndFromC(e));
          !s.ok()) {
        return Failed(fn, s);
      }
      if (complete != nullptr) *complete = r.log->complete() ? 1 : 0;
      return XV_OK;
    });
  });
}

xv_status xv_replayer_divergence(xv_replayer* replayer, xv_divergence* out,
                                 int* diverged) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (diverged == nullptr) return NullArgument(fn, "diverged");
      if (xv_status c = xv::capi::CheckOutSize(fn, "out", out); c != XV_OK) {
        return c;
      }
      *diverged = r.log->divergence().has_value() ? 1 : 0;
      if (*diverged) *out = xv::capi::ToC(*r.log->divergence());
      return XV_OK;
    });
  });
}

xv_status xv_replayer_report_divergence(xv_replayer* replayer, uint64_t esn,
                                        const char* what, const char* expected,
                                        const char* actual) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithReplayer(fn, replayer, [&](Replayer& r) {
      if (what == nullptr) return NullArgument(fn, "what");
      return Failed(fn, r.log->ReportDivergence(
                            esn, what, expected == nullptr ? "" : expected,
                            actual == nullptr ? "" : actual));
    });
  });
}

xv_status xv_replayer_destroy(xv_replayer* replayer) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (replayer == nullptr) return XV_OK;
    if (xv::capi::Replayers().Remove(replayer) == nullptr) {
      return xv::capi::BadHandle(fn, replayer);
    }
    return XV_OK;
  });
}

}  // extern "C"
