// Test doubles for the sinks front-ends drive: they record everything, so
// tests can assert on IRQ edges and outputs.
#ifndef EXTRAVIRT_DEVICES_TEST_SINKS_H_
#define EXTRAVIRT_DEVICES_TEST_SINKS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "devices/irq_sink.h"
#include "devices/output_sink.h"

namespace xv {

class RecordingIrqSink : public IrqSink {
 public:
  void SetIrqLevel(int irq, bool level) override {
    if (level && !levels[irq]) ++rising_edges[irq];
    levels[irq] = level;
    calls.push_back({irq, level});
  }
  // Forgets the counts, keeps the levels.
  void ClearCounts() {
    rising_edges.fill(0);
    calls.clear();
  }

  struct Call {
    int irq;
    bool level;
    friend bool operator==(const Call&, const Call&) = default;
  };
  std::array<bool, 16> levels{};
  std::array<int, 16> rising_edges{};
  std::vector<Call> calls;
};

struct RecordedOutput {
  OutputKind kind;
  std::string device;
  uint64_t arg = 0;
  uint32_t count = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const RecordedOutput&,
                         const RecordedOutput&) = default;
};

class RecordingOutputSink : public OutputSink {
 public:
  void Emit(const DeviceOutput& o) override {
    outputs.push_back(RecordedOutput{o.kind,
                                     std::string(o.device),
                                     o.arg,
                                     o.count,
                                     {o.data.begin(), o.data.end()}});
  }
  // Bytes of every kSerialTx so far, as a string.
  std::string SerialText() const {
    std::string s;
    for (const RecordedOutput& o : outputs) {
      if (o.kind == OutputKind::kSerialTx)
        s.append(o.data.begin(), o.data.end());
    }
    return s;
  }
  std::vector<RecordedOutput> outputs;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_TEST_SINKS_H_
