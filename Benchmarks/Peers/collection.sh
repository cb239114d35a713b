#!/usr/bin/env bash
# Collection against prometheus_client (docs/BENCHMARKS.md, "Against peers: collection"):
# reading N live mmstats files with StatsScanner, first scan and later scans, against
# prometheus_client's MultiProcessCollector over the files of N processes with the same metrics.
#
#   Benchmarks/Peers/collection.sh              N = 100, 1,000 and 10,000; 5 runs; 7 later scans
#   COUNTS="100 1000" RUNS=3 SCANS=5 RESULTS=/tmp/raw.txt Benchmarks/Peers/collection.sh
#
# Needs PyPI (prometheus_client, pinned below, goes into a venv under Benchmarks/Peers/.build)
# and about 200 MB in /dev/shm for N = 10,000. Not run by CI (which builds the package and
# smoke-runs `peer-benchmarks --quick`, not this script).
#
# mmstats: `peer-benchmarks collection-writer` processes (1,000 files each, 2 descriptors per
# file) create the files and stay alive, holding them open, while a separate
# `peer-benchmarks collection-read` process times the scans, once per run. prometheus_client:
# collection.py writes the .db files of N fake processes (see it), then a fresh Python process
# per run times the collection. Both sides use tmpfs (/dev/shm), as each library does by default
# or as its docs advise. Every number is the median over the runs; each run's "later" is itself
# the median of SCANS scans.
set -euo pipefail
cd "$(dirname "$0")"

prometheus_client_version=0.26.0
counts=${COUNTS:-"100 1000 10000"}
runs=${RUNS:-5}
scans=${SCANS:-7}
per_writer=1000

venv=.build/collection-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "prometheus_client==$prometheus_client_version"
python="$venv/bin/python"

swift build -c release --product peer-benchmarks >&2
bin="$(swift build -c release --show-bin-path)/peer-benchmarks"

work=$(mktemp -d /dev/shm/mmstats-collection.XXXXXX)
writer_pids=()
writer_fds=()

# Closing a writer's standard input makes it close its files and exit.
stop_writers() {
    local fd pid
    for fd in "${writer_fds[@]}"; do exec {fd}>&-; done
    for pid in "${writer_pids[@]}"; do wait "$pid" || true; done
    writer_fds=()
    writer_pids=()
}
cleanup() {
    stop_writers
    rm -rf "$work"
}
trap cleanup EXIT

# One line per run and side; RESULTS=FILE keeps them.
results=${RESULTS:-$work/results}
: >"$results"

echo "machine: $(nproc) cores, Linux $(uname -r), $("$python" --version)," \
    "prometheus_client $("$python" -c 'import importlib.metadata as m; print(m.version("prometheus_client"))')"
echo "load before: $(uptime)"

for n in $counts; do
    root="$work/mmstats-$n"
    prometheus="$work/prometheus-$n"
    mkdir -m 700 "$root" "$prometheus"

    # mmstats: live writers, 1,000 files per process.
    for ((first = 0; first < n; first += per_writer)); do
        count=$((n - first < per_writer ? n - first : per_writer))
        fifo="$work/in-$n-$first"
        mkfifo "$fifo"
        "$bin" collection-writer "$root" "$first" "$count" <"$fifo" >"$work/ready-$n-$first" &
        writer_pids+=("$!")
        exec {fd}>"$fifo"
        writer_fds+=("$fd")
    done
    for ((first = 0; first < n; first += per_writer)); do
        until grep -q ready "$work/ready-$n-$first" 2>/dev/null; do
            for pid in "${writer_pids[@]}"; do
                kill -0 "$pid" 2>/dev/null || { echo "collection.sh: a writer died" >&2; exit 1; }
            done
            sleep 0.2
        done
    done

    # prometheus_client: the files of N processes with the same metrics and values.
    "$python" collection.py write "$prometheus" 0 "$n"

    for ((run = 1; run <= runs; run++)); do
        echo "N=$n run $run/$runs" >&2
        # Assigned first, so that set -e stops the script when either side fails.
        line=$("$bin" collection-read "$root" "$n" "$scans")
        echo "n=$n $line" >>"$results"
        line=$("$python" collection.py collect "$prometheus" "$n" "$scans")
        echo "n=$n $line" >>"$results"
    done

    stop_writers
    rm -rf "$root" "$prometheus"
done

echo "load after: $(uptime)"
echo "runs: $runs per N; later scans per run: $scans"
echo
"$python" - "$results" <<'EOF'
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    words = line.split()
    fields = dict(word.split("=", 1) for word in words if "=" in word)
    n = int(fields["n"])
    side = words[1]
    rows.setdefault(n, {}).setdefault(side, []).append(fields)


def median(n, side, key):
    return statistics.median(int(fields[key]) for fields in rows[n][side])


def ratio(value):
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def ms(nanoseconds):
    return f"{nanoseconds / 1e6:,.2f}"


for clock, suffix in (("CPU time", "_cpu_ns"), ("wall-clock time", "_ns")):
    print(f"{clock}, ms (median of the runs):")
    print()
    print(
        "| N | mmstats first scan | mmstats later scan | prometheus_client first collect"
        " | prometheus_client later collect | × first | × later |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sorted(rows):
        m_first = median(n, "mmstats", "first" + suffix)
        m_later = median(n, "mmstats", "later" + suffix)
        p_first = median(n, "prometheus_client", "first" + suffix)
        p_later = median(n, "prometheus_client", "later" + suffix)
        print(
            f"| {n:,} | {ms(m_first)} | {ms(m_later)} | {ms(p_first)} | {ms(p_later)}"
            f" | {ratio(p_first / m_first)} | {ratio(p_later / m_later)} |"
        )
    print()
print("prometheus_client generate_latest (collect and format), CPU ms; text size:")
print()
for n in sorted(rows):
    fields = rows[n]["prometheus_client"][0]
    print(
        f"- N = {n:,}: {ms(median(n, 'prometheus_client', 'generate_cpu_ns'))} ms,"
        f" {int(fields['bytes']):,} bytes, {fields['dbfiles']} .db files, {fields['samples']} samples"
    )
EOF
