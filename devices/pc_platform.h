// PcPlatform: the set of PC device front-ends one replica owns, wired
// together the way a PC is: 8259A pair (0x20/0xa0, cascade on IRQ2), 8254 PIT
// (0x40-0x43, IRQ0; port 0x61 gate/speaker), CMOS RTC (0x70/0x71, IRQ8),
// 16550A UART (0x3f8-0x3ff, IRQ4), ATA PIO primary channel (0x1f0-0x1f7,
// 0x3f6, IRQ14), isa-debug-exit (0xf4), VRO (0x80), plus the virtual clock.
//
// This is the whole deterministic device side of a replica: the machine
// forwards port exits here, applies inputs through the methods below, asks
// which interrupt to inject, and saves/loads/hashes the state of all
// front-ends through front_ends().
#ifndef EXTRAVIRT_DEVICES_PC_PLATFORM_H_
#define EXTRAVIRT_DEVICES_PC_PLATFORM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "devices/front_end.h"
#include "devices/output_sink.h"
#include "devices/virtual_clock.h"

namespace xv {

struct PcPlatformConfig {
  // Capacity of the ATA disk on the primary master; 0 means no disk.
  uint64_t disk_sectors = 0;
  // Wall-clock time (UTC, seconds since the Unix epoch) the RTC shows at
  // virtual time 0.
  int64_t rtc_epoch_seconds = 0;
};

inline constexpr uint16_t kDebugExitPort = 0xf4;
inline constexpr uint16_t kVroPort = 0x80;

class PcPlatform {
 public:
  // `sink` receives every output; it must outlive the platform.
  PcPlatform(const PcPlatformConfig& config, OutputSink* sink);
  ~PcPlatform();
  PcPlatform(const PcPlatform&) = delete;
  PcPlatform& operator=(const PcPlatform&) = delete;

  // A guest port access. Returns the front-end that claimed the port, or
  // nullptr: unclaimed ports read as all ones and ignore writes, as on a PC.
  const FrontEnd* PioRead(uint16_t port, std::span<uint8_t> data);
  const FrontEnd* PioWrite(uint16_t port, std::span<const uint8_t> data);

  // --- Inputs (DESIGN §2), applied between exits. ---
  // Moves virtual time forward and lets the timers raise their IRQs.
  void AdvanceClockTo(uint64_t ns);
  // Bytes arriving at the UART. At most SerialRxFree() are accepted; the
  // caller delivers the rest later, so nothing is ever dropped by overrun.
  // (Bytes beyond SerialRxFree() overrun the receiver, LSR.OE, as on a real
  // UART: deterministic, but lost.)
  size_t SerialRxFree() const;
  void SerialReceive(std::span<const uint8_t> bytes);
  // Answer to a kDiskReadRequest: `data` holds count*512 bytes from `lba`.
  // Returns an error if no such read is outstanding (a corrupt input).
  // Requests are answered in the order they were emitted.
  absl::Status DiskReadCompleted(uint64_t lba, std::span<const uint8_t> data);
  // The back-end could not read the oldest outstanding request starting at
  // `lba`: the guest's command fails with an uncorrectable-data error.
  absl::Status DiskReadFailed(uint64_t lba);

  // --- Interrupts (userspace irqchip, DESIGN §2). ---
  // True when the PIC pair would assert INTR to the CPU.
  bool InterruptPending() const;
  // The CPU's interrupt acknowledge cycle: returns the vector to inject and
  // updates IRR/ISR (or does the automatic EOI). Call only when
  // InterruptPending() and the vCPU can take it.
  uint8_t AcknowledgeInterrupt();

  // Earliest virtual time at which a timer raises an interrupt the CPU can
  // receive (its IRQ unmasked in the PIC pair), if any. Deadlines of masked
  // lines do not count: they cannot wake a halted guest, and an idle guest
  // whose only timer is masked waits for input alone.
  std::optional<uint64_t> NextDeadlineNs() const;
  const VirtualClock& clock() const { return clock_; }

  // Every front-end, in a fixed order (state blobs and hashes rely on it):
  // pic, pit, rtc, uart0, ata0, debug_exit, vro.
  // The virtual clock's time is saved separately (SaveClock/LoadClock).
  std::vector<FrontEnd*> front_ends();
  std::vector<const FrontEnd*> front_ends() const;
  uint64_t SaveClock() const { return clock_.now_ns(); }
  void LoadClock(uint64_t ns) { clock_.Restore(ns); }

 private:
  struct Devices;
  VirtualClock clock_;
  std::unique_ptr<Devices> devices_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_PC_PLATFORM_H_
