#include "emu/emu_cpu.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "emu/emu_state.h"
#include "emu/idt_delivery.h"
#include "hypervisor/segment_descriptor.h"
#include "hypervisor/string_io.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kCr0Pe;
using x86::kCr0Pg;
using x86::kCr4Pae;
using x86::kEferLma;
using x86::kEferLme;
using x86::kRflagsDf;
using x86::kRflagsIf;

constexpr uint32_t kEferMsr = 0xc0000080;

// Outside guest RAM, below 4 GiB: the page the backend switches paging
// modes on (long mode is entered and left only by executing a MOV to CR0,
// which is what makes QEMU update EFER.LMA). Guest RAM must end below it.
constexpr uint64_t kTrampolineBase = 0xffff0000;
constexpr uint64_t kTrampolineSize = 0x10000;
constexpr uint64_t kTrampolinePml4 = kTrampolineBase + 0x1000;
constexpr uint64_t kTrampolinePdpt = kTrampolineBase + 0x2000;
constexpr uint64_t kTrampolinePd = kTrampolineBase + 0x3000;
// mov cr0, rax (the same bytes in 16-, 32- and 64-bit code).
constexpr uint8_t kMovCr0Rax[] = {0x0f, 0x22, 0xc0};
// uc_emu_start's `until` when exits are enabled (ignored).
constexpr uint64_t kNoUntil = 0;
// The catch-all MMIO regions above 4 GiB, up to the last page of the
// 64-bit space: 2.0.1 looks up even a non-canonical address in its memory
// map before raising #GP for it.
constexpr uint64_t kHighMmioBase = uint64_t{1} << 32;
constexpr uint64_t kTopMmioBase = uint64_t{1} << 63;
constexpr uint64_t kTopMmioEnd = ~uint64_t{0} - 0xfff;

SegmentDescriptor FlatSegment(uint16_t selector, uint8_t type) {
  SegmentDescriptor d;
  d.selector = selector;
  d.base = 0;
  d.limit = 0xffffffff;
  d.type = type;
  d.s = 1;
  d.present = 1;
  d.db = 1;
  d.g = 1;
  return d;
}

// The segments a multiboot boot loader hands over (ProtectedModeEntry),
// and the reset LDTR and TR.
std::vector<std::pair<SegReg, SegmentDescriptor>> FlatEntrySegments() {
  const SegmentDescriptor data = FlatSegment(0x10, 0x3);
  SegmentDescriptor tr;
  tr.limit = 0xffff;
  tr.type = 0xb;
  tr.present = 1;
  SegmentDescriptor ldtr;
  ldtr.limit = 0xffff;
  ldtr.type = 0x2;
  ldtr.present = 1;
  return {{SegReg::kCs, FlatSegment(0x08, 0xb)},
          {SegReg::kSs, data},
          {SegReg::kDs, data},
          {SegReg::kEs, data},
          {SegReg::kFs, data},
          {SegReg::kGs, data},
          {SegReg::kTr, tr},
          {SegReg::kLdtr, ldtr}};
}

// `value` written to a register that is `address_size` bytes wide in this
// instruction, as the CPU does: 16-bit writes keep the upper bits, 32-bit
// ones zero them.
uint64_t WriteSized(uint64_t old, uint64_t value, uint8_t address_size) {
  switch (address_size) {
    case 2:
      return (old & ~uint64_t{0xffff}) | (value & 0xffff);
    case 4:
      return value & 0xffffffff;
    default:
      return value;
  }
}

// Hook trampolines: Unicorn calls plain functions with user data.
void BlockHook(uc_engine*, uint64_t address, uint32_t size, void* cpu);
void ExitPointHook(uc_engine*, uint64_t address, uint32_t, void* cpu);
void InstructionHook(uc_engine*, uint64_t address, uint32_t, void* cpu);
void InterruptHook(uc_engine*, uint32_t vector, void* cpu);
bool InvalidInstructionHook(uc_engine*, void* cpu);
int CpuidHook(uc_engine*, void* cpu);
void WriteHook(uc_engine*, uc_mem_type, uint64_t address, int size, int64_t,
               void* cpu);
uint64_t MmioRead(uc_engine*, uint64_t offset, unsigned size, void* base);
void MmioWrite(uc_engine*, uint64_t offset, unsigned size, uint64_t value,
               void* base);

}  // namespace

// The hooks reach EmuCpu's private members through this friend-free shim.
struct EmuCpuHooks {
  static void Block(EmuCpu* c, uint64_t a, uint32_t s) { c->OnBlock(a, s); }
  static void ExitPoint(EmuCpu* c, uint64_t a) { c->OnExitPoint(a); }
  static void Instruction(EmuCpu* c, uint64_t a) { c->OnInstruction(a); }
  static void Interrupt(EmuCpu* c, uint32_t v) { c->OnInterrupt(v); }
  static bool Invalid(EmuCpu* c) { return c->OnInvalidInstruction(); }
  static int Cpuid(EmuCpu* c) { return c->OnCpuid(); }
  static void Write(EmuCpu* c, uint64_t a, int s) { c->OnGuestWrite(a, s); }
  static uint64_t Mmio(EmuCpu* c, uint64_t gpa, unsigned size, bool write,
                       uint64_t value) {
    return c->OnMmio(gpa, size, write, value);
  }
};

namespace {

void BlockHook(uc_engine*, uint64_t address, uint32_t size, void* cpu) {
  EmuCpuHooks::Block(static_cast<EmuCpu*>(cpu), address, size);
}
void ExitPointHook(uc_engine*, uint64_t address, uint32_t, void* cpu) {
  EmuCpuHooks::ExitPoint(static_cast<EmuCpu*>(cpu), address);
}
void InstructionHook(uc_engine*, uint64_t address, uint32_t, void* cpu) {
  EmuCpuHooks::Instruction(static_cast<EmuCpu*>(cpu), address);
}
void InterruptHook(uc_engine*, uint32_t vector, void* cpu) {
  EmuCpuHooks::Interrupt(static_cast<EmuCpu*>(cpu), vector);
}
bool InvalidInstructionHook(uc_engine*, void* cpu) {
  return EmuCpuHooks::Invalid(static_cast<EmuCpu*>(cpu));
}
int CpuidHook(uc_engine*, void* cpu) {
  return EmuCpuHooks::Cpuid(static_cast<EmuCpu*>(cpu));
}
void WriteHook(uc_engine*, uc_mem_type, uint64_t address, int size, int64_t,
               void* cpu) {
  EmuCpuHooks::Write(static_cast<EmuCpu*>(cpu), address, size);
}
uint64_t MmioRead(uc_engine*, uint64_t offset, unsigned size, void* region) {
  auto* r = static_cast<EmuCpu::MmioRegion*>(region);
  return EmuCpuHooks::Mmio(r->cpu, r->base + offset, size, false, 0);
}
void MmioWrite(uc_engine*, uint64_t offset, unsigned size, uint64_t value,
               void* region) {
  auto* r = static_cast<EmuCpu::MmioRegion*>(region);
  EmuCpuHooks::Mmio(r->cpu, r->base + offset, size, true, value);
}

class EmuKicker final : public CpuKicker {
 public:
  EmuKicker(std::atomic<bool>* flag, bool* bound)
      : flag_(flag), bound_(bound) {}
  ~EmuKicker() override { *bound_ = false; }
  void Kick() const override { flag_->store(true, std::memory_order_release); }

