"""Starts `hearth serve` on a real socket for the client tests.

HEARTH_BIN is the hearth binary and HEARTH_TEST_MODEL the GGUF file it serves
(scripts/test-clients.sh sets both).
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

API_KEY = "test-key"
MODEL = "smollm2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra_args, env=None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [
            os.environ["HEARTH_BIN"], "serve",
            "--port", str(self.port),
            "--model", f"{MODEL}={os.environ['HEARTH_TEST_MODEL']}",
            "--api-key", API_KEY,
            "-t", "2",
            *extra_args,
        ]
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hearth-serve-{self.port}.log"), "w+")
        # A home of its own: the server keeps its pull jobs and pulled models there,
        # never in the user's.
        self.home = tempfile.mkdtemp(prefix="hearth-home-")
        environment = dict(os.environ, HEARTH_HOME=self.home, **(env or {}))
        self.process = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, env=environment
        )
        self.wait_healthy()

    def wait_healthy(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hearth serve exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"hearth serve did not come up:\n{self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """Stops the server the way a user does (SIGINT) and returns its exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()


@pytest.fixture(scope="session")
def server():
    s = Server("--ctx", "1024")
    yield s
    status = s.stop()
    assert status == 0, f"hearth serve exited with {status}:\n{s.output()}"


@pytest.fixture()
def tiny_queue_server():
    """One running sequence and one waiting at most: the next request gets a 429."""
    s = Server("--ctx", "512", "--max-batch", "1", "--max-queue", "1")
    yield s
    s.stop()
