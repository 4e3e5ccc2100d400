#!/usr/bin/env python3
"""Concurrent streaming clients against an OpenAI-compatible server on loopback.

Each of N clients sends R streamed chat requests one after another; the script
reports aggregate generated tokens/s over the whole run, time to first token
(p50/p99), how many requests were refused with 429 and how many failed.
Standard library only, so it runs anywhere Python 3 does.

usage: scripts/load-test.py --url http://127.0.0.1:8434 --model NAME
           [--clients 8] [--requests 2] [--max-tokens 128] [--api-key K] [--json]
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works to a child.",
    "List some tips for learning a new language.",
    "Describe a walk through a forest in autumn.",
    "What are the benefits of drinking water?",
    "Tell me about the history of the printing press.",
    "How do plants make their food?",
    "Give advice for a first job interview.",
]


def one_request(url, model, prompt, max_tokens, api_key, timeout):
    """Returns (status, ttft_s, tokens, seconds)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("error: the load test only targets loopback servers")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "stream": True,
        "stream_options": {"include_usage": True},
    })
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    started = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, headers)
    response = conn.getresponse()
    if response.status != 200:
        response.read()
        conn.close()
        return response.status, None, 0, time.perf_counter() - started
    ttft, chunks, usage = None, 0, None
    for raw in response:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            usage = event["usage"].get("completion_tokens")
        for choice in event.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
    conn.close()
    return 200, ttft, usage if usage is not None else chunks, time.perf_counter() - started


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8434")
    p.add_argument("--model", required=True)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=2, help="requests per client")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--api-key")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    results, lock = [], threading.Lock()

    def client(i):
        for r in range(args.requests):
            prompt = PROMPTS[(i + r) % len(PROMPTS)]
            try:
                out = one_request(args.url, args.model, prompt, args.max_tokens, args.api_key, args.timeout)
            except (OSError, http.client.HTTPException, json.JSONDecodeError) as e:
                out = (f"error: {e}", None, 0, 0.0)
            with lock:
                results.append(out)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started

    ok = [r for r in results if r[0] == 200]
    ttfts = [r[1] for r in ok if r[1] is not None]
    tokens = sum(r[2] for r in ok)
    summary = {
        "clients": args.clients,
        "requests": len(results),
        "ok": len(ok),
        "rejected_429": sum(1 for r in results if r[0] == 429),
        "failed": sum(1 for r in results if r[0] not in (200, 429)),
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "aggregate_tps": round(tokens / wall, 1) if wall > 0 else None,
        "ttft_p50_s": percentile(ttfts, 50),
        "ttft_p99_s": percentile(ttfts, 99),
        "ttft_mean_s": statistics.mean(ttfts) if ttfts else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>14}: {v}")
    failures = [r[0] for r in results if r[0] not in (200, 429)]
    if failures:
        print(f"failures: {sorted(set(map(str, failures)))}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
