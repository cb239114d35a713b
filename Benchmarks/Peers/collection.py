"""prometheus_client's side of Benchmarks/Peers/collection.sh (docs/BENCHMARKS.md,
"Against peers: collection").

    python collection.py write DIR FIRST COUNT    COUNT writer processes' files in DIR
    python collection.py collect DIR COUNT SCANS  times MultiProcessCollector over DIR

Each writer process writes what each mmstats file holds (CollectionRows.swift): 10 counters,
10 gauges (multiprocess mode "all", the default) and one histogram with the default 15
buckets, with the same values. prometheus_client stores them in one file per process and per
type: counter_PID.db, gauge_all_PID.db and histogram_PID.db. Rather than starting COUNT
processes, `write` gives each one a distinct fake pid (its index) through
`values.MultiProcessValue(process_identifier=...)`, the hook prometheus_client provides for
this, and closes that process's files before the next.
"""

import os
import statistics
import sys
import time

COUNTERS = 10
GAUGES = 10
OBSERVATIONS = [0.003, 0.02, 0.02, 0.3, 4]


def write(directory, first, count):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from prometheus_client import Counter, Gauge, Histogram, values

    for index in range(first, first + count):
        values.ValueClass = values.MultiProcessValue(process_identifier=lambda index=index: index)
        for c in range(COUNTERS):
            Counter(f"requests{c}", "requests", registry=None).inc(index + c + 1)
        for g in range(GAUGES):
            Gauge(f"inflight{g}", "in flight", registry=None).set(index % 100 + g)
        histogram = Histogram("latency", "latency", registry=None)
        for value in OBSERVATIONS:
            histogram.observe(value)
        values.close_all_multiprocess_files()


def collect(directory, count, scans):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    collector = MultiProcessCollector(CollectorRegistry(), path=directory)
    # Counters summed over the processes (1 sample each), gauges one sample per process,
    # the histogram's 15 cumulative buckets, sum and count.
    expected = COUNTERS + GAUGES * count + 15 + 2

    def timed():
        start = time.perf_counter_ns()
        start_cpu = time.process_time_ns()
        samples = 0
        total = 0.0
        for metric in collector.collect():
            for sample in metric.samples:
                samples += 1
                total += sample.value
        cpu = time.process_time_ns() - start_cpu
        elapsed = time.perf_counter_ns() - start
        if samples != expected:
            sys.exit(f"collection.py: {samples} samples, expected {expected}")
        return elapsed, cpu

    first = timed()
    later = [timed() for _ in range(max(1, scans))]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    generate = []
    for _ in range(max(1, scans)):
        start = time.process_time_ns()
        text = generate_latest(registry)
        generate.append(time.process_time_ns() - start)
    files = len([name for name in os.listdir(directory) if name.endswith(".db")])
    print(
        f"prometheus_client files={count} dbfiles={files} samples={expected} bytes={len(text)}"
        f" first_ns={first[0]} later_ns={statistics.median_low(t[0] for t in later)}"
        f" first_cpu_ns={first[1]} later_cpu_ns={statistics.median_low(t[1] for t in later)}"
        f" generate_cpu_ns={statistics.median_low(generate)}"
    )


def main(arguments):
    if len(arguments) == 4 and arguments[0] == "write":
        write(arguments[1], int(arguments[2]), int(arguments[3]))
    elif len(arguments) == 4 and arguments[0] == "collect":
        collect(arguments[1], int(arguments[2]), int(arguments[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