 private:
  std::atomic<bool>* flag_;
  bool* bound_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EmuCpu>> EmuCpu::Create(
    GuestMemory& memory, std::span<const CpuidLeaf> cpuid) {
  if (memory.size() > kTrampolineBase) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the emulator backend takes at most %d MiB of guest RAM (asked: %d "
        "MiB)",
        kTrampolineBase >> 20, memory.size() >> 20));
  }
  auto layout = QemuStateLayout::Get();
  if (!layout.ok()) return layout.status();
  auto uc = OpenX86Engine();
  if (!uc.ok()) return uc.status();
  auto scanner = ExitInstructionScanner::Create();
  if (!scanner.ok()) return scanner.status();
  auto cpu = std::make_unique<EmuCpu>(
      Key{}, memory, std::move(*uc), std::move(*scanner),
      std::vector<CpuidLeaf>(cpuid.begin(), cpuid.end()), *layout);
  if (absl::Status s = cpu->MapMemory(); !s.ok()) return s;
  if (absl::Status s = cpu->InstallHooks(); !s.ok()) return s;
  if (absl::Status s = cpu->Refresh(); !s.ok()) return s;
  return cpu;
}

EmuCpu::EmuCpu(Key, GuestMemory& memory, UcEngine uc,
               ExitInstructionScanner scanner, std::vector<CpuidLeaf> cpuid,
               const QemuStateLayout* layout)
    : memory_(memory),
      uc_(std::move(uc)),
      scanner_(std::move(scanner)),
      cpuid_(std::move(cpuid)),
      layout_(layout),
      guest_written_(memory.pages()),
      code_pages_(memory.pages()) {}

EmuCpu::~EmuCpu() = default;

