#!/usr/bin/env bash
# Builds the libFuzzer target for StatsReader (Tools/fuzz/FuzzReader.swift) and runs it.
#
# usage: Tools/fuzz/run.sh [SECONDS]     build, then fuzz for SECONDS (default 60); exits non-zero
#                                        when libFuzzer reports a crash, leak, OOM or timeout
#        Tools/fuzz/run.sh FILE...       build, then run the target once on each FILE (reproduce
#                                        a crash artifact or a finding)
#        Tools/fuzz/run.sh --build       build only; prints the binary's path
#
# Environment:
#   MMSTATS_FUZZ_BUILD     scratch directory (default: .build/fuzz in the package): objects, the
#                          binary, the growing corpus (corpus/) and crash artifacts (artifacts/)
#   MMSTATS_FUZZ_SANITIZE  sanitizers (default: fuzzer,address; "fuzzer" alone runs ~2x faster)
#   MMSTATS_FUZZ_ARGS      extra libFuzzer arguments, e.g. "-jobs=2 -workers=2" or "-seed=1"
#   MMSTATS_FUZZ_SPARSE_LIMIT  largest file (bytes) an input's header may ask for (see the harness)
#
# The package itself is not touched: the core's sources and the C shim are compiled here with
# swiftc and clang, so Package.swift stays free of fuzzing flags.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/Tools/fuzz"
BUILD=${MMSTATS_FUZZ_BUILD:-$ROOT/.build/fuzz}
SANITIZE=${MMSTATS_FUZZ_SANITIZE:-fuzzer,address}
BIN="$BUILD/fuzz-reader"

SWIFTC=${SWIFTC:-$(command -v swiftc)}
CLANG=${CLANG:-$(dirname "$(readlink -f "$SWIFTC")")/clang}
[ -x "$CLANG" ] || CLANG=$(command -v clang)

build() {
    mkdir -p "$BUILD/include" "$BUILD/modules"
    # The C shim, instrumented for coverage (and ASan) but without libFuzzer's main.
    local csan=${SANITIZE/fuzzer/fuzzer-no-link}
    "$CLANG" -O2 -g -std=c11 -D_GNU_SOURCE -fsanitize="$csan" -I "$ROOT/Sources/CMmStats/include" \
        -c "$ROOT/Sources/CMmStats/mmstats.c" -o "$BUILD/mmstats.o"
    cat > "$BUILD/include/module.modulemap" <<MAP
module CMmStats {
    header "$ROOT/Sources/CMmStats/include/mmstats.h"
    export *
}
MAP
    # The same language settings as Package.swift's swiftSettings.
    local swiftflags=(-O -g -wmo -swift-version 6 -enable-upcoming-feature ExistentialAny
        -enable-upcoming-feature MemberImportVisibility -sanitize="$SANITIZE" -I "$BUILD/include")
    "$SWIFTC" "${swiftflags[@]}" -parse-as-library -module-name MmStatsCore \
        -emit-module -emit-module-path "$BUILD/modules/MmStatsCore.swiftmodule" \
        -c "$ROOT"/Sources/MmStatsCore/*.swift -o "$BUILD/MmStatsCore.o"
    "$SWIFTC" "${swiftflags[@]}" -parse-as-library -module-name FuzzReader -I "$BUILD/modules" \
        -use-ld=lld "$HERE/FuzzReader.swift" "$BUILD/MmStatsCore.o" "$BUILD/mmstats.o" -o "$BIN"
}

echo "fuzz: building $BIN (-sanitize=$SANITIZE)"
start=$(date +%s)
build
echo "fuzz: built in $(( $(date +%s) - start )) s"

# Private temporary files of the target go under the scratch directory. The target removes its
# own at exit, but not when it dies of a finding: clear those of earlier runs.
export TMPDIR="$BUILD/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"
# ASan: the reader's SIGBUS guard installs its own handler (allow_user_segv_handler is the default).
export ASAN_OPTIONS=${ASAN_OPTIONS:-allow_user_segv_handler=1:detect_leaks=1:symbolize=1}
# Swift's crash backtracer would handle a trap first, and under ASan it reports a use-after-free
# in its own memory server instead of the trap; without it libFuzzer reports the trap ("Swift
# runtime failure: ..." at the top of the stack) and saves the input.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

if [ "${1:-}" = "--build" ]; then
    echo "$BIN"
    exit 0
fi

if [ $# -gt 0 ] && [ -e "$1" ]; then
    # Reproduce: run each file once (no fuzzing). Non-zero exit when one crashes.
    exec "$BIN" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 "$@"
fi

SECONDS_TO_RUN=${1:-60}
case $SECONDS_TO_RUN in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS] | FILE... | --build" >&2
        exit 2
        ;;
esac

mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
LOG="$BUILD/fuzz.log"
echo "fuzz: running for $SECONDS_TO_RUN s; log $LOG, new inputs in $BUILD/corpus, artifacts in $BUILD/artifacts/"
status=0
# shellcheck disable=SC2086 # MMSTATS_FUZZ_ARGS is a list of arguments
"$BIN" "$BUILD/corpus" "$HERE/corpus" -dict="$HERE/mmstats.dict" -max_len=65536 \
    -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -artifact_prefix="$BUILD/artifacts/" -print_final_stats=1 ${MMSTATS_FUZZ_ARGS:-} > "$LOG" 2>&1 || status=$?

grep -E "^#[0-9]+ *(INITED|DONE)" "$LOG" | tail -2 || true
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$LOG" || true
if [ "$status" -ne 0 ] || grep -qE "^==[0-9]+== ?ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY: " "$LOG"; then
    echo "fuzz: FINDING (libFuzzer exit status $status); the report:" >&2
    grep -E "ERROR|SUMMARY|Fatal error|fuzz-reader:|^ *#[0-9]+ 0x" "$LOG" | head -40 >&2 || true
    grep -E "Test unit written to|artifact_prefix" "$LOG" | sed 's/^/fuzz: /' >&2 || true
    echo "fuzz: reproduce with: $0 <artifact path above>; full log: $LOG" >&2
    exit 1
fi
echo "fuzz: no findings"
