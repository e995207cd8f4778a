// Q4 weight reader (Q4_1 as stored; Q4_0 is repacked at upload with m = -8·d).
// A block of 32 weights is 5 u32 words: [pack2x16float(d, m), 16 bytes of nibbles].
// Byte i of the nibbles holds element i (low nibble) and element i + 16 (high nibble);
// weight = q·d + m, as llama.cpp's dequantize_row_q4_1.
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 5u;

// The raw quants q (0..15) of block `blk` and its (d, m): weight k = q[k]·d + m. Kernels
// that dot a block with x use d·Σq·x + m·Σx, one multiply-add per weight instead of two.
fn load_q(blk: u32, out: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
    let base = blk * BLOCK_WORDS;
    for (var k = 0u; k < 4u; k++) {
        let q = weights[base + 1u + k];
        (*out)[k] = vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));          // elements 4k .. 4k+3
        (*out)[k + 4u] = vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u)); // 16+4k .. 16+4k+3
    }
    return unpack2x16float(weights[base]);
}
