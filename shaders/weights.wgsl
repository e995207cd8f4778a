// Shared by every weight reader (appended after weights_*.wgsl): a block dequantized.
fn load_block(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) {
    let dm = load_q(blk, out);
    for (var k = 0u; k < 8u; k++) {
        (*out)[k] = (*out)[k] * dm.x + dm.y;
    }
}
