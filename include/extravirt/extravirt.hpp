// extravirt.hpp: the C++ API of libextravirt — header-only RAII classes
// over the stable C API (extravirt.h), so that C++ programs link the same
// libextravirt.so.0 and see the same ABI. C++17; nothing in it but
// extravirt.h and the standard library (no Abseil, no Cap'n Proto, no
// exceptions: every call returns a Status or a Result).
//
// Semantics, errors, thread-safety and the record/replay contract are those
// of the C functions each method names; read extravirt.h. Objects are
// move-only and release their handle when destroyed; a moved-from object
// holds no handle, and using it returns XV_E_BAD_HANDLE (never a crash).
//
//   auto guest = extravirt::Guest::Create("hello.elf");
//   if (!guest.ok()) { std::cerr << guest.status().message(); return 1; }
//   guest->SetBackend("emu");
//   auto run = guest->Record("hello.xvlog");
//   auto replay = extravirt::Replay("hello.xvlog");
//   bool verified = replay.ok() && replay->verdict == XV_VERDICT_VERIFIED;
#ifndef EXTRAVIRT_HPP_
#define EXTRAVIRT_HPP_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "extravirt/extravirt.h"

namespace extravirt {

// A C struct with its struct_size set and every other field zero.
template <typename T>
T Init() {
  T value{};
  value.struct_size = static_cast<uint32_t>(sizeof(T));
  return value;
}

// XV_OK, or an error code with the message xv_last_error() gave for it.
class Status {
 public:
  Status() = default;
  Status(xv_status code, std::string message)
      : code_(code), message_(std::move(message)) {}
  // The status of a C call that just returned `code` on this thread.
  static Status FromCall(xv_status code) {
    return code == XV_OK ? Status() : Status(code, xv_last_error());
  }

  bool ok() const { return code_ == XV_OK; }
  xv_status code() const { return code_; }
  // "XV_E_BAD_HANDLE: xv_run: the handle is NULL"; "" when ok.
  std::string ToString() const {
    return ok() ? "" : std::string(xv_status_name(code_)) + ": " + message_;
  }
  const std::string& message() const { return message_; }

