// KvmKicker: makes a vCPU thread's KVM_RUN return promptly, from any thread
// or signal handler, without the guest noticing (a host-caused exit).
//
// KVM_RUN returns only when the guest exits or a signal interrupts it. The
// kicker sends the vCPU thread a signal (SIGUSR1 by default) whose handler
// sets kvm_run->immediate_exit, so a kick that lands while the thread is
// between two KVM_RUNs is not lost either: the next KVM_RUN returns at once.
#ifndef EXTRAVIRT_KVM_KVM_KICKER_H_
#define EXTRAVIRT_KVM_KVM_KICKER_H_

#include <pthread.h>
#include <signal.h>

#include <memory>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"
#include "kvm/vcpu.h"

namespace xv {

class KvmKicker : public CpuKicker {
 public:
  // Registers `vcpu` as the current thread's vCPU; call on the thread that
  // runs it. Installs the process-wide handler for `signal` on first use.
  static absl::StatusOr<std::unique_ptr<KvmKicker>> ForCurrentThread(
      Vcpu* vcpu, int signal = SIGUSR1);
  ~KvmKicker() override;
  KvmKicker(const KvmKicker&) = delete;
  KvmKicker& operator=(const KvmKicker&) = delete;

  void Kick() const override;

 private:
  KvmKicker(pthread_t thread, int signal) : thread_(thread), signal_(signal) {}
  pthread_t thread_;
  int signal_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_KICKER_H_
