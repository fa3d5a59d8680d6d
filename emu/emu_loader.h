// Loads the emulator backend from libxvirt_emu.so at run time, so that
// nothing but that shared object links Unicorn (GPLv2): KVM-only users
// never need it installed.
#ifndef EXTRAVIRT_EMU_EMU_LOADER_H_
#define EXTRAVIRT_EMU_EMU_LOADER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv {

// The file name the loader looks for.
inline constexpr char kEmuLibraryName[] = "libxvirt_emu.so";

// Opens the emulator backend ("emu") from libxvirt_emu.so: $XVIRT_EMU_LIBRARY
// when set (and then only there); else the first that exists of the running
// program's Bazel runfiles (<exe>.runfiles, $RUNFILES_DIR, $TEST_SRCDIR:
// extravirt/emu/libxvirt_emu.so), the program's directory, <exe dir>/../emu
// (bazel-bin) and <exe dir>/../lib/xvirt (an install). The library stays
// loaded for the rest of the process (the objects returned run its code).
// The error is one line: the paths tried, or dlopen's reason (naming the
// package to install when Unicorn itself is missing), or the backend's own
// refusal.
absl::StatusOr<std::unique_ptr<Hypervisor>> LoadEmuHypervisor();

}  // namespace xv

#endif  // EXTRAVIRT_EMU_EMU_LOADER_H_