 private:
  xv_status code_ = XV_OK;
  std::string message_;
};

// A value, or the Status that says why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: as above
    if (status_.ok()) status_ = Status(XV_E_INTERNAL, "Result without value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // Only when ok().
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

namespace internal {

// Owns one handle of a C type; `Destroy` is its xv_*_destroy.
template <typename Handle, xv_status (*Destroy)(Handle*)>
class Owned {
 public:
  Owned() = default;
  explicit Owned(Handle* handle) : handle_(handle) {}
  Owned(Owned&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      Destroy(handle_);
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { Destroy(handle_); }

  Handle* get() const { return handle_; }

 private:
  Handle* handle_ = nullptr;
};

// `code` first, then `value` (a reference: read only after the call that
// filled it returned, whatever the order the arguments were evaluated in).
template <typename T>
Result<T> ValueOr(xv_status code, const T& value) {
  if (code != XV_OK) return Status::FromCall(code);
  return value;
}

}  // namespace internal

// xv_hash_bytes.
inline Result<xv_hash128> HashBytes(const void* data, size_t size) {
  xv_hash128 out{};
  return internal::ValueOr(xv_hash_bytes(data, size, &out), out);
}

// 32 hex digits (xv_hash_to_hex).
inline std::string ToHex(const xv_hash128& hash) {
  char buf[33] = {};
  xv_hash_to_hex(&hash, buf, sizeof buf);
  return buf;
}

// xv_hasher_*.
class Hasher {
 public:
  static Result<Hasher> Create() {
    xv_hasher* h = nullptr;
    if (xv_status s = xv_hasher_create(&h); s != XV_OK) {
      return Status::FromCall(s);
    }
    return Hasher(h);
  }
  Status Update(const void* data, size_t size) {
    return Status::FromCall(xv_hasher_update(h_.get(), data, size));
  }
  template <typename T>
  Status UpdateValue(const T& value) {
    return Update(&value, sizeof value);
  }
  Result<xv_hash128> Digest() const {
    xv_hash128 out{};
    return internal::ValueOr(xv_hasher_digest(h_.get(), &out), out);
  }

 private:
  explicit Hasher(xv_hasher* h) : h_(h) {}
  internal::Owned<xv_hasher, xv_hasher_destroy> h_;
};

// A guest description (xv_guest_*) and the runs made from it.
class Guest {
 public:
  using SerialWriter = std::function<void(const uint8_t* bytes, size_t size)>;

  static Result<Guest> Create(const std::string& kernel_path) {
    xv_guest* g = nullptr;
    if (xv_status s = xv_guest_create(kernel_path.c_str(), &g); s != XV_OK) {
      return Status::FromCall(s);
    }
    return Guest(g);
  }

  Status SetMemory(uint64_t bytes) {
    return Status::FromCall(xv_guest_set_memory(g_.get(), bytes));
  }
  Status SetCmdline(const std::string& cmdline) {
    return Status::FromCall(xv_guest_set_cmdline(g_.get(), cmdline.c_str()));
  }
  Status SetDisk(const std::string& image_path) {
    return Status::FromCall(xv_guest_set_disk(g_.get(), image_path.c_str()));
  }
  Status SetBackend(const std::string& backend) {
    return Status::FromCall(xv_guest_set_backend(g_.get(), backend.c_str()));
  }
  Status SetTimeout(double seconds) {
    return Status::FromCall(xv_guest_set_timeout(g_.get(), seconds));
  }
  Status SetSerialFds(int in_fd, int out_fd) {
    return Status::FromCall(xv_guest_set_serial_fds(g_.get(), in_fd, out_fd));
  }
  // Called on the running thread with the bytes the guest sends; an empty
  // function removes it.
  Status SetSerialWriter(SerialWriter writer) {
    *writer_ = std::move(writer);
    return Status::FromCall(xv_guest_set_serial_callback(
        g_.get(), *writer_ ? &Guest::CallWriter : nullptr, writer_.get()));
  }

  Result<xv_run_result> Run() const {
    auto r = Init<xv_run_result>();
    return internal::ValueOr(xv_run(g_.get(), &r), r);
  }
  Result<xv_run_result> Record(const std::string& log_path,
                               uint64_t checkpoint_interval = 0) const {
    auto r = Init<xv_run_result>();
    return internal::ValueOr(
        xv_record(g_.get(), log_path.c_str(), checkpoint_interval, &r), r);
  }
  // `options` as xv_replicate takes it (Init<xv_replicate_options>()).
  Result<xv_replicate_result> Replicate(
      const xv_replicate_options& options) const {
    auto r = Init<xv_replicate_result>();
    return internal::ValueOr(xv_replicate(g_.get(), &options, &r), r);
  }

 private:
  explicit Guest(xv_guest* g)
      : g_(g), writer_(std::make_unique<SerialWriter>()) {}
  static void CallWriter(void* opaque, const uint8_t* bytes, size_t size) {
    (*static_cast<SerialWriter*>(opaque))(bytes, size);
  }
  internal::Owned<xv_guest, xv_guest_destroy> g_;
  // Where the C callback finds the function: stable across moves.
  std::unique_ptr<SerialWriter> writer_;
};

// xv_replay. `options` may be omitted (backend auto, the whole log).
inline Result<xv_replay_result> Replay(
    const std::string& log_path,
    const xv_replay_options& options = Init<xv_replay_options>()) {
  auto r = Init<xv_replay_result>();
  return internal::ValueOr(xv_replay(log_path.c_str(), &options, &r), r);
}

// Recording from a VMM's own vCPU loop (xv_recorder_*).
class Recorder {
 public:
  static Result<Recorder> Create(const std::string& path,
                                 const xv_recorded_machine& machine,
                                 uint64_t checkpoint_interval = 0) {
    xv_recorder* r = nullptr;
    if (xv_status s =
            xv_recorder_create(path.c_str(), &machine, checkpoint_interval, &r);
        s != XV_OK) {
      return Status::FromCall(s);
    }
    return Recorder(r);
  }
  Status Input(uint64_t esn, const xv_input& input) {
    return Status::FromCall(xv_recorder_input(r_.get(), esn, &input));
  }
  Status Output(uint64_t esn, const xv_output& output) {
    return Status::FromCall(xv_recorder_output(r_.get(), esn, &output));
  }
  Result<bool> CheckpointDue(uint64_t esn) {
    int due = 0;
    const xv_status s = xv_recorder_checkpoint_due(r_.get(), esn, &due);
    return internal::ValueOr(s, due != 0);
  }
  Status Rendezvous(uint64_t esn, const std::optional<xv_hash128>& hash) {
    return Status::FromCall(xv_recorder_rendezvous(
        r_.get(), esn, hash.has_value() ? &*hash : nullptr));
  }
  Status Finish(const xv_run_end& end) {
    return Status::FromCall(xv_recorder_finish(r_.get(), &end));
  }

 private:
  explicit Recorder(xv_recorder* r) : r_(r) {}
  internal::Owned<xv_recorder, xv_recorder_destroy> r_;
};

// An input handed back by Replayer::RemainingInputs, owning its bytes.
struct ReplayedInput {
  xv_input_kind kind = XV_INPUT_CLOCK_ADVANCE;
  uint64_t value = 0;
  std::vector<uint8_t> data;
  uint64_t address = 0;
  uint8_t size = 0;
  bool is_mmio = false;
};

// Replaying in a VMM's own vCPU loop (xv_replayer_*). A call returning
// XV_E_DIVERGED means the replay disagreed with the recording: Divergence()
// says where and what.
class Replayer {
 public:
  static Result<Replayer> Open(const std::string& path) {
    xv_replayer* r = nullptr;
    if (xv_status s = xv_replayer_open(path.c_str(), &r); s != XV_OK) {
      return Status::FromCall(s);
    }
    return Replayer(r);
  }
  // Its pointers live as long as this replayer.
  Result<xv_recorded_machine> Machine() const {
    auto m = Init<xv_recorded_machine>();
    return internal::ValueOr(xv_replayer_machine(r_.get(), &m), m);
  }
  Status CheckInitialState(const xv_hash128& hash) {
    return Status::FromCall(xv_replayer_check_initial_state(r_.get(), &hash));
  }
  Result<bool> StopHere(uint64_t esn) {
    int stop = 0;
    const xv_status s = xv_replayer_stop_here(r_.get(), esn, &stop);
    return internal::ValueOr(s, stop != 0);
  }
  // Loads exit `esn`'s inputs; returns how many are loaded.
  Result<size_t> InputsAt(uint64_t esn) {
    size_t count = 0;
    return internal::ValueOr(xv_replayer_inputs_at(r_.get(), esn, &count),
                             count);
  }
  Result<uint64_t> TakeBoundaryRead(uint64_t esn, uint64_t address,
                                    uint8_t size, bool is_mmio = false) {
    uint64_t value = 0;
    return internal::ValueOr(
        xv_replayer_take_boundary_read(r_.get(), esn, address, size,
                                       is_mmio ? 1 : 0, &value),
        value);
  }
  // The loaded inputs not taken yet, in recorded order (they are taken).
  Result<std::vector<ReplayedInput>> RemainingInputs() {
    std::vector<ReplayedInput> inputs;
    for (;;) {
      auto in = Init<xv_input>();
      int has = 0;
      if (xv_status s = xv_replayer_next_input(r_.get(), &in, &has);
          s != XV_OK) {
        return Status::FromCall(s);
      }
      if (!has) return inputs;
      ReplayedInput copy;
      copy.kind = in.kind;
      copy.value = in.value;
      if (in.data_size != 0) copy.data.assign(in.data, in.data + in.data_size);
      copy.address = in.address;
      copy.size = in.size;
      copy.is_mmio = in.is_mmio != 0;
      inputs.push_back(std::move(copy));
    }
  }
  Status Output(uint64_t esn, const xv_output& output) {
    return Status::FromCall(xv_replayer_output(r_.get(), esn, &output));
  }
  Result<bool> CheckpointDue(uint64_t esn) {
    int due = 0;
    const xv_status s = xv_replayer_checkpoint_due(r_.get(), esn, &due);
    return internal::ValueOr(s, due != 0);
  }
  Status Rendezvous(uint64_t esn, const std::optional<xv_hash128>& hash) {
    return Status::FromCall(xv_replayer_rendezvous(
        r_.get(), esn, hash.has_value() ? &*hash : nullptr));
  }
  Status StuckHalted(uint64_t esn) {
    return Status::FromCall(xv_replayer_stuck_halted(r_.get(), esn));
  }
  Status ReportDivergence(uint64_t esn, const std::string& what,
                          const std::string& expected,
                          const std::string& actual) {
    return Status::FromCall(xv_replayer_report_divergence(
        r_.get(), esn, what.c_str(), expected.c_str(), actual.c_str()));
  }
  // True: the whole recording replayed and everything matched.
  Result<bool> Finish(const xv_run_end& end) {
    int complete = 0;
    const xv_status s = xv_replayer_finish(r_.get(), &end, &complete);
    return internal::ValueOr(s, complete != 0);
  }
  // The divergence, if the replay diverged (nullopt also for a bad handle).
  std::optional<xv_divergence> Divergence() const {
    auto d = Init<xv_divergence>();
    int diverged = 0;
    if (xv_replayer_divergence(r_.get(), &d, &diverged) != XV_OK || !diverged) {
      return std::nullopt;
    }
    return d;
  }

 private:
  explicit Replayer(xv_replayer* r) : r_(r) {}
  internal::Owned<xv_replayer, xv_replayer_destroy> r_;
};

}  // namespace extravirt

#endif  // EXTRAVIRT_HPP_
