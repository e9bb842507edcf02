#!/usr/bin/python3
"""`atman eval` killed mid-run (SIGKILL) and run again gives the same summary
as an uninterrupted run: every metric, interval and count of summary.json
(timings aside: faithfulness areas, agreement with LOO and IG's completeness
gap included, with --faithfulness on), each row exactly once, and the same
curves in every row. Then, when python3 can import
matplotlib, the rerun draws the plots and lists them.

Usage (ctest runs it): test_eval_resume.py --atman build/atman --models build/test_models
        --source-dir . --work-dir build/python_eval_resume"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

METRIC_KEYS = ("task", "method", "setting", "items", "errors", "no_truth", "precision", "recall",
               "average_precision", "pointing", "accuracy", "faithfulness", "loo_spearman", "loo_kendall",
               "ig_completeness_gap")


def metric_fields(path):
    with open(path) as f:
        return [{k: row[k] for k in METRIC_KEYS} for row in json.load(f)]


def count_rows(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.endswith("\n"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    data = os.path.join(args.work_dir, "data")
    subprocess.run([sys.executable, os.path.join(args.source_dir, "tools", "make_datasets.py"), "--out", data,
                    "--seed", "77", "--count", "2"], check=True, capture_output=True)
    common = ["eval", "--model", os.path.join(args.models, "image_text.pt"), "--data", data, "--ig-steps", "4",
              "--examples", "2", "--sweep", "suppression_factor=0", "--methods", "atman,ixg,ig,rollout,chefer,loo",
              "--ig-method", "riemann-middle,gauss-legendre", "--faithfulness", "--faithfulness-fractions", "0,20,100",
              "--threads", "1"]  # one thread: the same float sums in every run
    total = 2 * 2 * (6 + 2)  # tasks x items x (5 methods, ig twice + 2 atman settings)
    failures = []

    clean = os.path.join(args.work_dir, "clean")
    proc = subprocess.run([args.atman] + common + ["--out", clean, "--no-plots", "--quiet"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit("clean run failed: " + proc.stderr)

    killed = os.path.join(args.work_dir, "killed")
    rows = os.path.join(killed, "rows.jsonl")
    child = subprocess.Popen([args.atman] + common + ["--out", killed, "--no-plots", "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while count_rows(rows) < total // 3 and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = count_rows(rows)
    print("killed after %d of %d rows" % (done, total))
    if done >= total:
        failures.append("the run finished before it could be killed")

    proc = subprocess.run([args.atman] + common + ["--out", killed], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("resumed run failed: " + proc.stderr)
    if "resuming: %d of %d rows" % (done, total) not in proc.stderr:
        failures.append("no resume line in stderr: %r" % proc.stderr)
    keys = []
    with open(rows) as f:
        for line in f:
            row = json.loads(line)
            keys.append((row["task"], row["item"], row["method"], row["setting"]))
    if len(keys) != total or len(set(keys)) != total:
        failures.append("rows.jsonl has %d rows, %d distinct, expected %d" % (len(keys), len(set(keys)), total))
    want = metric_fields(os.path.join(clean, "summary.json"))
    got = metric_fields(os.path.join(killed, "summary.json"))
    if got != want:
        failures.append("summaries differ:\n  clean   %s\n  resumed %s" % (want, got))
    else:
        print("summary after kill + resume equals the uninterrupted run's (%d groups)" % len(want))
    curves = {}
    for folder in (clean, killed):
        with open(os.path.join(folder, "rows.jsonl")) as f:
            for line in f:
                row = json.loads(line)
                curves.setdefault((row["task"], row["item"], row["method"], row["setting"]), []).append(
                    row.get("faithfulness"))
    if any(c[0] is None or len(c) != 2 or c[0] != c[1] for c in curves.values()):
        failures.append("the faithfulness curves of a row are missing or differ after kill + resume")

    have_matplotlib = subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True).returncode == 0
    if have_matplotlib:
        for name in ("methods.png", "overlays.png", "sweep_shapes_vqa.png", "sweep_facts_qa.png",
                     "faithfulness_shapes_vqa.png", "faithfulness_facts_qa.png"):
            path = os.path.join(killed, "plots", name)
            if not os.path.exists(path) or "plot: " + path not in proc.stdout:
                failures.append("plot %s missing or not listed: %s" % (name, proc.stdout[-500:] + proc.stderr))
        print("plots drawn and listed")
    else:
        print("matplotlib not importable: plots not checked")
    for f in failures:
        print("FAILED: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
