"""Compiles Cap'n Proto schemas to C++ with Debian's `capnp` (no download)."""

def capnp_cc_library(name, srcs, deps = [], imports = [], visibility = None, testonly = False):
    """A cc_library holding the C++ generated from `srcs` (*.capnp files).

    The schemas may import each other, Cap'n Proto's own schemas
    (/usr/include/capnp/*.capnp), which `capnp` finds by itself, and the
    schemas listed in `imports` (labels of .capnp files of other packages,
    whose capnp_cc_library goes into `deps`), by a path relative to the
    importing file ("../hypervisor/cpu_state.capnp"): the generated C++ then
    includes their headers by the same relative path.
    """
    outs_h = [s + ".h" for s in srcs]
    outs_cc = [s + ".c++" for s in srcs]
    native.genrule(
        name = name + "_capnp_gen",
        srcs = srcs + imports,
        outs = outs_h + outs_cc,
        # Each output lands under $(GENDIR) at its source's workspace path,
        # as declared. (A --src-prefix would forbid relative imports that
        # leave the package.)
        cmd = ("capnp compile --no-standard-import -I/usr/include " +
               "-oc++:$(GENDIR) {srcs}").format(
            srcs = " ".join(["$(location %s)" % s for s in srcs]),
        ),
        testonly = testonly,
    )

    # Bazel compiles only .cc/.cpp/.cxx/.c++ sources it recognises; .c++ is one.
    native.cc_library(
        name = name,
        srcs = outs_cc,
        hdrs = outs_h,
        deps = deps + ["@capnp"],
        visibility = visibility,
        testonly = testonly,
    )
