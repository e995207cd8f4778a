#!/usr/bin/env python3
"""Runs llama.cpp on samplescope's synthetic fixture models and writes tests/llamacpp/*.json.

Run once, by hand, never in CI (llama.cpp builds from source in ~15 minutes on 2 cores):

    python3 -m venv /tmp/llamacpp && /tmp/llamacpp/bin/pip install numpy
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/llamacpp/bin/pip install llama-cpp-python==0.3.36
    cargo build --release --bin samplescope
    /tmp/llamacpp/bin/python tests/llamacpp/make_fixtures.py

For each fixture (src/synth/fixtures.rs) it writes the model with `samplescope synth NAME`,
then records, as llama.cpp 0.3.36 (its CPU backend, 2 threads) gives them:

- `tokens`: the ids of HARD_STRINGS (add_bos off, special tokens parsed);
- `runs`: for each prompt (token ids, so a tokenizer bug cannot hide a graph bug), STEPS
  greedy steps with the top-20 logits at each, twice:
  - `quantized`: the file as it is, llama.cpp's defaults (f16 KV cache). Its CPU matmuls
    round the activations to 8 bits (Q8_K for K-quants, Q8_0/Q8_1 for the others);
  - `exact`: the same weights dequantized to F32 (`samplescope synth --dequantized`), F32 KV
    cache, no flash attention: nothing is rounded below f32.
- `noise`: max |quantized − exact| over the ids either run lists in its top 20, at the
  steps where both have the same context: what llama.cpp's 8-bit rounding costs on this
  model. The tests bound |ours − quantized| by |ours − exact| + noise (triangle
  inequality) at those ids and steps.

Each file records the GGUF's sha256: the tests regenerate the model in Rust and check it.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = ["llama3", "qwen2", "qwen3", "smollm3", "smollm", "gpt2", "default"]
STEPS = 8
TOP = 20
GGML_TYPE_F32 = 0

HARD_STRINGS = [
    "Hello world",
    "The year 2024 had 365 days; 1234567 and 3.14159 and 1,000,000.",
    "I'm sure you're right, they'll say we've done it. I'M SURE YOU'RE RIGHT, THEY'LL.",
    "don't can't won't it's she'd",
    "你好，世界。日本語のテキストと中文的文本。",
    "한국어 문장도 있습니다.",
    "Emoji: 👋🏽 🇫🇷 ✓ ✨ 🚀🚀",
    "naïve café résumé façade",
    "a  b   c    d     e",
    "   leading spaces",
    "trailing spaces   ",
    "tabs\t\tx\ty",
    "newlines\n\n\nz\r\n\r\nw",
    "\n\n\n",
    "    def main():\n        return x  +  y   # two  spaces",
    "Punctuation!!! ??? ... $+<=>^~| --- (a) [b] {c}",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "12:30 or 09:45, 0.5%, $1,234.56, 1e-10, 0x1F",
    "the cat sat on the mat",
]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def greedy(path, prompt, exact):
    kw = dict(type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32, flash_attn=False) if exact else {}
    llm = Llama(model_path=path, n_ctx=256, n_batch=256, n_threads=2, logits_all=True, seed=0, verbose=False, **kw)
    ids, steps, full = [], [], []
    llm.eval(prompt)
    for i in range(STEPS + 1):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        top = np.argsort(-logits, kind="stable")[:TOP]
        steps.append([[int(t), float(logits[t])] for t in top])
        full.append(logits)
        if i == STEPS:
            break
        ids.append(int(top[0]))
        llm.eval([ids[-1]])
    return {"ids": ids, "steps": steps}, full


def noise(a, b, full_a, full_b):
    """Max |a − b| over the ids in either top list, at steps before the greedy paths part."""
    worst = 0.0
    for i, (sa, sb) in enumerate(zip(a["steps"], b["steps"])):
        if i > 0 and a["ids"][i - 1] != b["ids"][i - 1]:
            break
        ids = {t for t, _ in sa} | {t for t, _ in sb}
        worst = max([worst] + [abs(full_a[i][t] - full_b[i][t]) for t in ids])
    return worst


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/samplescope")
    tmp = tempfile.mkdtemp()
    for name in FIXTURES:
        path, exact_path = os.path.join(tmp, name + ".gguf"), os.path.join(tmp, name + "-f32.gguf")
        subprocess.run([exe, "synth", name, path], check=True)
        subprocess.run([exe, "synth", name, exact_path, "--dequantized"], check=True)
        vocab = Llama(model_path=path, vocab_only=True, verbose=False)
        n_vocab = vocab.n_vocab()
        tokens = [{"text": s, "ids": vocab.tokenize(s.encode(), add_bos=False, special=True)} for s in HARD_STRINGS]
        rng = random.Random(name)
        # Prompts of normal tokens (past the 3 specials): one short, one long.
        prompts = [[rng.randrange(3, n_vocab) for _ in range(n)] for n in (5, 40)]
        runs = []
        for p in prompts:
            (q, full_q), (e, full_e) = greedy(path, p, exact=False), greedy(exact_path, p, exact=True)
            runs.append({"prompt": p, "quantized": q, "exact": e, "noise": noise(q, e, full_q, full_e)})
        out = {
            "schema": "see tests/llamacpp/make_fixtures.py",
            "fixture": name,
            "llama_cpp_python": "0.3.36",
            "gguf_sha256": sha256(path),
            "gguf_f32_sha256": sha256(exact_path),
            "n_vocab": n_vocab,
            "tokens": tokens,
            "runs": runs,
        }
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
        print(name, "noise", [round(r["noise"], 4) for r in runs], "greedy", runs[0]["quantized"]["ids"])


if __name__ == "__main__":
    main()
