"""A local stand-in for the Hugging Face hub, enough for `hearth pull`: the revision
and tree APIs (with LFS sha256) and `resolve` downloads that redirect to a blob
route honouring Range requests. It serves one repository holding one GGUF file.
"""

import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = "test-owner/SmolLM2-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FakeHub:
    def __init__(self, model_path):
        self.model_path = model_path
        self.size = os.path.getsize(model_path)
        self.sha256 = sha256_of(model_path)
        self.requests = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Range")))
                hub.route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def route(self, h):
        path = h.path.split("?")[0]
        if path == f"/api/models/{REPO}/revision/main":
            return self.json(h, {"id": REPO, "sha": REVISION})
        if re.fullmatch(f"/api/models/{REPO}/tree/[^/]+", path):
            return self.json(h, [
                {"type": "file", "path": "README.md", "size": 5, "oid": "1" * 40},
                {
                    "type": "file", "path": FILE, "size": self.size, "oid": "2" * 40,
                    "lfs": {"oid": self.sha256, "size": self.size},
                },
            ])
        if path == f"/{REPO}/resolve/{REVISION}/{FILE}" or path == f"/{REPO}/resolve/main/{FILE}":
            h.send_response(302)
            h.send_header("Location", f"{self.url}/blobs/{self.sha256}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if path == f"/blobs/{self.sha256}":
            return self.blob(h)
        if path.startswith("/api/models/"):
            return self.json(h, {"error": "Repository not found"}, status=404)
        h.send_response(404)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def json(self, h, value, status=200):
        body = json.dumps(value).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def blob(self, h):
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{self.size - 1}/{self.size}")
        else:
            h.send_response(200)
        h.send_header("Content-Length", str(self.size - start))
        h.end_headers()
        with open(self.model_path, "rb") as f:
            f.seek(start)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                try:
                    h.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
