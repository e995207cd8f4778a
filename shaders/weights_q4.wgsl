// Q4 weight reader (Q4_1 as stored; Q4_0 is repacked at upload with m = -8·d).
// A block of 32 weights is 5 u32 words: [pack2x16float(d, m), 16 bytes of nibbles].
// Byte i of the nibbles holds element i (low nibble) and element i + 16 (high nibble);
// weight = q·d + m, as llama.cpp's dequantize_row_q4_1.
// Needs a module-scope `weights: array<u32>`.

const BLOCK_WORDS: u32 = 5u;

// The block's (d, m) and its four words of nibbles (weights_q4_dot.wgsl does the rest).
fn q4_dm(blk: u32) -> vec2<f32> {
    return unpack2x16float(weights[blk * BLOCK_WORDS]);
}
fn q4_words(blk: u32) -> vec4<u32> {
    let w = blk * BLOCK_WORDS;
    return vec4<u32>(weights[w + 1u], weights[w + 2u], weights[w + 3u], weights[w + 4u]);
}
