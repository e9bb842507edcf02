#!/usr/bin/python3
"""`atman serve` on an ephemeral loopback port (docs/serve.md): every endpoint,
the explain JSON equal to `atman explain --json`'s for the same input and
threads, streamed progress, a client that goes away, the token, bad requests
(each a 4xx with a one-line JSON error, the server still serving), Aleph
Alpha's /explain against /v1/explain, SIGTERM finishing the request in flight,
and a bounded load (8 clients x 25 requests) with resident memory flat.

Usage (ctest runs it): test_serve.py --atman build/atman --source-dir . --work-dir build/python_serve"""
import argparse
import base64
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from tests.python.serve_client import Server, b64, resident_kb
from tests.python.float32_rounding import ce_scale, reorder_tolerance

ARGS = None
TIMING_FIELDS = ("load_seconds", "compile_seconds", "sweep_seconds", "peak_memory_mb")


def example():
    with open(os.path.join(ARGS.source_dir, "data/example/example.json")) as f:
        item = json.load(f)
    return item, os.path.join(ARGS.source_dir, "data/example", item["image"])


def without_timings(doc):
    doc = json.loads(json.dumps(doc))
    for key in TIMING_FIELDS:
        doc["stats"].pop(key, None)
    return doc


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        cls.server = Server(ARGS.atman, {"tiny": cls.model}, "--workers", "2", "--queue", "4", "--max-body-mb", "2")
        cls.item, cls.image = example()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__()

    def explain_body(self, **extra):
        body = {"model": "tiny", "question": self.item["question"], "target": self.item["target"],
                "image": b64(self.image), "image_granularity": "2", "threads": 1, "batch_size": 8}
        body.update(extra)
        return body

    def assert_refused(self, status, content, expected_status, words):
        self.assertEqual(status, expected_status, content)
        self.assertIsInstance(content, dict, content)
        self.assertEqual(list(content), ["error"])
        self.assertNotIn("\n", content["error"])
        self.assertIn(words, content["error"])

    def test_healthz_and_models(self):
        status, content, _ = self.server.request("GET", "/healthz")
        self.assertEqual((status, content), (200, {"status": "ok"}))
        status, content, _ = self.server.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual([m["name"] for m in content["models"]], ["tiny"])
        self.assertTrue(content["models"][0]["image"])

    def test_explain_equals_the_command_line(self):
        options = {"granularity": "word", "conceptual_threshold": "0.5", "suppression_factor": 0.2}
        status, served, _ = self.server.request("POST", "/v1/explain", self.explain_body(**options))
        self.assertEqual(status, 200, served)
        out = os.path.join(ARGS.work_dir, "cli.json")
        subprocess.run([ARGS.atman, "explain", "--model", self.model, "--image", self.image,
                        "--question", self.item["question"], "--target", self.item["target"], "--threads", "1",
                        "--batch-size", "8", "--image-granularity", "2", "--granularity", "word", "--conceptual-threshold", "0.5",
                        "--suppression-factor", "0.2", "--json", out, "--quiet"], check=True)
        with open(out) as f:
            cli = json.load(f)
        self.assertEqual(without_timings(served), without_timings(cli))

    def test_overlay_is_a_png(self):
        status, served, _ = self.server.request("POST", "/v1/explain", self.explain_body(overlay=True))
        self.assertEqual(status, 200, served)
        png = base64.b64decode(served["overlay_png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")

    def test_multipart_upload(self):
        boundary = "atman-test-boundary"
        request = {"model": "tiny", "question": self.item["question"], "target": self.item["target"], "threads": 1,
                   "batch_size": 8, "image_granularity": "2"}
        with open(self.image, "rb") as f:
            picture = f.read()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{json.dumps(request)}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"shapes.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + picture + f"\r\n--{boundary}--\r\n".encode()
        status, served, _ = self.server.request(
            "POST", "/v1/explain", raw=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual(status, 200, served)
        _, plain, _ = self.server.request("POST", "/v1/explain", self.explain_body())
        self.assertEqual(without_timings(served), without_timings(plain))

    def test_streamed_progress_then_the_document(self):
        events = self.server.events("/v1/explain", self.explain_body(stream=True))
        kinds = [e for e, _ in events]
        self.assertEqual(kinds[-1], "result", events[-1])
        progress = [d for e, d in events if e == "progress"]
        self.assertGreater(len(progress), 1)
        done = [p["passes_done"] for p in progress]
        self.assertEqual(done, sorted(done))
        self.assertEqual(progress[-1]["passes_done"], progress[-1]["passes_total"])
        _, plain, _ = self.server.request("POST", "/v1/explain", self.explain_body())
        self.assertEqual(without_timings(events[-1][1]), without_timings(plain))

    def test_a_client_that_goes_away_stops_its_sweep(self):
        before = self.metric("atman_forward_passes_total")
        # Every patch, one pass per batch: seconds of work if it ran to the end.
        sock, _ = self.server.stream_until_progress(
            "/v1/explain", self.explain_body(stream=True, batch_size=1, image_granularity="patch"))
        sock.close()
        # The worker comes free when the sweep ends, at its next pass or at its last: wait for
        # that, however slow this machine; a sweep that ran to its end would count its passes.
        deadline = time.monotonic() + 300
        while self.metric("atman_requests_running") != 0:
            self.assertLess(time.monotonic(), deadline, "the sweep of a client that went away never ended")
            time.sleep(0.1)
        status, _, _ = self.server.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(self.metric("atman_forward_passes_total"), before)  # no passes counted for it

    def metric(self, name):
        _, text, _ = self.server.request("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"no {name} in /metrics")

    def test_metrics_are_prometheus_text(self):
        self.server.request("GET", "/healthz")
        status, text, headers = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertIn('atman_requests_total{endpoint="/healthz",status="200"}', text)
        self.assertIn('atman_request_seconds_bucket{endpoint="/healthz",le="+Inf"}', text)
        self.assertGreater(self.metric("atman_resident_memory_bytes"), 1e6)

    def test_answer_and_tokenize(self):
        status, content, _ = self.server.request(
            "POST", "/v1/answer", {"model": "tiny", "question": self.item["question"], "image": b64(self.image)})
        self.assertEqual(status, 200, content)
        cli = subprocess.run([ARGS.atman, "answer", "--model", self.model, "--image", self.image,
                              "--question", self.item["question"]], capture_output=True, text=True, check=True)
        self.assertEqual(content["answer"], cli.stdout.strip())
        status, content, _ = self.server.request("POST", "/v1/tokenize", {"model": "tiny", "text": " red circle"})
        self.assertEqual(status, 200, content)
        cli = subprocess.run([ARGS.atman, "tokenize", "--model", self.model, "--text", " red circle", "--json"],
                             capture_output=True, text=True, check=True)
        self.assertEqual(content, json.loads(cli.stdout))

    def test_generate_streams_tokens(self):
        body = {"model": "tiny", "question": self.item["question"], "image": b64(self.image),
                "suppress": ["image"], "max_tokens": 4}
        status, whole, _ = self.server.request("POST", "/v1/generate", body)
        self.assertEqual(status, 200, whole)
        events = self.server.events("/v1/generate", dict(body, stream=True))
        self.assertEqual(events[-1][0], "result")
        self.assertEqual(events[-1][1]["steered"]["ids"], whole["steered"]["ids"])
        streamed = [d["id"] for e, d in events if e == "token" and d["run"] == "steered"]
        self.assertEqual(streamed, whole["steered"]["ids"])

    def test_bad_requests_get_one_line_and_the_server_goes_on(self):
        cases = [
            ("POST", "/v1/explain", b"{not json", 400, "malformed JSON"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(threads="many")).encode(), 400, "threads"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(colour=1)).encode(), 400, "unknown field colour"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(image="@@@")).encode(), 400, "not base64"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(image=base64.b64encode(b"GIF89a" + b"\0" * 20)
                                                                  .decode())).encode(), 400, "image"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(model="nope")).encode(), 404, "not served"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(model="../tiny")).encode(), 400, "not a path"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(method="magic")).encode(), 400, "method"),
            ("POST", "/v1/explain", json.dumps(self.explain_body(target=" " + "red " * 600)).encode(), 400,
             "max_positions"),
            ("POST", "/v1/explain", b"x" * (3 << 20), 413, "max-body-mb"),
            ("POST", "/v1/answer", json.dumps({"model": "tiny", "question": 3}).encode(), 400, "question must be"),
            ("POST", "/v1/tokenize", json.dumps({"model": "tiny"}).encode(), 400, "exactly one of"),
            ("POST", "/v1/generate", json.dumps({"model": "tiny", "question": "q", "suppress": "x"}).encode(), 400,
             "suppress must be a list"),
            ("GET", "/v2/nothing", None, 404, "no such endpoint"),
        ]
        for method, path, raw, status_wanted, words in cases:
            with self.subTest(path=path, words=words):
                status, content, _ = self.server.request(method, path, raw=raw)
                self.assert_refused(status, content, status_wanted, words)
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)

    def test_hostile_images_from_the_table(self):
        bad_dir = os.path.join(ARGS.work_dir, "hostile")
        os.makedirs(bad_dir, exist_ok=True)
        header_bomb = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + (100000).to_bytes(4, "big") * 2 + b"\x08\x02\0\0\0" + b"\0" * 4
        with open(self.image, "rb") as f:
            truncated = f.read()[:100]
        for name, data in [("truncated.png", truncated), ("bomb.png", header_bomb), ("text.png", b"hello")]:
            with self.subTest(name=name):
                status, content, _ = self.server.request(
                    "POST", "/v1/explain", self.explain_body(image=base64.b64encode(data).decode()))
                self.assertIn(status, (400, 413), content)
                self.assertNotIn("\n", content["error"])
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)

    def test_aleph_alpha_explain_is_v1_explain(self):
        prompt = self.item["question"]
        body = {"model": "tiny", "target": self.item["target"], "control_log_additive": False,
                "prompt_granularity": {"type": "token"},
                "prompt": [{"type": "image", "data": b64(self.image), "controls": []},
                           {"type": "text", "data": "Q: " + prompt, "controls": []},
                           {"type": "text", "data": " A:"}]}
        status, aa, _ = self.server.request("POST", "/explain", body)
        self.assertEqual(status, 200, aa)
        status, doc, _ = self.server.request("POST", "/v1/explain", {
            "model": "tiny", "prompt": "{image}Q: " + prompt + " A:", "target": self.item["target"],
            "image": b64(self.image), "conceptual_threshold": "off", "suppression_factor": 0.1})
        self.assertEqual(status, 200, doc)
        items = aa["explanations"][0]["items"]
        self.assertEqual([i["type"] for i in items], ["image", "text", "text", "target"])
        # The two requests may batch differently, which reorders float32 sums (float32_rounding.py).
        tolerance = reorder_tolerance(ce_scale(doc))
        image_scores, wanted_image = items[0]["scores"], doc["explanations"][0]["image"]
        self.assertEqual([s["rect"] for s in image_scores], [s["rect"] for s in wanted_image])
        self.assert_close([s["score"] for s in image_scores], [s["score"] for s in wanted_image], tolerance)
        texts = ["Q: " + prompt, " A:"]
        scores = [s["score"] for k in (1, 2) for s in items[k]["scores"]]
        wanted = [p["relevance"] for p in doc["positions"] if p["kind"] == "text" and p["piece"] not in ("<s>",)]
        self.assert_close(scores, wanted[-len(scores):], tolerance)
        for k in (1, 2):
            for s in items[k]["scores"]:
                self.assertLessEqual(s["start"] + s["length"], len(texts[k - 1]))
        # The target's own tokens are not explained units here (docs/serve.md): its item has no scores.
        self.assertEqual(items[3], {"type": "target", "scores": []})

    def assert_close(self, got, wanted, tolerance):
        self.assertEqual(len(got), len(wanted))
        worst = max((abs(a - b) for a, b in zip(got, wanted)), default=0.0)
        self.assertLessEqual(worst, tolerance, f"largest difference {worst:.3g} over {tolerance:.3g}")

    def test_aleph_alpha_refusals(self):
        status, content, _ = self.server.request("POST", "/explain", {
            "model": "tiny", "target": " red", "prompt": [{"type": "token_ids", "data": [1, 2]}]})
        self.assert_refused(status, content, 400, "token_ids")