absl::Status EmuCpu::MapMemory() {
  uc_engine* uc = uc_.get();
  if (absl::Status s =
          UcStatus(uc_mem_map_ptr(uc, 0, memory_.size(), UC_PROT_ALL,
                                  memory_.host_span().data()),
                   "map guest RAM");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = UcStatus(
          uc_mem_map(uc, kTrampolineBase, kTrampolineSize, UC_PROT_ALL),
          "map the mode-switch page");
      !s.ok()) {
    return s;
  }
  // Identity tables for the trampoline page: PML4[0] -> PDPT, PDPT[3] ->
  // PD, PD[511] -> the 2 MiB page holding it.
  const uint64_t pml4e = kTrampolinePdpt | 3;
  const uint64_t pdpte = kTrampolinePd | 3;
  const uint64_t pde = 0xffe00000 | 0x83;
  uc_mem_write(uc, kTrampolinePml4, &pml4e, sizeof pml4e);
  uc_mem_write(uc, kTrampolinePdpt + 3 * uint64_t{8}, &pdpte, sizeof pdpte);
  uc_mem_write(uc, kTrampolinePd + 511 * uint64_t{8}, &pde, sizeof pde);
  uc_mem_write(uc, kTrampolineBase, kMovCr0Rax, sizeof kMovCr0Rax);
  // Everything else is MMIO, so that QEMU's lookup of an address in its
  // memory map (done before the page walk in 2.0.1) succeeds and a guest
  // fault is raised as the architecture says rather than as UC_ERR_*.
  mmio_regions_ = {
      {{this, memory_.size()}, {this, kHighMmioBase}, {this, kTopMmioBase}}};
  const std::pair<uint64_t, uint64_t> regions[] = {
      {memory_.size(), kTrampolineBase - memory_.size()},
      {kHighMmioBase, kTopMmioBase - kHighMmioBase},
      {kTopMmioBase, kTopMmioEnd - kTopMmioBase}};
  for (size_t i = 0; i < std::size(regions); ++i) {
    if (regions[i].second == 0) continue;
    if (absl::Status s = UcStatus(
            uc_mmio_map(uc, regions[i].first, regions[i].second, MmioRead,
                        &mmio_regions_[i], MmioWrite, &mmio_regions_[i]),
            absl::StrFormat("map MMIO [0x%x, +0x%x)", regions[i].first,
                            regions[i].second));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status EmuCpu::InstallHooks() {
  uc_engine* uc = uc_.get();
  // Runs end only where a hook stops them: uc_emu_start's `until` would
  // make 2.0.1 probe the page of until-1, and a failed probe sets the
  // guest's CR2.
  if (absl::Status s =
          UcStatus(uc_ctl_exits_enable(uc), "enable exits instead of until");
      !s.ok()) {
    return s;
  }
  uc_hook h;
  if (absl::Status s =
          UcStatus(uc_hook_add(uc, &h, UC_HOOK_BLOCK,
                               reinterpret_cast<void*>(BlockHook), this, 1, 0),
                   "add the block hook");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = UcStatus(
          uc_hook_add(uc, &h, UC_HOOK_INTR,
                      reinterpret_cast<void*>(InterruptHook), this, 1, 0),
          "add the interrupt hook");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          UcStatus(uc_hook_add(uc, &h, UC_HOOK_INSN_INVALID,
                               reinterpret_cast<void*>(InvalidInstructionHook),
                               this, 1, 0),
                   "add the invalid-instruction hook");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = UcStatus(
          uc_hook_add(uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(CpuidHook),
                      this, 1, 0, UC_X86_INS_CPUID),
          "add the CPUID hook");
      !s.ok()) {
    return s;
  }
  return UcStatus(
      uc_hook_add(uc, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(WriteHook),
                  this, 0, memory_.size() - 1),
      "add the guest-write hook");
}

absl::Status EmuCpu::Refresh() {
  auto regs = ReadGeneralRegisters(uc_.get());
  if (!regs.ok()) return regs.status();
  regs_ = *regs;
  return absl::OkStatus();
}

absl::StatusOr<PagingState> EmuCpu::Paging() const {
  PagingState p;
  uc_engine* uc = uc_.get();
  for (auto [reg, field] :
       {std::pair{UC_X86_REG_CR0, &p.cr0}, std::pair{UC_X86_REG_CR3, &p.cr3},
        std::pair{UC_X86_REG_CR4, &p.cr4}}) {
    if (absl::Status s = UcStatus(uc_reg_read(uc, reg, field), "read a CR");
        !s.ok()) {
      return s;
    }
  }
  auto efer = ReadEfer(uc);
  if (!efer.ok()) return efer.status();
  p.efer = *efer;
  return p;
}

absl::StatusOr<CodeMode> EmuCpu::Mode() const {
  auto cs = layout_->ReadSegment(uc_.get(), SegReg::kCs);
  if (!cs.ok()) return cs.status();
  auto efer = ReadEfer(uc_.get());
  if (!efer.ok()) return efer.status();
  uint64_t cr0 = 0;
  uc_reg_read(uc_.get(), UC_X86_REG_CR0, &cr0);
  if (!(cr0 & kCr0Pe)) return CodeMode::k16;
  if ((*efer & kEferLma) && cs->l) return CodeMode::k64;
  return cs->db ? CodeMode::k32 : CodeMode::k16;
}

// ---- Hooks (called inside uc_emu_start) ----------------------------------

void EmuCpu::RequestStop(const Stop& stop) {
  if (stop_.kind != Stop::Kind::kNone) return;  // the first reason wins
  stop_ = stop;
  uc_emu_stop(uc_.get());
}

void EmuCpu::OnBlock(uint64_t address, uint32_t size) {
  if (kicked_.load(std::memory_order_acquire)) {
    RequestStop({.kind = Stop::Kind::kKick});
    return;
  }
  if (address >= memory_.size() || size == 0) return;  // the trampoline
  // This runs at every block executed: a direct-mapped cache of blocks
  // known to be scanned answers most calls without the hash map.
  const uint64_t key = address << 16 | (size & 0xffff);
  uint64_t& seen =
      recently_seen_[(address ^ (address >> 12)) % recently_seen_.size()];
  if (seen == key) return;
  auto known = scanned_blocks_.find(address);
  if (known != scanned_blocks_.end() && known->second >= size) {
    seen = key;
    return;
  }
  auto paging = Paging();
  auto mode = Mode();
  if (!paging.ok() || !mode.ok()) return;  // faults when it runs
  std::vector<uint8_t> code(size);
  auto read = ReadLinear(*paging, memory_, address, code);
  if (!read.ok()) return;
  code.resize(*read);
  scanned_blocks_[address] = static_cast<uint32_t>(size);
  for (uint64_t page = address / kPageSize;
       page <= (address + size - 1) / kPageSize && page < memory_.pages();
       ++page) {
    scanned_by_page_[page].push_back(address);
    code_pages_.Set(page);
  }
  bool added = false;
  for (const ExitInstruction& insn : scanner_.Scan(address, code, *mode)) {
    if (exit_points_.contains(insn.address)) continue;
    uc_hook hook = 0;
    if (uc_hook_add(uc_.get(), &hook, UC_HOOK_CODE,
                    reinterpret_cast<void*>(ExitPointHook), this, insn.address,
                    insn.address) != UC_ERR_OK) {
      continue;  // caught by the exit hooks' absence: see Run()
    }
    exit_points_[insn.address] = {insn, hook};
    added = true;
  }
  if (added) {
    // Adding a hook does not retranslate code: drop this block and run it
    // again so that the new hooks are in it.
    uc_ctl_remove_cache(uc_.get(), address, address + size);
    RequestStop({.kind = Stop::Kind::kRescan});
  }
}

void EmuCpu::OnExitPoint(uint64_t address) {
  if (!exit_points_.contains(address)) return;  // forgotten code
  RequestStop({.kind = Stop::Kind::kExitInstruction, .rip = address});
}

void EmuCpu::OnInstruction(uint64_t address) {
  // Every stop here comes before `address` begins: Unicorn checks the stop
  // request right after the code hooks and leaves RIP at the instruction.
  auto stop_for = [this](DebugStop why) {
    RequestStop({.kind = Stop::Kind::kDebug, .debug = why});
  };
  if (watch_hit_) {
    const uint64_t written = *watch_hit_;
    watch_hit_.reset();
    stop_for({.kind = DebugStop::Kind::kWatchpoint, .address = written});
    return;
  }
  if (limit_ && retired_ >= *limit_) {
    stop_for({.kind = DebugStop::Kind::kLimit});
    return;
  }
  if (!breakpoints_.empty() && breakpoints_.contains(address) &&
      !(run_starting_ && address == run_start_rip_)) {
    stop_for({.kind = DebugStop::Kind::kBreakpoint, .address = address});
    return;
  }
  run_starting_ = false;
  ++retired_;
}

void EmuCpu::OnInterrupt(uint32_t vector) {
  uint64_t rip = 0;
  uc_reg_read(uc_.get(), UC_X86_REG_RIP, &rip);
  RequestStop({.kind = Stop::Kind::kEvent, .rip = rip, .vector = vector});
}

bool EmuCpu::OnInvalidInstruction() {
  uint64_t rip = 0;
  uc_reg_read(uc_.get(), UC_X86_REG_RIP, &rip);
  RequestStop({.kind = Stop::Kind::kInvalidOpcode, .rip = rip});
  return false;
}

int EmuCpu::OnCpuid() {
  uc_engine* uc = uc_.get();
  uint64_t rax = 0, rcx = 0;
  uc_reg_read(uc, UC_X86_REG_RAX, &rax);
  uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
  const uint32_t function = static_cast<uint32_t>(rax);
  const uint32_t index = static_cast<uint32_t>(rcx);
  CpuidLeaf out;
  for (const CpuidLeaf& leaf : cpuid_) {
    if (leaf.function == function &&
        (!(leaf.flags & kCpuidSubleafSignificant) || leaf.index == index)) {
      out = leaf;
      break;
    }
  }
  uint64_t a = out.eax, b = out.ebx, c = out.ecx, d = out.edx;
  uc_reg_write(uc, UC_X86_REG_RAX, &a);
  uc_reg_write(uc, UC_X86_REG_RBX, &b);
  uc_reg_write(uc, UC_X86_REG_RCX, &c);
  uc_reg_write(uc, UC_X86_REG_RDX, &d);
  return 1;  // handled: Unicorn skips its own CPUID
}

void EmuCpu::OnGuestWrite(uint64_t address, int size) {
  const uint64_t end = address + static_cast<uint64_t>(size);
  if (!watchpoints_.empty() && !watch_hit_) {
    for (const LinearRange& w : watchpoints_) {
      if (address < w.end && w.begin < end) {
        watch_hit_ = std::max(address, w.begin);
        break;
      }
    }
  }
  for (uint64_t page = address / kPageSize;
       page <= (end - 1) / kPageSize && page < memory_.pages(); ++page) {
    guest_written_.Set(page);
    if (code_pages_.Test(page)) ForgetCodeAt(address, end - address);
  }
}

uint64_t EmuCpu::OnMmio(uint64_t gpa, unsigned size, bool write,
                        uint64_t value) {
  (void)value;
  uint64_t rip = 0;
  uc_reg_read(uc_.get(), UC_X86_REG_RIP, &rip);
  RequestStop({.kind = Stop::Kind::kMmio,
               .rip = rip,
               .mmio_gpa = gpa,
               .mmio_write = write,
               .mmio_size = size});
  return ~uint64_t{0};
}

void EmuCpu::ForgetCodeAt(uint64_t gpa, uint64_t len) {
  recently_seen_.fill(kNotSeen);
  // Blocks overlapping [gpa, gpa + len): their exit points may be gone or
  // moved; QEMU retranslates them, and the block hook scans them again.
  const uint64_t end = gpa + len;
  for (uint64_t page = gpa / kPageSize;
       page <= (end - 1) / kPageSize && page < memory_.pages(); ++page) {
    auto it = scanned_by_page_.find(page);
    if (it == scanned_by_page_.end()) continue;
    std::vector<uint64_t>& starts = it->second;
    for (size_t i = 0; i < starts.size();) {
      const uint64_t start = starts[i];
      auto block = scanned_blocks_.find(start);
      const uint64_t block_end =
          block == scanned_blocks_.end() ? start : start + block->second;
      if (block_end <= gpa || start >= end) {
        ++i;
        continue;
      }
      for (uint64_t a = start; a < block_end; ++a) {
        auto point = exit_points_.find(a);
        if (point == exit_points_.end()) continue;
        hooks_to_delete_.push_back(point->second.hook);
        exit_points_.erase(point);
      }
      if (block != scanned_blocks_.end()) scanned_blocks_.erase(block);
      starts[i] = starts.back();
      starts.pop_back();
    }
    if (starts.empty()) {
      scanned_by_page_.erase(it);
      code_pages_.Reset(page);
    }
  }
}

// ---- Running -------------------------------------------------------------

CpuExit EmuCpu::Failure(ExitKind kind, std::string what) const {
  CpuExit exit;
  exit.kind = kind;
  uint64_t rip = 0;
  uc_reg_read(uc_.get(), UC_X86_REG_RIP, &rip);
  std::string bytes = "unreadable";
  if (auto paging = Paging(); paging.ok()) {
    uint8_t code[16];
    if (auto n = ReadLinear(*paging, memory_, rip, code); n.ok() && *n > 0) {
      bytes = absl::StrJoin(std::span<const uint8_t>(code, *n), " ",
                            [](std::string* out, uint8_t b) {
                              absl::StrAppendFormat(out, "%02x", b);
                            });
    }
  }
  exit.detail = absl::StrFormat("%s (emulator, RIP 0x%x, bytes at RIP: %s)",
                                what, rip, bytes);
  return exit;
}

absl::StatusOr<CpuExit> EmuCpu::Run() {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  if (kicked_.exchange(false, std::memory_order_acq_rel)) {
    CpuExit exit;
    exit.kind = ExitKind::kHostInterrupt;
    return exit;
  }
  if (queued_interrupt_) {
    const uint8_t vector = *queued_interrupt_;
    queued_interrupt_.reset();
    auto delivered =
        Deliver({.vector = vector, .kind = EventKind::kExternalInterrupt});
    if (!delivered.ok()) return delivered.status();
    if (delivered->has_value()) return std::move(**delivered);
  }
  uc_engine* uc = uc_.get();
  run_starting_ = true;
  run_start_rip_ = regs_.rip;
  for (;;) {
    stop_ = {};
    uint64_t rip = 0;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    translated_code_ = true;
    const uc_err err = uc_emu_start(uc, rip, kNoUntil, 0, 0);
    for (uc_hook h : hooks_to_delete_) uc_hook_del(uc, h);
    hooks_to_delete_.clear();
    absl::StatusOr<std::optional<CpuExit>> outcome = std::nullopt;
    switch (stop_.kind) {
      case Stop::Kind::kRescan:
        continue;
      case Stop::Kind::kKick:
        kicked_.store(false, std::memory_order_release);
        outcome = CpuExit{.kind = ExitKind::kHostInterrupt};
        break;
      case Stop::Kind::kDebug:
        debug_stop_ = stop_.debug;
        outcome = CpuExit{.kind = ExitKind::kHostInterrupt};
        break;
      case Stop::Kind::kExitInstruction:
        outcome = ExitAt(stop_.rip);
        break;
      case Stop::Kind::kEvent:
        outcome = DeliverFault(stop_);
        break;
      case Stop::Kind::kInvalidOpcode:
        outcome = DeliverInvalidOpcode(stop_.rip);
        break;
      case Stop::Kind::kMmio:
        outcome = Failure(
            ExitKind::kUnsupported,
            absl::StrFormat("MMIO %s of %d bytes at guest-physical 0x%x, "
                            "outside guest RAM: the emulator backend has no "
                            "MMIO exits",
                            stop_.mmio_write ? "write" : "read",
                            stop_.mmio_size, stop_.mmio_gpa));
        break;
      case Stop::Kind::kNone:
        outcome = Failure(
            ExitKind::kInternalError,
            err != UC_ERR_OK
                ? absl::StrFormat("Unicorn stopped: %s", uc_strerror(err))
                : std::string("Unicorn stopped for no reason the backend "
                              "knows (an exit instruction it missed?)"));
        break;
    }
    if (!outcome.ok()) return outcome.status();
    if (!outcome->has_value()) continue;
    if (absl::Status s = Refresh(); !s.ok()) return s;
    if (absl::Status s = MarkSegmentsAccessed(); !s.ok()) return s;
    return std::move(**outcome);
  }
}

absl::StatusOr<std::optional<CpuExit>> EmuCpu::ExitAt(uint64_t rip) {
  auto point = exit_points_.find(rip);
  if (point == exit_points_.end()) return std::optional<CpuExit>();
  if (absl::Status s = Refresh(); !s.ok()) return s;
  const ExitInstruction insn = point->second.insn;
  if (insn.kind == ExitInstruction::Kind::kHlt) {
    regs_.rip += insn.length;
    if (absl::Status s = WriteGeneralRegisters(uc_.get(), regs_); !s.ok()) {
      return s;
    }
    return std::optional<CpuExit>(CpuExit{.kind = ExitKind::kHlt});
  }
  auto paging = Paging();
  if (!paging.ok()) return paging.status();
  auto mode = Mode();
  if (!mode.ok()) return mode.status();
  uint8_t bytes[15];
  auto n = ReadLinear(*paging, memory_, rip, bytes);
  if (!n.ok()) return n.status();
  const std::optional<IoInstruction> io =
      DecodeIoInstruction({bytes, *n}, *mode);
  if (!io) {
    return std::optional<CpuExit>(Failure(
        ExitKind::kInternalError,
        "the port I/O instruction the block scan found does not decode"));
  }
  return StartPortIo(*io);
}

absl::StatusOr<std::optional<CpuExit>> EmuCpu::StartPortIo(
    const IoInstruction& io) {
  const uint64_t remaining =
      io.rep ? MaskToAddressSize(regs_.rcx, io.address_size) : 1;
  if (remaining == 0) {
    // A REP string instruction with nothing to do: no exit (string_io.h).
    regs_.rip += io.length;
    if (absl::Status s = WriteGeneralRegisters(uc_.get(), regs_); !s.ok()) {
      return s;
    }
    return std::optional<CpuExit>();
  }
  uint64_t elements = 1;
  if (io.in && io.string && io.rep) {
    elements = InsBatchElements(
        remaining, MaskToAddressSize(regs_.rdi, io.address_size),
        (regs_.rflags & kRflagsDf) != 0, io.element_size);
  }
  CpuExit exit;
  exit.kind = ExitKind::kPio;
  exit.io.port = io.port_in_dx ? static_cast<uint16_t>(regs_.rdx & 0xffff)
                               : io.immediate_port;
  exit.io.size = io.element_size;
  exit.io.in = io.in;
  exit.io.count = static_cast<uint32_t>(elements);
  exit.io.data =
      std::span<uint8_t>(io_data_.data(), elements * io.element_size);
  std::fill(exit.io.data.begin(), exit.io.data.end(), 0);
  if (io.in) {
    // Carried out when settled, once the handler has supplied the data.
    open_ = {.io = io, .elements = elements, .settled = false};
    return std::optional<CpuExit>(std::move(exit));
  }
  if (!io.string) {
    std::memcpy(exit.io.data.data(), &regs_.rax, io.element_size);
    regs_.rip += io.length;
  } else {
    // DS:RSI (flat: the guests this backend runs have DS base 0).
    auto paging = Paging();
    if (!paging.ok()) return paging.status();
    const uint64_t src = MaskToAddressSize(regs_.rsi, io.address_size);
    auto n = ReadLinear(*paging, memory_, src, exit.io.data);
    if (!n.ok() || *n != exit.io.data.size()) {
      return std::optional<CpuExit>(
          Failure(ExitKind::kInternalError,
                  absl::StrFormat("OUTS source 0x%x is not in guest RAM (the "
                                  "emulator does not fault string I/O)",
                                  src)));
    }
    if (absl::Status s = AdvanceStringRegisters(io, 1); !s.ok()) return s;
  }
  open_ = {};
  if (absl::Status s = WriteGeneralRegisters(uc_.get(), regs_); !s.ok()) {
    return s;
  }
  return std::optional<CpuExit>(std::move(exit));
}

absl::Status EmuCpu::AdvanceStringRegisters(const IoInstruction& io,
                                            uint64_t elements) {
  const uint64_t bytes = elements * io.element_size;
  const bool down = (regs_.rflags & kRflagsDf) != 0;
  uint64_t& pointer = io.in ? regs_.rdi : regs_.rsi;
  pointer = WriteSized(pointer, down ? pointer - bytes : pointer + bytes,
                       io.address_size);
  bool done = true;
  if (io.rep) {
    const uint64_t left =
        MaskToAddressSize(regs_.rcx, io.address_size) - elements;
    regs_.rcx = WriteSized(regs_.rcx, left, io.address_size);
    done = left == 0;
  }
  if (done) regs_.rip += io.length;
  return absl::OkStatus();
}

absl::Status EmuCpu::SettleExit() {
  if (open_.settled) return absl::OkStatus();
  const IoInstruction io = open_.io;
  if (!io.string) {
    uint64_t value = 0;
    std::memcpy(&value, io_data_.data(), io.element_size);
    // As KVM completes an IN: AL/AX merge, EAX replaces all of RAX.
    regs_.rax =
        io.element_size == 4
            ? value
            : (regs_.rax & ~((uint64_t{1} << (8 * io.element_size)) - 1)) |
                  value;
    regs_.rip += io.length;
  } else {
    const bool down = (regs_.rflags & kRflagsDf) != 0;
    const uint64_t rdi = MaskToAddressSize(regs_.rdi, io.address_size);
    for (uint64_t i = 0; i < open_.elements; ++i) {
      const uint64_t at =
          down ? rdi - i * io.element_size : rdi + i * io.element_size;
      if (absl::Status s = WriteLinear(
              at, std::span<const uint8_t>(
                      io_data_.data() + i * io.element_size, io.element_size));
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = AdvanceStringRegisters(io, open_.elements); !s.ok()) {
      return s;
    }
  }
  open_.settled = true;
  return WriteGeneralRegisters(uc_.get(), regs_);
}

absl::Status EmuCpu::WriteLinear(uint64_t linear,
                                 std::span<const uint8_t> data) {
  auto paging = Paging();
  if (!paging.ok()) return paging.status();
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t at = linear + done;
    auto gpa = TranslateLinear(*paging, memory_, at);
    if (!gpa.ok()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("emulator: guest linear 0x%x is not mapped (%s)", at,
                          gpa.status().message()));
    }
    const size_t chunk =
        std::min<size_t>(data.size() - done, kPageSize - (at % kPageSize));
    if (*gpa + chunk > memory_.size()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "emulator: guest linear 0x%x is outside guest RAM", at));
    }
    // The CPU's write, not the VMM's: straight into RAM (GuestMemory
    // counts its own writes as the VMM's).
    std::memcpy(memory_.host_span().data() + *gpa, data.data() + done, chunk);
    OnGuestWrite(*gpa, static_cast<int>(chunk));
    uc_ctl_remove_cache(uc_.get(), at, at + chunk);
    done += chunk;
  }
  return absl::OkStatus();
}

