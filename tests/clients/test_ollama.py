"""The official `ollama` Python package against `hearth serve` with SmolLM2.

Pulling and deleting are in test_pull.py.
"""

import json
from datetime import datetime, timedelta, timezone

import ollama
import pytest

from conftest import API_KEY, MODEL

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = {"temperature": 0, "num_predict": 16}


def client(server, key=API_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return ollama.Client(host=server.base_url, headers=headers)


def test_list_shows_the_served_model_with_gguf_details(server):
    models = {m.model: m for m in client(server).list().models}
    assert MODEL in models, models
    m = models[MODEL]
    assert m.size > 50_000_000
    assert len(m.digest) == 64
    assert m.modified_at is not None
    assert m.details.format == "gguf"
    assert m.details.family == "llama"
    assert m.details.quantization_level == "Q4_1"
    assert m.details.parameter_size.endswith("M")


def test_show_gives_the_chat_template_and_metadata(server):
    r = client(server).show(MODEL)
    assert "im_start" in r.template
    assert r.details.family == "llama"
    assert r.modelinfo["general.architecture"] == "llama"
    assert r.modelinfo["general.parameter_count"] > 100_000_000
    assert r.modelinfo.get("tokenizer.ggml.tokens") is None, "the vocabulary is left out"
    assert "completion" in r.capabilities


def test_show_of_an_unknown_model_is_404(server):
    with pytest.raises(ollama.ResponseError) as e:
        client(server).show("no-such-model")
    assert e.value.status_code == 404
    assert "not found" in e.value.error


def test_chat_answers_with_counters(server):
    r = client(server).chat(model=MODEL, messages=QUESTION, options=GREEDY, stream=False)
    assert r.message.role == "assistant"
    assert "Paris" in r.message.content
    assert r.done is True
    assert r.done_reason in ("stop", "length")
    assert r.prompt_eval_count > 5
    assert 0 < r.eval_count <= 16
    assert r.total_duration >= r.eval_duration > 0


def test_chat_streams_fragments_then_a_done_part(server):
    parts = list(client(server).chat(model=MODEL, messages=QUESTION, options=GREEDY, stream=True))
    assert len(parts) >= 3
    assert all(not p.done for p in parts[:-1])
    last = parts[-1]
    assert last.done is True and last.done_reason in ("stop", "length")
    assert last.eval_count >= len(parts) - 1
    text = "".join(p.message.content for p in parts)
    assert "Paris" in text
    # Greedy decoding gives the same text streamed or not.
    whole = client(server).chat(model=MODEL, messages=QUESTION, options=GREEDY, stream=False)
    assert text == whole.message.content


def test_generate_streamed_and_not(server):
    c = client(server)
    r = c.generate(model=MODEL, prompt="What is the capital of France?", options=GREEDY)
    assert "Paris" in r.response
    assert r.done is True
    parts = list(c.generate(model=MODEL, prompt="What is the capital of France?", options=GREEDY, stream=True))
    assert "".join(p.response for p in parts) == r.response
    assert parts[-1].done is True


def test_num_predict_cuts_the_answer(server):
    r = client(server).generate(
        model=MODEL, prompt="Count from one to fifty in words.", options={"temperature": 0, "num_predict": 3}
    )
    assert r.eval_count == 3
    assert r.done_reason == "length"


def test_chat_with_format_json_gives_json(server):
    r = client(server).chat(
        model=MODEL,
        messages=[{"role": "user", "content": "Give the largest city of France as a JSON object."}],
        format="json",
        options={"temperature": 0, "num_predict": 128},
    )
    assert isinstance(json.loads(r.message.content), dict)


def test_chat_with_a_schema_gives_matching_json(server):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    r = client(server).chat(
        model=MODEL,
        messages=[{"role": "user", "content": "Give the largest city of France as JSON."}],
        format=schema,
        options={"temperature": 0, "num_predict": 64},
    )
    value = json.loads(r.message.content)
    assert set(value) == {"city"} and isinstance(value["city"], str)


def test_ps_lists_the_loaded_model_and_keep_alive_0_unloads_it(server):
    c = client(server)
    r = c.generate(model=MODEL, keep_alive="5m")
    assert r.done is True and r.done_reason == "load"
    running = {m.model: m for m in c.ps().models}
    assert MODEL in running, running
    m = running[MODEL]
    assert m.size > 50_000_000
    assert m.size_vram == 0
    now = datetime.now(timezone.utc)
    assert now < m.expires_at <= now + timedelta(minutes=5, seconds=5)
    assert m.details.format == "gguf"

    r = c.generate(model=MODEL, keep_alive=0)
    assert r.done_reason == "unload"
    assert MODEL not in {m.model for m in c.ps().models}

    # The next request loads it again.
    r = c.chat(model=MODEL, messages=QUESTION, options=GREEDY, keep_alive=-1)
    assert "Paris" in r.message.content
    assert MODEL in {m.model for m in c.ps().models}


def test_bad_keep_alive_is_400(server):
    with pytest.raises(ollama.ResponseError) as e:
        client(server).generate(model=MODEL, prompt="hi", keep_alive="bogus")
    assert e.value.status_code == 400
    assert "bogus" in e.value.error


def test_unknown_model_is_404(server):
    with pytest.raises(ollama.ResponseError) as e:
        client(server).chat(model="no-such-model", messages=QUESTION, stream=False)
    assert e.value.status_code == 404
    assert e.value.error == 'model "no-such-model" not found, try pulling it first'


def test_missing_api_key_is_401(server):
    with pytest.raises(ollama.ResponseError) as e:
        client(server, key=None).list()
    assert e.value.status_code == 401


def test_logprobs_come_with_each_token(server):
    r = client(server).generate(
        model=MODEL, prompt="What is the capital of France?", logprobs=True, top_logprobs=3,
        options={"temperature": 0, "num_predict": 5},
    )
    assert len(r.logprobs) == r.eval_count
    first = r.logprobs[0]
    assert first.logprob <= 0
    assert len(first.top_logprobs) == 3
    assert first.top_logprobs[0].token == first.token, "greedy picks the most likely"
    assert "".join(lp.token for lp in r.logprobs) == r.response
