// The quant texture of the texture weight formats (Q4Tex, Q8Tex) for the software kernels:
// rgba32uint, TEX_W texels a row, texel i at (i % TEX_W, i / TEX_W). On SwiftShader every
// buffer load with a computed index is an emulated per-lane gather, while a texel fetch
// reads 16 bytes per lane for about the price of one such load (examples/texture_probe:
// a Q4 matvec 2.2× faster). Scales stay in `weights`, one word a block. The texture
// binds after the kernel's buffers, at TEX_BINDING (a define of the kernel's launcher).
@group(0) @binding(TEX_BINDING) var quants: texture_2d<u32>;

const TEX_W: u32 = 2048u;

fn texel(i: u32) -> vec4<u32> {
    return textureLoad(quants, vec2<u32>(i % TEX_W, i / TEX_W), 0);
}
