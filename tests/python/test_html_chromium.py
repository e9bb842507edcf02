#!/usr/bin/python3
"""The HTML report in a real browser: `atman explain --html` of the bundled
example, opened in headless Chromium at #selftest (the page's own script then
hovers every patch and token of every map through its event handlers and
writes what the tooltip showed into <pre id="selftest">). The shown values
must be the JSON output's (R, and R[i, t] per target token), each patch's
tooltip must name the hovered patch, and the map switch must swap the image.
A screenshot must be a PNG of the asked size that is not blank.

Exits 77 (ctest: skipped) when no chromium is installed (tools/setup.sh installs it).

Usage (ctest runs it): test_html_chromium.py --atman build/atman --models build/test_models
        --source-dir . --work-dir build/python_html_chromium"""
import argparse
import html
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import unittest

SKIP = 77
WINDOW = (1000, 1400)
# unittest's assertions (kept under python3 -O, unlike assert) for the checks of this script.
CHECK = unittest.TestCase()


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser, *args):
    # --no-sandbox: Chromium refuses to start as root otherwise (CI containers).
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def shown_value(text):
    match = re.search(r"^R = (\S+)$", text, re.M)
    CHECK.assertIsNotNone(match, f"no 'R = ...' line in the tooltip {text!r}")
    return None if match.group(1) == "n/a" else float(match.group(1))


def check_value(shown, expected, where):
    if expected is None or not math.isfinite(expected):
        CHECK.assertIsNone(shown, f"{where}: shown {shown}, expected n/a")
        return
    CHECK.assertTrue(shown is not None and math.isclose(shown, expected, rel_tol=1e-5, abs_tol=1e-12),
                     f"{where}: the tooltip shows {shown}, the JSON has {expected}")


def expected_of(position, target):
    return position["relevance"] if target is None else position["per_target"][target]


def check_selftest(page, doc):
    match = re.search(r'<pre id="selftest">(.*?)</pre>', page, re.S)
    CHECK.assertIsNotNone(match, "the page wrote no #selftest result (did its script run?)")
    result = json.loads(html.unescape(match.group(1)))
    images = [p for p in doc["positions"] if p["kind"] == "image"]
    texts = [p for p in doc["positions"] if p["kind"] != "image"]
    targets = len(doc["targets"])
    CHECK.assertEqual(len(result["maps"]), 1 + targets if targets > 1 else 1, [m["label"] for m in result["maps"]])
    checked = 0
    for m, entry in enumerate(result["maps"]):
        target = entry["target"]
        CHECK.assertEqual(target, None if m == 0 else m - 1, entry["label"])
        CHECK.assertTrue(entry["image_shown"], f"map {entry['label']}: the switch did not swap the image")
        CHECK.assertEqual(len(entry["patches"]), len(images), entry["label"])
        CHECK.assertEqual(len(entry["tokens"]), len(texts), entry["label"])
        by_index = {p["index"]: p for p in doc["positions"]}
        for patch in entry["patches"]:
            where = f"map {entry['label']!r}, patch {patch['row']},{patch['col']}"
            CHECK.assertIsNotNone(patch["shown"], f"{where}: no tooltip")
            position = by_index[patch["index"]]
            CHECK.assertEqual(position["patch"], [patch["row"], patch["col"]], where)
            CHECK.assertIn(f"patch ({patch['row']}, {patch['col']}) (position {patch['index']})", patch["shown"],
                           f"{where}: the tooltip names another unit")
            check_value(shown_value(patch["shown"]), expected_of(position, target), where)
            checked += 1
        for token, position in zip(entry["tokens"], texts):
            where = f"map {entry['label']!r}, token at {position['index']}"
            CHECK.assertEqual(token["index"], position["index"], where)
            check_value(shown_value(token["shown"]), expected_of(position, target), where)
            checked += 1
    return len(result["maps"]), checked


def check_screenshot(path):
    with open(path, "rb") as f:
        data = f.read()
    CHECK.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", "the screenshot is no PNG")
    width, height = struct.unpack(">II", data[16:24])  # IHDR comes first
    CHECK.assertEqual((width, height), WINDOW, "the screenshot's size")
    try:
        import cv2
    except ImportError:
        return
    image = cv2.imread(path)
    CHECK.assertIsNotNone(image, "the screenshot does not decode")
    CHECK.assertGreater(image.std(), 5.0, "the screenshot is blank")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    browser = chromium()
    if not browser:
        print("SKIP: no chromium on PATH (apt-get install chromium; tools/setup.sh installs it)")
        return SKIP
    os.makedirs(args.work_dir, exist_ok=True)
    report = os.path.join(args.work_dir, "report.html")
    out_json = os.path.join(args.work_dir, "explanation.json")
    image = os.path.join(args.source_dir, "data", "example", "shapes.png")
    subprocess.run([args.atman, "explain", "--model", os.path.join(args.models, "image_text.pt"), "--image", image,
                    "--question", "What shape is the blue object?", "--target", " triangle shape", "--quiet",
                    "--json", out_json, "--html", report], check=True, timeout=120)
    with open(out_json) as f:
        doc = json.load(f)
    url = "file://" + os.path.abspath(report)
    page = run_browser(browser, "--virtual-time-budget=5000", "--dump-dom", url + "#selftest")
    maps, checked = check_selftest(page, doc)
    shot = os.path.join(args.work_dir, "report.png")
    if os.path.exists(shot):
        os.remove(shot)
    run_browser(browser, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", url)
    check_screenshot(shot)
    print(f"OK: {maps} maps, {checked} hovered values equal the JSON's; screenshot {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
