// Q8S weights for the software kernels (weights_tex.wgsl, prepended): `weights` holds the
// four scale words of each block, (s_lo, m_lo, s_hi, m_hi), and a block's 32 quant bytes
// are texels 2·blk and 2·blk + 1. Byte layout as weights_q8s.wgsl.

const BLOCK_WORDS: u32 = 4u;

fn q8s_sm(blk: u32) -> vec4<f32> {
    let w = blk * BLOCK_WORDS;
    return bitcast<vec4<f32>>(vec4<u32>(weights[w], weights[w + 1u], weights[w + 2u], weights[w + 3u]));
}
fn q8s_lo(blk: u32) -> vec4<u32> {
    return texel(2u * blk);
}
fn q8s_hi(blk: u32) -> vec4<u32> {
    return texel(2u * blk + 1u);
}
