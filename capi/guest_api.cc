// xv_guest_*, xv_run, xv_record, xv_replicate: session/live_run.h for C.
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "capi/c_status.h"
#include "capi/handle_table.h"
#include "capi/run_result_conversion.h"
#include "extravirt/extravirt.h"
#include "replica/fault_spec.h"
#include "session/backend_choice.h"
#include "session/live_run.h"

namespace xv::capi {
namespace {

HandleTable<xv_guest, RunSettings>& Guests() {
  static auto* table = new HandleTable<xv_guest, RunSettings>();
  return *table;
}

// The guest behind `guest`, or the error to return.
template <typename Fn>
xv_status WithGuest(const char* function, const xv_guest* guest, Fn&& fn) {
  RunSettings* settings = Guests().Find(guest);
  if (settings == nullptr) return BadHandle(function, guest);
  return fn(*settings);
}

// Writes `r` into the caller's result (NULL: not wanted).
template <typename T>
xv_status Deliver(const char* function, const char* argument, T* caller,
                  const T& r) {
  if (caller == nullptr) return XV_OK;
  if (xv_status s = CheckOutSize(function, argument, caller); s != XV_OK) {
    return s;
  }
  *caller = r;
  return XV_OK;
}

std::string Prefixed(const char* function, const absl::Status& status) {
  return absl::StrFormat("%s: %s", function, status.message());
}

xv_status ReportFrom(const char* function, const absl::Status& status) {
  return Report(absl::Status(status.code(), Prefixed(function, status)));
}

}  // namespace
}  // namespace xv::capi

using xv::RunSettings;
using xv::capi::Guarded;
using xv::capi::NullArgument;
using xv::capi::Report;
using xv::capi::ReportFrom;
using xv::capi::WithGuest;

extern "C" {

xv_status xv_guest_create(const char* kernel_path, xv_guest** out) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (out == nullptr) return NullArgument(fn, "out");
    *out = nullptr;
    if (kernel_path == nullptr) return NullArgument(fn, "kernel_path");
    if (*kernel_path == '\0') {
      return Report(XV_E_INVALID_ARGUMENT,
                    std::string(fn) + ": kernel_path is empty");
    }
    auto settings = std::make_unique<RunSettings>();
    settings->kernel_path = kernel_path;
    settings->serial.output = "null";
    // A library never writes to the program's stderr.
    settings->note_backend_fallback = false;
    *out = xv::capi::Guests().Add(std::move(settings));
    return XV_OK;
  });
}

xv_status xv_guest_destroy(xv_guest* guest) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    if (guest == nullptr) return XV_OK;
    if (xv::capi::Guests().Remove(guest) == nullptr) {
      return xv::capi::BadHandle(fn, guest);
    }
    return XV_OK;
  });
}

xv_status xv_guest_set_memory(xv_guest* guest, uint64_t bytes) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (bytes < (2ull << 20) || bytes % 4096 != 0 || bytes > (3ull << 30)) {
        return Report(XV_E_INVALID_ARGUMENT,
                      absl::StrFormat("%s: %d bytes: guest memory must be 2 "
                                      "MiB to 3 GiB, a multiple of 4 KiB",
                                      fn, bytes));
      }
      s.memory_bytes = bytes;
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_cmdline(xv_guest* guest, const char* cmdline) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      s.cmdline = cmdline == nullptr ? "" : cmdline;
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_disk(xv_guest* guest, const char* image_path) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      s.disk_path = image_path == nullptr ? "" : image_path;
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_backend(xv_guest* guest, const char* backend) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (backend == nullptr) return NullArgument(fn, "backend");
      if (absl::Status v = xv::ValidateBackendChoice(backend); !v.ok()) {
        return ReportFrom(fn, v);
      }
      s.backend = backend;
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_timeout(xv_guest* guest, double seconds) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (!(seconds >= 0) || seconds > 1e9) {
        return Report(XV_E_INVALID_ARGUMENT,
                      absl::StrFormat("%s: %g is not a number of seconds "
                                      "(0 for none)",
                                      fn, seconds));
      }
      s.timeout_seconds =
          seconds == 0 ? std::nullopt : std::optional<double>(seconds);
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_serial_fds(xv_guest* guest, int in_fd, int out_fd) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (in_fd < -1 || out_fd < -1) {
        return Report(XV_E_INVALID_ARGUMENT,
                      absl::StrFormat("%s: %d, %d: a descriptor or -1", fn,
                                      in_fd, out_fd));
      }
      s.serial.input = in_fd < 0 ? "" : absl::StrFormat("fd:%d", in_fd);
      s.serial.output = out_fd < 0 ? "null" : absl::StrFormat("fd:%d", out_fd);
      return XV_OK;
    });
  });
}

xv_status xv_guest_set_serial_callback(xv_guest* guest,
                                       xv_serial_write_fn write, void* opaque) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      s.serial.output_callback = nullptr;
      if (write != nullptr) {
        s.serial.output_callback = [write,
                                    opaque](std::span<const uint8_t> bytes) {
          write(opaque, bytes.data(), bytes.size());
        };
      }
      return XV_OK;
    });
  });
}