absl::Status EmuCpu::MarkSegmentsAccessed() {
  // A CPU sets the accessed bit of a descriptor whenever it loads a
  // segment register from it; QEMU does not for CS and SS on far
  // transfers (ljmp, lret, iret). So, once per newly loaded selector, the
  // backend sets it at the next exit: by every rendezvous the GDT reads as
  // on hardware.
  uc_engine* uc = uc_.get();
  uint64_t cs = 0, ss = 0;
  uc_x86_mmr gdtr{};
  if (uc_reg_read(uc, UC_X86_REG_CS, &cs) != UC_ERR_OK ||
      uc_reg_read(uc, UC_X86_REG_SS, &ss) != UC_ERR_OK ||
      uc_reg_read(uc, UC_X86_REG_GDTR, &gdtr) != UC_ERR_OK) {
    return absl::InternalError("emulator: cannot read CS, SS or GDTR");
  }
  const LoadedSelectors now{gdtr.base, gdtr.limit, static_cast<uint16_t>(cs),
                            static_cast<uint16_t>(ss)};
  if (now == accessed_marked_) return absl::OkStatus();
  auto paging = Paging();
  if (!paging.ok()) return paging.status();
  if (!(paging->cr0 & kCr0Pe)) return absl::OkStatus();
  for (uint16_t selector : {now.cs, now.ss}) {
    if ((selector & ~3u) == 0 || (selector & 4) ||
        (selector | 7u) > now.gdt_limit) {
      continue;
    }
    const uint64_t at = now.gdt_base + (selector & ~7u) + 5;  // access byte
    uint8_t access = 0;
    auto n = ReadLinear(*paging, memory_, at, {&access, 1});
    if (!n.ok() || *n != 1) continue;
    // Only code and data descriptors (S=1) have an accessed bit.
    if ((access & 0x10) && !(access & 0x01)) {
      access |= 0x01;
      if (absl::Status s = WriteLinear(at, {&access, 1}); !s.ok()) return s;
    }
  }
  accessed_marked_ = now;
  return absl::OkStatus();
}

