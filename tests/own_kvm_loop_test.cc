// The library surface from the other side: this file is "another VMM". It
// owns its KVM loop — raw ioctls on /dev/kvm, one memory slot, one vCPU, its
// own exit decoding and device models, nothing from our kvm/, machine/ or run
// loop — and records and replays a guest through
// replay/own_loop_contract.h alone, following the contract written
// there step by step.
//
// The guest (hand-assembled, 32-bit protected mode, flat segments, CPL0 as a
// multiboot loader leaves it) folds N readings of a "sensor" into an
// accumulator and reports each step and the final result:
//
//   acc = 0; repeat N: { v = in(0x60); acc = acc * 31 + v; out(0x61, acc) }
//   out(0x62, acc); hlt
//
// Port 0x60 is a boundary device: its value comes from the host (a random
// generator) and is recorded as the value the guest's `in` returned. Ports
// 0x61 and 0x62 are outputs. Exit k of the run: 2i+1 is the i-th `in`, 2i+2
// the i-th `out 0x61`, 2N+1 the result and 2N+2 the `hlt` that ends it.
// (CPL0 code is emulated under PVM, ~10 us per exit: a run takes a few ms.)
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "replay/own_loop_contract.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_support.h"
#include "kvm/kvm_uapi.h"

namespace xv {
namespace {

constexpr uint64_t kMemBytes = uint64_t{64} << 10;
constexpr uint64_t kCodeAddr = 0x1000;
constexpr uint16_t kSensorPort = 0x60;
constexpr uint16_t kStepPort = 0x61;
constexpr uint16_t kResultPort = 0x62;
constexpr uint32_t kIterations = 100;
constexpr uint64_t kEndEsn = 2 * kIterations + 2;  // the `hlt`
constexpr uint64_t kMaxExits = 10 * kEndEsn;       // a runaway guest
constexpr size_t kSensorReadOffset = 0x07;         // opcode of the `in`
constexpr size_t kMultiplierOffset = 0x0e;         // imm8 of the imul
constexpr char kStopHalted[] = "halted_forever";

// `spin` > 0 prepends a loop that computes that many iterations without an
// exit.
std::vector<uint8_t> AccumulatorProgram(uint32_t spin = 0) {
  const auto le32 = [](uint32_t v) {
    return std::vector<uint8_t>{uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16),
                                uint8_t(v >> 24)};
  };
  std::vector<uint8_t> code;
  auto emit = [&code](std::vector<uint8_t> bytes) {
    code.insert(code.end(), bytes.begin(), bytes.end());
  };
  // clang-format off
  if (spin > 0) {
    emit({0xba}); emit(le32(spin));  // mov edx, spin
    emit({0x4a, 0x75, 0xfd});        // 1: dec edx; jnz 1b
  }
  // Offsets from the start of the body:
  emit({0x31, 0xdb});                // 00 xor ebx, ebx
  emit({0xb9}); emit(le32(kIterations));  // 02 mov ecx, N
  emit({0xe4, kSensorPort});         // 07 in al, 0x60
  emit({0x0f, 0xb6, 0xc0});          // 09 movzx eax, al
  emit({0x6b, 0xdb, 0x1f});          // 0c imul ebx, ebx, 31
  emit({0x01, 0xc3});                // 0f add ebx, eax
  emit({0x89, 0xd8});                // 11 mov eax, ebx
  emit({0xe6, kStepPort});           // 13 out 0x61, al
  emit({0xe2, 0xf0});                // 15 loop 07
  emit({0x89, 0xd8});                // 17 mov eax, ebx
  emit({0xe7, kResultPort});         // 19 out 0x62, eax
  emit({0xf4});                      // 1b hlt
  // clang-format on
  return code;
}

// What the guest computes from the sensor values it read.
uint32_t ExpectedResult(const std::vector<uint8_t>& values) {
  uint32_t acc = 0;
  for (uint8_t v : values) acc = acc * 31 + v;
  return acc;
}

absl::Status Errno(const std::string& what) {
  return absl::ErrnoToStatus(errno, what);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// One VM, one vCPU, kMemBytes of memory at GPA 0 holding the program at
// kCodeAddr; the vCPU starts there in flat 32-bit protected mode with
// interrupts off.
class MiniVm {
 public:
  static absl::StatusOr<std::unique_ptr<MiniVm>> Create(
      std::span<const uint8_t> program) {
    std::unique_ptr<MiniVm> vm(new MiniVm);
    const char* env = std::getenv("XVIRT_KVM_DEVICE");
    const std::string path = env != nullptr && *env ? env : "/dev/kvm";
    vm->kvm_ = std::make_unique<Fd>(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (vm->kvm_->get() < 0) return Errno("open " + path);
    if (::ioctl(vm->kvm_->get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
      return absl::FailedPreconditionError("unexpected KVM API version");
    }
    int vm_fd;
    do {
      vm_fd = ::ioctl(vm->kvm_->get(), KVM_CREATE_VM, 0);
    } while (vm_fd < 0 && errno == EINTR);
    vm->vm_ = std::make_unique<Fd>(vm_fd);
    if (vm_fd < 0) return Errno("KVM_CREATE_VM");

    void* mem = ::mmap(nullptr, kMemBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return Errno("mmap guest memory");
    vm->mem_ = static_cast<uint8_t*>(mem);
    if (kCodeAddr + program.size() > kMemBytes) {
      return absl::InvalidArgumentError("program too large");
    }
    std::memcpy(vm->mem_ + kCodeAddr, program.data(), program.size());
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = kMemBytes;
    region.userspace_addr = reinterpret_cast<uint64_t>(vm->mem_);
    if (::ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
      return Errno("KVM_SET_USER_MEMORY_REGION");
    }

    vm->vcpu_ = std::make_unique<Fd>(::ioctl(vm_fd, KVM_CREATE_VCPU, 0));
    if (vm->vcpu_->get() < 0) return Errno("KVM_CREATE_VCPU");
    const int run_size = ::ioctl(vm->kvm_->get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) return Errno("KVM_GET_VCPU_MMAP_SIZE");
    void* run = ::mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                       vm->vcpu_->get(), 0);
    if (run == MAP_FAILED) return Errno("mmap kvm_run");
    vm->run_ = static_cast<kvm_run*>(run);
    vm->run_size_ = run_size;

    kvm_sregs sregs{};
    if (::ioctl(vm->vcpu_->get(), KVM_GET_SREGS, &sregs) != 0) {
      return Errno("KVM_GET_SREGS");
    }
    auto flat = [](uint16_t selector, uint8_t type) {
      kvm_segment s{};
      s.limit = 0xffffffff;
      s.selector = selector;
      s.type = type;
      s.present = 1;
      s.db = 1;
      s.s = 1;
      s.g = 1;
      return s;
    };
    sregs.cs = flat(0x08, 0xb);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat(0x10, 0x3);
    sregs.cr0 = (sregs.cr0 | 1) & ~(uint64_t{1} << 31);  // PE, no paging
    sregs.efer = 0;
    if (::ioctl(vm->vcpu_->get(), KVM_SET_SREGS, &sregs) != 0) {
      return Errno("KVM_SET_SREGS");
    }
    kvm_regs regs{};
    regs.rip = kCodeAddr;
    regs.rflags = 0x2;
    if (absl::Status s = vm->SetRegs(regs); !s.ok()) return s;
    return vm;
  }

  ~MiniVm() {
    if (run_ != nullptr) ::munmap(run_, run_size_);
    vcpu_.reset();
    vm_.reset();
    if (mem_ != nullptr) ::munmap(mem_, kMemBytes);
  }

  // One KVM_RUN. True: a guest-initiated exit, decoded from run(). False:
  // the host interrupted it (a signal: EINTR or KVM_EXIT_INTR), which
  // neither counts nor shows to the guest.
  absl::StatusOr<bool> Run() {
    if (::ioctl(vcpu_->get(), KVM_RUN, 0) != 0) {
      if (errno == EINTR) return false;
      return Errno("KVM_RUN");
    }
    return run_->exit_reason != KVM_EXIT_INTR;
  }

  kvm_run* run() { return run_; }

  absl::StatusOr<kvm_regs> GetRegs() const {
    kvm_regs regs{};
    if (::ioctl(vcpu_->get(), KVM_GET_REGS, &regs) != 0) {
      return Errno("KVM_GET_REGS");
    }
    return regs;
  }
  absl::Status SetRegs(const kvm_regs& regs) {
    kvm_regs copy = regs;
    if (::ioctl(vcpu_->get(), KVM_SET_REGS, &copy) != 0) {
      return Errno("KVM_SET_REGS");
    }
    return absl::OkStatus();
  }

  // The VMM's state hash (contract: deterministic, everything the guest's
  // future depends on, nothing host-dependent). Explicit fields, never raw
  // structs; this VMM's devices have no state of their own, so registers
  // and memory are the whole state.
  absl::StatusOr<Hash128> StateHash() const {
    auto regs = GetRegs();
    if (!regs.ok()) return regs.status();
    kvm_sregs s{};
    if (::ioctl(vcpu_->get(), KVM_GET_SREGS, &s) != 0) {
      return Errno("KVM_GET_SREGS");
    }
    Hasher h;
    h.Update(std::string_view("own-kvm-loop-state-v1"));
    const kvm_regs& r = *regs;
    for (uint64_t v :
         {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9,
          r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags}) {
      h.UpdateU64(v);
    }
    for (const kvm_segment* seg :
         {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldt}) {
      h.UpdateU64(seg->base);
      h.UpdateU64(seg->limit);
      h.UpdateU64(uint64_t{seg->selector} | uint64_t{seg->type} << 16 |
                  uint64_t{seg->present} << 24 | uint64_t{seg->dpl} << 32 |
                  uint64_t{seg->db} << 40 | uint64_t{seg->s} << 48 |
                  uint64_t{seg->l} << 56);
      h.UpdateU64(uint64_t{seg->g} | uint64_t{seg->avl} << 8);
    }
    for (const kvm_dtable* t : {&s.gdt, &s.idt}) {
      h.UpdateU64(t->base);
      h.UpdateU64(t->limit);
    }
    for (uint64_t v : {s.cr0, s.cr2, s.cr3, s.cr4, s.efer}) h.UpdateU64(v);
    h.Update(std::span<const uint8_t>(mem_, kMemBytes));
    return h.Digest();
  }

  std::string DescribeExit() const {
    auto regs = GetRegs();
    return absl::StrFormat("exit reason %d at RIP 0x%x", run_->exit_reason,
                           regs.ok() ? regs->rip : 0);
  }

 private:
  MiniVm() = default;

  std::unique_ptr<Fd> kvm_;
  std::unique_ptr<Fd> vm_;
  std::unique_ptr<Fd> vcpu_;
  uint8_t* mem_ = nullptr;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
};

// A decoded KVM_EXIT_IO of one element.
struct PortAccess {
  uint16_t port = 0;
  uint8_t size = 0;
  bool in = false;
  std::span<uint8_t> data;  // in kvm_run: the VMM fills it for an `in`
};

absl::StatusOr<PortAccess> DecodeIo(MiniVm& vm) {
  kvm_run* run = vm.run();
  if (run->io.count != 1) {
    return absl::UnimplementedError("string I/O: " + vm.DescribeExit());
  }
  return PortAccess{
      .port = run->io.port,
      .size = run->io.size,
      .in = run->io.direction == KVM_EXIT_IO_IN,
      .data = {reinterpret_cast<uint8_t*>(run) + run->io.data_offset,
               run->io.size}};
}

DeviceOutput StepOutput(const PortAccess& io) {
  return {.kind = OutputKind::kSerialTx, .device = "port61", .data = io.data};
}
DeviceOutput ResultOutput(const PortAccess& io) {
  return {.kind = OutputKind::kSerialTx, .device = "result", .data = io.data};
}
uint32_t Le32(std::span<const uint8_t> d) {
  return uint32_t{d[0]} | uint32_t{d[1]} << 8 | uint32_t{d[2]} << 16 |
         uint32_t{d[3]} << 24;
}

// What one run of the guest showed the outside world.
struct RunReport {
  uint64_t esn = 0;  // of the exit that ended it
  uint64_t host_exits = 0;
  std::vector<uint8_t> sensor_values;
  std::vector<uint8_t> steps;  // the bytes written to port 0x61
  std::optional<uint32_t> result;
  double seconds = 0;
};

// The host side of the boundary device.
using Sensor = std::function<uint8_t()>;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// This VMM's vCPU loop, the one loop for recording (`rec`) and replaying
// (`rep`; exactly one of the two is set), following the contract in
// own_loop_contract.h. Returns the first error: for a replay, an AbortedError is
// a divergence (the replayer's, or one this VMM found: `vmm_divergence`).
using RendezvousHook = std::function<void(uint64_t esn, MiniVm& vm)>;

absl::Status RunLoop(MiniVm& vm, const Sensor& sensor, LogRecorder* rec,
                     LogReplayer* rep, const RendezvousHook& hook,
                     RunReport& report, std::string& vmm_divergence) {
  auto diverge = [&](std::string what) {
    vmm_divergence = std::move(what);
    return absl::AbortedError(vmm_divergence);
  };
  uint64_t esn = 0;
  bool halted = false;
  std::vector<InputEvent> inputs;
  for (;;) {
    if (esn > kMaxExits) return absl::DeadlineExceededError("runaway guest");
    // Replay step 2: stop where the recording stopped.
    if (rep != nullptr && rep->StopHere(esn)) break;
    auto guest = vm.Run();
    if (!guest.ok()) return guest.status();
    if (!*guest) {  // host-caused: invisible, uncounted
      ++report.host_exits;
      continue;
    }
    report.esn = ++esn;
    // Replay step 3: this exit's inputs, before handling it.
    inputs.clear();
    if (rep != nullptr) {
      if (absl::Status s = rep->InputsAt(esn, inputs); !s.ok()) return s;
    }
    kvm_run* run = vm.run();
    if (run->exit_reason == KVM_EXIT_HLT) {
      // IF=0: the guest ends the run here; no rendezvous for this exit.
      if (!inputs.empty()) {
        return diverge(absl::StrFormat(
            "replay diverged at ESN %d: the log has inputs for the final hlt",
            esn));
      }
      halted = true;
      break;
    }
    if (run->exit_reason != KVM_EXIT_IO) {
      return absl::InternalError("unexpected " + vm.DescribeExit());
    }
    auto io = DecodeIo(vm);
    if (!io.ok()) return io.status();
    if (io->in && io->port == kSensorPort) {
      // A boundary read: an input of this very exit. The sensor answers
      // reads of any width with one byte, zero-extended.
      uint64_t value;
      if (rep != nullptr) {
        auto v = TakeBoundaryRead(*rep, esn, inputs, io->port, io->size);
        if (!v.ok()) return diverge(std::string(v.status().message()));
        value = *v;
      } else {
        value = sensor();
        if (absl::Status s = rec->RecordInput(
                esn, InputEvent::BoundaryRead(io->port, io->size, value));
            !s.ok()) {
          return s;
        }
      }
      for (size_t i = 0; i < io->data.size(); ++i) {
        io->data[i] = static_cast<uint8_t>(value >> (8 * i));
      }
      report.sensor_values.push_back(static_cast<uint8_t>(value));
    } else if (!io->in && io->port == kStepPort && io->size == 1) {
      report.steps.push_back(io->data[0]);
      if (rec != nullptr) rec->RecordOutput(esn, StepOutput(*io));
      if (rep != nullptr) rep->OnOutput(esn, StepOutput(*io));
    } else if (!io->in && io->port == kResultPort && io->size == 4) {
      report.result = Le32(io->data);
      if (rec != nullptr) rec->RecordOutput(esn, ResultOutput(*io));
      if (rep != nullptr) rep->OnOutput(esn, ResultOutput(*io));
    } else if (rec != nullptr) {
      return absl::InternalError(
          absl::StrFormat("ESN %d: unexpected access to port 0x%x (%s)", esn,
                          io->port, vm.DescribeExit()));
    } else {
      return diverge(absl::StrFormat(
          "replay diverged at ESN %d: the guest accessed port 0x%x (%s)", esn,
          io->port, vm.DescribeExit()));
    }
    // Step 3/4: this VMM's devices take no other inputs, and it records
    // none; a replay input left over is one this replica cannot apply.
    if (!inputs.empty()) {
      return diverge(absl::StrFormat(
          "replay diverged at ESN %d: the log has a %s input here", esn,
          InputKindName(inputs.front().kind)));
    }
    // Step 4: no interrupts in this VMM. Step 5: the rendezvous.
    if (hook) hook(esn, vm);
    bool due;
    if (rec != nullptr) {
      due = rec->CheckpointDue(esn);
    } else {
      auto d = rep->CheckpointDue(esn);
      if (!d.ok()) return d.status();
      due = *d;
    }
    std::optional<Hash128> hash;
    if (due) {
      auto h = vm.StateHash();
      if (!h.ok()) return h.status();
      hash = *h;
    }
    if (absl::Status s = rec != nullptr ? rec->Rendezvous(esn, hash)
                                        : rep->Rendezvous(esn, hash);
        !s.ok()) {
      return s;
    }
  }
  // Step 6: the end, at an exit, so the final state is comparable.
  auto final_hash = vm.StateHash();
  if (!final_hash.ok()) return final_hash.status();
  if (rec != nullptr) {
    return rec->Finish({.esn = esn,
                        .exit_status = 0,
                        .stop_reason = kStopHalted,
                        .debug_exit_value = report.result.value_or(0),
                        .final_state_hash = *final_hash,
                        .exits = esn});
  }
  return rep->Finish({.esn = esn,
                      .exit_status = 0,
                      .stop_reason = halted ? kStopHalted : "stop_point",
                      .debug_exit_value = report.result.value_or(0),
                      .at_stop_point = !halted,
                      .final_state_hash = *final_hash});
}

// Records a run of `program` into `path`; errors are the host's or KVM's.
// `before_run`, if set, is called once the VM and the log exist, just
// before the first KVM_RUN.
absl::StatusOr<RunReport> Record(std::span<const uint8_t> program,
                                 const std::string& path,
                                 const RecorderOptions& options,
                                 const Sensor& sensor,
                                 RecorderStats* stats = nullptr,
                                 const std::function<void()>& before_run = {}) {
  const auto start = std::chrono::steady_clock::now();
  auto vm = MiniVm::Create(program);
  if (!vm.ok()) return vm.status();
  // Step 1: the header carries what replay needs to rebuild the guest.
  RecordedMachine machine;
  machine.recorded_by = "own_kvm_loop_test";
  machine.kernel_name = "accumulator";
  machine.kernel_image.assign(program.begin(), program.end());
  machine.memory_bytes = kMemBytes;
  auto initial = (*vm)->StateHash();
  if (!initial.ok()) return initial.status();
  machine.initial_state_hash = *initial;
  auto rec = LogRecorder::Create(path, std::move(machine), options);
  if (!rec.ok()) return rec.status();
  RunReport report;
  std::string unused;
  if (before_run) before_run();
  if (absl::Status s =
          RunLoop(**vm, sensor, rec->get(), nullptr, {}, report, unused);
      !s.ok()) {
    return s;
  }
  report.seconds = SecondsSince(start);
  if (stats != nullptr) *stats = (*rec)->stats();
  return report;
}

// The replay's host sensor: a replay that consults it is broken.
uint8_t ForbiddenSensor() {
  ADD_FAILURE() << "the replay asked the host sensor for a value";
  return 0;
}

struct ReplayOptionsForTest {
  // The guest to run instead of the recorded one (a VMM given another
  // image).
  std::optional<std::vector<uint8_t>> program;
  // False: a VMM that forgets CheckInitialState.
  bool check_initial_state = true;
  // Called at each rendezvous before the state hash: perturbs the replica.
  RendezvousHook at_rendezvous;
};

struct ReplayReport {
  RunReport run;
  absl::Status status;  // the first error of the replay
  std::optional<Divergence> divergence;
  // A divergence this VMM found itself (a boundary read the log does not
  // have, an input it cannot apply): the replayer does not see those.
  std::string vmm_divergence;
  bool complete = false;
  ReplayCounts counts;
  std::vector<std::string> notes;
};

// Replays `path` in a fresh VM. Errors: the host, KVM or the log file
// failed; divergences are in the report.
absl::StatusOr<ReplayReport> Replay(const std::string& path,
                                    const ReplayOptionsForTest& options) {
  const auto start = std::chrono::steady_clock::now();
  auto rep = LogReplayer::Open(path);
  if (!rep.ok()) return rep.status();
  // Step 1: rebuild the guest from the header, check its initial state.
  const std::vector<uint8_t>& program =
      options.program ? *options.program : (*rep)->machine().kernel_image;
  if ((*rep)->machine().memory_bytes != kMemBytes) {
    return absl::FailedPreconditionError("recorded with another memory size");
  }
  auto vm = MiniVm::Create(program);
  if (!vm.ok()) return vm.status();
  ReplayReport report;
  if (options.check_initial_state) {
    auto initial = (*vm)->StateHash();
    if (!initial.ok()) return initial.status();
    report.status = (*rep)->CheckInitialState(*initial);
  }
  if (report.status.ok()) {
    report.status =
        RunLoop(**vm, ForbiddenSensor, nullptr, rep->get(),
                options.at_rendezvous, report.run, report.vmm_divergence);
  }
  report.run.seconds = SecondsSince(start);
  report.divergence = (*rep)->divergence();
  report.complete = (*rep)->complete();
  report.counts = (*rep)->counts();
  report.notes = (*rep)->notes();
  if (!report.status.ok() && !absl::IsAborted(report.status)) {
    return report.status;
  }
  return report;
}

std::string LogPath(std::string_view name) {
  return absl::StrFormat("%s/%s.xvlog", ::testing::TempDir(), name);
}

Sensor SeededSensor(uint32_t seed) {
  auto gen = std::make_shared<std::mt19937>(seed);
  return [gen] { return static_cast<uint8_t>((*gen)() & 0xff); };
}

std::string Describe(const ReplayReport& r) {
  std::string out = absl::StrFormat(
      "status: %s; complete %d; counts: inputs %d outputs %d checkpoints %d "
      "last verified %d",
      r.status.ToString(), r.complete, r.counts.inputs, r.counts.outputs,
      r.counts.checkpoints, r.counts.last_verified_esn);
  if (r.divergence) {
    absl::StrAppendFormat(&out,
                          "; divergence at ESN %d: %s (expected %s, got "
                          "%s), last verified %d",
                          r.divergence->esn, r.divergence->what,
                          r.divergence->expected, r.divergence->actual,
                          r.divergence->last_verified_esn);
  }
  if (!r.vmm_divergence.empty()) out += "; VMM: " + r.vmm_divergence;
  for (const std::string& n : r.notes) out += "; note: " + n;
  return out;
}

TEST(OwnKvmLoopTest, RecordsAndReplaysWithBoundaryReads) {
  XV_SKIP_WITHOUT_KVM();
  const std::string path = LogPath("record_replay");
  const uint32_t seed = std::random_device()();
  SCOPED_TRACE(absl::StrFormat("sensor seed %d", seed));
  int host_reads = 0;
  Sensor random_sensor = SeededSensor(seed);
  RecorderOptions options;
  options.checkpoint_interval = 16;
  RecorderStats stats;
  auto recorded = Record(
      AccumulatorProgram(), path, options,
      [&] {
        ++host_reads;
        return random_sensor();
      },
      &stats);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(recorded->esn, kEndEsn);
  EXPECT_EQ(host_reads, static_cast<int>(kIterations));
  ASSERT_EQ(recorded->sensor_values.size(), kIterations);
  ASSERT_TRUE(recorded->result.has_value());
  EXPECT_EQ(*recorded->result, ExpectedResult(recorded->sensor_values));
  EXPECT_EQ(stats.inputs, kIterations);
  EXPECT_EQ(stats.outputs, kIterations + 1);
  EXPECT_EQ(stats.checkpoints, (kEndEsn - 1) / 16);  // none at the end exit

  // A fresh VM; the sensor values come from the log alone (the replay's
  // host sensor fails the test if consulted).
  auto replayed = Replay(path, {});
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  ASSERT_TRUE(replayed->status.ok()) << Describe(*replayed);
  EXPECT_FALSE(replayed->divergence) << Describe(*replayed);
  EXPECT_TRUE(replayed->complete) << Describe(*replayed);
  EXPECT_EQ(replayed->run.esn, kEndEsn);
  EXPECT_EQ(replayed->run.sensor_values, recorded->sensor_values);
  EXPECT_EQ(replayed->run.steps, recorded->steps);
  EXPECT_EQ(replayed->run.result, recorded->result);
  EXPECT_EQ(replayed->counts.inputs, kIterations);
  EXPECT_EQ(replayed->counts.outputs, kIterations + 1);
  EXPECT_EQ(replayed->counts.checkpoints, stats.checkpoints);
  EXPECT_EQ(replayed->counts.last_verified_esn, kEndEsn);
  std::cout << absl::StrFormat("record: %d exits in %.1f ms; replay: %.1f ms\n",
                               recorded->esn, recorded->seconds * 1e3,
                               replayed->run.seconds * 1e3);
}

// The replica's accumulator is flipped at the rendezvous of `kPerturbEsn`
// (an `out 0x61` exit). Detection comes at the next check that covers it:
// the next checkpoint's state hash, or, with a digest per output, the next
// output. Either way the divergence is bracketed: last_verified_esn (the
// last checkpoint whose state hash matched) <= kPerturbEsn < esn.
constexpr uint64_t kPerturbEsn = 42;

ReplayOptionsForTest FlipAccumulatorAt(uint64_t at) {
  ReplayOptionsForTest o;
  o.at_rendezvous = [at](uint64_t esn, MiniVm& vm) {
    if (esn != at) return;
    auto regs = vm.GetRegs();
    ASSERT_TRUE(regs.ok()) << regs.status();
    regs->rbx ^= 1;
    ASSERT_TRUE(vm.SetRegs(*regs).ok());
  };
  return o;
}

TEST(OwnKvmLoopTest, PerturbedAccumulatorIsCaughtByTheNextStateHash) {
  XV_SKIP_WITHOUT_KVM();
  const std::string path = LogPath("perturbed_hash");
  RecorderOptions options;
  options.checkpoint_interval = 16;
  auto recorded =
      Record(AccumulatorProgram(), path, options, SeededSensor(1234));
  ASSERT_TRUE(recorded.ok()) << recorded.status();

  auto replayed = Replay(path, FlipAccumulatorAt(kPerturbEsn));
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(absl::IsAborted(replayed->status)) << Describe(*replayed);
  ASSERT_TRUE(replayed->divergence.has_value()) << Describe(*replayed);
  const Divergence& d = *replayed->divergence;
  EXPECT_EQ(d.what, "state hash");
  EXPECT_EQ(d.esn, 48u);                // the first checkpoint after 42
  EXPECT_EQ(d.last_verified_esn, 32u);  // the last one before it
  EXPECT_LE(d.last_verified_esn, kPerturbEsn);
  EXPECT_GT(d.esn, kPerturbEsn);
  EXPECT_NE(d.expected, d.actual);
  EXPECT_FALSE(replayed->complete);
  EXPECT_EQ(replayed->run.esn, 48u);  // the replay stopped there
}

TEST(OwnKvmLoopTest, PerturbedAccumulatorIsCaughtByTheNextOutput) {
  XV_SKIP_WITHOUT_KVM();
  const std::string path = LogPath("perturbed_output");
  RecorderOptions options;
  options.checkpoint_interval = 16;
  options.digests.max_bytes = 1;  // a digest for every output
  auto recorded =
      Record(AccumulatorProgram(), path, options, SeededSensor(1234));
  ASSERT_TRUE(recorded.ok()) << recorded.status();

  auto replayed = Replay(path, FlipAccumulatorAt(kPerturbEsn));
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(absl::IsAborted(replayed->status)) << Describe(*replayed);
  ASSERT_TRUE(replayed->divergence.has_value()) << Describe(*replayed);
  const Divergence& d = *replayed->divergence;
  EXPECT_EQ(d.what, "output of port61");
  EXPECT_EQ(d.esn, kPerturbEsn + 2);    // the next `out 0x61`
  EXPECT_EQ(d.last_verified_esn, 32u);  // the last matching state hash
  EXPECT_LE(d.last_verified_esn, kPerturbEsn);
  EXPECT_FALSE(replayed->complete);
}

TEST(OwnKvmLoopTest, ChangedGuestProgramIsADivergence) {
  XV_SKIP_WITHOUT_KVM();
  const std::string path = LogPath("changed_program");
  RecorderOptions options;
  options.checkpoint_interval = 16;
  options.digests.max_bytes = 1;
  auto recorded = Record(AccumulatorProgram(), path, options, SeededSensor(99));
  ASSERT_TRUE(recorded.ok()) << recorded.status();

  std::vector<uint8_t> changed = AccumulatorProgram();
  ASSERT_EQ(changed[kMultiplierOffset], 0x1f);
  changed[kMultiplierOffset] = 0x25;  // imul ebx, ebx, 37

  // A VMM that checks the initial state finds it before the first exit.
  ReplayOptionsForTest o;
  o.program = changed;
  auto replayed = Replay(path, o);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(absl::IsAborted(replayed->status)) << Describe(*replayed);
  ASSERT_TRUE(replayed->divergence.has_value()) << Describe(*replayed);
  EXPECT_EQ(replayed->divergence->what, "initial state");
  EXPECT_EQ(replayed->divergence->esn, 0u);
  EXPECT_EQ(replayed->run.esn, 0u);
  EXPECT_FALSE(replayed->complete);

  // One that forgets to is still never told the replay verified: the
  // outputs or the first checkpoint differ.
  o.check_initial_state = false;
  replayed = Replay(path, o);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(absl::IsAborted(replayed->status)) << Describe(*replayed);
  ASSERT_TRUE(replayed->divergence.has_value()) << Describe(*replayed);
  const Divergence& d = *replayed->divergence;
  EXPECT_TRUE(d.what == "output of port61" || d.what == "state hash")
      << Describe(*replayed);
  EXPECT_LE(d.esn, 16u);  // at the latest, the first checkpoint
  EXPECT_EQ(d.last_verified_esn, 0u) << Describe(*replayed);
  EXPECT_FALSE(replayed->complete);
}

// A boundary read that the log does not have at this exit (here: the
// guest reads 4 bytes where it read 1) is a divergence the VMM itself
// finds, with TakeBoundaryRead(), which reports it to the replayer.
TEST(OwnKvmLoopTest, MismatchedBoundaryReadIsADivergenceTheVmmReports) {
  XV_SKIP_WITHOUT_KVM();
  const std::string path = LogPath("mismatched_boundary_read");
  ASSERT_TRUE(Record(AccumulatorProgram(), path, {}, SeededSensor(3)).ok());
  std::vector<uint8_t> changed = AccumulatorProgram();
  ASSERT_EQ(changed[kSensorReadOffset], 0xe4);
  changed[kSensorReadOffset] = 0xe5;  // in eax, 0x60
  ReplayOptionsForTest o;
  o.program = changed;
  o.check_initial_state = false;  // or it stops at the initial state
  auto replayed = Replay(path, o);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(absl::IsAborted(replayed->status)) << Describe(*replayed);
  EXPECT_EQ(replayed->vmm_divergence,
            "replay diverged at ESN 1: boundary read: expected a 1-byte read "
            "of port 0x60, got a 4-byte read of port 0x60");
  EXPECT_EQ(replayed->run.esn, 1u);
  ASSERT_TRUE(replayed->divergence.has_value());
  EXPECT_EQ(replayed->divergence->what, "boundary read");
  EXPECT_EQ(replayed->divergence->last_verified_esn, 0u);
  EXPECT_FALSE(replayed->complete);
  EXPECT_TRUE(replayed->run.sensor_values.empty());
}

// Contract: exits the host causes (signals, immediate_exit) are not ESNs.
// A recording taken under a storm of signals replays, without them, to the
// same ESNs and verifies. The guest first computes for a few milliseconds
// without any exit, so that signals interrupt it mid-computation.
//
// The storm starts once the VM exists: KVM_CREATE_VM can take longer than
// the 50 us period (it does under PVM), and retrying it on EINTR would then
// never finish. It is also bounded, the handler disarming the timer after
// kStormSignals, in case entering the guest ever takes longer than a period.
constexpr int kStormSignals = 200;
std::atomic<int> g_signals{0};
timer_t g_storm_timer;
void CountSignal(int) {
  if (g_signals.fetch_add(1, std::memory_order_relaxed) + 1 >= kStormSignals) {
    const itimerspec off{};
    timer_settime(g_storm_timer, 0, &off, nullptr);  // async-signal-safe
  }
}

TEST(OwnKvmLoopTest, HostInterruptionsDoNotCountAsExits) {
  XV_SKIP_WITHOUT_KVM();
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = CountSignal;
  sigemptyset(&sa.sa_mask);  // no SA_RESTART: KVM_RUN returns EINTR
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  // A timer signalling this (the vCPU's) thread every 50 us.
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGUSR1;
  sev._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &sev, &g_storm_timer), 0);
  const itimerspec every_50us = {{0, 50'000}, {0, 50'000}};

  const std::string path = LogPath("host_interruptions");
  const std::vector<uint8_t> program = AccumulatorProgram(/*spin=*/2000);
  RecorderOptions options;
  options.checkpoint_interval = 8;
  absl::StatusOr<RunReport> recorded;
  // A signal makes KVM_RUN return only if it lands while the vCPU runs;
  // retry the (short) recording in the unlikely case none did.
  for (int attempt = 0; attempt < 5; ++attempt) {
    g_signals.store(0);
    recorded = Record(
        program, path, options, SeededSensor(5),
        /*stats=*/nullptr, [&] {
          EXPECT_EQ(timer_settime(g_storm_timer, 0, &every_50us, nullptr), 0);
        });
    const itimerspec off{};
    ASSERT_EQ(timer_settime(g_storm_timer, 0, &off, nullptr), 0);
    if (!recorded.ok() || recorded->host_exits > 0) break;
  }
  timer_delete(g_storm_timer);
  ASSERT_EQ(sigaction(SIGUSR1, &old, nullptr), 0);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  std::cout << absl::StrFormat(
      "%d signals, %d host-caused KVM_RUN returns in %.1f ms\n",
      g_signals.load(), recorded->host_exits, recorded->seconds * 1e3);
  ASSERT_GT(recorded->host_exits, 0u);
  EXPECT_EQ(recorded->esn, kEndEsn);

  auto replayed = Replay(path, {});
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->run.host_exits, 0u);
  EXPECT_TRUE(replayed->complete) << Describe(*replayed);
  EXPECT_EQ(replayed->run.esn, kEndEsn);
  EXPECT_EQ(replayed->run.result, recorded->result);
}

}  // namespace
}  // namespace xv
