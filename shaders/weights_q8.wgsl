// Q8 weight reader (Q8_0 repacked at upload from 34-byte blocks to 9 aligned u32 words):
// [d as f16 in the low half, 32 bytes]; weight = q·d, as dequantize_row_q8_0. In each quant
// word bytes 0..2 are q + 128 and byte 3 is q (signed): see Q8_OFFSET in src/kernels/weights.rs.
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 9u;

// The raw quants q (-128..127) of block `blk` and its (d, m = 0): weight k = q[k]·d.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let base = blk * BLOCK_WORDS;
    for (var k = 0u; k < 8u; k++) {
        let q = weights[base + 1u + k] ^ 0x00808080u;   // back to four signed bytes
        // Shift each byte to the top, then arithmetic-shift down to sign-extend it.
        let s = vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u);
        (*out)[k] = vec4<f32>(s);
    }
    return vec2<f32>(unpack2x16float(weights[base]).x, 0.0);
}

#if BLOCK_DOT
// Bytes converted where they sit, one mask each: (u0, u1·2^8, u2·2^16, q3·2^24) with
// u = q + 128 for bytes 0..2 (positive as i32) and byte 3 signed. The kernel scales x by
// 2^-8j once per block for all its rows (exact), and block_sum gives the Σx of bytes
// 0..2 for the -128 correction.
const SCALE_Q8: vec4<f32> = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16777216.0);
fn x_scale_lo(x: XT) -> XT {
    return scale_x(x, SCALE_Q8);
}
fn x_scale_hi(x: XT) -> XT {
    return scale_x(x, SCALE_Q8);
}
fn block_sum(s: XT) -> ST {
    return weighted_sum_x(s, vec4<f32>(1.0, 1.0, 1.0, 0.0));
}
fn q8_in_place(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) & vec4<u32>(0xFFu, 0xFF00u, 0xFF0000u, 0xFF000000u)));
}
// Block `blk` · x (see weights_q4.wgsl): d·(Σu·x − 128·Σx over bytes 0..2, + Σq·x of byte 3).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let w = blk * BLOCK_WORDS;
    let s = q8_in_place(weights[w + 1u]) * x0 + q8_in_place(weights[w + 2u]) * x1 + q8_in_place(weights[w + 3u]) * x2 + q8_in_place(weights[w + 4u]) * x3
          + q8_in_place(weights[w + 5u]) * x4 + q8_in_place(weights[w + 6u]) * x5 + q8_in_place(weights[w + 7u]) * x6 + q8_in_place(weights[w + 8u]) * x7;
    return unpack2x16float(weights[w]).x * (hsum(s) - 128.0 * sx);
}
#endif