class TokenTest(unittest.TestCase):
    def test_the_token_is_needed_except_for_healthz_and_the_page(self):
        token_file = os.path.join(ARGS.work_dir, "token")
        with open(token_file, "w") as f:
            f.write("s3cret-token-for-tests\n")
        model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        with Server(ARGS.atman, {"tiny": model}, "--token-file", token_file) as server:
            self.assertEqual(server.request("GET", "/healthz")[0], 200)
            self.assertEqual(server.request("GET", "/")[0], 200)
            status, content, _ = server.request("GET", "/v1/models")
            self.assertEqual(status, 401)
            self.assertIn("bearer token", content["error"])
            status, _, _ = server.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
            self.assertEqual(status, 401)
            server.token = "s3cret-token-for-tests"
            self.assertEqual(server.request("GET", "/v1/models")[0], 200)


class LifecycleTest(unittest.TestCase):
    def test_sigterm_finishes_the_request_in_flight(self):
        item, image = example()
        model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        server = Server(ARGS.atman, {"tiny": model})
        # A streamed explanation of every patch, one pass per batch: SIGTERM goes out once its first
        # progress event has come, so the request is surely computing, whatever the machine's speed.
        sock, received = server.stream_until_progress("/v1/explain", {
            "model": "tiny", "question": item["question"], "target": item["target"], "image": b64(image),
            "image_granularity": "patch", "batch_size": 1, "threads": 1, "stream": True})
        server.process.send_signal(signal.SIGTERM)
        while True:  # the rest of the stream, to the connection's close
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        sock.close()
        out, err = server.process.communicate(timeout=120)
        self.assertEqual(server.process.returncode, 0, err)
        self.assertIn("stopped", out)
        self.assertIn(b"event: result", received, received[-2000:])
        self.assertNotIn(b"event: error", received)

    def test_a_busy_port_is_one_line(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        r = subprocess.run([ARGS.atman, "serve", "--model", f"tiny={model}", "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
        sock.close()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", r.stderr)

    def test_bad_model_flags_are_one_line(self):
        for flag, words in [("tiny", "NAME=PATH"), ("a/b=x.pt", "the name must be"), ("tiny=/nonexistent.pt", "")]:
            r = subprocess.run([ARGS.atman, "serve", "--model", flag, "--port", "0"], capture_output=True, text=True,
                               timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertIn(words, r.stderr)


class LoadTest(unittest.TestCase):
    """8 clients x 25 requests on loopback: no error, resident memory flat, p50/p95 reported."""

    def test_bounded_load(self):
        item, image = example()
        model = os.path.join(ARGS.source_dir, "torchscript_models/tiny_magma.pt")
        # Text only: the test bounds the service's behaviour under load, not the sweep's speed (docs/serve.md).
        body = {"model": "tiny", "question": item["question"], "target": item["target"], "threads": 1}
        with Server(ARGS.atman, {"tiny": model}, "--workers", "2", "--queue", "8") as server:
            server.request("POST", "/v1/explain", body)  # warm-up
            rss = [resident_kb(server.process.pid)]
            latencies = []

            def client(_):
                for _ in range(25):
                    start = time.monotonic()
                    status, content, _ = server.request("POST", "/v1/explain", body)
                    latencies.append(time.monotonic() - start)
                    self.assertEqual(status, 200, content)
                    rss.append(resident_kb(server.process.pid))
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(client, range(8)))
            self.assertEqual(len(latencies), 200)
            latencies.sort()
            p50, p95 = latencies[100], latencies[190]
            print(f"load: 8 clients x 25 requests: p50 {p50:.3f} s, p95 {p95:.3f} s; "
                  f"resident {rss[0] / 1024:.0f} MB at start, {max(rss) / 1024:.0f} MB at most, "
                  f"{rss[-1] / 1024:.0f} MB at the end")
            # Flat: the second half of the run holds no more than the first half's peak plus 10%.
            half = len(rss) // 2
            self.assertLessEqual(max(rss[half:]), 1.1 * max(rss[:half]) + 8 * 1024)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
