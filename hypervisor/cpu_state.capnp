# The CPU's state and the other values logs and checkpoint files share
# (replay/log.capnp and checkpoint/checkpoint.capnp import this file): one
# definition of each, converted in one place (cpu_state_schema.h).
#
# Evolution rules (as log.capnp): never renumber or retype a field; add
# fields at the end, with defaults that mean what an older writer meant.
@0xb8f2b3a6e3c1d047;

$import "/capnp/c++.capnp".namespace("xv::schema");

# XXH3-128 (base/hash128.h).
struct Hash128 {
  low @0 :UInt64;
  high @1 :UInt64;
}

# One CPUID leaf (hypervisor/cpuid.h).
struct CpuidEntry {
  function @0 :UInt32;
  index @1 :UInt32;
  flags @2 :UInt32;
  eax @3 :UInt32;
  ebx @4 :UInt32;
  ecx @5 :UInt32;
  edx @6 :UInt32;
}

struct GeneralRegisters {
  rax @0 :UInt64;
  rbx @1 :UInt64;
  rcx @2 :UInt64;
  rdx @3 :UInt64;
  rsi @4 :UInt64;
  rdi @5 :UInt64;
  rsp @6 :UInt64;
  rbp @7 :UInt64;
  r8 @8 :UInt64;
  r9 @9 :UInt64;
  r10 @10 :UInt64;
  r11 @11 :UInt64;
  r12 @12 :UInt64;
  r13 @13 :UInt64;
  r14 @14 :UInt64;
  r15 @15 :UInt64;
  rip @16 :UInt64;
  rflags @17 :UInt64;
}

struct DescriptorTable {
  base @0 :UInt64;
  limit @1 :UInt16;
}

struct SystemSegment {
  selector @0 :UInt16;
  base @1 :UInt64;
  limit @2 :UInt32;
}

struct Msr {
  index @0 :UInt32;
  value @1 :UInt64;
}

# hypervisor/arch_state.h: the architectural state, field by field.
struct ArchState {
  regs @0 :GeneralRegisters;
  cr0 @1 :UInt64;
  cr2 @2 :UInt64;
  cr3 @3 :UInt64;
  cr4 @4 :UInt64;
  cr8 @5 :UInt64;
  efer @6 :UInt64;
  xcr0 @7 :UInt64;
  cs @8 :UInt16;
  ds @9 :UInt16;
  es @10 :UInt16;
  fs @11 :UInt16;
  gs @12 :UInt16;
  ss @13 :UInt16;
  fsBase @14 :UInt64;
  gsBase @15 :UInt64;
  gdtr @16 :DescriptorTable;
  idtr @17 :DescriptorTable;
  ldtr @18 :SystemSegment;
  tr @19 :SystemSegment;
  fcw @20 :UInt16;
  fsw @21 :UInt16;
  ftw @22 :UInt8;
  # 8 registers of 10 bytes.
  st @23 :List(Data);
  mxcsr @24 :UInt32;
  # 16 registers of 16 bytes each.
  xmm @25 :List(Data);
  ymmHigh @26 :List(Data);
  # DR0-DR3.
  dr @27 :List(UInt64);
  dr6 @28 :UInt64;
  dr7 @29 :UInt64;
  # Every MSR of kArchMsrs, each once.
  msrs @30 :List(Msr);
  hasQueuedInterrupt @31 :Bool;
  queuedInterrupt @32 :UInt8;
  interruptShadow @33 :Bool;
}

# hypervisor/arch_state.h CpuState: ArchState and a backend's own image of
# the same state, which only that backend reads.
struct CpuState {
  arch @0 :ArchState;
  backend @1 :Text;
  blob @2 :Data;
}
