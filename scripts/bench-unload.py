#!/usr/bin/env python3
"""Does unloading a model give its memory back? Starts `hearth serve` (release build)
with SmolLM2 and Gemma 3 and --keep-alive -1, then reads the server's resident memory
(VmRSS) at each step: idle, after loading and using each model, after unloading each,
and after loading one again. Writes the table into docs/benchmarks.md between the
`<!-- bench:unload -->` markers.

usage: scripts/bench-unload.py [--bin PATH] [--no-write]

--bin uses an existing hearth binary instead of building target/release/hearth.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date

from benchdoc import write_block

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--bin")
    args = parser.parse_args()
    binary = args.bin
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "hearth"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "hearth")
    fetch = os.path.join(ROOT, "scripts", "fetch-test-models.sh")
    smol = subprocess.run([fetch, "smollm2"], capture_output=True, text=True, check=True).stdout.strip()
    gemma = subprocess.run([fetch, "gemma3"], capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "serve", "--port", str(port),
         "--model", f"smollm2={smol}", "--model", f"gemma3={gemma}", "--max-loaded", "0",
         "--keep-alive", "-1", "--ctx", "4096", "-t", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("error: hearth serve did not come up")
                time.sleep(0.2)

        def step(what):
            time.sleep(0.5)
            rows.append((what, rss_mb(server.pid)))
            print(f"{what:45s} {rows[-1][1]:8.1f} MB", flush=True)

        def use(model):
            post(url + "/v1/completions", {"model": model, "prompt": "Once upon a time",
                                            "max_tokens": 32, "temperature": 0})

        # Both are preloaded at start; unload them to measure the empty server.
        for m in ("smollm2", "gemma3"):
            post(url + f"/v1/models/{m}/unload", {})
        step("idle, nothing loaded")
        use("smollm2")
        step("smollm2 loaded and used")
        use("gemma3")
        step("smollm2 + gemma3 loaded and used")
        post(url + "/v1/models/gemma3/unload", {})
        step("gemma3 unloaded")
        post(url + "/v1/models/smollm2/unload", {})
        step("smollm2 unloaded")
        use("gemma3")
        step("gemma3 loaded again and used")
    finally:
        server.terminate()
        server.wait(timeout=60)
    if not args.no_write:
        write(rows)


def write(rows):
    lines = [
        f"Measured {date.today()} with `scripts/bench-unload.py` (release build, `--ctx 4096`, 2 threads):",
        "resident memory (VmRSS) of `hearth serve` after each step.",
        "",
        "| step | RSS (MB) |",
        "|---|---:|",
    ] + [f"| {what} | {mb:.0f} |" for what, mb in rows]
    write_block("unload", "\n".join(lines))

if __name__ == "__main__":
    main()
