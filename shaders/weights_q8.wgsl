// Q8 weight reader (Q8_0 repacked at upload from 34-byte blocks to 9 aligned u32 words):
// [d as f16 in the low half, 32 signed bytes]; weight = q·d, as dequantize_row_q8_0.
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 9u;

// The raw quants q (-128..127) of block `blk` and its (d, m = 0): weight k = q[k]·d.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let base = blk * BLOCK_WORDS;
    for (var k = 0u; k < 8u; k++) {
        let q = weights[base + 1u + k];
        // Shift each byte to the top, then arithmetic-shift down to sign-extend it.
        let s = vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u);
        (*out)[k] = vec4<f32>(s);
    }
    return vec2<f32>(unpack2x16float(weights[base]).x, 0.0);
}

fn q8_4(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u));
}

#if BLOCK_DOT
// Block `blk` · x (see weights_q4.wgsl); m = 0, so sx is unused.
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let w = blk * BLOCK_WORDS;
    let s = q8_4(weights[w + 1u]) * x0 + q8_4(weights[w + 2u]) * x1 + q8_4(weights[w + 3u]) * x2 + q8_4(weights[w + 4u]) * x3
          + q8_4(weights[w + 5u]) * x4 + q8_4(weights[w + 6u]) * x5 + q8_4(weights[w + 7u]) * x6 + q8_4(weights[w + 8u]) * x7;
    return unpack2x16float(weights[w]).x * hsum(s);
}
#endif
