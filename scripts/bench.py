#!/usr/bin/env python3
"""Hearth against llama.cpp on the same GGUF files, same machine, same threads.

Runs `hearth bench` and llama.cpp's `llama-bench` (built by
scripts/build-llama-cpp.sh) on the test models at 1 and 2 threads, interleaved so
both see the same conditions, then batches of 8 sequences decoded together on every
model at 2 threads (`hearth bench -b 8` against `llama-batched-bench`), and writes
the tables with Hearth/llama.cpp ratios into docs/benchmarks.md between the
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


def llama_batched(binary, model, threads, n, batch):
    """Aggregate generation t/s of llama.cpp for 1 and `batch` sequences decoded
    together, each after a 16-token prompt of its own (per-sequence caches)."""
    out = sh(binary, "-m", model, "-c", "4096", "-b", "2048", "-ub", "512", "-npp", "16",
             "-ntg", str(n), "-npl", f"1,{batch}", "-t", str(threads), "--no-kv-unified",
             "--output-format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["pl"]: r["speed_tg"] for r in rows}


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
    batch_lines = ["| model | llama.cpp 1 | llama.cpp 8 | llama.cpp 8 / 1 | Hearth 1 | Hearth 8 "
                   "| Hearth 8 / 1 | Hearth 8 / llama.cpp 8 |",
                   "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in args.models.split(","):
        path = model_path(name)
        print(f"==> {name}, batch of 8, 2 threads", file=sys.stderr)
        ours = hearth_bench(hearth, path, 2, 0, args.n, args.repetitions, batch=8)
        theirs = llama_batched(os.path.join(llama_bin, "llama-batched-bench"), path, 2, args.n, 8)
        (h1, _, _), (h8, sd, _) = ours[f"tg{args.n}"], ours[f"tg{args.n}x8"]
        l1, l8 = theirs[1], theirs[8]
        batch_lines.append(f"| {name} | {l1:.1f} | {l8:.1f} | {l8 / l1:.2f}× | {h1:.1f} | "
                           f"{h8:.1f} ± {sd:.1f} | {h8 / h1:.2f}× | {h8 / l8:.2f}× |")

    body = "\n".join([
        f"Measured {date.today()} on {cpu_name()}, {os.cpu_count()} cores, "
        f"`scripts/bench.py -r {args.repetitions} -p {args.p} -n {args.n}` "
        "(mean ± standard deviation over repetitions; both engines interleaved).",
        "",
        *lines,
        "",
        f"Generation of 8 sequences decoded together against one alone, 2 threads, t/s "
        f"(aggregate; `hearth bench -b 8 -n {args.n}` and `llama-batched-bench -npp 16 "
        f"-ntg {args.n} -npl 1,8 --no-kv-unified`, one run of it):",
        "",
        *batch_lines,
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
