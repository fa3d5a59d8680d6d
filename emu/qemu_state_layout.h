// QemuStateLayout: where Unicorn 2.0.1 keeps the parts of QEMU's CPU state
// (CPUX86State) that its API cannot reach, found by experiment once per
// process, so the backend can read and patch them in a saved uc_context.
//
// Why: in a 64-bit engine uc_reg_write of CS/SS/DS/ES stores the selector
// only (no descriptor load; CPL never changes), and nothing reports the
// error code of the exception that UC_HOOK_INTR was given. uc_context_save
// and uc_context_restore copy CPUX86State (up to `retaddr`) verbatim, with
// nothing re-derived on restore, so patching the copy and restoring it
// loads descriptor caches and the privilege level exactly as QEMU's own
// cpu_x86_load_seg_cache would.
//
// Calibration (Get()) runs on a scratch engine: distinctive selectors,
// descriptors, TR/LDTR, DR0 and RAX written through uc_reg_write and real
// descriptor loads (FS/GS, iretq to CPL 3) and faults with known error
// codes, located in saved contexts and cross-checked against QEMU's
// struct layout; then a patched restore to CPL 3 must make `cli` fault.
// Any mismatch fails with FailedPrecondition naming what did not match:
// this libunicorn is laid out differently and the backend cannot run.
#ifndef EXTRAVIRT_EMU_QEMU_STATE_LAYOUT_H_
#define EXTRAVIRT_EMU_QEMU_STATE_LAYOUT_H_

#include <unicorn/unicorn.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hypervisor/segment_descriptor.h"

namespace xv {

// QEMU's segment register numbering for ES..GS (R_ES = 0 ...), then the
// system segments.
enum class SegReg : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kLdtr, kTr };
const char* SegRegName(SegReg reg);

// QEMU's hflags bits this file reads or recomputes (target/i386/cpu.h).
inline constexpr uint32_t kHfCplMask = 3;
inline constexpr uint32_t kHfCs32 = 1u << 4;
inline constexpr uint32_t kHfSs32 = 1u << 5;
inline constexpr uint32_t kHfAddseg = 1u << 6;
inline constexpr uint32_t kHfPe = 1u << 7;
inline constexpr uint32_t kHfLma = 1u << 14;
inline constexpr uint32_t kHfCs64 = 1u << 15;
inline constexpr uint32_t kHfMpxEn = 1u << 25;

// A segment cache's `flags` word is the descriptor's high dword (base
// 23:16 in bits 0-7, type/S/DPL/P in 8-15, limit 19:16 in 16-19,
// AVL/L/DB/G in 20-23, base 31:24 in 24-31), as QEMU's descriptor loads
// store it. An unusable segment is QEMU's null-selector cache: base 0,
// limit 0, flags holding only the DPL (what 64-bit event delivery loads
// into SS, so the CPL it implies is kept).
uint32_t QemuSegmentFlags(const SegmentDescriptor& d);
// The inverse: a descriptor from a cache. Unusable when not present with a
// null selector.
SegmentDescriptor SegmentFromQemuCache(uint16_t selector, uint64_t base,
                                       uint32_t limit, uint32_t flags);

class QemuStateLayout {
 public:
  // The layout of this process's libunicorn, calibrated by the first call
  // (thread-safe; later calls return the same answer, success or error).
  static absl::StatusOr<const QemuStateLayout*> Get();

  // The descriptor cache of `reg` (for LDTR and TR the loaded selector,
  // base, limit and attributes).
  absl::StatusOr<SegmentDescriptor> ReadSegment(uc_engine* uc,
                                                SegReg reg) const;

  // Loads the descriptor caches in `segments` in one save/patch/restore,
  // updating hflags as QEMU's cpu_x86_load_seg_cache does for each: CS
  // sets CS32/CS64 (64-bit code needs EFER.LMA), SS sets the CPL to its
  // DPL, and SS32/ADDSEG follow. An unusable descriptor must have a null
  // selector (InvalidArgument otherwise); only its selector and DPL are
  // kept. Translated code is keyed by hflags, so nothing needs flushing.
  absl::Status LoadSegments(
      uc_engine* uc,
      std::span<const std::pair<SegReg, SegmentDescriptor>> segments) const;

  // QEMU's hflags (kHf* bits), and the CPL they hold.
  absl::StatusOr<uint32_t> Hflags(uc_engine* uc) const;
  absl::StatusOr<uint8_t> Cpl(uc_engine* uc) const;

  // The error code of the last exception raised (read it in, or right
  // after, the UC_HOOK_INTR callback that reported the exception; 0 for
  // `int n` and for exceptions without one).
  absl::StatusOr<uint32_t> LastErrorCode(uc_engine* uc) const;

  // Marks the last exception as delivered. QEMU escalates a fault that
  // follows an undelivered contributory fault or #PF to #DF (and a fault
  // after #DF to a triple fault = an engine reset), and only its own
  // delivery marks one delivered: with UC_HOOK_INTR it never happens, so
  // without this call the guest's next #GP after a #GP reaches the hook as
  // #DF. Call it once the backend has delivered (or dropped) an exception.
  absl::Status ForgetException(uc_engine* uc) const;

  // Offsets in the saved context (from the start of the uc_context
  // allocation, whose size is context_size): for tests and reports.
  size_t context_size() const { return context_size_; }
  size_t env_offset() const { return env_; }
  size_t segs_offset() const { return segs_; }
  size_t hflags_offset() const { return hflags_; }
  size_t error_code_offset() const { return error_code_; }
  size_t old_exception_offset() const { return old_exception_; }

 private:
  friend class LayoutCalibration;
  QemuStateLayout() = default;

  // Offset of the SegmentCache of `reg`.
  size_t CacheOffset(SegReg reg) const;

  size_t context_size_ = 0;
  size_t env_ = 0;     // CPUX86State (regs[0] = RAX)
  size_t hflags_ = 0;  // uint32_t hflags
  size_t segs_ = 0;    // SegmentCache segs[6]; ldt, tr follow
  size_t ldt_ = 0;
  size_t tr_ = 0;
  size_t error_code_ = 0;     // int error_code
  size_t old_exception_ = 0;  // int old_exception
};

// SegmentCache {uint32_t selector; target_ulong base; uint32_t limit;
// uint32_t flags;} on x86-64.
inline constexpr size_t kQemuCacheSelector = 0;
inline constexpr size_t kQemuCacheBase = 8;
inline constexpr size_t kQemuCacheLimit = 16;
inline constexpr size_t kQemuCacheFlags = 20;
inline constexpr size_t kQemuCacheSize = 24;

}  // namespace xv

#endif  // EXTRAVIRT_EMU_QEMU_STATE_LAYOUT_H_
