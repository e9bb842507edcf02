#!/usr/bin/python3
"""Benchmark of `atman serve` against `atman explain` processes (docs/serve.md,
"Measured"): the bundled example explained by C concurrent clients (C = 1, 2,
4, 8; each sends --requests requests, one after another) against the same
number of explanations as `atman explain` processes started one after another.
Prints requests per second, p50/p95 latency and the server's resident memory.

Usage: tools/bench_serve.py [--atman build/atman] [--requests 3] [--clients 1,2,4,8] [--workers W] [--skip-cli]"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

if not __package__:
    # Run by path (`python3 tools/bench_serve.py`, as documented): import from the repository
    # root, as `python3 -m tools.bench_serve` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tests.python.serve_client import Server, b64, resident_kb  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", default=os.path.join(ROOT, "build/atman"))
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--skip-cli", action="store_true", help="only the service (its memory, its latency)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server workers (1: one explanation at a time on every core, the others queued)")
    args = parser.parse_args()
    with open(os.path.join(ROOT, "data/example/example.json")) as f:
        item = json.load(f)
    image = os.path.join(ROOT, "data/example", item["image"])
    model = os.path.join(ROOT, "torchscript_models/tiny_magma.pt")
    body = {"model": "tiny", "question": item["question"], "target": item["target"], "image": b64(image)}
    cores = os.cpu_count()
    print(f"machine: {cores} CPUs; bundled example ({item['question']!r} -> {item['target']!r}), full patch sweep;"
          f" server --workers {args.workers}, {max(1, cores // args.workers)} threads per request")
    print(f"{'clients':>7} {'explanations':>12} | {'serve req/s':>11} {'p50 s':>7} {'p95 s':>7} {'RSS MB':>7} |"
          f" {'CLI req/s':>9} {'CLI p50 s':>9} | {'ratio':>5}")
    for clients in [int(c) for c in args.clients.split(",")]:
        total = clients * args.requests
        workers = args.workers
        # Each request gets the CPUs divided among the workers; `atman explain` gets them all.
        request = dict(body, threads=max(1, cores // workers))
        with Server(args.atman, {"tiny": model}, "--workers", str(workers), "--queue", str(total)) as server:
            server.request("POST", "/v1/explain", request)  # warm-up: the first explanation prepares the model
            latencies, rss = [], []

            def client(_):
                for _ in range(args.requests):
                    start = time.monotonic()
                    status, content, _ = server.request("POST", "/v1/explain", request)
                    if status != 200:
                        raise RuntimeError("HTTP %d: %s" % (status, content))
                    latencies.append(time.monotonic() - start)
                    rss.append(resident_kb(server.process.pid))
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                list(pool.map(client, range(clients)))
            serve_seconds = time.monotonic() - start
        cli = [float("nan")]
        start = time.monotonic()
        for _ in range(0 if args.skip_cli else total):
            t = time.monotonic()
            subprocess.run([args.atman, "explain", "--model", model, "--image", image, "--question", item["question"],
                            "--target", item["target"], "--quiet"], check=True)
            cli.append(time.monotonic() - t)
        cli_seconds = time.monotonic() - start if not args.skip_cli else float("nan")
        print(f"{clients:>7} {total:>12} | {total / serve_seconds:>11.2f} {percentile(latencies, 0.5):>7.2f}"
              f" {percentile(latencies, 0.95):>7.2f} {max(rss) / 1024:>7.0f} | {total / cli_seconds:>9.2f}"
              f" {percentile(cli, 0.5):>9.2f} | {cli_seconds / serve_seconds:>5.2f}")


if __name__ == "__main__":
    main()
