#!/usr/bin/env python3
"""Hearth against llama.cpp on the same GGUF files, same machine, same threads.

Runs `hearth bench` and llama.cpp's `llama-bench` (built by
scripts/build-llama-cpp.sh) on the test models at 1 and 2 threads, interleaved so
both see the same conditions, plus Hearth's batch-of-8 generation on SmolLM2, and
writes the table with Hearth/llama.cpp ratios into docs/benchmarks.md between the
`<!-- bench:engine -->` markers.

usage: scripts/bench.py [--models smollm2,gemma3,qwen2] [--threads 1,2] [-r 3]
                        [-p 512] [-n 128] [--no-write]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import date

from benchdoc import write_block

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def model_path(name):
    return sh(os.path.join(ROOT, "scripts", "fetch-test-models.sh"), name).strip()


def hearth_bench(hearth, model, threads, p, n, reps, batch=1):
    out = sh(hearth, "bench", "-m", model, "-p", str(p), "-n", str(n), "-t", str(threads),
             "-r", str(reps), "-b", str(batch), "--json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {r["test"]: (r["pp_tps"] or r["tg_tps"], r["tps_stddev"], r) for r in rows}


def llama_bench(binary, model, threads, p, n, reps):
    out = sh(binary, "-m", model, "-p", str(p), "-n", str(n), "-t", str(threads),
             "-r", str(reps), "-o", "json")
    rows = json.loads(out)
    result = {}
    for r in rows:
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        result[test] = (r["avg_ts"], r["stddev_ts"])
    return result


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,gemma3,qwen2")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    llama_bin = sh(os.path.join(ROOT, "scripts", "build-llama-cpp.sh")).strip()
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "hearth"], cwd=ROOT, check=True)
    hearth = os.path.join(ROOT, "target", "release", "hearth")

    lines = ["| model | threads | test | llama.cpp t/s | Hearth t/s | Hearth / llama.cpp |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    extra = []
    for name in args.models.split(","):
        path = model_path(name)
        for t in map(int, args.threads.split(",")):
            print(f"==> {name}, {t} thread(s)", file=sys.stderr)
            ours = hearth_bench(hearth, path, t, args.p, args.n, args.repetitions)
            theirs = llama_bench(os.path.join(llama_bin, "llama-bench"), path, t, args.p, args.n, args.repetitions)
            for test in (f"pp{args.p}", f"tg{args.n}"):
                (lm, ls), (hm, hs, _) = theirs[test], ours[test]
                lines.append(f"| {name} | {t} | {test} | {lm:.1f} ± {ls:.1f} | {hm:.1f} ± {hs:.1f} | {hm / lm:.2f}× |")
            info = ours[f"pp{args.p}"][2]
            extra.append(f"| {name} | {t} | {info['load_ms']:.0f} | {info['peak_rss_mb']:.0f} |")
    batch = hearth_bench(hearth, model_path("smollm2"), 2, 0, args.n, args.repetitions, batch=8)
    single, _, _ = batch[f"tg{args.n}"]
    together, sd, _ = batch[f"tg{args.n}x8"]

    body = "\n".join([
        f"Measured {date.today()} on {cpu_name()}, {os.cpu_count()} cores, "
        f"`scripts/bench.py -r {args.repetitions} -p {args.p} -n {args.n}` "
        "(mean ± standard deviation over repetitions; both engines interleaved).",
        "",
        *lines,
        "",
        "Batched generation, SmolLM2, 2 threads (`hearth bench -b 8`):",
        "",
        "| sequences | aggregate t/s | vs one sequence |",
        "| ---: | ---: | ---: |",
        f"| 1 | {single:.1f} | 1.00× |",
        f"| 8 | {together:.1f} ± {sd:.1f} | {together / single:.2f}× |",
        "",
        "Hearth's load time and peak RSS in those runs (pp and tg in one process):",
        "",
        "| model | threads | load ms | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
        *extra,
    ])
    print(body)
    if args.no_write:
        return
    write_block("engine", body)


if __name__ == "__main__":
    main()
