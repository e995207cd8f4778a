// Q8 blocks dotted with int8 activations (matmul.wgsl with I8), for both Q8 layouts
// (weights_q8.wgsl, weights_q8_tex.wgsl define q8_d, q8_lo and q8_hi). Undoing the offset
// binary of bytes 0..2 (Q8_OFFSET) gives four signed bytes a word, as dot4I8Packed takes
// them: Σ w·x over the block = d·dx·Σ q·qx, the integer sum exact (|Σ| ≤ 32·128·127).
fn block_dot8(blk: u32, x: X8) -> ST {
    let lo = q8_lo(blk) ^ vec4<u32>(0x00808080u);
    let hi = q8_hi(blk) ^ vec4<u32>(0x00808080u);
    let s = dot8(lo.x, x.w0) + dot8(lo.y, x.w1) + dot8(lo.z, x.w2) + dot8(lo.w, x.w3)
          + dot8(hi.x, x.w4) + dot8(hi.y, x.w5) + dot8(hi.z, x.w6) + dot8(hi.w, x.w7);
    return q8_d(blk) * (x.d * to_st(s));
}
