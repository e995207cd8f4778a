// Q4 blocks dotted with activations, for both Q4 layouts: weights_q4.wgsl (5 words a block
// in one buffer) and weights_q4_tex.wgsl (nibbles in a texture) define q4_dm and q4_words.

// The raw quants q (0..15) of block `blk` and its (d, m): weight k = q[k]·d + m. Kernels
// that dot a block with x use d·Σq·x + m·Σx, one multiply-add per weight instead of two.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let words = q4_words(blk);
    for (var k = 0u; k < 4u; k++) {
        let q = words[k];
        (*out)[k] = vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));          // elements 4k .. 4k+3
        (*out)[k + 4u] = vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u)); // 16+4k .. 16+4k+3
    }
    return q4_dm(blk);
}

#if BLOCK_DOT
// Nibbles converted to float where they sit (masked, not shifted), so nibble j of a word is
// q·2^(4j); the kernel scales x by 2^-(4j) once per block for all its weight rows
// (x_scale_lo/hi), which is exact. Shifts are slow in SwiftShader's JIT: this cut the Q4
// matmuls' time there by a third. The top nibble is shifted down (masked in place it would
// be negative as an i32). Through i32 because a signed int-to-float is one SIMD
// instruction, an unsigned one is emulated.
const SCALE_LO: vec4<f32> = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16777216.0);
const SCALE_HI: vec4<f32> = vec4<f32>(1.0 / 16.0, 1.0 / 4096.0, 1.0 / 1048576.0, 1.0);
fn x_scale_lo(x: XT) -> XT {
    return scale_x(x, SCALE_LO);
}
fn x_scale_hi(x: XT) -> XT {
    return scale_x(x, SCALE_HI);
}
fn block_sum(s: XT) -> ST {
    return sum_x(s);
}
fn q4_lo_in_place(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) & vec4<u32>(0xFu, 0xF00u, 0xF0000u, 0xF000000u)));
}
fn q4_hi_in_place(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q, q, q, q >> 28u) & vec4<u32>(0xF0u, 0xF000u, 0xF00000u, 0xFu)));
}
// Block `blk` · x, where x0..x7 are the block's 8 vec4 of activations (XT: one row as a vec4,
// or four rows as the columns of a mat4x4, giving four dots at once), x0..x3 scaled by
// x_scale_lo and x4..x7 by x_scale_hi, and sx the unscaled sums.
// Straight-line on purpose: SwiftShader's JIT keeps local arrays in memory (see matmul.wgsl).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let dm = q4_dm(blk);
    let q = q4_words(blk);
    let q0 = q.x;
    let q1 = q.y;
    let q2 = q.z;
    let q3 = q.w;
    let s = q4_lo_in_place(q0) * x0 + q4_lo_in_place(q1) * x1 + q4_lo_in_place(q2) * x2 + q4_lo_in_place(q3) * x3
          + q4_hi_in_place(q0) * x4 + q4_hi_in_place(q1) * x5 + q4_hi_in_place(q2) * x6 + q4_hi_in_place(q3) * x7;
    return dm.x * hsum(s) + dm.y * sx;
}
#endif
