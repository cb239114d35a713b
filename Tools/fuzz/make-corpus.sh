#!/usr/bin/env bash
# Regenerates the seed corpus in Tools/fuzz/corpus: files written by the project's writer
# (Tools/fuzz/SeedWriter.swift, built here against Sources/MmStatsCore), packed hand-built files
# (Tools/fuzz/make_seeds.py) and the v1 fixture. Run it after a format change; commit the result.
#
# usage: Tools/fuzz/make-corpus.sh [V1_FIXTURE]   (default: ../shared/fixtures/v1/queue-v1.mmstats)
#
# The writer's files are cut after their last non-zero byte: the rest of a fresh file is zeros,
# and the fuzz harness extends an input to the `file size` its header names, so the reader sees
# the same file while libFuzzer mutates 9 KiB instead of 16.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/Tools/fuzz"
CORPUS="$HERE/corpus"
V1=${1:-$ROOT/../shared/fixtures/v1/queue-v1.mmstats}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/include" "$WORK/modules" "$WORK/out"
clang -O2 -std=c11 -D_GNU_SOURCE -I "$ROOT/Sources/CMmStats/include" -c "$ROOT/Sources/CMmStats/mmstats.c" \
    -o "$WORK/mmstats.o"
printf 'module CMmStats {\n    header "%s"\n    export *\n}\n' "$ROOT/Sources/CMmStats/include/mmstats.h" \
    > "$WORK/include/module.modulemap"
flags=(-Onone -swift-version 6 -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
    -I "$WORK/include")
swiftc "${flags[@]}" -parse-as-library -module-name MmStatsCore -emit-module \
    -emit-module-path "$WORK/modules/MmStatsCore.swiftmodule" -wmo -c "$ROOT"/Sources/MmStatsCore/*.swift \
    -o "$WORK/MmStatsCore.o"
swiftc "${flags[@]}" -parse-as-library -module-name SeedWriter -I "$WORK/modules" "$HERE/SeedWriter.swift" \
    "$WORK/MmStatsCore.o" "$WORK/mmstats.o" -o "$WORK/seed-writer"
"$WORK/seed-writer" "$WORK/out"
python3 "$HERE/make_seeds.py" "$WORK/out"
for name in word every-type page-flip; do
    python3 "$HERE/make_seeds.py" --swap "$WORK/out/writer-$name.mmstats" "$WORK/out/writer-$name-swapped.mmstats"
done

rm -f "$CORPUS"/*.mmstats
mkdir -p "$CORPUS"
install -m 0644 "$V1" "$WORK/out/v1-queue.mmstats"
python3 - "$WORK/out" "$CORPUS" <<'PY'
import os, sys
source, target = sys.argv[1:]
files = {}
for name in sorted(os.listdir(source)):
    data = open(os.path.join(source, name), "rb").read()
    if name.startswith(("writer-", "later-")):
        end = len(data.rstrip(b"\0"))
        data = data[:max(256, (end + 7) // 8 * 8)]
    files[name[:-len(".mmstats")]] = data
# Files that change under the reader: FILE1 + separator + FILE2 (see FuzzReader.swift).
change = lambda a, b: files[a] + b"#MMSTATS-CHANGE#" + (files[b] if isinstance(b, str) else b)
files["change-grow"] = change("writer-word", "later-word")
files["change-publish"] = change("writer-page-flip", "later-page-flip")
# Shrinks: cut at 4 KiB with a header `file size` of 0, so the harness does not extend it again.
cut = bytearray(files["writer-segments"][:4096])
cut[32:40] = bytes(8)
files["change-shrink"] = change("writer-segments", bytes(cut))
files["change-shrink-header"] = change("writer-every-type", bytes(files["writer-every-type"][:32]))
files["change-rewritten"] = change("writer-word", "writer-every-type")
files["change-byte-order"] = change("writer-word", "writer-word-swapped")
files["change-to-v1"] = change("writer-word", "v1-queue")
files["change-emptied"] = change("hand-three-segments", b"")
for name, data in sorted(files.items()):
    if name.startswith("later-"):
        continue
    open(os.path.join(target, name + ".mmstats"), "wb").write(data)
    print("%6d  %s" % (len(data), name))
PY
echo "$(ls "$CORPUS" | wc -l) seeds in $CORPUS"
