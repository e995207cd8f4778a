// F32 weight reader (F32 as stored; F16 and BF16 widened at upload): 32 plain floats a block,
// so every weight format offers the same load_q to the kernels (with d = 1, m = 0).
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 32u;

fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let base = blk * BLOCK_WORDS;
    for (var k = 0u; k < 8u; k++) {
        let o = base + 4u * k;
        (*out)[k] = bitcast<vec4<f32>>(vec4<u32>(weights[o], weights[o + 1u], weights[o + 2u], weights[o + 3u]));
    }
    return vec2<f32>(1.0, 0.0);
}
