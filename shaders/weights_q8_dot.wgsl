// Q8 blocks dotted with activations, for both Q8 layouts: weights_q8.wgsl (9 words a block
// in one buffer) and weights_q8_tex.wgsl (quants in a texture) define q8_d, q8_lo, q8_hi.

// The raw quants q (-128..127) of block `blk` and its (d, m = 0): weight k = q[k]·d.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    var words = array<vec4<u32>, 2>(q8_lo(blk), q8_hi(blk));
    for (var k = 0u; k < 8u; k++) {
        let q = words[k / 4u][k % 4u] ^ 0x00808080u;   // back to four signed bytes
        // Shift each byte to the top, then arithmetic-shift down to sign-extend it.
        let s = vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u);
        (*out)[k] = vec4<f32>(s);
    }
    return vec2<f32>(q8_d(blk), 0.0);
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
// Block `blk` · x (see weights_q4_dot.wgsl): d·(Σu·x − 128·Σx over bytes 0..2, + Σq·x of byte 3).
// Straight-line on purpose: SwiftShader's JIT keeps local arrays in memory (see matmul.wgsl).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let lo = q8_lo(blk);
    let hi = q8_hi(blk);
    let s = q8_in_place(lo.x) * x0 + q8_in_place(lo.y) * x1 + q8_in_place(lo.z) * x2 + q8_in_place(lo.w) * x3
          + q8_in_place(hi.x) * x4 + q8_in_place(hi.y) * x5 + q8_in_place(hi.z) * x6 + q8_in_place(hi.w) * x7;
    return q8_d(blk) * (hsum(s) - 128.0 * sx);
}
#endif
