#include "cli/stop_signals.h"

#include <atomic>

namespace xv::cli {
namespace {

std::atomic<RunController*> g_controller{nullptr};

void OnStopSignal(int) {
  if (RunController* c = g_controller.load()) c->RequestStop();
}

}  // namespace

StopSignals::StopSignals(RunController* controller) {
  g_controller.store(controller);
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  g_controller.store(nullptr);
}

}  // namespace xv::cli
