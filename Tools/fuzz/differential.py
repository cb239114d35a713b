#!/usr/bin/env python3
"""Differential check: the Swift reader (through the fuzz target) against the Python reader.

usage: Tools/fuzz/differential.py FUZZ_BINARY FILE_OR_DIRECTORY...

Both readers implement docs/FORMAT.md; an input that one reads and the other rejects (or that
they read into different metrics) shows a gap in one of them or in the spec. For every input
(a file, or the files of a directory: a corpus), the target prints what StatsReader made of it
(MMSTATS_FUZZ_PRINT=1) and Tools/python/mmstats_reader.py reads the same file, extended as the
target extends it. Inputs with a change (#MMSTATS-CHANGE#) are skipped, and so are metrics in
the target's plugin layouts 4 and 5, which the Python reader does not know.

Prints one line per disagreement with both readers' answers; exits 1 if there is any.
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import mmstats_reader  # noqa: E402

SPARSE_LIMIT = 64 << 20
PLUGIN_MARKS = ("layout-14]", "layout-15]", "fuzz-short", "fuzz-headered")


def materialize(data, path):
    """Writes the file the target would read: the input, extended to its header's file size."""
    size = len(data)
    if len(data) >= 40 and data[0] == 2:
        order = ">" if data[8:12] == b"\x0a\x0b\x0c\x0d" else "<"
        claimed = struct.unpack_from(order + "Q", data, 32)[0]
        if size < claimed <= SPARSE_LIMIT:
            size = claimed
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(size)


def swift(binary, path, scratch):
    """('error', reason) or ('ok', [(status, line)]) from the target's printout."""
    env = dict(os.environ, TMPDIR=scratch, MMSTATS_FUZZ_PRINT="1")
    out = subprocess.run([binary, path], env=env, capture_output=True).stdout.decode("utf-8", "replace")
    lines = [line for line in out.split("\n") if line.startswith("  ")]
    # One block per snapshot the target took: keep the first (a header, then its metrics).
    for index, line in enumerate(lines[1:], start=1):
        if not line.startswith(("  ok", "  error")):
            lines = lines[:index]
            break
    if not lines:
        return ("crash", out[-500:])
    if lines[0].startswith("  error:"):
        return ("error", lines[0][len("  error: "):])
    return ("ok", [("ok" if line.startswith("  ok") else "error", line.strip()) for line in lines[1:]])


def python(path):
    try:
        result = mmstats_reader.read_file(path)
    except mmstats_reader.MmstatsError as error:
        return ("error", str(error))
    return ("ok", [("error" if "error" in m else "ok", m) for m in result["metrics"]])


def compare(a, b):
    """A description of the disagreement, or None."""
    if a[0] != b[0]:
        return "Swift %s, Python %s" % (a[0], b[0])
    if a[0] != "ok":
        return None
    if len(a[1]) != len(b[1]):
        return "Swift reads %d metrics, Python %d" % (len(a[1]), len(b[1]))
    for index, ((sa, la), (sb, mb)) in enumerate(zip(a[1], b[1])):
        if sa != sb and not any(mark in la for mark in PLUGIN_MARKS):
            return "metric %d: Swift %s, Python %s" % (index, sa, sb)
    return None


def inputs(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                yield os.path.join(path, name)
        else:
            yield path


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary = sys.argv[1]
    scratch = tempfile.mkdtemp(prefix="mmstats-differential.")
    compared = differ = 0
    try:
        for path in inputs(sys.argv[2:]):
            data = open(path, "rb").read()
            if b"#MMSTATS-CHANGE#" in data:
                continue
            compared += 1
            extended = os.path.join(scratch, "extended.mmstats")
            materialize(data, extended)
            a, b = swift(binary, path, scratch), python(extended)
            if a[0] == "error" and any(mark in a[1] for mark in PLUGIN_MARKS):
                continue
            if b[0] == "ok" and any("unknown layout 14" in str(m) or "unknown layout 15" in str(m) for _, m in b[1]):
                if a[0] == "error":
                    continue
            problem = compare(a, b)
            if problem:
                differ += 1
                print("%s: %s" % (path, problem))
                print("    swift:  %s" % str(a[1])[:300].replace(scratch, "."))
                print("    python: %s" % str(b[1])[:300].replace(scratch, "."))
    finally:
        subprocess.run(["rm", "-rf", scratch])
    print("%d inputs compared, %d disagreements" % (compared, differ))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
