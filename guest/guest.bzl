"""guest_kernel(): a multiboot v1 guest kernel built from the guest SDK.

Bazel's cc rules add host flags (PIC, stack protector, sanitizer and
debug-prefix options, ...) that break freestanding kernels, so a genrule
runs the host gcc with the fixed flags below. The output is byte-for-byte
reproducible: no absolute paths, timestamps or build ids end up in the
image, and its DWARF names sources relative to the workspace root.
"""

_GCC = "/usr/bin/gcc"
_OBJCOPY = "/usr/bin/objcopy"

_COMMON_FLAGS = [
    "-std=gnu11",
    "-ffreestanding",
    "-fno-pic",
    "-fno-pie",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-common",
    # With --gc-sections, an image keeps only the SDK code it uses.
    "-ffunction-sections",
    "-fdata-sections",
    # gcc would turn the byte loops in memmove/memcmp into calls to
    # themselves.
    "-fno-tree-loop-distribute-patterns",
    # Baseline x86-64: the CPUID the VM reports lacks SSE3 (KVM-NOTES.md).
    "-march=x86-64",
    "-mtune=generic",
    "-O2",
    # DWARF (gdb, `xvirt inspect`). -g changes no code: the loaded bytes are
    # the same with and without it. The execroot's absolute path varies
    # (sandboxes, output bases), so it becomes "." (DW_AT_comp_dir and the
    # line table's directory 0); sources are named relative to it already.
    "-g",
    "\"-ffile-prefix-map=$$(pwd)=.\"",
    # A version 1 CIE in .debug_frame has no address size, so gdb reads its
    # addresses with the ELF class's (4 bytes in the ELF32 image) and cannot
    # unwind; a version 4 CIE says 8.
    "-Wa,--gdwarf-cie-version=4",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Iguest/sdk/include",
]

# CPL0 code never touches SSE state (handlers save no FPU state) and runs
# on the kernel stack, where interrupts and exceptions may push at any time.
_CPL0_FLAGS = _COMMON_FLAGS + [
    "-mgeneral-regs-only",
    "-mno-red-zone",
]

# CPL3 code may use SSE2 (CR4.OSFXSR is set); interrupts from CPL3 switch
# to the kernel stack, so the red zone is safe.
_CPL3_FLAGS = _COMMON_FLAGS

_LINK_FLAGS = [
    "-nostdlib",
    "-static",
    "-no-pie",
    "-Wl,--build-id=none",
    "-Wl,--gc-sections",
    "-Wl,-z,max-page-size=0x1000",
    "-Wl,-z,noexecstack",
    "-Wl,--no-warn-rwx-segments",
]

_SDK_CPL0_SRCS = "//guest/sdk:cpl0_srcs"
_SDK_CPL3_SRCS = "//guest/sdk:cpl3_srcs"
_SDK_AUTO_VRO_SRCS = "//guest/sdk:auto_vro_srcs"
_SDK_HEADERS = ["//guest/sdk:headers", "//guest/sdk:internal_headers"]
_LINKER_SCRIPT = "//guest/sdk:kernel/kernel.ld.S"

def _compile_commands(label, flags):
    # $(locations) keeps the label's order, so the link order (and the
    # image) is stable.
    return [
        "for src in $(locations %s); do" % label,
        "  obj=\"$$tmp/$$((n = n + 1)).o\"",
        "  %s %s -c \"$$src\" -o \"$$obj\"" % (_GCC, " ".join(flags)),
        "  objs=\"$$objs $$obj\"",
        "done",
    ]

