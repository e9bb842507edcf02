#!/usr/bin/python3
"""The page of `atman serve` in headless Chromium, driven with Selenium
(Debian's chromium-driver and python3-selenium): upload the bundled example's
picture, answer, explain with the progress bar, hover words and patches (the
shown values must be the JSON's, fetched from /v1/explain beside the page),
switch the map to one target token and the method to another, cancel a long
explanation, steer, and save a screenshot (docs/images/serve_page.png is one).
A user text with markup must appear as text, never as markup.

Exits 77 (ctest: skipped) without chromium, chromedriver or selenium.

Usage: test_serve_page.py --atman build/atman --source-dir . --work-dir build/python_serve_page"""
import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

from tests.python.serve_client import Server, b64

SKIP = 77
ARGS = None

try:
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.file_detector import UselessFileDetector
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    webdriver = None


class Browser:
    """Headless Chromium behind a chromedriver this test starts itself: Selenium's
    own service gives chromedriver 30 seconds to start, which a loaded machine
    exceeded (a fresh-root run beside two builds: "Can not connect to the
    Service"); here it has 120, and a chromedriver that exits is reported at once."""

    def __init__(self, work_dir):
        options = webdriver.ChromeOptions()
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,1100", "--hide-scrollbars",
                    "--remote-debugging-address=127.0.0.1"):
            options.add_argument(arg)
        for name in ("chromium", "chromium-browser"):
            if shutil.which(name):
                options.binary_location = shutil.which(name)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.log = open(os.path.join(work_dir, "chromedriver.log"), "w")
        self.process = subprocess.Popen([shutil.which("chromedriver"), f"--port={port}"], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("chromedriver did not start; see " + self.log.name)
                time.sleep(0.1)
        self.driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        # Files for <input type=file> are on this machine: typed as paths, not uploaded through
        # Selenium's remote-file command, which chromedriver does not have.
        self.driver.file_detector = UselessFileDetector()

    def close(self):
        if getattr(self, "driver", None):
            self.driver.quit()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class PageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ARGS.source_dir, "data/example/example.json")) as f:
            cls.item = json.load(f)
        cls.image = os.path.abspath(os.path.join(ARGS.source_dir, "data/example", cls.item["image"]))
        cls.model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        cls.server = Server(ARGS.atman, {"tiny": cls.model}, "--workers", "2")
        cls.browser = Browser(ARGS.work_dir)
        cls.driver = cls.browser.driver
        cls.driver.set_script_timeout(120)
        cls.driver.get(f"http://127.0.0.1:{cls.server.port}/")
        cls.wait = WebDriverWait(cls.driver, 120)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.server.__exit__()

    def by_id(self, name):
        return self.driver.find_element(By.ID, name)

    def status(self):
        return self.by_id("status").text

    def open_options(self):
        details = self.driver.find_element(By.TAG_NAME, "details")
        if not details.get_attribute("open"):
            self.driver.find_element(By.TAG_NAME, "summary").click()

    def explain_in_page(self, method="atman"):
        self.open_options()
        Select(self.by_id("method")).select_by_visible_text(method)
        self.by_id("explain").click()
        self.wait.until(lambda d: self.status().startswith("done") or "error" in self.by_id("status").get_attribute("class"))
        self.assertTrue(self.status().startswith("done"), self.status())

    def served_json(self, method="atman"):
        status, doc, _ = self.server.request("POST", "/v1/explain", {
            "model": "tiny", "question": self.by_id("question").get_attribute("value"),
            "target": self.by_id("target").get_attribute("value"), "image": b64(self.image), "method": method,
            "granularity": "token", "image_granularity": "patch"})
        self.assertEqual(status, 200, doc)
        return doc

    def test_1_upload_answer_explain_hover_switch(self):
        self.wait.until(lambda d: len(Select(self.by_id("model")).options) == 1)
        self.by_id("image").send_keys(self.image)
        self.by_id("question").clear()
        self.by_id("question").send_keys(self.item["question"])
        self.by_id("answer").click()
        self.wait.until(lambda d: self.status().startswith("answer:"))
        self.assertTrue(self.by_id("target").get_attribute("value").strip())
        self.explain_in_page()
        self.assertEqual(self.by_id("progress").get_attribute("value"), self.by_id("progress").get_attribute("max"))
        doc = self.served_json()
        text_positions = [p for p in doc["positions"] if p["kind"] == "text"]
        spans = self.driver.find_elements(By.CSS_SELECTOR, "#prompt-words span")
        self.assertEqual(len(spans), len(text_positions))
        for span, position in zip(spans, text_positions):
            ActionChains(self.driver).move_to_element(span).perform()
            shown = self.by_id("hover").text
            value = float(shown.rsplit(": ", 1)[1])
            self.assertTrue(math.isclose(value, position["relevance"], rel_tol=1e-5, abs_tol=1e-9), (shown, position))
        # A patch: hover the middle of the first image rectangle.
        canvas = self.by_id("picture")
        rect = doc["explanations"][0]["image"][0]["rect"]
        width, height = canvas.size["width"], canvas.size["height"]
        x = (rect["left"] + rect["width"] / 2) * width - width / 2
        y = (rect["top"] + rect["height"] / 2) * height - height / 2
        ActionChains(self.driver).move_to_element_with_offset(canvas, x, y).perform()
        first_patch = [p for p in doc["positions"] if p["kind"] == "image"][0]
        shown = self.by_id("hover").text
        self.assertTrue(shown.startswith("patch " + ",".join(map(str, first_patch["patch"]))), shown)
        self.assertTrue(math.isclose(float(shown.rsplit(": ", 1)[1]), first_patch["relevance"], rel_tol=1e-5))
        # One target token's map: the words show per_target[0].
        Select(self.by_id("map-choice")).select_by_value("0")
        spans = self.driver.find_elements(By.CSS_SELECTOR, "#prompt-words span")  # drawn again
        span_index = 1 if len(spans) > 1 else 0
        ActionChains(self.driver).move_to_element(spans[span_index]).perform()
        value = float(self.by_id("hover").text.rsplit(": ", 1)[1])
        self.assertTrue(math.isclose(value, text_positions[span_index]["per_target"][0], rel_tol=1e-5, abs_tol=1e-9))
        self.driver.save_screenshot(os.path.join(ARGS.work_dir, "serve_page.png"))
        # Another method, then switch back and forth between the two.
        Select(self.by_id("map-choice")).select_by_value("-1")
        self.explain_in_page("ixg")
        methods = [o.text for o in Select(self.by_id("method-choice")).options]
        self.assertEqual(sorted(methods), ["atman", "ixg"])
        ixg = self.served_json("ixg")
        spans = self.driver.find_elements(By.CSS_SELECTOR, "#prompt-words span")
        ActionChains(self.driver).move_to_element(spans[1]).perform()
        ActionChains(self.driver).move_to_element(spans[0]).perform()
        ixg_text = [p for p in ixg["positions"] if p["kind"] == "text"]
        self.assertTrue(math.isclose(float(self.by_id("hover").text.rsplit(": ", 1)[1]), ixg_text[0]["relevance"],
                                     rel_tol=1e-4, abs_tol=1e-9))

    def test_2_cancel(self):
        self.open_options()
        Select(self.by_id("method")).select_by_visible_text("atman")
        Select(self.by_id("granularity")).select_by_visible_text("token")
        self.by_id("explain").click()
        self.wait.until(lambda d: self.by_id("cancel").is_enabled())
        self.by_id("cancel").click()
        self.wait.until(lambda d: self.status() in ("cancelled",) or self.status().startswith("done"))
        self.assertEqual(self.status(), "cancelled")
        time.sleep(1)
        status, _, _ = self.server.request("GET", "/healthz")
        self.assertEqual(status, 200)

    def test_3_steer_and_markup_stays_text(self):
        self.by_id("spans").clear()
        self.by_id("spans").send_keys("image")
        self.by_id("generate").click()
        self.wait.until(lambda d: self.by_id("steered").text or "error" in self.by_id("status").get_attribute("class"))
        status, whole, _ = self.server.request("POST", "/v1/generate", {
            "model": "tiny", "question": self.by_id("question").get_attribute("value"), "image": b64(self.image),
            "suppress": ["image"], "suppress_factor": 0.1})
        self.assertEqual(status, 200, whole)
        self.assertEqual(self.by_id("steered").text, whole["steered"]["text"])
        self.assertEqual(self.by_id("unsteered").text, whole["unsteered"]["text"])
        # A question with markup: shown as text in the words, no element made from it.
        hostile = "<img src=x onerror=alert(1)> What shape is the blue object?"
        self.by_id("question").clear()
        self.by_id("question").send_keys(hostile)
        self.explain_in_page()
        words = self.by_id("prompt-words")
        self.assertEqual(words.find_elements(By.CSS_SELECTOR, "*:not(span)"), [])  # only the page's own spans
        shown = words.text.replace(" ", "")
        for text in ("imgsrc", "onerror", "alert", "<unk>"):  # this tokenizer has no '<', '=' or '(': <unk>
            self.assertIn(text, shown)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    if webdriver is None or not shutil.which("chromedriver") or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("SKIP: needs chromium, chromium-driver and python3-selenium (tools/setup.sh installs them)")
        sys.exit(SKIP)
    result = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
