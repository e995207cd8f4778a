// Q4 weight reader (Q4_1 as stored; Q4_0 is repacked at upload with m = -8·d).
// A block of 32 weights is 5 u32 words: [pack2x16float(d, m), 16 bytes of nibbles].
// Byte i of the nibbles holds element i (low nibble) and element i + 16 (high nibble);
// weight = q·d + m, as llama.cpp's dequantize_row_q4_1.
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 5u;

// The raw quants q (0..15) of block `blk` and its (d, m): weight k = q[k]·d + m. Kernels
// that dot a block with x use d·Σq·x + m·Σx, one multiply-add per weight instead of two.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let base = blk * BLOCK_WORDS;
    for (var k = 0u; k < 4u; k++) {
        let q = weights[base + 1u + k];
        (*out)[k] = vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));          // elements 4k .. 4k+3
        (*out)[k + 4u] = vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u)); // 16+4k .. 16+4k+3
    }
    return unpack2x16float(weights[base]);
}

// Through i32: a signed int-to-float is one SIMD instruction, an unsigned one is emulated by
// SwiftShader's JIT.
fn q4_lo(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u)));
}

fn q4_hi(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u)));
}

#if BLOCK_DOT
// Block `blk` · x, where x0..x7 are the block's 8 vec4 of activations (XT: one row as a vec4,
// or four rows as the columns of a mat4x4, giving four dots at once) and sx their sums.
// Straight-line on purpose: SwiftShader's JIT keeps local arrays in memory (see matmul.wgsl).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let w = blk * BLOCK_WORDS;
    let dm = unpack2x16float(weights[w]);
    let q0 = weights[w + 1u];
    let q1 = weights[w + 2u];
    let q2 = weights[w + 3u];
    let q3 = weights[w + 4u];
    let s = q4_lo(q0) * x0 + q4_lo(q1) * x1 + q4_lo(q2) * x2 + q4_lo(q3) * x3
          + q4_hi(q0) * x4 + q4_hi(q1) * x5 + q4_hi(q2) * x6 + q4_hi(q3) * x7;
    return dm.x * hsum(s) + dm.y * sx;
}
#endif
