// Q8 weights for the software kernels (weights_tex.wgsl, prepended): `weights` holds one
// word a block, d as f16 in the low half, and a block's 32 quant bytes are texels 2·blk
// and 2·blk + 1 (three fetches a block instead of nine buffer loads). Byte layout as
// weights_q8.wgsl.

const BLOCK_WORDS: u32 = 1u;

fn q8_d(blk: u32) -> f32 {
    return unpack2x16float(weights[blk]).x;
}
fn q8_lo(blk: u32) -> vec4<u32> {
    return texel(2u * blk);
}
fn q8_hi(blk: u32) -> vec4<u32> {
    return texel(2u * blk + 1u);
}
