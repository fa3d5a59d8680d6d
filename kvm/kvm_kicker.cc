#include "kvm/kvm_kicker.h"

#include <cerrno>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

// The vCPU run by this thread. initial-exec TLS: no lazy allocation, so the
// signal handler may read it.
thread_local Vcpu* t_vcpu __attribute__((tls_model("initial-exec"))) = nullptr;

void OnKick(int) {
  if (Vcpu* vcpu = t_vcpu) vcpu->RequestImmediateExit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvmKicker>> KvmKicker::ForCurrentThread(
    Vcpu* vcpu, int signal) {
  struct sigaction sa {};
  sa.sa_handler = OnKick;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: KVM_RUN must come back with EINTR.
  if (sigaction(signal, &sa, nullptr) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("sigaction(%d) for vCPU kicks", signal));
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  t_vcpu = vcpu;
  return std::unique_ptr<KvmKicker>(new KvmKicker(pthread_self(), signal));
}

KvmKicker::~KvmKicker() {
  if (pthread_equal(pthread_self(), thread_)) t_vcpu = nullptr;
}

void KvmKicker::Kick() const { pthread_kill(thread_, signal_); }

}  // namespace xv
