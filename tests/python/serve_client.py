"""Starts `atman serve` on an ephemeral loopback port and talks to it: the
helpers of tests/python/test_serve*.py."""
import base64
import http.client
import json
import signal
import socket
import subprocess


class Server:
    """`atman serve --port 0 ...` as a context manager; .port, .request(), .stop()."""

    def __init__(self, atman, models, *extra):
        args = [atman, "serve", "--port", "0"]
        for name, path in models.items():
            args += ["--model", f"{name}={path}"]
        self.process = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening on http://" not in line:
            self.process.kill()
            raise RuntimeError(f"atman serve did not start: {line!r} {self.process.stderr.read()[-2000:]}")
        self.port = int(line.rsplit(":", 1)[1].strip(" /\n"))
        self.token = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def connection(self, timeout=600):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None):
        """(status, parsed JSON or text, headers) of one request; body is JSON-encoded unless raw bytes are given."""
        conn = self.connection()
        all_headers = dict(headers or {})
        if self.token and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        kind = response.getheader("Content-Type") or ""
        content = json.loads(text) if kind.startswith("application/json") else text
        return response.status, content, dict(response.getheaders())

    def events(self, path, body):
        """The server-sent events of a streamed POST, as (event, data) pairs."""
        conn = self.connection()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError("HTTP %d: %r" % (response.status, response.read()))
        events = []
        for block in response.read().decode().split("\n\n"):
            if not block.strip():
                continue
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append((fields["event"], json.loads(fields["data"])))
        conn.close()
        return events

    def stream_until_progress(self, path, body, timeout=300):
        """POSTs a streamed request on a raw socket and reads until its first
        progress event: the request is then surely computing. Returns the
        socket (the caller reads on or closes it) and the bytes received."""
        data = json.dumps(body).encode()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        received = b""
        while b"event: progress" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                sock.close()
                raise RuntimeError(f"the stream ended before its first progress event: {received[-500:]!r}")
            received += chunk
        return sock, received

    def stop(self, timeout=60):
        """SIGTERM; returns (exit code, stdout rest, stderr)."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def resident_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
