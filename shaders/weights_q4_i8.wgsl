// Q4 blocks dotted with int8 activations (matmul.wgsl with I8), for both Q4 layouts
// (weights_q4.wgsl, weights_q4_tex.wgsl define q4_dm and q4_words). The nibbles 0..15 are
// already non-negative bytes once masked out, so dot4I8Packed takes them as they are:
// low nibbles of word j are elements 4j..4j+3 (activation word j), high nibbles elements
// 16+4j.. (word 4 + j). Σ w·x over the block = d·dx·Σ q·qx + m·s, with (dx, s) from
// quantize.wgsl; the integer sum is exact (|Σ| ≤ 32·15·127).
fn block_dot8(blk: u32, x: X8) -> ST {
    let dm = q4_dm(blk);
    let q = q4_words(blk);
    let lo = q & vec4<u32>(0x0F0F0F0Fu);
    let hi = (q >> vec4<u32>(4u)) & vec4<u32>(0x0F0F0F0Fu);
    let s = dot8(lo.x, x.w0) + dot8(lo.y, x.w1) + dot8(lo.z, x.w2) + dot8(lo.w, x.w3)
          + dot8(hi.x, x.w4) + dot8(hi.y, x.w5) + dot8(hi.z, x.w6) + dot8(hi.w, x.w7);
    return dm.x * (x.d * to_st(s)) + dm.y * x.s;
}
