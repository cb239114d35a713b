#!/usr/bin/env bash
# Checks the example from the repository root (CI runs it; `.ci/run`): builds the example
# package with zero warnings, validates its manifest with the host, runs the example in a
# fresh stats root, and while it runs checks what `mmstats slurp` and `mmstats eval` make of
# its metrics. Exits 1, saying why, when any of it breaks. No network: the example's only
# dependency is this repository, by path.
#
#   Examples/OrderService/check.sh            # after `swift build` at the root
set -euo pipefail
cd "$(dirname "$0")/../.."

host=.build/debug/mmstats
manifest=Examples/OrderService/manifest.json
work=$(mktemp -d)
root="$work/root"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "Examples/OrderService/check.sh: $*" >&2
    exit 1
}

swift build --package-path Examples/OrderService 2>&1 | tee "$work/build.log"
if grep -E "warning:" "$work/build.log"; then fail "the example's build has warnings (above)"; fi
[ -x "$host" ] || swift build --product mmstats
"$host" check "$manifest"

# Three seconds: eval's two passes, one second apart, must both see the example's live file.
MMSTATS_PATH="$root" Examples/OrderService/.build/debug/OrderService --seconds 3 >"$work/example.out" &
pid=$!
for _ in $(seq 100); do
    grep -q '^stats file: ' "$work/example.out" && break
    sleep 0.1
done
grep -q '^stats file: ' "$work/example.out" || fail "the example printed no stats file path"

MMSTATS_PATH="$root" "$host" slurp >"$work/slurp.txt"
MMSTATS_PATH="$root" "$host" eval --manifest "$manifest" --passes 2 --interval 1 --json >"$work/eval.json"
wait "$pid" || fail "the example exited with status $?"
pid=""
cat "$work/example.out" "$work/slurp.txt" "$work/eval.json"

# The host does not know the example's kind: it shows the raw components, no utilisation.
grep -Eq '^orders\.db_pool +open=[0-9]+ idle=[0-9]+ waiting=[0-9]+$' "$work/slurp.txt" \
    || fail "slurp does not show orders.db_pool's raw components"
# The example registered its kind, so its own reader shows the derived field.
grep -Eq '^orders\.db_pool: open=[0-9]+ idle=[0-9]+ waiting=[0-9]+ utilisation=' "$work/example.out" \
    || fail "the example's summary lacks orders.db_pool's utilisation"

python3 - "$work/eval.json" <<'PY' || fail "eval's results are off (above)"
import json, sys

passes = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert len(passes) == 2, f"expected 2 passes, got {len(passes)}"
values = passes[-1]["values"]
print("checking pass 2:", values)

def within(name, low, high):
    value = values.get(name)
    assert value is not None and low <= value <= high, f"{name} = {value}, expected {low} to {high}"

within("orders.received_per_second", 50, 1000)   # the example simulates about 200 a second
within("orders.failure_ratio", 0, 0.2)          # about 2 % are declined
within("orders.latency_p99_ms", 5, 500)         # 5 to 40 ms, one in a hundred up to 400 ms
within("orders.pool_utilisation", 0, 1)
busy = [v for k, v in values.items() if k.startswith("orders.pool_busy{pid=")]
assert len(busy) == 1 and 0 <= busy[0] <= 24, f"orders.pool_busy per process: {busy}"
PY
echo "Examples/OrderService/check.sh: ok"
