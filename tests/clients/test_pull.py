"""Pulling and deleting through the `ollama` package and `/v1/pulls`, from a local
stand-in for the Hugging Face hub: the pulled model is verified, served under its
name, and gone after a delete.
"""

import json
import os
import urllib.request

import ollama
import pytest

from conftest import API_KEY, Server
from fake_hub import FILE, REPO, FakeHub

PULLED = "test-owner/smollm2-gguf:q4_1"


@pytest.fixture(scope="module")
def hub():
    h = FakeHub(os.environ["HEARTH_TEST_MODEL"])
    yield h
    h.stop()


@pytest.fixture(scope="module")
def hub_server(hub):
    s = Server("--ctx", "512", env={"HF_ENDPOINT": hub.url})
    yield s
    s.stop()


def client(server):
    return ollama.Client(host=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"})


def request(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        server.base_url + path, data=data, method=method,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read().decode()


def test_pull_streams_progress_then_the_model_is_served_and_deleted(hub_server, hub):
    c = client(hub_server)
    updates = list(c.pull(f"hf.co/{REPO}:Q4_1", stream=True))
    assert updates[-1].status == "success", updates
    downloads = [u for u in updates if u.total]
    assert downloads and downloads[-1].completed == hub.size, downloads[-3:]

    assert PULLED in [m.model for m in c.list().models]
    # The name it was pulled as works too.
    answer = c.generate(
        model=f"hf.co/{REPO}:Q4_1", prompt="The capital of France is",
        options={"temperature": 0, "num_predict": 4},
    )
    assert answer.response.strip(), answer

    blobs = os.listdir(os.path.join(hub_server.home, "blobs"))
    assert blobs == [f"sha256-{hub.sha256}"], blobs

    c.delete(PULLED)
    assert PULLED not in [m.model for m in c.list().models]
    assert os.listdir(os.path.join(hub_server.home, "blobs")) == []
    with pytest.raises(ollama.ResponseError) as err:
        c.delete(PULLED)
    assert err.value.status_code == 404


def test_pull_of_a_missing_quant_names_the_ones_that_exist(hub_server):
    with pytest.raises(ollama.ResponseError) as err:
        client(hub_server).pull(f"{REPO}:Q8_0", stream=False)
    assert "Q4_1" in str(err.value), err.value


def test_v1_pulls_reports_a_job_and_its_events(hub_server):
    status, body = request(hub_server, "POST", "/v1/pulls", {"model": f"{REPO}:{FILE}"})
    assert status == 202, body
    job = json.loads(body)
    _, events = request(hub_server, "GET", f"/v1/pulls/{job['id']}/events")
    last = json.loads([l for l in events.splitlines() if l.startswith("data: ")][-1][6:])
    assert last["status"] == "done", last
    _, body = request(hub_server, "GET", f"/v1/pulls/{job['id']}")
    assert json.loads(body)["completed_bytes"] > 0
