// Q8S weight reader (Q5_1 and the K-quants, repacked at upload; see Q8S_WORDS in
// src/kernels/weights.rs): a block of 32 weights is 12 u32 words,
// [s_lo, m_lo, s_hi, m_hi as f32, 32 quant bytes]; weight i = q[i]·s + m with the (s, m) of
// elements 0..15 or 16..31, q = 0..63 (byte j of quant word k is element 4k + j).
// Needs a module-scope `weights: array<u32>`; weights_q8s_dot.wgsl does the rest.

const BLOCK_WORDS: u32 = 12u;

// The block's (s_lo, m_lo, s_hi, m_hi) and its quant words 0..3 and 4..7.
fn q8s_sm(blk: u32) -> vec4<f32> {
    let w = blk * BLOCK_WORDS;
    return bitcast<vec4<f32>>(vec4<u32>(weights[w], weights[w + 1u], weights[w + 2u], weights[w + 3u]));
}
fn q8s_lo(blk: u32) -> vec4<u32> {
    let w = blk * BLOCK_WORDS;
    return vec4<u32>(weights[w + 4u], weights[w + 5u], weights[w + 6u], weights[w + 7u]);
}
fn q8s_hi(blk: u32) -> vec4<u32> {
    let w = blk * BLOCK_WORDS;
    return vec4<u32>(weights[w + 8u], weights[w + 9u], weights[w + 10u], weights[w + 11u]);
}
