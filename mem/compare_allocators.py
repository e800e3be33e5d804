#!/usr/bin/env python3
"""Compares gort's allocator with glibc, tcmalloc, jemalloc and mimalloc.

One benchmark binary (//mem:mem_benchmark), the same workloads, the
allocator swapped under it: its <Libc> rows call std::malloc, which is
glibc's unless LD_PRELOAD puts another allocator in its place. gort is run
both ways: through LD_PRELOAD=libgortmalloc.so (as a malloc) and through its
own API (the <Gort> rows of a plain run). The allocators take turns, round
after round, so that the machine's noise falls on all of them alike; each
cell is the median over the rounds.

Usage (from the repository root, after
`bazel build -c opt //mem:mem_benchmark //mem:libgortmalloc.so`):

  mem/compare_allocators.py [--rounds 5] [--min-time 0.2] [--filter REGEX]

Prints a Markdown table: ns per operation for each allocator, then gort's
time as a fraction of glibc's and of the best of the four others (the
issue's targets: <= 0.7 and <= 1.2). An allocator whose library is missing
is left out and named. The Debian packages are libgoogle-perftools-dev,
libjemalloc-dev and libmimalloc-dev (./bazelw installs them).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"
OTHERS = [
    ("glibc", None),
    ("tcmalloc", f"{LIBDIR}/libtcmalloc_minimal.so.4"),
    ("jemalloc", f"{LIBDIR}/libjemalloc.so.2"),
    ("mimalloc", f"{LIBDIR}/libmimalloc.so.2"),
]


def run(binary, preload, regex, min_time):
    """Runs the benchmark binary; returns {row name: ns per item}."""
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run(
        [binary, f"--benchmark_filter={regex}",
         f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
        env=env, capture_output=True, text=True, check=True).stdout
    rows = {}
    for b in json.loads(out)["benchmarks"]:
        # Generic name, e.g. BM_Churn<Libc>/256 -> Churn/256.
        name = b["name"].replace("BM_", "").replace("/real_time", "")
        kind = "Gort" if "<Gort>" in name else "Libc"
        name = name.replace("<Gort>", "").replace("<Libc>", "")
        name = name.replace("/threads:2", "")
        rows[(kind, name)] = 1e9 / b["items_per_second"]
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default="bazel-bin/mem/mem_benchmark")
    ap.add_argument("--gortlib", default="bazel-bin/mem/libgortmalloc.so")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", default="0.2")
    ap.add_argument("--filter", default=".")
    args = ap.parse_args()

    for path in (args.binary, args.gortlib):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: bazel build -c opt //mem:mem_benchmark "
                     "//mem:libgortmalloc.so")
    allocators = []
    for name, lib in OTHERS:
        if lib is None or os.path.exists(lib):
            allocators.append((name, lib))
        else:
            print(f"(left out: {name}, {lib} is missing)")
    allocators.append(("gort (LD_PRELOAD)", os.path.abspath(args.gortlib)))

    samples = {}  # (allocator, row) -> [ns]
    for _ in range(args.rounds):
        for name, lib in allocators:
            regex = f"<Libc>.*{args.filter}" if args.filter != "." else "<Libc>"
            for (_, row), ns in run(args.binary, lib, regex,
                                    args.min_time).items():
                samples.setdefault((name, row), []).append(ns)
        regex = f"<Gort>.*{args.filter}" if args.filter != "." else "<Gort>"
        for (_, row), ns in run(args.binary, None, regex,
                                args.min_time).items():
            samples.setdefault(("gort (API)", row), []).append(ns)

    cols = [n for n, _ in allocators] + ["gort (API)"]
    rows = sorted({row for (_, row) in samples}, key=lambda r: (r.split("/")[0], len(r), r))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"ns per operation, medians of {args.rounds} alternated rounds\n")
    print("| workload | " + " | ".join(cols) +
          " | gort ÷ glibc | gort ÷ best other |")
    print("| --- |" + " --- |" * (len(cols) + 2))
    for row in rows:
        cells = [med.get((c, row)) for c in cols]
        others = [med[(c, row)] for c, _ in allocators[:-1] if (c, row) in med]
        gort = min(v for v in (med.get(("gort (LD_PRELOAD)", row)),
                               med.get(("gort (API)", row))) if v is not None)
        glibc = med.get(("glibc", row))
        ratio_glibc = f"{gort / glibc:.2f}" if glibc else "—"
        ratio_best = f"{gort / min(others):.2f}" if others else "—"
        print(f"| {row} | " +
              " | ".join(f"{v:.1f}" if v is not None else "—" for v in cells) +
              f" | {ratio_glibc} | {ratio_best} |")


if __name__ == "__main__":
    main()
