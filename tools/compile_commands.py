#!/usr/bin/env python3
"""compile_commands.py AQUERY_JSON EXECROOT > compile_commands.json

Turns `bazel aquery 'mnemonic("CppCompile", //...)' --output=jsonproto` into
the compilation database clang tools read: one entry per project source
(generated Cap'n Proto code and external code left out), with the GCC-only
flags clang does not know removed.
"""
import json
import sys

# GCC flags clang rejects or warns about; they change nothing clang-tidy
# looks at.
GCC_ONLY = {
    "-fno-canonical-system-headers",
    "-Wunused-but-set-parameter",
    "-Wno-free-nonheap-object",
}


def main():
    aquery, execroot = sys.argv[1], sys.argv[2]
    with open(aquery) as f:
        actions = json.load(f).get("actions", [])
    entries = {}
    for action in actions:
        args = action["arguments"]
        if "-c" not in args:
            continue
        source = args[args.index("-c") + 1]
        if source.startswith(("external/", "bazel-out/")) or source.endswith(
            ".c++"
        ):
            continue
        args = [a for a in args if a not in GCC_ONLY]
        # -MD/-MF write dependency files: not for analysis.
        if "-MF" in args:
            i = args.index("-MF")
            del args[i : i + 2]
        args = [a for a in args if a != "-MD"]
        entries[source] = {
            "directory": execroot,
            "file": source,
            "arguments": args,
        }
    json.dump(sorted(entries.values(), key=lambda e: e["file"]), sys.stdout,
              indent=1)


if __name__ == "__main__":
    main()
