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

fn f32_4(o: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(weights[o], weights[o + 1u], weights[o + 2u], weights[o + 3u]));
}

#if BLOCK_DOT
fn x_scale_lo(x: XT) -> XT {
    return x;
}
fn x_scale_hi(x: XT) -> XT {
    return x;
}
fn block_sum(s: XT) -> ST {
    return sum_x(s);
}
// Block `blk` · x (see weights_q4.wgsl).
fn block_dot(blk: u32, x0: XT, x1: XT, x2: XT, x3: XT, x4: XT, x5: XT, x6: XT, x7: XT, sx: ST) -> ST {
    let w = blk * BLOCK_WORDS;
    let s = f32_4(w) * x0 + f32_4(w + 4u) * x1 + f32_4(w + 8u) * x2 + f32_4(w + 12u) * x3
          + f32_4(w + 16u) * x4 + f32_4(w + 20u) * x5 + f32_4(w + 24u) * x6 + f32_4(w + 28u) * x7;
    return hsum(s);
}
#endif
