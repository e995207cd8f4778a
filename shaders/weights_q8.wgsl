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
