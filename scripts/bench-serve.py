#!/usr/bin/env python3
"""`hearth serve` against llama.cpp's `llama-server` under concurrent streaming load.

Starts each server on loopback with the same model and threads (llama-server with
`-np N` slots, Hearth with `--max-batch N`), runs scripts/load-test.py with N clients
against each in turn, then floods Hearth with 256 clients and records how it copes
(429s, failures, peak RSS). Writes the results into docs/benchmarks.md between the
`<!-- bench:serve -->` markers.

usage: scripts/bench-serve.py [--clients 8] [--requests 2] [--max-tokens 128]
                              [--threads 2] [--flood 256] [--no-write]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date

from benchdoc import write_block

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CTX = 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.peak_rss_mb = 0.0
        self._watch = True
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"error: {args[0]} exited early")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        threading.Thread(target=self._sample_rss, daemon=True).start()

    def _sample_rss(self):
        while self._watch and self.process.poll() is None:
            try:
                with open(f"/proc/{self.process.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
            except OSError:
                pass
            time.sleep(0.05)

    def stop(self):
        self._watch = False
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.process.returncode


def load(url, model, clients, requests, max_tokens):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "load-test.py"), "--url", url, "--model", model,
         "--clients", str(clients), "--requests", str(requests), "--max-tokens", str(max_tokens), "--json"],
        text=True, capture_output=True)
    if not out.stdout.strip():
        sys.exit(f"error: load test failed: {out.stderr}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flood", type=int, default=256)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    model = subprocess.run([os.path.join(ROOT, "scripts", "fetch-test-models.sh"), "smollm2"],
                           check=True, text=True, capture_output=True).stdout.strip()
    llama_bin = subprocess.run([os.path.join(ROOT, "scripts", "build-llama-cpp.sh")],
                               check=True, text=True, capture_output=True).stdout.strip()
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "hearth"], cwd=ROOT, check=True)
    hearth = os.path.join(ROOT, "target", "release", "hearth")
    n, t = args.clients, str(args.threads)

    port = free_port()
    llama = Server([os.path.join(llama_bin, "llama-server"), "-m", model, "-t", t, "-tb", t,
                    "-np", str(n), "-c", str(CTX * n), "--host", "127.0.0.1", "--port", str(port),
                    "-a", "smollm2"], port)
    theirs = load(llama.url, "smollm2", n, args.requests, args.max_tokens)
    theirs["peak_rss_mb"] = llama.peak_rss_mb
    llama.stop()

    port = free_port()
    ours_server = Server([hearth, "serve", "--model", f"smollm2={model}", "-t", t, "--max-batch", str(n),
                          "--ctx", str(CTX), "--port", str(port)], port)
    ours = load(ours_server.url, "smollm2", n, args.requests, args.max_tokens)
    ours["peak_rss_mb"] = ours_server.peak_rss_mb
    flood = load(ours_server.url, "smollm2", args.flood, 1, 32)
    flood["peak_rss_mb"] = ours_server.peak_rss_mb
    status = ours_server.stop()
    flood["exit_status"] = status

    def row(label, r):
        return (f"| {label} | {r['aggregate_tps']} | {r['ttft_p50_s']:.3f} | {r['ttft_p99_s']:.3f} | "
                f"{r['ok']}/{r['requests']} | {r['peak_rss_mb']:.0f} |")

    body = "\n".join([
        f"Measured {date.today()}: SmolLM2, {n} concurrent streaming clients × {args.requests} requests "
        f"of up to {args.max_tokens} tokens, {args.threads} threads, {CTX} tokens of context per "
        "sequence (`scripts/bench-serve.py`).",
        "",
        "| server | aggregate t/s | TTFT p50 s | TTFT p99 s | ok | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        row(f"llama-server -np {n}", theirs),
        row(f"hearth serve --max-batch {n}", ours),
        "",
        f"Hearth / llama-server: aggregate {ours['aggregate_tps'] / theirs['aggregate_tps']:.2f}×, "
        f"TTFT p99 {ours['ttft_p99_s'] / theirs['ttft_p99_s']:.2f}×.",
        "",
        f"Flood: {args.flood} concurrent clients against Hearth (max-batch {n}, default queue of 64): "
        f"{flood['ok']} answered, {flood['rejected_429']} refused with 429, {flood['failed']} failed; "
        f"peak RSS {flood['peak_rss_mb']:.0f} MB; the server then shut down with status {status}.",
    ])
    print(body)
    if args.no_write:
        return
    write_block("serve", body)


if __name__ == "__main__":
    main()
