#!/usr/bin/python3
"""Plots of an `atman eval` output folder (Debian's python3-matplotlib; no
other dependency). `atman eval` runs it when python3 can import matplotlib.

Usage: tools/plot_eval.py --run OUT [--data DIR] [--examples N]

Reads OUT/summary.csv (means and 95% bootstrap intervals per task x method x
setting; recomputed from OUT/rows.csv if missing), OUT/run.json and
OUT/examples/, and writes into OUT/plots/:
  methods.png          per task: every method's mAP (paper precision), mAR
                       (recall), ranking AP and pointing game side by side with
                       their 95% intervals, plus seconds per item and peak
                       memory (AtMan at its base setting, the first of the run)
  sweep_TASK.png       when AtMan ran at several settings: each metric against
                       the suppression factor (conceptual threshold at its base
                       value) and against the conceptual threshold ("off" at
                       the left; suppression factor at its base value)
  overlays.png         the first N image items (rows) x methods (columns):
                       the image, the relevance of its patches (clipped at 0,
                       scaled to each panel's maximum) and the ground-truth
                       object's outline
  faithfulness_TASK.png  with --faithfulness: the mean deletion curves (log p of
                       the target against the percentage of scored units
                       removed, MoRF and LeRF) of every method and setting,
                       under attention suppression and input removal, from
                       OUT/rows.jsonl (the summary's items); the legend gives each curve's mean ABPC
Prints one line per PNG written: "plot: PATH"."""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METHOD_ORDER = ["atman", "ixg", "ig", "rollout", "chefer", "attnlrp", "loo"]
METHOD_LABEL = {"atman": "AtMan", "ixg": "Input x Grad", "ig": "Integrated Grad", "rollout": "Rollout",
                "chefer": "Chefer et al.", "attnlrp": "AttnLRP", "loo": "Leave-one-out"}
METHOD_COLOUR = {"atman": "#d62728", "ixg": "#1f77b4", "ig": "#2ca02c", "rollout": "#9467bd", "chefer": "#ff7f0e",
                 "attnlrp": "#8c564b", "loo": "#7f7f7f"}
METRICS = [("precision", "mAP (precision)"), ("recall", "mAR (recall)"), ("average_precision", "ranking AP"),
           ("pointing", "pointing game")]


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_summary(run):
    path = os.path.join(run, "summary.csv")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def method_key(method):
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def base_rows(summary, task):
    """One summary row per method: for atman the first setting listed (the run's base)."""
    seen, out = set(), []
    for row in summary:
        if row["task"] == task and row["method"] not in seen:
            seen.add(row["method"])
            out.append(row)
    return sorted(out, key=lambda r: method_key(r["method"]))


def tasks_of(summary):
    out = []
    for row in summary:
        if row["task"] not in out:
            out.append(row["task"])
    return out