// ---- Interrupts ------------------------------------------------------------

bool EmuCpu::CanTakeInterrupt() const {
  // Exits stop in front of their instruction, which the backend then
  // carries out itself: an interrupt shadow (STI; HLT) has always ended by
  // the time the exit is reported.
  return (regs_.rflags & kRflagsIf) != 0;
}

absl::Status EmuCpu::QueueInterrupt(uint8_t vector) {
  if (!CanTakeInterrupt()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "emulator: interrupt 0x%x queued while the guest cannot take it "
        "(IF=0)",
        vector));
  }
  queued_interrupt_ = vector;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CpuExit>> EmuCpu::DeliverFault(const Stop& stop) {
  // Unicorn reports `int n` with RIP past it and a fault with RIP at the
  // faulting instruction; the bytes before RIP tell the two apart.
  bool software = false;
  if (auto paging = Paging(); paging.ok() && stop.rip >= 2) {
    uint8_t before[2] = {0, 0};
    if (auto n = ReadLinear(*paging, memory_, stop.rip - 2, before);
        n.ok() && *n == 2) {
      software = (before[0] == 0xcd && before[1] == stop.vector) ||
                 (stop.vector == 3 && before[1] == 0xcc) ||
                 (stop.vector == 4 && before[1] == 0xce);
    }
  }
  Event event{
      .vector = static_cast<uint8_t>(stop.vector),
      .kind = software ? EventKind::kSoftwareInterrupt : EventKind::kException};
  if (!software && ExceptionHasErrorCode(event.vector)) {
    auto code = layout_->LastErrorCode(uc_.get());
    if (!code.ok()) return code.status();
    event.error_code = *code;
  }
  if (absl::Status s = layout_->ForgetException(uc_.get()); !s.ok()) return s;
  if (absl::Status s = UcStatus(
          uc_reg_write(uc_.get(), UC_X86_REG_RIP, &stop.rip), "write RIP");
      !s.ok()) {
    return s;
  }
  return Deliver(event);
}