xv_status xv_run(const xv_guest* guest, xv_run_result* result) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (xv_status c = xv::capi::CheckOptionalOutSize(fn, "result", result);
          c != XV_OK) {
        return c;
      }
      auto outcome = xv::RunGuestLive(s, nullptr, /*want_state_hash=*/true);
      if (!outcome.ok()) return ReportFrom(fn, outcome.status());
      return xv::capi::Deliver(fn, "result", result,
                               xv::capi::ToC(outcome->result, outcome->backend,
                                             outcome->final_state_hash));
    });
  });
}

xv_status xv_record(const xv_guest* guest, const char* log_path,
                    uint64_t checkpoint_interval, xv_run_result* result) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      if (log_path == nullptr) return NullArgument(fn, "log_path");
      if (xv_status c = xv::capi::CheckOptionalOutSize(fn, "result", result);
          c != XV_OK) {
        return c;
      }
      xv::RecordRequest request{.log_path = log_path};
      if (checkpoint_interval != 0) {
        request.options.checkpoint_interval = checkpoint_interval;
      }
      auto outcome =
          xv::RunGuestLive(s, nullptr, /*want_state_hash=*/true, &request);
      if (!outcome.ok()) return ReportFrom(fn, outcome.status());
      return xv::capi::Deliver(fn, "result", result,
                               xv::capi::ToC(outcome->result, outcome->backend,
                                             outcome->final_state_hash));
    });
  });
}

xv_status xv_replicate(const xv_guest* guest,
                       const xv_replicate_options* options,
                       xv_replicate_result* result) {
  const char* const fn = __func__;
  return Guarded(fn, [&] {
    return WithGuest(fn, guest, [&](RunSettings& s) {
      xv_replicate_options o;
      if (xv_status c = xv::capi::ReadOptionalSized(fn, "options", options, &o);
          c != XV_OK) {
        return c;
      }
      if (xv_status c = xv::capi::CheckOptionalOutSize(fn, "result", result);
          c != XV_OK) {
        return c;
      }
      xv::ReplicaOptions r;
      if (o.checkpoint_every != 0) r.checkpoint_every = o.checkpoint_every;
      if (o.checkpoint_ms < 0) {
        return Report(XV_E_INVALID_ARGUMENT,
                      std::string(fn) + ": options->checkpoint_ms is negative");
      }
      if (o.checkpoint_ms > 0) r.checkpoint_ms = o.checkpoint_ms;
      if (o.inject != nullptr) {
        // As `xvirt replicate`: random:SEED draws from the first 100k exits.
        auto fault = xv::ParseFaultSpec(
            o.inject, {.max_esn = 100'000, .memory_bytes = s.memory_bytes});
        if (!fault.ok()) return ReportFrom(fn, fault.status());
        r.inject = *fault;
      }
      if (o.record_path != nullptr) {
        r.record = xv::ReplicaRecording{.path = o.record_path};
        r.record->options.checkpoint_interval = r.checkpoint_every;
      }
      if (o.on_event != nullptr) {
        r.on_event = [fn = o.on_event,
                      opaque = o.event_opaque](const xv::ReplicaEvent& e) {
          xv_replica_event event{};
          event.struct_size = sizeof event;
          switch (e.kind) {
            case xv::ReplicaEventKind::kDivergence:
              event.kind = XV_EVENT_DIVERGENCE;
              break;
            case xv::ReplicaEventKind::kVote:
              event.kind = XV_EVENT_VOTE;
              break;
            case xv::ReplicaEventKind::kRecovered:
              event.kind = XV_EVENT_RECOVERED;
              break;
            case xv::ReplicaEventKind::kFailSafe:
              event.kind = XV_EVENT_FAIL_SAFE;
              break;
          }
          event.esn = e.esn;
          event.text = e.line.c_str();
          fn(opaque, &event);
        };
      }
      auto outcome = xv::RunGuestReplicated(
          s, nullptr, std::move(r),
          o.follower_backend == nullptr ? "" : o.follower_backend);
      if (!outcome.ok()) return ReportFrom(fn, outcome.status());
      xv_replicate_result out{};
      out.struct_size = sizeof out;
      out.run = xv::capi::ToC(outcome->result, outcome->backend,
                              outcome->final_state_hash);
      out.checkpoints_verified = outcome->checkpoints_verified;
      out.outputs_released = outcome->outputs_released;
      out.divergences = outcome->divergences.size();
      for (const xv::DivergenceEvent& d : outcome->divergences) {
        if (d.recovered) ++out.recoveries;
      }
      out.fail_safe = outcome->fail_safe.has_value() ? 1 : 0;
      if (outcome->fail_safe) {
        xv::capi::CopyText(out.fail_safe_reason, *outcome->fail_safe);
      }
      out.fault_injected = outcome->injected.has_value() ? 1 : 0;
      return xv::capi::Deliver(fn, "result", result, out);
    });
  });
}

}  // extern "C"