def guest_kernel(
        name,
        srcs,
        cpl0_srcs = [],
        hdrs = [],
        copts = [],
        auto_vro = False,
        **kwargs):
    """Builds `<name>.elf`, an ELF32 multiboot kernel running `srcs` at CPL3.

    Also `<name>_debug`: `<name>.debug.elf`, the same image as ELF64, for gdb.

    Args:
      name: target name; the output is `<name>.elf`.
      srcs: workload C/assembly sources, run at CPL3. One of them defines
        `int xv_main(void)`.
      cpl0_srcs: workload sources holding functions for xv_run_cpl0(); built
        with general registers only and no red zone.
      hdrs: workload headers (the package directory is on the include path).
      copts: extra compiler flags for `srcs`.
      auto_vro: compile `srcs` with -finstrument-functions and rendezvous
        with the VMM every XV_AUTO_VRO_CALLS calls (see xv/vro.h).
      **kwargs: testonly, visibility, tags, ...
    """
    include_package = "-I" + (native.package_name() or ".")
    testonly = kwargs.get("testonly", False)

    # $(locations) needs a label per (non-empty) source list.
    cpl3_group = "_%s_cpl3_srcs" % name
    native.filegroup(name = cpl3_group, srcs = srcs, testonly = testonly)
    cpl0_group = "_%s_cpl0_srcs" % name
    cpl0_groups = []
    if cpl0_srcs:
        native.filegroup(name = cpl0_group, srcs = cpl0_srcs, testonly = testonly)
        cpl0_groups = [":" + cpl0_group]

    workload_flags = _CPL3_FLAGS + [include_package] + copts
    if auto_vro:
        workload_flags = workload_flags + ["-finstrument-functions"]
    cmd = [
        "set -eu",
        "tmp=$$(mktemp -d)",
        "trap 'rm -rf \"$$tmp\"' EXIT",
        "n=0",
        "objs=",
    ]
    cmd += _compile_commands(_SDK_CPL0_SRCS, _CPL0_FLAGS)
    cmd += _compile_commands(_SDK_CPL3_SRCS, _CPL3_FLAGS)
    if auto_vro:
        cmd += _compile_commands(_SDK_AUTO_VRO_SRCS, _CPL3_FLAGS)
    for group in cpl0_groups:
        cmd += _compile_commands(group, _CPL0_FLAGS + [include_package])
    cmd += _compile_commands(":" + cpl3_group, workload_flags)
    cmd += [
        "%s -E -P -x c -Iguest/sdk/kernel $(location %s) -o \"$$tmp/kernel.ld\"" % (
            _GCC,
            _LINKER_SCRIPT,
        ),
        "%s %s -T \"$$tmp/kernel.ld\" -o \"$$tmp/kernel64.elf\" $$objs -lgcc" % (
            _GCC,
            " ".join(_LINK_FLAGS),
        ),
        # Multiboot loaders take 32-bit ELF only; the 64-bit code inside is
        # just bytes to them.
        "%s -O elf32-i386 \"$$tmp/kernel64.elf\" $@" % _OBJCOPY,
    ]
    native.genrule(
        name = name,
        srcs = [
            _SDK_CPL0_SRCS,
            _SDK_CPL3_SRCS,
            _SDK_AUTO_VRO_SRCS,
            _LINKER_SCRIPT,
            ":" + cpl3_group,
        ] + cpl0_groups + _SDK_HEADERS + hdrs,
        outs = [name + ".elf"],
        cmd = "\n".join(cmd),
        message = "Building guest kernel %s.elf" % name,
        **kwargs
    )

    # The same image as ELF64 for gdb. Given the ELF32 file, gdb reads the
    # DWARF (lines, locals, unwinding) right once told `set architecture
    # i386:x86-64`, but analyses prologues as i386 code: a breakpoint on a
    # function stays at its first instruction, before the arguments are
    # where the DWARF says. The ELF64 copy needs no `set architecture`.
    debug_kwargs = {
        k: v
        for k, v in kwargs.items()
        if k in ("testonly", "visibility", "tags", "target_compatible_with")
    }
    native.genrule(
        name = name + "_debug",
        srcs = [":" + name],
        outs = [name + ".debug.elf"],
        cmd = "%s -I elf32-i386 -O elf64-x86-64 $< $@" % _OBJCOPY,
        message = "Converting guest kernel %s.elf to ELF64 for gdb" % name,
        **debug_kwargs
    )