absl::StatusOr<std::optional<CpuExit>> EmuCpu::DeliverInvalidOpcode(
    uint64_t rip) {
  if (absl::Status s =
          UcStatus(uc_reg_write(uc_.get(), UC_X86_REG_RIP, &rip), "write RIP");
      !s.ok()) {
    return s;
  }
  auto paging = Paging();
  auto mode = Mode();
  if (!paging.ok()) return paging.status();
  if (!mode.ok()) return mode.status();
  uint8_t bytes[15];
  auto n = ReadLinear(*paging, memory_, rip, bytes);
  if (n.ok()) {
    const std::optional<std::string> name =
        scanner_.DescribeUnexecutable({bytes, *n}, *mode);
    if (name) {
      // A real instruction the emulated CPU lacks: not the guest's #UD.
      return std::optional<CpuExit>(
          Failure(ExitKind::kInternalError,
                  absl::StrFormat("unsupported instruction '%s'", *name)));
    }
  }
  return Deliver({.vector = 6, .kind = EventKind::kException});
}

// ---- Registers and state -------------------------------------------------

absl::Status EmuCpu::ModifyRegs(
    absl::FunctionRef<void(GeneralRegisters&)> change) {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  change(regs_);
  return WriteGeneralRegisters(uc_.get(), regs_);
}

absl::StatusOr<CpuState> EmuCpu::CaptureState() {
  if (absl::Status s = SettleExit(); !s.ok()) return s;
  auto arch = ReadArchState(uc_.get());
  if (!arch.ok()) return arch.status();
  arch->queued_interrupt = queued_interrupt_;
  arch->interrupt_shadow = false;
  // No blob: everything the emulator needs is in ArchState (the descriptor
  // caches are rebuilt from the GDT, as for any state without one).
  return CpuState{.arch = *std::move(arch), .backend = "emu", .blob = {}};
}

