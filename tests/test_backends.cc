#include "tests/test_backends.h"

#include <map>
#include <mutex>

#include "emu/emu_loader.h"
#include "kvm/kvm_hypervisor.h"

namespace xv::testing {

std::vector<std::string> TestBackends() { return {"kvm", "emu"}; }

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenTestBackend(
    const std::string& name) {
  if (name == "kvm") {
    auto kvm = KvmHypervisor::Open();
    if (!kvm.ok()) return kvm.status();
    return std::unique_ptr<Hypervisor>(std::move(*kvm));
  }
  if (name == "emu") return LoadEmuHypervisor();
  return absl::InvalidArgumentError("no backend named " + name);
}

absl::Status TestBackendUsable(const std::string& name) {
  static std::mutex mu;
  static auto* known = new std::map<std::string, absl::Status>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = known->find(name);
  if (it == known->end()) {
    it = known->emplace(name, OpenTestBackend(name).status()).first;
  }
  return it->second;
}

}  // namespace xv::testing
