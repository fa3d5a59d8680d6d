// DeviceOutput / OutputSink: everything a front-end sends out of the replica
// (DESIGN §2): bytes transmitted, disk writes with their data, the value
// written to debug-exit, and requests that a back-end must answer with an
// input (disk reads). The sink decides what happens to them: a plain run
// hands them to back-ends, a recorder also digests them, a replayer compares
// them, a replica's output gate holds them until verified.
#ifndef EXTRAVIRT_DEVICES_OUTPUT_SINK_H_
#define EXTRAVIRT_DEVICES_OUTPUT_SINK_H_

#include <cstdint>
#include <span>
#include <string_view>

namespace xv {

enum class OutputKind : uint8_t {
  kSerialTx,         // data: bytes transmitted (one per THR write)
  kDiskWrite,        // arg: LBA; data: whole sectors written
  kDiskReadRequest,  // arg: LBA; count: sectors. Answered by an input.
  kDebugExit,        // arg: value written; the run ends at this exit.
};

std::string_view OutputKindName(OutputKind kind);

struct DeviceOutput {
  OutputKind kind;
  std::string_view device;  // FrontEnd::name() of the emitter
  uint64_t arg = 0;
  uint32_t count = 0;
  // Valid only during OutputSink::Emit(); copy what must outlive it.
  std::span<const uint8_t> data;
};

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void Emit(const DeviceOutput& output) = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_OUTPUT_SINK_H_
