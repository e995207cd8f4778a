// Q4 weights for the software kernels (weights_tex.wgsl, prepended): `weights` holds one
// word a block, pack2x16float(d, m), and a block's 16 bytes of nibbles are texel `blk`.
// Nibble order as weights_q4.wgsl.

const BLOCK_WORDS: u32 = 1u;

fn q4_dm(blk: u32) -> vec2<f32> {
    return unpack2x16float(weights[blk]);
}
fn q4_words(blk: u32) -> vec4<u32> {
    return texel(blk);
}