def plot_methods(summary, out_dir):
    tasks = tasks_of(summary)
    fig, axes = plt.subplots(len(tasks), 3, figsize=(15, 3.8 * len(tasks)), squeeze=False,
                             gridspec_kw={"width_ratios": [3.2, 1, 1]})
    for row_axes, task in zip(axes, tasks):
        rows = base_rows(summary, task)
        ax = row_axes[0]
        width = 0.8 / max(1, len(rows))
        for k, r in enumerate(rows):
            means = [number(r[m]) for m, _ in METRICS]
            low = [means[i] - number(r[m + "_low"]) for i, (m, _) in enumerate(METRICS)]
            high = [number(r[m + "_high"]) - means[i] for i, (m, _) in enumerate(METRICS)]
            xs = np.arange(len(METRICS)) + (k - (len(rows) - 1) / 2) * width
            label = METHOD_LABEL.get(r["method"], r["method"])
            if r["method"] == "atman":
                label += " (" + r["setting"] + ")"
            ax.bar(xs, means, width, yerr=[low, high], capsize=2, label=label,
                   color=METHOD_COLOUR.get(r["method"], "gray"))
        ax.set_xticks(np.arange(len(METRICS)))
        ax.set_xticklabels([name for _, name in METRICS])
        ax.set_ylim(0, 1.22)
        ax.set_yticks(np.arange(0, 1.01, 0.2))
        n = max((int(number(r["n"])) for r in rows if not math.isnan(number(r["n"]))), default=0)
        accuracy = number(rows[0]["accuracy"]) if rows else math.nan
        ax.set_title("%s: %d items, model accuracy %.0f%%, 95%% bootstrap intervals" % (task, n, 100 * accuracy))
        ax.legend(fontsize=8, loc="upper center", ncol=len(rows))
        ax.grid(axis="y", alpha=0.3)
        for ax, key, title in ((row_axes[1], "seconds_mean", "seconds per item"),
                               (row_axes[2], "peak_mb_mean", "peak MB (tracked allocator, mean)")):
            names = [r["method"] for r in rows]
            ax.bar(range(len(rows)), [number(r[key]) for r in rows],
                   color=[METHOD_COLOUR.get(m, "gray") for m in names])
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels(names, rotation=30)
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "methods.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweeps(summary, out_dir):
    paths = []
    for task in tasks_of(summary):
        atman = [r for r in summary if r["task"] == task and r["method"] == "atman"]
        if len(atman) < 2:
            continue
        base = atman[0]
        base_f, base_k = number(base["suppression_factor"]), base["conceptual_threshold"]
        by_f = sorted([r for r in atman if r["conceptual_threshold"] == base_k],
                      key=lambda r: number(r["suppression_factor"]))
        by_k = sorted([r for r in atman if number(r["suppression_factor"]) == base_f],
                      key=lambda r: -2.0 if r["conceptual_threshold"] == "off" else number(r["conceptual_threshold"]))
        panels = [(by_f, "suppression factor f (kappa = %s)" % base_k, lambda r: r["suppression_factor"]),
                  (by_k, "conceptual threshold kappa (f = %g)" % base_f, lambda r: r["conceptual_threshold"])]
        panels = [p for p in panels if len(p[0]) >= 2]
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
        baselines = [r for r in base_rows(summary, task) if r["method"] != "atman"]
        for ax, (rows, xlabel, xval) in zip(axes[0], panels):
            xs = np.arange(len(rows))
            for metric, name in METRICS:
                means = np.array([number(r[metric]) for r in rows])
                lows = np.array([number(r[metric + "_low"]) for r in rows])
                highs = np.array([number(r[metric + "_high"]) for r in rows])
                line, = ax.plot(xs, means, marker="o", label=name)
                ax.fill_between(xs, lows, highs, alpha=0.15, color=line.get_color())
            best = max((number(r["precision"]) for r in baselines), default=math.nan)
            if not math.isnan(best):
                ax.axhline(best, color="gray", linestyle="--", linewidth=1, label="best baseline mAP")
            ax.set_xticks(xs)
            ax.set_xticklabels([xval(r) for r in rows])
            ax.set_xlabel(xlabel)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        n = max(int(number(r["n"])) for r in atman)
        fig.suptitle("AtMan settings on %s (%d items, 95%% bootstrap bands)" % (task, n))
        fig.tight_layout()
        path = os.path.join(out_dir, "sweep_%s.png" % task)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def find_items(run, data):
    """item id -> (image path, mask path, question) for the image items of the run's sets."""
    folders = []
    if data:
        folders = [data] if os.path.exists(os.path.join(data, "items.jsonl")) else \
            [os.path.join(data, d) for d in sorted(os.listdir(data))]
    else:
        try:
            with open(os.path.join(run, "run.json")) as f:
                folders = json.load(f).get("sets", [])
        except (OSError, ValueError):
            folders = []
    items = {}
    for folder in folders:
        path = os.path.join(folder, "items.jsonl")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                item = json.loads(line)
                if "image" in item and "mask" in item:
                    items[item.get("id")] = (os.path.join(folder, item["image"]), os.path.join(folder, item["mask"]),
                                             item.get("question", item.get("prompt", "")), item.get("target", ""))
    return items


