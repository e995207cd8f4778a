// Q8S blocks dequantized and dotted with activations, for both Q8S layouts: weights_q8s.wgsl
// (12 words a block in one buffer) and weights_q8s_tex.wgsl (quants in a texture) define
// q8s_sm, q8s_lo, q8s_hi.

// Four quants of `q` times s plus m, as quant::dequantize gives them. q·s is exact for every
// type but Q6_K (6-bit q, 19-bit s), whose m is −32·s: it takes (q − 32)·s, rounded once as
// ggml does. The other types never round differently on that branch either (then q·s is
// exact and q·s + m, fused or not, is the one rounding of the same value).
fn q8s_dequant(q: u32, s: f32, m: f32) -> vec4<f32> {
    let u = vec4<f32>((vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu));
    return select(u * s + m, (u - 32.0) * s, m == -32.0 * s);
}

// The weights of block `blk`, already dequantized (the two halves have their own scales),
// so (d, m) = (1, 0).
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let sm = q8s_sm(blk);
    let lo = q8s_lo(blk);
    let hi = q8s_hi(blk);
    for (var k = 0u; k < 4u; k++) {
        (*out)[k] = q8s_dequant(lo[k], sm.x, sm.y);
        (*out)[k + 4u] = q8s_dequant(hi[k], sm.z, sm.w);
    }
    return vec2<f32>(1.0, 0.0);
}

#if BLOCK_DOT
// Bytes converted where they sit, one mask each (q·2^8j, positive as an i32 since q < 128);
// the kernel scales x by 2^-8j once per block for all its rows (exact, x_scale_lo/hi) and
// block_sum gives the block's plain Σx.
const SCALE_Q8S: vec4<f32> = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16777216.0);
const UNSCALE_Q8S: vec4<f32> = vec4<f32>(1.0, 256.0, 65536.0, 16777216.0);
fn x_scale_lo(x: XT) -> XT {
    return scale_x(x, SCALE_Q8S);
}
fn x_scale_hi(x: XT) -> XT {
    return scale_x(x, SCALE_Q8S);
}
fn block_sum(s: XT) -> ST {
    return sum_x(s);
}
fn q8s_in_place(q: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) & vec4<u32>(0xFFu, 0xFF00u, 0xFF0000u, 0xFF000000u)));
}
// Block `blk` · x (see weights_q4_dot.wgsl): s_lo·Σq·x + m_lo·Σx over elements 0..15, the
// same with s_hi, m_hi over 16..31. Σx of the first half comes from its scaled x (exact
// powers of two), of the second from sx: m_lo·Σlo + m_hi·Σhi = m_hi·sx + (m_lo − m_hi)·Σlo.
// Straight-line on purpose: SwiftShader's JIT keeps local arrays in memory (see matmul.wgsl).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let sm = q8s_sm(blk);
    let lo = q8s_lo(blk);
    let hi = q8s_hi(blk);
    let a = q8s_in_place(lo.x) * x0 + q8s_in_place(lo.y) * x1 + q8s_in_place(lo.z) * x2 + q8s_in_place(lo.w) * x3;
    let b = q8s_in_place(hi.x) * x4 + q8s_in_place(hi.y) * x5 + q8s_in_place(hi.z) * x6 + q8s_in_place(hi.w) * x7;
    let sum_lo = weighted_sum_x(x0 + x1 + x2 + x3, UNSCALE_Q8S);
    return sm.x * hsum(a) + sm.z * hsum(b) + sm.w * sx + (sm.y - sm.w) * sum_lo;
}
#endif
