#!/usr/bin/env python3
"""Writes tests/data/quant_blocks.json: a few GGUF blocks of each quantized type that
src/quant.rs reads, with the f32 values gguf-py's reference dequantizer gives for them.
tests/quant_blocks.rs checks src/quant.rs against it bit for bit.

    pip install gguf==0.19.0 numpy   # gguf-py, llama.cpp's Python package
    python3 tests/data/quant_blocks.py

gguf-py's numpy dequantizers evaluate in float32 in ggml's order (e.g. Q4_K d·sc·q − dmin·m
as (d·sc)·q − (dmin·m), Q6_K (d·sc)·(q − 32)) without fused multiply-adds, so they agree
with ggml-quants.c's dequantize_row_* built without FMA contraction.

Blocks are deterministic random bytes, except the f16 scale fields (d, dmin, m), which are
finite: random finite bit patterns, plus, in the first block of each type, the extremes
(65504, the smallest subnormal, -0, negative values).
"""

import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# (type, blocks, byte offsets of the f16 scale fields in a block)
TYPES = [
    (T.Q4_0, 8, [0]),
    (T.Q4_1, 8, [0, 2]),
    (T.Q5_0, 8, [0]),
    (T.Q5_1, 8, [0, 2]),
    (T.Q8_0, 8, [0]),
    (T.IQ4_NL, 8, [0]),
    (T.Q2_K, 3, [80, 82]),
    (T.Q3_K, 3, [108]),
    (T.Q4_K, 3, [0, 2]),
    (T.Q5_K, 3, [0, 2]),
    (T.Q6_K, 3, [208]),
]

EXTREMES = [0x7BFF, 0x0001, 0x8000, 0xBC00, 0x3C00, 0xFBFF]


def finite_f16(rng):
    while True:
        bits = int(rng.integers(0, 1 << 16))
        if bits & 0x7C00 != 0x7C00:
            return bits


def main():
    rng = np.random.default_rng(20240917)
    out = []
    for ty, nblocks, offsets in TYPES:
        elems, size = GGML_QUANT_SIZES[ty]
        data = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
        for b in range(nblocks):
            for i, o in enumerate(offsets):
                bits = EXTREMES[(i + b) % len(EXTREMES)] if b == 0 else finite_f16(rng)
                data[b, o] = bits & 0xFF
                data[b, o + 1] = bits >> 8
        values = dequantize(data.reshape(-1), ty).astype(np.float32).reshape(-1)
        assert values.size == nblocks * elems and np.isfinite(values).all(), ty.name
        out.append(
            {
                "type": ty.name,
                "id": int(ty),
                "blocks": data.tobytes().hex(),
                "values_f32_bits": [int(v) for v in values.view(np.uint32)],
            }
        )
    path = pathlib.Path(__file__).with_name("quant_blocks.json")
    doc = {"generator": "tests/data/quant_blocks.py with gguf-py 0.19.0", "types": out}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