def plot_overlays(run, data, out_dir, count):
    examples = os.path.join(run, "examples")
    if not os.path.isdir(examples):
        return None
    items = find_items(run, data)
    if not items:
        return None
    chosen, methods = [], set()
    for task in sorted(os.listdir(examples)):
        folder = os.path.join(examples, task)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        for name in names:
            item, method = name[:-len(".json")].rsplit(".", 1)
            if item in items:
                methods.add(method)
                if item not in [c[0] for c in chosen]:
                    chosen.append((item, folder))
    chosen = chosen[:count]
    methods = sorted(methods, key=method_key)
    if not chosen or not methods:
        return None
    import matplotlib.image as mpimg
    fig, axes = plt.subplots(len(chosen), len(methods) + 1, figsize=(2.3 * (len(methods) + 1), 2.45 * len(chosen)),
                             squeeze=False)
    for n, (row, (item, folder)) in enumerate(zip(axes, chosen)):
        image_path, mask_path, question, target = items[item]
        image = mpimg.imread(image_path)
        mask = mpimg.imread(mask_path)
        if mask.ndim == 3:
            mask = mask[..., 0]
        h, w = image.shape[:2]
        row[0].imshow(image)
        row[0].contour(mask > 0, levels=[0.5], colors="white", linewidths=1.0)
        row[0].set_title("%s\n%s ->%s" % (item, question, target), fontsize=7)
        for ax, method in zip(row[1:], methods):
            ax.imshow(image)
            path = os.path.join(folder, "%s.%s.json" % (item, method))
            if os.path.exists(path):
                with open(path) as f:
                    e = json.load(f)
                rows_, cols_ = e["image_grid"]
                grid = np.zeros((rows_, cols_))
                for p in e["positions"]:
                    if p["kind"] == "image":
                        grid[p["patch"][0], p["patch"][1]] = max(p["relevance"], 0.0)
                top = grid.max()
                shown = grid / top if top > 0 else grid
                ax.imshow(shown, extent=(0, w, h, 0), cmap="turbo", alpha=0.55, vmin=0, vmax=1,
                          interpolation="bicubic")
                ax.contour(mask > 0, levels=[0.5], colors="white", linewidths=1.0)
                # Where the evaluation's top patch is: a small square.
                r, c = np.unravel_index(np.argmax(grid), grid.shape)
                ax.add_patch(plt.Rectangle((c * w / cols_, r * h / rows_), w / cols_, h / rows_, fill=False,
                                           edgecolor="black", linewidth=1.2))
            if n == 0:
                ax.set_title(METHOD_LABEL.get(method, method), fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Relevance of image patches (clipped at 0, per-panel max = 1; white: ground-truth object; "
                 "square: top patch)", fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, "overlays.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_rows(run):
    path = os.path.join(run, "rows.jsonl")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    rows.append(json.loads(line))
    return rows


def plot_faithfulness(run, out_dir, summary):
    """One figure per task with curves: mean log p(target) against the removed percentage, over the
    run's selection (the first `items` of each task, as the summary counts them)."""
    selected = {}
    for s in summary:
        selected[s["task"]] = max(selected.get(s["task"], 0), int(number(s["items"])))
    rows, seen = [], set()
    for r in read_rows(run):  # the first row of each key, as a resumed run keeps it
        key = (r["task"], r["item"], r["method"], r["setting"])
        if r.get("faithfulness") and key not in seen and r["index"] < selected.get(r["task"], 0):
            seen.add(key)
            rows.append(r)
    paths = []
    for task in dict.fromkeys(r["task"] for r in rows):
        groups = {}
        for r in rows:
            if r["task"] == task:
                groups.setdefault((r["method"], r["setting"]), []).append(r["faithfulness"])
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), squeeze=False)
        styles = ["-", "--", ":", "-."]
        for ax, operator in zip(axes[0], ("attention", "input")):
            seen = {}
            for (method, setting), curves in sorted(groups.items(), key=lambda g: method_key(g[0][0])):
                fractions = curves[0]["fractions"]
                curves = [c for c in curves if c["fractions"] == fractions]
                morf = np.mean([c[operator]["morf"] for c in curves], axis=0)
                lerf = np.mean([c[operator]["lerf"] for c in curves], axis=0)
                abpc = np.mean([c[operator]["abpc"] for c in curves])
                style = styles[seen.get(method, 0) % len(styles)]
                seen[method] = seen.get(method, 0) + 1
                label = METHOD_LABEL.get(method, method) + ("" if setting == "-" else " " + setting)
                colour = METHOD_COLOUR.get(method, "gray")
                ax.plot(fractions, morf, style, color=colour, marker="v", markersize=4,
                        label="%s: ABPC %.2f" % (label, abpc))
                ax.plot(fractions, lerf, style, color=colour, marker="^", markersize=4, alpha=0.6)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlabel("scored units removed (%); v MoRF (most relevant first), ^ LeRF (least relevant first)")
            ax.set_ylabel("mean log p(target)")
            ax.set_title("%s removal" % ("attention-suppression" if operator == "attention" else "input"),
                         fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        n = max(len(c) for c in groups.values())
        fig.suptitle("Deletion curves on %s (%d items): MoRF should fall fast, LeRF stay high" % (task, n))
        fig.tight_layout()
        path = os.path.join(out_dir, "faithfulness_%s.png" % task)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="output folder of atman eval")
    parser.add_argument("--data", help="held-out data folder (default: the sets named in RUN/run.json)")
    parser.add_argument("--examples", type=int, default=6, help="image items in overlays.png")
    args = parser.parse_args()
    try:
        summary = read_summary(args.run)
    except OSError as e:
        sys.exit("plot_eval: %s" % e)
    out_dir = os.path.join(args.run, "plots")
    os.makedirs(out_dir, exist_ok=True)
    paths = [plot_methods(summary, out_dir)] + plot_sweeps(summary, out_dir)
    overlay = plot_overlays(args.run, args.data, out_dir, args.examples)
    if overlay:
        paths.append(overlay)
    paths += plot_faithfulness(args.run, out_dir, summary)
    for path in paths:
        print("plot: " + path)


if __name__ == "__main__":
    main()