absl::Status EmuCpu::SwitchLongMode(bool on) {
  // QEMU updates EFER.LMA only when a MOV to CR0 changes CR0.PG with
  // EFER.LME set, so that is what the backend executes, on the trampoline
  // page with its own identity tables; the caller then writes the real
  // control registers.
  uc_engine* uc = uc_.get();
  uint64_t cr0 = 0;
  if (absl::Status s = UcStatus(uc_reg_read(uc, UC_X86_REG_CR0, &cr0), "CR0");
      !s.ok()) {
    return s;
  }
  const uint64_t cr4 = kCr4Pae;
  const uint64_t cr3 = kTrampolinePml4;
  uc_x86_msr efer{kEferMsr, kEferLme};
  const uint64_t from = on ? (cr0 | kCr0Pe) & ~kCr0Pg : cr0 | kCr0Pe | kCr0Pg;
  const uint64_t to = on ? from | kCr0Pg : from & ~kCr0Pg;
  const uint64_t rip = kTrampolineBase;
  for (auto [reg, value, what] : {std::tuple{UC_X86_REG_CR4, &cr4, "CR4"},
                                  std::tuple{UC_X86_REG_CR3, &cr3, "CR3"},
                                  std::tuple{UC_X86_REG_CR0, &from, "CR0"},
                                  std::tuple{UC_X86_REG_RAX, &to, "RAX"}}) {
    if (absl::Status s = UcStatus(uc_reg_write(uc, reg, value), what);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          UcStatus(uc_reg_write(uc, UC_X86_REG_MSR, &efer), "EFER");
      !s.ok()) {
    return s;
  }
  // The trampoline must run as CPL 0 code of the current mode.
  stop_ = {};
  uint64_t end = rip + sizeof kMovCr0Rax;
  if (absl::Status s =
          UcStatus(uc_ctl_set_exits(uc, &end, 1), "set the trampoline's exit");
      !s.ok()) {
    return s;
  }
  const uc_err err = uc_emu_start(uc, rip, kNoUntil, 0, 0);
  if (absl::Status s =
          UcStatus(uc_ctl_set_exits(uc, nullptr, 0), "clear the exits");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          UcStatus(err, on ? "enter long mode" : "leave long mode");
      !s.ok()) {
    return s;
  }
  auto now = ReadEfer(uc);
  if (!now.ok()) return now.status();
  if (((*now & kEferLma) != 0) != on) {
    return absl::InternalError(absl::StrFormat(
        "emulator: could not %s long mode (EFER 0x%x after MOV CR0)",
        on ? "enter" : "leave", *now));
  }
  return absl::OkStatus();
}

absl::Status EmuCpu::Apply(
    const ArchState& arch,
    std::span<const std::pair<SegReg, SegmentDescriptor>> segments) {
  uc_engine* uc = uc_.get();
  open_ = {};
  queued_interrupt_ = arch.queued_interrupt;
  auto efer = ReadEfer(uc);
  if (!efer.ok()) return efer.status();
  const bool long_mode = (arch.efer & kEferLma) != 0;
  if (((*efer & kEferLma) != 0) != long_mode) {
    // CPL 0 flat code to run the trampoline in.
    const SegmentDescriptor code = long_mode ? FlatSegment(0x08, 0xb) : [] {
      SegmentDescriptor d = FlatSegment(0x08, 0xb);
      d.l = 1;
      d.db = 0;
      return d;
    }();
    const std::pair<SegReg, SegmentDescriptor> cpl0[] = {
        {SegReg::kCs, code}, {SegReg::kSs, FlatSegment(0x10, 0x3)}};
    if (absl::Status s = layout_->LoadSegments(uc, cpl0); !s.ok()) return s;
    if (absl::Status s = SwitchLongMode(long_mode); !s.ok()) return s;
  }
  for (auto [reg, value, what] :
       {std::tuple{UC_X86_REG_CR0, &arch.cr0, "CR0"},
        std::tuple{UC_X86_REG_CR4, &arch.cr4, "CR4"},
        std::tuple{UC_X86_REG_CR3, &arch.cr3, "CR3"}}) {
    if (absl::Status s = UcStatus(uc_reg_write(uc, reg, value), what);
        !s.ok()) {
      return s;
    }
  }
  uc_x86_msr efer_msr{kEferMsr, arch.efer};
  if (absl::Status s =
          UcStatus(uc_reg_write(uc, UC_X86_REG_MSR, &efer_msr), "EFER");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = layout_->LoadSegments(uc, segments); !s.ok()) return s;
  if (absl::Status s = WriteArchRegisters(uc, arch); !s.ok()) return s;
  // Code translated for the old state is keyed by flags QEMU recomputes,
  // but RAM may hold other code now: drop what was translated from it, and
  // the exit points with it. (Not uc_ctl_flush_tlb: in 2.0.1 that is
  // tb_flush, which clears the whole 1 GiB code buffer, touching all of
  // it.)
  uc_ctl_remove_cache(uc, 0, memory_.size());
  ForgetCodeAt(0, memory_.size());
  for (uc_hook h : hooks_to_delete_) uc_hook_del(uc, h);
  hooks_to_delete_.clear();
  return Refresh();
}

absl::Status EmuCpu::EnterProtectedMode(const ProtectedModeEntry& entry) {
  ArchState arch;  // the reset state, as KVM's vCPU starts
  arch.cr0 |= kCr0Pe;
  arch.cs = 0x08;
  arch.ds = arch.es = arch.fs = arch.gs = arch.ss = 0x10;
  arch.regs.rip = entry.eip;
  arch.regs.rax = entry.eax;
  arch.regs.rbx = entry.ebx;
  arch.regs.rsp = entry.esp;
  arch.regs.rflags = 0x2;
  return Apply(arch, FlatEntrySegments());
}

absl::Status EmuCpu::RestoreState(const CpuState& state) {
  const ArchState& arch = state.arch;
  if (!(arch.cr0 & kCr0Pe)) {
    return absl::UnimplementedError(
        "emulator: restoring a real-mode CPU state is not supported");
  }
  if (arch.gdtr == DescriptorTable{} && !(arch.cr0 & kCr0Pg) &&
      arch.cs == 0x08 && arch.ss == 0x10) {
    // No GDT was ever loaded (GDTR still has its reset value): the state
    // of a boot loader's hand-over, whose flat segments come from no
    // descriptor (ProtectedModeEntry); a checkpoint at ESN 0 is one.
    if (absl::Status s = Apply(arch, FlatEntrySegments()); !s.ok()) return s;
    return CheckRestored(arch);
  }
  std::vector<std::pair<SegReg, SegmentDescriptor>> segments;
  const std::tuple<SegReg, uint16_t, bool, const char*> loads[] = {
      {SegReg::kCs, arch.cs, false, "CS"}, {SegReg::kSs, arch.ss, true, "SS"},
      {SegReg::kDs, arch.ds, true, "DS"},  {SegReg::kEs, arch.es, true, "ES"},
      {SegReg::kFs, arch.fs, true, "FS"},  {SegReg::kGs, arch.gs, true, "GS"}};
  for (auto [reg, selector, data, name] : loads) {
    auto d = LoadSegmentDescriptor(selector, data, arch, memory_, name);
    if (!d.ok()) return d.status();
    segments.emplace_back(reg, *d);
  }
  auto tr = LoadSystemSegmentDescriptor(arch.tr, arch, memory_, "TR", 0xb);
  if (!tr.ok()) return tr.status();
  segments.emplace_back(SegReg::kTr, *tr);
  auto ldtr =
      LoadSystemSegmentDescriptor(arch.ldtr, arch, memory_, "LDTR", 0x2);
  if (!ldtr.ok()) return ldtr.status();
  segments.emplace_back(SegReg::kLdtr, *ldtr);
  if (absl::Status s = Apply(arch, segments); !s.ok()) return s;
  return CheckRestored(arch);
}

absl::Status EmuCpu::CheckRestored(const ArchState& arch) {
  auto now = CaptureState();
  if (!now.ok()) return now.status();
  if (now->arch != arch) {
    return absl::DataLossError(absl::StrFormat(
        "the emulator did not take the CPU state as given (%s differs)",
        FirstArchFieldDifference(arch, now->arch)));
  }
  return absl::OkStatus();
}

// ---- Memory ----------------------------------------------------------------

void EmuCpu::MarkPagingStructures(DirtyBitmap& pages) const {
  // QEMU's page walker sets accessed and dirty bits with plain stores no
  // hook sees: count every table the walk can reach as written.
  auto paging = Paging();
  if (!paging.ok() || !(paging->cr0 & kCr0Pg)) return;
  const bool four_level = (paging->efer & kEferLma) != 0;
  auto mark = [&](uint64_t gpa) {
    if (gpa < memory_.size()) pages.Set(gpa / kPageSize);
  };
  constexpr uint64_t kAddr = 0x000ffffffffff000;
  if (!four_level && !(paging->cr4 & kCr4Pae)) {
    // 32-bit paging: the directory and its page tables (not 4 MiB pages).
    const uint64_t pd = paging->cr3 & 0xfffff000;
    mark(pd);
    if (pd + kPageSize > memory_.size()) return;
    const auto* pde =
        reinterpret_cast<const uint32_t*>(memory_.PageData(pd / kPageSize));
    for (int i = 0; i < 1024; ++i) {
      const bool large = (pde[i] & 0x80) && (paging->cr4 & (1u << 4));
      if ((pde[i] & 1) && !large) mark(pde[i] & 0xfffff000);
    }
    return;
  }
  auto entries = [&](uint64_t table) -> std::span<const uint64_t> {
    if (table + kPageSize > memory_.size()) return {};
    return {
        reinterpret_cast<const uint64_t*>(memory_.PageData(table / kPageSize)),
        512};
  };
  // A page directory's tables (not 2 MiB pages).
  auto mark_directory = [&](uint64_t pd) {
    mark(pd);
    for (uint64_t e2 : entries(pd)) {
      if ((e2 & 1) && !(e2 & 0x80)) mark(e2 & kAddr);
    }
  };
  if (!four_level) {
    // PAE: four PDPTEs at CR3 (32-byte aligned), each a directory.
    const uint64_t pdpt = paging->cr3 & 0xffffffe0;
    mark(pdpt);
    if (pdpt + 32 > memory_.size()) return;
    uint64_t pdpte[4];
    std::memcpy(pdpte, memory_.host_span().data() + pdpt, sizeof pdpte);
    for (uint64_t e3 : pdpte) {
      if (e3 & 1) mark_directory(e3 & kAddr);
    }
    return;
  }
  const uint64_t pml4 = paging->cr3 & kAddr;
  mark(pml4);
  for (uint64_t e4 : entries(pml4)) {
    if (!(e4 & 1)) continue;
    mark(e4 & kAddr);
    for (uint64_t e3 : entries(e4 & kAddr)) {
      if ((e3 & 1) && !(e3 & 0x80)) mark_directory(e3 & kAddr);
    }
  }
}

absl::Status EmuCpu::TakeGuestWrites(DirtyBitmap& pages) {
  pages.Merge(guest_written_);
  guest_written_.Clear();
  MarkPagingStructures(pages);
  return absl::OkStatus();
}

void EmuCpu::NoteVmmWrite(uint64_t gpa, uint64_t len) {
  if (len == 0) return;
  uc_ctl_remove_cache(uc_.get(), gpa, gpa + len);
  ForgetCodeAt(gpa, len);
  for (uc_hook h : hooks_to_delete_) uc_hook_del(uc_.get(), h);
  hooks_to_delete_.clear();
}

absl::StatusOr<uint64_t> EmuCpu::Translate(uint64_t linear) const {
  auto paging = Paging();
  if (!paging.ok()) return paging.status();
  return TranslateLinear(*paging, memory_, linear);
}

absl::StatusOr<uint64_t> EmuCpu::LinearRip() const {
  auto mode = Mode();
  if (!mode.ok()) return mode.status();
  if (*mode == CodeMode::k64) return regs_.rip;
  auto cs = layout_->ReadSegment(uc_.get(), SegReg::kCs);
  if (!cs.ok()) return cs.status();
  return (cs->base + (regs_.rip & 0xffffffff)) & 0xffffffff;
}

absl::StatusOr<InstructionControl*> EmuCpu::EnableInstructionControl() {
  if (counting_) return this;
  uc_engine* uc = uc_.get();
  // Unicorn calls code hooks in the order they were added and skips the
  // rest once one stops. The counting hook must come first, so that it
  // sees an exit instruction before the exit hook stops in front of it:
  // the exit hooks made so far go, and the blocks are scanned again.
  ForgetCodeAt(0, memory_.size());
  for (uc_hook h : hooks_to_delete_) uc_hook_del(uc, h);
  hooks_to_delete_.clear();
  uc_hook h = 0;
  if (absl::Status s = UcStatus(
          uc_hook_add(uc, &h, UC_HOOK_CODE,
                      reinterpret_cast<void*>(InstructionHook), this, 1, 0),
          "add the instruction-counting hook");
      !s.ok()) {
    return s;
  }
  // Code translated before the hook existed would not call it, so it must
  // go, all of it: uc_ctl_flush_tlb (tb_flush in 2.0.1). That clears the
  // whole 1 GiB code buffer, which costs ~0.15 s and touches all of it, so
  // only an engine that has translated code pays it; a machine just booted
  // or restored from a snapshot (every reverse-stepi) has none.
  // (uc_ctl_remove_cache would not do: it translates its start through the
  // guest's page tables, and does nothing when that page is unmapped.)
  if (translated_code_) {
    if (absl::Status s =
            UcStatus(uc_ctl_flush_tlb(uc), "flush the translated code");
        !s.ok()) {
      return s;
    }
  }
  counting_ = true;
  return this;
}

void EmuCpu::set_breakpoints(std::vector<uint64_t> linear_addresses) {
  breakpoints_ = absl::flat_hash_set<uint64_t>(linear_addresses.begin(),
                                               linear_addresses.end());
}

std::optional<DebugStop> EmuCpu::TakeStop() {
  std::optional<DebugStop> stop = debug_stop_;
  debug_stop_.reset();
  return stop;
}

absl::StatusOr<std::unique_ptr<CpuKicker>> EmuCpu::BindKicker() {
  if (kicker_bound_) {
    return absl::FailedPreconditionError(
        "emulator: a kicker is already bound to this CPU");
  }
  kicker_bound_ = true;
  return std::unique_ptr<CpuKicker>(
      std::make_unique<EmuKicker>(&kicked_, &kicker_bound_));
}

bool EmuCpu::GatePresent(const PagingState& paging, const uc_x86_mmr& idtr,
                         uint8_t vector) const {
  // An 8-byte protected-mode gate; P is bit 7 of its sixth byte.
  if (idtr.limit < vector * 8u + 7) return false;
  uint8_t access = 0;
  auto n =
      ReadLinear(paging, memory_, idtr.base + vector * 8u + 5, {&access, 1});
  return n.ok() && *n == 1 && (access & 0x80) != 0;
}

absl::StatusOr<std::optional<CpuExit>> EmuCpu::Deliver(const Event& event) {
  uc_engine* uc = uc_.get();
  if (absl::Status s = Refresh(); !s.ok()) return s;
  auto paging = Paging();
  if (!paging.ok()) return paging.status();
  auto cpl = layout_->Cpl(uc);
  if (!cpl.ok()) return cpl.status();
  auto cs = layout_->ReadSegment(uc, SegReg::kCs);
  if (!cs.ok()) return cs.status();
  auto ss = layout_->ReadSegment(uc, SegReg::kSs);
  if (!ss.ok()) return ss.status();
  uc_x86_mmr idtr{}, gdtr{}, tr{};
  for (auto [reg, into] :
       {std::pair{UC_X86_REG_IDTR, &idtr}, std::pair{UC_X86_REG_GDTR, &gdtr},
        std::pair{UC_X86_REG_TR, &tr}}) {
    if (absl::Status s = UcStatus(uc_reg_read(uc, reg, into),
                                  "read a descriptor-table register");
        !s.ok()) {
      return s;
    }
  }
  const DeliveryState state{
      .regs = regs_,
      .cpl = *cpl,
      .cs = *cs,
      .ss = *ss,
      .idtr = {idtr.base, static_cast<uint16_t>(idtr.limit)},
      .gdtr = {gdtr.base, static_cast<uint16_t>(gdtr.limit)},
      .tr = {tr.selector, tr.base, tr.limit},
      .cr0 = paging->cr0,
      .cr4 = paging->cr4,
      .efer = paging->efer};
  // The frame is the CPU's write: counted with the guest's own, and code
  // translated from those pages (if any) dropped.
  GuestLinearMemory memory(memory_, *paging, [this](uint64_t page) {
    guest_written_.Set(page);
    if (code_pages_.Test(page)) ForgetCodeAt(page * kPageSize, kPageSize);
  });
  if (!(paging->efer & kEferLma) && !GatePresent(*paging, idtr, event.vector) &&
      !GatePresent(*paging, idtr, 8)) {
    // Outside long mode the backend delivers nothing (idt_delivery.h), but
    // with no present gate for the event nor for #DF the outcome is
    // architectural anyway: #NP or #GP, then #DF, then a triple fault.
    CpuExit exit;
    exit.kind = ExitKind::kShutdown;
    exit.detail = absl::StrFormat(
        "vector %d with no IDT gate for it or for #DF (IDT at 0x%x, limit "
        "0x%x): triple fault",
        event.vector, idtr.base, idtr.limit);
    return std::optional<CpuExit>(std::move(exit));
  }
  auto result = DeliverEvent(event, state, memory);
  if (!result.ok()) {
    return std::optional<CpuExit>(
        Failure(ExitKind::kInternalError,
                absl::StrFormat("cannot deliver vector %d: %s", event.vector,
                                result.status().message())));
  }
  if (result->shutdown) {
    CpuExit exit;
    exit.kind = ExitKind::kShutdown;
    exit.detail = result->shutdown_reason;
    return std::optional<CpuExit>(std::move(exit));
  }
  if (result->cr2) {
    if (absl::Status s =
            UcStatus(uc_reg_write(uc, UC_X86_REG_CR2, &*result->cr2), "CR2");
        !s.ok()) {
      return s;
    }
  }
  const std::pair<SegReg, SegmentDescriptor> segments[] = {
      {SegReg::kCs, result->cs}, {SegReg::kSs, result->ss}};
  if (absl::Status s = layout_->LoadSegments(uc, segments); !s.ok()) return s;
  regs_ = result->regs;
  if (absl::Status s = WriteGeneralRegisters(uc, regs_); !s.ok()) return s;
  return std::optional<CpuExit>();
}

}  // namespace xv
