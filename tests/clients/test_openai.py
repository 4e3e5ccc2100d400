"""The official `openai` Python package against `hearth serve` with SmolLM2."""

import json
import re
import threading
import time
import urllib.request

import openai
import pytest
from openai import OpenAI

from conftest import API_KEY, MODEL

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def client(server, **kwargs):
    return OpenAI(base_url=server.base_url + "/v1", api_key=API_KEY, max_retries=0, **kwargs)


def get(server, path, key=API_KEY):
    request = urllib.request.Request(server.base_url + path)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.status, r.read().decode()


def metric(server, name):
    _, text = get(server, "/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_chat_answers_and_counts_tokens(server):
    r = client(server).chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=24, logprobs=True
    )
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens == len(choice.logprobs.content)
    assert r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.id.startswith("chatcmpl-") and r.model == MODEL


def test_streamed_chat_equals_the_whole_answer(server):
    c = client(server)
    whole = c.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24)
    stream = c.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=24,
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_completion_continues_the_prompt(server):
    r = client(server).completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=8
    )
    assert r.choices[0].text.startswith(" Paris")
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 8
    assert r.choices[0].finish_reason == "length"


def test_streamed_completion(server):
    stream = client(server).completions.create(
        model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=8, stream=True
    )
    text = "".join(ch.choices[0].text for ch in stream if ch.choices)
    assert text.startswith(" Paris")


def test_stop_strings_end_the_answer_before_them(server):
    r = client(server).completions.create(
        model=MODEL, prompt="1, 2, 3, 4,", temperature=0, max_tokens=32, stop=[" 7"]
    )
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text.strip().rstrip(",").endswith("6")
    assert " 7" not in r.choices[0].text


def test_a_seed_reproduces_a_sampled_answer(server):
    c = client(server)
    ask = lambda seed: c.chat.completions.create(  # noqa: E731
        model=MODEL, messages=QUESTION, temperature=1.0, seed=seed, max_tokens=16
    ).choices[0].message.content
    assert ask(1234) == ask(1234)


def test_n_gives_that_many_choices(server):
    r = client(server).chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=1.0, seed=7, n=3, max_tokens=8
    )
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.message.content for c in r.choices)
    assert r.usage.completion_tokens <= 3 * 8


def test_logprobs_list_the_top_alternatives(server):
    r = client(server).chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=6, logprobs=True, top_logprobs=3
    )
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        # Greedy picks the most likely token.
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob, abs=1e-4)

    r = client(server).completions.create(
        model=MODEL, prompt="Hello", temperature=0, max_tokens=4, logprobs=2
    )
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert all(len(top) == 2 for top in lp.top_logprobs)


def test_json_schema_response_format_gives_valid_json(server):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    r = client(server).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give the largest city of France as JSON."}],
        temperature=0,
        max_tokens=64,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    value = json.loads(r.choices[0].message.content)
    assert set(value) == {"city", "population"}
    assert isinstance(value["city"], str) and isinstance(value["population"], int)


def test_models_are_listed(server):
    c = client(server)
    assert [m.id for m in c.models.list()] == [MODEL]
    assert c.models.retrieve(MODEL).id == MODEL


def test_wrong_api_key_is_401(server):
    with pytest.raises(openai.AuthenticationError) as e:
        OpenAI(base_url=server.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"


def test_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError) as e:
        client(server).chat.completions.create(model="no-such-model", messages=QUESTION)
    assert e.value.code == "model_not_found"


def test_invalid_field_is_400_naming_it(server):
    with pytest.raises(openai.BadRequestError) as e:
        client(server).chat.completions.create(model=MODEL, messages=QUESTION, temperature=7)
    assert e.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client(server).chat.completions.create(
            model=MODEL, messages=QUESTION, extra_body={"max_tokens": "many"}
        )
    assert "max_tokens" in str(e.value)


def test_malformed_json_is_400(server):
    request = urllib.request.Request(
        server.base_url + "/v1/chat/completions",
        data=b'{"model": "smollm2", "messages": [',
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400
    assert json.loads(e.value.read())["error"]["type"] == "invalid_request_error"


def test_prompt_longer_than_the_context_is_400_with_the_numbers(server):
    with pytest.raises(openai.BadRequestError) as e:
        client(server).completions.create(model=MODEL, prompt="word " * 2000, max_tokens=4)
    assert e.value.code == "context_length_exceeded"
    assert re.search(r"\b1024\b", str(e.value))


def test_health_ready_and_metrics(server):
    assert get(server, "/health", key=None)[0] == 200
    assert json.loads(get(server, "/ready")[1]) is not None
    client(server).completions.create(model=MODEL, prompt="Hi", max_tokens=2)
    for name in (
        "hearth_requests_total", "hearth_prompt_tokens_total", "hearth_generated_tokens_total",
        "hearth_time_to_first_token_seconds", "hearth_time_per_output_token_seconds",
        "hearth_queue_depth", "hearth_running_sequences", "hearth_kv_cache_usage_ratio",
    ):
        assert name in get(server, "/metrics")[1], name
    assert metric(server, "hearth_generated_tokens_total") >= 2


def test_a_dropped_stream_frees_its_sequence(server):
    stream = client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a very long story."}],
        max_tokens=900, stream=True,
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.time() + 60
    while metric(server, "hearth_running_sequences") > 0:
        assert time.time() < deadline, "the dropped stream's sequence is still running"
        time.sleep(0.05)


def test_a_full_queue_answers_429_with_retry_after(tiny_queue_server):
    c = client(tiny_queue_server)
    results = []

    def ask():
        try:
            c.completions.create(model=MODEL, prompt="Count: 1, 2,", max_tokens=64)
            results.append(200)
        except openai.RateLimitError as e:
            assert e.response.headers.get("retry-after")
            results.append(429)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 429 in results and 200 in results


def test_a_repeated_prompt_reports_cached_tokens(server):
    c = client(server)
    messages = [{"role": "user", "content": "Say something about the sea, in one sentence."}]
    c.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=4)
    r = c.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=4)
    assert r.usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens - 1
