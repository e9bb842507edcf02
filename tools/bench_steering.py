#!/usr/bin/python3
"""Speed of steered generation: the KV cache (step_from_cache) against the
full recompute (forward on the whole sequence for every token, the reference
code's way), for 16/64/256 generated tokens (docs/steering.md, "Speed").

Runs the real `atman generate --ignore-eos --no-unsteered --json` and reads
the JSON's timings (generation only; loading the model is not counted): the
tokens per second, and the cost of each token against its position (the
mean step time over the first and the last eighth of the tokens).

Usage: tools/bench_steering.py --atman build/atman --model M (--question Q --image I | --prompt P)
           [--suppress SPAN]... [--tokens 16,64,256] [--repeats 1] [--threads 2] [--markdown]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def run(args, tokens, recompute, out):
    cmd = [args.atman, "generate", "--model", args.model, "--max-tokens", str(tokens), "--ignore-eos",
           "--no-unsteered", "--threads", str(args.threads), "--json", out]
    if args.image:
        cmd += ["--image", args.image]
    cmd += ["--question", args.question] if args.question else ["--prompt", args.prompt]
    for span in args.suppress:
        cmd += ["--suppress", span]
    for span in args.amplify:
        cmd += ["--amplify", span]
    if recompute:
        cmd.append("--recompute")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("bench_steering: %s failed: %s" % (" ".join(cmd), proc.stderr.strip()))
    with open(out) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--image")
    parser.add_argument("--question")
    parser.add_argument("--prompt")
    parser.add_argument("--suppress", action="append", default=[])
    parser.add_argument("--amplify", action="append", default=[])
    parser.add_argument("--tokens", default="16,64,256")
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if bool(args.question) == bool(args.prompt):
        sys.exit("bench_steering: give exactly one of --question and --prompt")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in [int(t) for t in args.tokens.split(",")]:
            result = {}
            for recompute in (False, True):
                best = None
                for r in range(args.repeats):
                    j = run(args, tokens, recompute, os.path.join(tmp, "g.json"))
                    if best is None or j["steered"]["seconds"] < best["steered"]["seconds"]:
                        best = j
                s = best["steered"]
                steps = s["step_seconds"]
                eighth = max(len(steps) // 8, 1)
                result["recompute" if recompute else "cache"] = {
                    "tokens": len(s["ids"]), "seconds": s["seconds"], "tps": len(s["ids"]) / s["seconds"],
                    "first_ms": 1000 * sum(steps[:eighth]) / eighth, "last_ms": 1000 * sum(steps[-eighth:]) / eighth,
                    "ids": s["ids"], "prompt": best["sequence_length"]}
            c, f = result["cache"], result["recompute"]
            same = sum(a == b for a, b in zip(c["ids"], f["ids"]))
            rows.append((tokens, c, f, same))
    print("| tokens | prompt | KV cache tok/s | recompute tok/s | speed-up | cache ms/token first 1/8 -> last 1/8 "
          "| recompute ms/token first 1/8 -> last 1/8 | same tokens |")
    print("|---:|---:|---:|---:|---:|---|---|---:|")
    for tokens, c, f, same in rows:
        print("| %d | %d | %.1f | %.1f | %.1fx | %.2f -> %.2f | %.2f -> %.2f | %d/%d |" % (
            tokens, c["prompt"], c["tps"], f["tps"], c["tps"] / f["tps"], c["first_ms"], c["last_ms"],
            f["first_ms"], f["last_ms"], same, tokens))


if __name__ == "__main__":
    main()
