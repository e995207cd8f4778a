// Q8 weight reader (Q8_0 repacked at upload from 34-byte blocks to 9 aligned u32 words):
// [d as f16 in the low half, 32 bytes]; weight = q·d, as dequantize_row_q8_0. In each quant
// word bytes 0..2 are q + 128 and byte 3 is q (signed): see Q8_OFFSET in src/kernels/weights.rs.
// Needs a module-scope `weights: array<u32>`; weights_q8_dot.wgsl does the rest.

const BLOCK_WORDS: u32 = 9u;

// The block's d and its quant words 0..3 and 4..7.
fn q8_d(blk: u32) -> f32 {
    return unpack2x16float(weights[blk * BLOCK_WORDS]).x;
}
fn q8_lo(blk: u32) -> vec4<u32> {
    let w = blk * BLOCK_WORDS;
    return vec4<u32>(weights[w + 1u], weights[w + 2u], weights[w + 3u], weights[w + 4u]);
}
fn q8_hi(blk: u32) -> vec4<u32> {
    let w = blk * BLOCK_WORDS;
    return vec4<u32>(weights[w + 5u], weights[w + 6u], weights[w + 7u], weights[w + 8u]);
}
