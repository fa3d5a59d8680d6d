"""Compiles Cap'n Proto schemas to C++ with Debian's `capnp` (no download)."""

def capnp_cc_library(name, srcs, deps = [], visibility = None, testonly = False):
    """A cc_library holding the C++ generated from `srcs` (*.capnp files).

    The schemas may import only each other and Cap'n Proto's own schemas
    (/usr/include/capnp/*.capnp), which `capnp` finds by itself.
    """
    outs_h = [s + ".h" for s in srcs]
    outs_cc = [s + ".c++" for s in srcs]
    native.genrule(
        name = name + "_capnp_gen",
        srcs = srcs,
        outs = outs_h + outs_cc,
        # --src-prefix strips the package path, so each output lands in
        # $(RULEDIR) at its source's path inside the package, as declared.
        cmd = ("capnp compile --no-standard-import -I/usr/include " +
               "--src-prefix={pkg} -oc++:$(RULEDIR) $(SRCS)").format(
            pkg = native.package_name() or ".",
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
