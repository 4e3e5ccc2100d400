#!/usr/bin/env python3
"""Generate llama.cpp reference outputs for Hearth's parity tests.

Run once per model, with llama-cpp-python (which vendors and builds llama.cpp) installed:

    python3 -m venv ~/.cache/hearth/llama-ref-venv
    ~/.cache/hearth/llama-ref-venv/bin/pip install llama-cpp-python==0.3.36 numpy jinja2
    ~/.cache/hearth/llama-ref-venv/bin/python scripts/make-parity-fixtures.py smollm2 MODEL.gguf

It reads the inputs in fixtures/parity/ (tokenizer_texts.json, raw_prompts.json,
chat_questions.json) and writes fixtures/parity/NAME.json with:

- tokenize: ids of each text, no BOS/EOS, special-token text not parsed;
- raw: greedy continuation (up to 32 tokens, stopping at end-of-generation) of each
  raw prompt, tokenized with the model's BOS setting;
- chat: for each question, the prompt rendered with the model's chat template
  (Jinja2 with trim_blocks/lstrip_blocks, as llama.cpp --jinja and Hugging Face do),
  its ids (special tokens parsed) and the greedy answer (up to 48 tokens).

Greedy is argmax of llama.cpp's logits (lowest id on ties), flash attention off,
f16 KV cache: llama.cpp's defaults through this package.
"""
import json
import sys
from pathlib import Path

import jinja2
import llama_cpp
import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "parity"
RAW_TOKENS = 32
CHAT_TOKENS = 48


def load(path):
    return llama_cpp.Llama(
        model_path=str(path), n_ctx=1024, n_batch=512, n_threads=2, verbose=False, seed=0
    )


def greedy(llm, ids, n):
    vocab = llm._model.vocab
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        # Only the last position of each batch has logits (logits_all is off).
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        token = int(np.argmax(logits))
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        out.append(token)
        llm.eval([token])
    return out


def render_chat(llm, question):
    meta = llm.metadata
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise jinja2.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    template = env.from_string(meta["tokenizer.chat_template"])
    vocab = llm._model.vocab

    def text(token):
        return llm._model.token_get_text(token) if token >= 0 else ""

    return template.render(
        messages=[{"role": "user", "content": question}],
        add_generation_prompt=True,
        bos_token=text(llama_cpp.llama_vocab_bos(vocab)),
        eos_token=text(llama_cpp.llama_vocab_eos(vocab)),
    )


def main():
    name, model_path = sys.argv[1], sys.argv[2]
    llm = load(model_path)
    texts = json.loads((FIXTURES / "tokenizer_texts.json").read_text())
    prompts = json.loads((FIXTURES / "raw_prompts.json").read_text())
    questions = json.loads((FIXTURES / "chat_questions.json").read_text())

    tokenize = [
        {"text": t, "ids": llm.tokenize(t.encode(), add_bos=False, special=False)}
        for t in texts
    ]
    raw = []
    for p in prompts:
        ids = llm.tokenize(p.encode(), add_bos=True, special=False)
        raw.append({"prompt": p, "prompt_ids": ids, "ids": greedy(llm, ids, RAW_TOKENS)})
    chat = []
    if "tokenizer.chat_template" in llm.metadata:
        for q in questions:
            text = render_chat(llm, q)
            ids = llm.tokenize(text.encode(), add_bos=True, special=True)
            chat.append(
                {"question": q, "prompt": text, "prompt_ids": ids, "ids": greedy(llm, ids, CHAT_TOKENS)}
            )
    out = {
        "generator": f"llama-cpp-python {llama_cpp.__version__}",
        "model": Path(model_path).name,
        "tokenize": tokenize,
        "raw": raw,
        "chat": chat,
    }
    (FIXTURES / f"{name}.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {name}.json: {len(tokenize)} texts, {len(raw)} raw, {len(chat)} chat")


if __name__ == "__main__":
    main()
