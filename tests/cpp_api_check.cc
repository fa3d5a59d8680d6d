// cpp_api_check.cc: extravirt.hpp, the header-only C++ API, from a program
// built outside this tree (tests/install_test.sh compiles it with c++
// through pkg-config alone): a guest recorded and replayed verified, a
// synthetic own-loop recording replayed verified and, tampered, diverged,
// two replays at once on two threads (extravirt.h: functions without a
// shared handle may run concurrently), and moved-from objects answering
// XV_E_BAD_HANDLE.
//
//   cpp_api_check KERNEL BACKEND SCRATCH_DIR    exits 0 when all held
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "extravirt/extravirt.hpp"

namespace {

int failures = 0;

void Check(bool ok, const std::string& what, const std::string& detail = "") {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(),
              detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

xv_hash128 StateHash(uint64_t esn, uint32_t acc) {
  auto h = extravirt::Hasher::Create();
  if (!h.ok()) return {};
  h->UpdateValue(esn);
  h->UpdateValue(acc);
  auto d = h->Digest();
  return d.ok() ? *d : xv_hash128{};
}

constexpr uint64_t kExits = 12;  // odd: a sensor read; even: an output
constexpr uint64_t kInterval = 4;
const uint8_t kImage[] = {0xe5, 0x60, 0xe7, 0x61, 0xf4};

// Records kExits synthetic exits: the "guest" folds sensor values into acc.
bool RecordSynthetic(const std::string& path) {
  auto machine = extravirt::Init<xv_recorded_machine>();
  machine.recorded_by = "cpp_api_check";
  machine.kernel_image = kImage;
  machine.kernel_image_size = sizeof kImage;
  machine.initial_state_hash = StateHash(0, 0);
  auto rec = extravirt::Recorder::Create(path, machine, kInterval);
  Check(rec.ok(), "Recorder::Create", rec.status().ToString());
  if (!rec.ok()) return false;
  uint32_t acc = 0;
  for (uint64_t esn = 1; esn <= kExits; ++esn) {
    if (esn % 2 == 1) {
      const uint32_t value = static_cast<uint32_t>(esn * 2654435761u);
      auto in = extravirt::Init<xv_input>();
      in.kind = XV_INPUT_BOUNDARY_READ;
      in.address = 0x60;
      in.size = 4;
      in.value = value;
      if (auto s = rec->Input(esn, in); !s.ok()) {
        Check(false, "Recorder::Input", s.ToString());
        return false;
      }
      acc = acc * 31 + value;
    } else {
      auto out = extravirt::Init<xv_output>();
      out.kind = XV_OUTPUT_SERIAL_TX;
      out.device = "port61";
      out.data = reinterpret_cast<const uint8_t*>(&acc);
      out.data_size = sizeof acc;
      rec->Output(esn, out);
    }
    auto due = rec->CheckpointDue(esn);
    std::optional<xv_hash128> hash;
    if (due.ok() && *due) hash = StateHash(esn, acc);
    if (auto s = rec->Rendezvous(esn, hash); !s.ok()) {
      Check(false, "Recorder::Rendezvous", s.ToString());
      return false;
    }
  }
  auto end = extravirt::Init<xv_run_end>();
  end.esn = kExits + 1;
  end.stop_reason = "halt";
  end.has_final_state_hash = 1;
  end.final_state_hash = StateHash(kExits + 1, acc);
  auto s = rec->Finish(end);
  Check(s.ok(), "Recorder::Finish", s.ToString());
  // A moved-from recorder holds no handle: an error, not a crash.
  extravirt::Recorder moved = std::move(*rec);
  Check(rec->Finish(end).code() == XV_E_BAD_HANDLE,
        "a moved-from Recorder answers XV_E_BAD_HANDLE");
  return s.ok();
}

// Replays it; `tamper` adds 1 to the first sensor value. Returns the
// status that stopped it (ok: finished) and sets `complete`.
extravirt::Status ReplaySynthetic(const std::string& path, bool tamper,
                                  bool* complete,
                                  std::optional<xv_divergence>* divergence) {
  auto rep = extravirt::Replayer::Open(path);
  if (!rep.ok()) return rep.status();
  auto m = rep->Machine();
  if (!m.ok()) return m.status();
  Check(std::strcmp(m->recorded_by, "cpp_api_check") == 0 &&
            m->kernel_image_size == sizeof kImage &&
            std::memcmp(m->kernel_image, kImage, sizeof kImage) == 0,
        "Replayer::Machine gives back the header");
  if (auto s = rep->CheckInitialState(StateHash(0, 0)); !s.ok()) return s;
  uint32_t acc = 0;
  auto fail = [&](extravirt::Status s) {
    *divergence = rep->Divergence();
    return s;
  };
  for (uint64_t esn = 1; esn <= kExits; ++esn) {
    auto stop = rep->StopHere(esn - 1);
    if (!stop.ok()) return fail(stop.status());
    if (auto n = rep->InputsAt(esn); !n.ok()) return fail(n.status());
    if (esn % 2 == 1) {
      auto value = rep->TakeBoundaryRead(esn, 0x60, 4);
      if (!value.ok()) return fail(value.status());
      acc = acc * 31 + static_cast<uint32_t>(*value) + (tamper && esn == 1);
    } else {
      auto out = extravirt::Init<xv_output>();
      out.kind = XV_OUTPUT_SERIAL_TX;
      out.device = "port61";
      out.data = reinterpret_cast<const uint8_t*>(&acc);
      out.data_size = sizeof acc;
      if (auto s = rep->Output(esn, out); !s.ok()) return fail(s);
    }
    auto left = rep->RemainingInputs();
    if (!left.ok()) return fail(left.status());
    if (!left->empty()) {
      return fail(rep->ReportDivergence(esn, "input", "none left", "more"));
    }
    auto due = rep->CheckpointDue(esn);
    if (!due.ok()) return fail(due.status());
    std::optional<xv_hash128> hash;
    if (*due) hash = StateHash(esn, acc);
    if (auto s = rep->Rendezvous(esn, hash); !s.ok()) return fail(s);
  }
  auto end = extravirt::Init<xv_run_end>();
  end.esn = kExits + 1;
  end.stop_reason = "halt";
  end.has_final_state_hash = 1;
  end.final_state_hash = StateHash(kExits + 1, acc);
  auto done = rep->Finish(end);
  if (!done.ok()) return fail(done.status());
  *complete = *done;
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: cpp_api_check KERNEL BACKEND SCRATCH_DIR\n");
    return 64;
  }
  const std::string kernel = argv[1];
  const std::string backend = argv[2];
  const std::string dir = argv[3];

  // A whole run, recorded and replayed.
  auto guest = extravirt::Guest::Create(kernel);
  Check(guest.ok(), "Guest::Create", guest.status().ToString());
  if (!guest.ok()) return 1;
  Check(guest->SetBackend(backend).ok(), "Guest::SetBackend " + backend);
  Check(guest->SetBackend("qemu").code() == XV_E_INVALID_ARGUMENT,
        "Guest::SetBackend(\"qemu\") is XV_E_INVALID_ARGUMENT");
  std::string serial;
  guest->SetSerialWriter([&serial](const uint8_t* bytes, size_t size) {
    serial.append(reinterpret_cast<const char*>(bytes), size);
  });
  const std::string log = dir + "/cpp.xvlog";
  auto run = guest->Record(log);
  Check(run.ok() && run->exit_status == 0 && run->has_final_state_hash,
        "Guest::Record", run.ok() ? run->backend : run.status().ToString());
  Check(serial.find("Hello") != std::string::npos,
        "the serial writer saw the guest's output", serial.substr(0, 40));
  auto options = extravirt::Init<xv_replay_options>();
  options.backend = backend.c_str();
  auto replay = extravirt::Replay(log, options);
  Check(replay.ok() && replay->verdict == XV_VERDICT_VERIFIED && run.ok() &&
            replay->run.esn == run->esn,
        "Replay verified", replay.status().ToString());
  extravirt::Guest moved = std::move(*guest);
  Check(guest->Run().status().code() == XV_E_BAD_HANDLE,
        "a moved-from Guest answers XV_E_BAD_HANDLE");

  // Two replays of that log at once, on two threads: both verified, with
  // the same final state (a live run's would differ: host time is an input).
  {
    xv_replay_result results[2] = {};
    extravirt::Status errors[2];
    std::thread threads[2];
    for (int i = 0; i < 2; ++i) {
      threads[i] = std::thread([&, i] {
        auto r = extravirt::Replay(log, options);
        if (r.ok()) {
          results[i] = *r;
        } else {
          errors[i] = r.status();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const xv_run_result& a = results[0].run;
    const xv_run_result& b = results[1].run;
    Check(errors[0].ok() && errors[1].ok() &&
              results[0].verdict == XV_VERDICT_VERIFIED &&
              results[1].verdict == XV_VERDICT_VERIFIED &&
              a.has_final_state_hash && b.has_final_state_hash &&
              a.final_state_hash.high == b.final_state_hash.high &&
              a.final_state_hash.low == b.final_state_hash.low,
          "two concurrent replays verified, same final state",
          errors[0].ToString() + errors[1].ToString());
  }

  // The own-loop contract, on a synthetic VMM.
  const std::string own = dir + "/cpp-own.xvlog";
  if (RecordSynthetic(own)) {
    bool complete = false;
    std::optional<xv_divergence> divergence;
    auto s = ReplaySynthetic(own, /*tamper=*/false, &complete, &divergence);
    Check(s.ok() && complete, "own-loop replay verified", s.ToString());
    complete = false;
    s = ReplaySynthetic(own, /*tamper=*/true, &complete, &divergence);
    Check(s.code() == XV_E_DIVERGED && divergence.has_value() &&
              divergence->esn <= kInterval,
          "a tampered own-loop replay diverges by the first checkpoint",
          divergence ? std::string(divergence->what) + " at ESN " +
                           std::to_string(divergence->esn)
                     : s.ToString());
  }

  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
