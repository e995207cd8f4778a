// Q4 weights for the software kernels, nibbles in a texture: `weights` holds one word per
// block, pack2x16float(d, m), and `nibbles` (rgba32uint, TEX_W texels a row) a block's 16
// bytes of nibbles in one texel, block b at (b % TEX_W, b / TEX_W). On SwiftShader every
// buffer load with a computed index is an emulated per-lane gather, while a texel fetch
// reads 16 bytes per lane at once: examples/texture_probe measured the matvec 2.2× faster.
// Nibble order as weights_q4.wgsl. The texture binds after the kernel's buffers.
#if SPLIT
@group(0) @binding(6) var nibbles: texture_2d<u32>;
#else
@group(0) @binding(4) var nibbles: texture_2d<u32>;
#endif

const BLOCK_WORDS: u32 = 1u;
const TEX_W: u32 = 2048u;

fn q4_dm(blk: u32) -> vec2<f32> {
    return unpack2x16float(weights[blk]);
}
fn q4_words(blk: u32) -> vec4<u32> {
    return textureLoad(nibbles, vec2<u32>(blk % TEX_W, blk / TEX_W), 0);
}
