//! GPU weight formats: the upload side of shaders/weights_*.wgsl.
//!
//! Every matrix reaches the GPU as `array<u32>` in 32-weight blocks that one `load_q` per
//! format reads (raw quants plus the block's scale and offset; shaders/weights.wgsl builds
//! `load_block`, the dequantized block, on top). GGUF blocks are repacked here, once, at
//! load time, into a few formats, each exactly (every weight is the same f32 as
//! `quant::dequantize` gives):
//! - Q4: Q4_1 as stored; Q4_0 with m = -8·d (exact in f16).
//! - Q8: 9 words a block, bytes 0..2 of each quant word in offset binary (see `Q8_OFFSET`):
//!   Q8_0; Q5_0 as q - 16 (same d); IQ4_NL as its grid value (same d).
//! - Q8S: 12 words a block, quants 0..63 one byte each plus an f32 (s, m) per 16 weights,
//!   weight = q·s + m: Q5_1 and the K-quants (see `Q8S_WORDS`).
//! - F32: F32; F16 and BF16 widened.

use half::f16;

use crate::error::{Error, Result};
use crate::gguf::GgmlType;
use crate::quant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    Q4,
    /// Q4 for the software kernels: (d, m) one word a block in the buffer, the nibbles in an
    /// rgba32uint texture (see `split_for_texture`, shaders/weights_tex.wgsl).
    Q4Tex,
    Q8,
    /// Q8 for the software kernels: d one word a block in the buffer, the quant bytes two
    /// texels a block in an rgba32uint texture.
    Q8Tex,
    /// 8-bit quants with a scale and min per 16 weights (shaders/weights_q8s.wgsl): 12 bits
    /// a weight on the GPU, against 4.5 to 6.6 in the file, the price of one exact format
    /// and one shader for Q5_1 and every K-quant.
    Q8S,
    /// Q8S for the software kernels: the four scale words of a block in the buffer, the
    /// quant bytes two texels a block, as Q8Tex.
    Q8STex,
    F32,
}

/// Texels a row of a quant texture (shaders/weights_tex.wgsl's TEX_W); within WebGPU's
/// default max texture width (8192).
pub const TEX_WIDTH: u32 = 2048;

/// The texture a Q4, Q8 or Q8S matrix of `words` words takes in its texture form: (texture
/// rows of TEX_WIDTH texels, scale words left in the buffer).
pub fn texture_shape(fmt: WeightFormat, words: usize) -> Result<(u32, usize)> {
    let Some(tex) = fmt.texture_form() else {
        return Err(Error::Param(format!("weight format {fmt:?} has no texture form")));
    };
    let per = fmt.words_per_block();
    let scale = tex.words_per_block(); // what stays in the buffer
    let blocks = words / per;
    let rows = ((blocks * (per - scale) / 4) as u32).div_ceil(TEX_WIDTH).max(1);
    Ok((rows, blocks * scale))
}

/// Splits the words of a Q4, Q8 or Q8S matrix ([scale words, quant words] a block) into the
/// scale words and the quant texels of its texture format, padded to whole texture rows;
/// returns (scales, texels as u32 words, rows).
pub fn split_for_texture(fmt: WeightFormat, words: &[u32]) -> Result<(Vec<u32>, Vec<u32>, u32)> {
    let (rows, scale_words) = texture_shape(fmt, words.len())?;
    let per = fmt.words_per_block();
    let scale = fmt.texture_form().map_or(0, |t| t.words_per_block());
    let quant = per - scale; // a multiple of 4: one or two texels a block
    let mut texels = vec![0u32; (rows * TEX_WIDTH * 4) as usize];
    let mut scales = Vec::with_capacity(scale_words);
    for (b, blk) in words.chunks_exact(per).enumerate() {
        scales.extend_from_slice(&blk[..scale]);
        texels[b * quant..(b + 1) * quant].copy_from_slice(&blk[scale..]);
    }
    Ok((scales, texels, rows))
}

impl WeightFormat {
    /// The GPU format a GGUF tensor type is uploaded as, or an error naming the type.
    pub fn for_type(ty: GgmlType) -> Result<Self> {
        use GgmlType::*;
        match ty {
            Q4_0 | Q4_1 => Ok(WeightFormat::Q4),
            Q8_0 | Q5_0 | IQ4NL => Ok(WeightFormat::Q8),
            Q5_1 | Q2K | Q3K | Q4K | Q5K | Q6K => Ok(WeightFormat::Q8S),
            F32 | F16 | BF16 => Ok(WeightFormat::F32),
            other => Err(Error::Unsupported(format!(
                "tensor type {other} (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, \
                 Q5_K, Q6_K, IQ4_NL)"
            ))),
        }
    }

    /// The WGSL that defines `load_q` and `load_block` for this format.
    pub fn reader(self) -> &'static str {
        match self {
            WeightFormat::Q4 => concat!(
                include_str!("../../shaders/weights_q4.wgsl"),
                include_str!("../../shaders/weights_q4_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::Q4Tex => concat!(
                include_str!("../../shaders/weights_tex.wgsl"),
                include_str!("../../shaders/weights_q4_tex.wgsl"),
                include_str!("../../shaders/weights_q4_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::Q8 => concat!(
                include_str!("../../shaders/weights_q8.wgsl"),
                include_str!("../../shaders/weights_q8_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::Q8Tex => concat!(
                include_str!("../../shaders/weights_tex.wgsl"),
                include_str!("../../shaders/weights_q8_tex.wgsl"),
                include_str!("../../shaders/weights_q8_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::Q8S => concat!(
                include_str!("../../shaders/weights_q8s.wgsl"),
                include_str!("../../shaders/weights_q8s_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::Q8STex => concat!(
                include_str!("../../shaders/weights_tex.wgsl"),
                include_str!("../../shaders/weights_q8s_tex.wgsl"),
                include_str!("../../shaders/weights_q8s_dot.wgsl"),
                include_str!("../../shaders/weights.wgsl")
            ),
            WeightFormat::F32 => {
                concat!(include_str!("../../shaders/weights_f32.wgsl"), include_str!("../../shaders/weights.wgsl"))
            }
        }
    }

    /// The WGSL that dots this format's blocks with int8 activations (matmul.wgsl's I8), for
    /// the formats that have one: Q4 and Q8, both layouts.
    pub fn int8_reader(self) -> Option<&'static str> {
        match self {
            WeightFormat::Q4 | WeightFormat::Q4Tex => Some(include_str!("../../shaders/weights_q4_i8.wgsl")),
            WeightFormat::Q8 | WeightFormat::Q8Tex => Some(include_str!("../../shaders/weights_q8_i8.wgsl")),
            _ => None,
        }
    }

    /// Whether the kernels also bind a quant texture.
    pub fn uses_texture(self) -> bool {
        matches!(self, WeightFormat::Q4Tex | WeightFormat::Q8Tex | WeightFormat::Q8STex)
    }

    /// The format with the quants in a texture, for the row (software) kernels.
    pub fn texture_form(self) -> Option<WeightFormat> {
        match self {
            WeightFormat::Q4 => Some(WeightFormat::Q4Tex),
            WeightFormat::Q8 => Some(WeightFormat::Q8Tex),
            WeightFormat::Q8S => Some(WeightFormat::Q8STex),
            _ => None,
        }
    }

    /// u32 words a 32-weight block takes in the buffer (for the texture forms: the scale
    /// words only).
    pub fn words_per_block(self) -> usize {
        match self {
            WeightFormat::Q4 => 5,
            WeightFormat::Q4Tex | WeightFormat::Q8Tex => 1,
            WeightFormat::Q8 => 9,
            WeightFormat::Q8S => Q8S_WORDS,
            WeightFormat::Q8STex => 4,
            WeightFormat::F32 => 32,
        }
    }

    /// Words `repack` makes of a tensor of `n` elements in this format (the sizes a load
    /// plans with before repacking anything).
    pub fn words_for(self, n: usize) -> usize {
        match self {
            WeightFormat::F32 => n,
            quant => n.div_ceil(32) * quant.words_per_block(),
        }
    }
}

/// Q8 words on the GPU hold bytes 0..2 as offset binary (q + 128, 0..255) and byte 3 as
/// stored (signed): the shader can then turn each byte into a float where it sits with one
/// mask, no shifts (shaders/weights_q8.wgsl).
pub const Q8_OFFSET: u32 = 0x0080_8080;

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A Q8S block's words: per half (16 weights) s then m as f32 bits, then the 32 quants a byte
/// each (little-endian, element 4k + j in byte j of quant word k). The quants are 0..63, so
/// each byte converts to a float where it sits with one mask (no offset binary as in Q8).
pub const Q8S_WORDS: usize = 12;

/// The Q8S (s, m) of a group: weight = q·s + m is `g.value(i)` exactly. Q6_K (bias 32)
/// is the one type where q·s can round (6-bit q times a 19-bit s); the shaders then compute
/// (q − 32)·s, which they recognize by m = −32·s (see shaders/weights_q8s_dot.wgsl).
fn q8s_scale_min(g: &quant::Group16) -> (f32, f32) {
    // One of min and bias is 0, so this is an exact negation of the other term.
    (g.scale, -g.min - g.bias as f32 * g.scale)
}

/// Byte offsets of the f16 scales (d, and dmin or m) in one GGUF block of `ty`.
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ4NL => &[0],
        Q4_1 | Q5_1 | Q4K | Q5K => &[0, 2],
        Q2K => &[80, 82],
        Q3K => &[108],
        Q6K => &[208],
        _ => &[],
    }
}

/// Repacks a tensor's GGUF bytes into the GPU words of its format. `n` is the element count
/// and must be whole blocks (a matrix row length is checked by the model loader). A block
/// with a NaN or infinite scale is refused: it would silently poison every output it meets.
pub fn repack(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<u32>> {
    let (blk_elems, blk_bytes) = ty.block();
    let (blk_elems, blk_bytes) = (blk_elems as usize, blk_bytes as usize);
    if !n.is_multiple_of(32) || !n.is_multiple_of(blk_elems) {
        return Err(Error::Unsupported(format!(
            "{ty} tensor of {n} elements: not a multiple of {}",
            blk_elems.max(32)
        )));
    }
    let need = n / blk_elems * blk_bytes;
    if bytes.len() != need {
        return Err(Error::Model(format!("{ty} tensor of {n} elements has {} bytes, expected {need}", bytes.len())));
    }
    let offsets = scale_offsets(ty);
    if !offsets.is_empty() {
        for (b, blk) in bytes.chunks_exact(blk_bytes).enumerate() {
            for &o in offsets {
                let v = f16::from_bits(le16(&blk[o..]));
                if !v.is_finite() {
                    return Err(Error::Model(format!("{ty} tensor: block {b} has a non-finite scale ({v})")));
                }
            }
        }
    }
    let nb = n / 32;
    Ok(match ty {
        GgmlType::Q4_1 => bytes.chunks_exact(4).map(le32).collect(),
        GgmlType::Q4_0 => {
            let mut out = Vec::with_capacity(nb * 5);
            for (b, blk) in bytes.chunks_exact(18).enumerate() {
                let d = f16::from_bits(le16(blk));
                let m = f16::from_f32(-8.0 * d.to_f32());
                if m.is_infinite() {
                    // |d| > 65504 / 8: -8·d has no f16. No real model gets near.
                    return Err(Error::Model(format!("{ty} tensor: block {b} has a scale too large ({d})")));
                }
                out.push(d.to_bits() as u32 | (m.to_bits() as u32) << 16);
                out.extend(blk[2..].chunks_exact(4).map(le32));
            }
            out
        }
        GgmlType::Q8_0 => {
            let mut out = Vec::with_capacity(nb * 9);
            for blk in bytes.chunks_exact(34) {
                out.push(le16(blk) as u32);
                out.extend(blk[2..].chunks_exact(4).map(|b| le32(b) ^ Q8_OFFSET));
            }
            out
        }
        GgmlType::Q5_0 | GgmlType::IQ4NL => {
            // Both become Q8_0 blocks with the same d: q - 16, or the grid value (|v| ≤ 127).
            let mut out = Vec::with_capacity(nb * 9);
            let mut q = [0i8; 32];
            for blk in bytes.chunks_exact(blk_bytes) {
                if ty == GgmlType::Q5_0 {
                    let mut g = 0;
                    quant::for_each_group16(ty, blk, |grp| {
                        (0..16).for_each(|i| q[16 * g + i] = grp.q[i] as i8 - 16);
                        g += 1;
                    })?;
                } else {
                    for (j, &b) in blk[2..].iter().enumerate() {
                        q[j] = quant::IQ4NL_VALUES[(b & 0xf) as usize];
                        q[j + 16] = quant::IQ4NL_VALUES[(b >> 4) as usize];
                    }
                }
                out.push(le16(blk) as u32);
                out.extend(
                    q.chunks_exact(4).map(|b| u32::from_le_bytes(std::array::from_fn(|j| b[j] as u8)) ^ Q8_OFFSET),
                );
            }
            out
        }
        GgmlType::Q5_1 | GgmlType::Q2K | GgmlType::Q3K | GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K => {
            let mut out = Vec::with_capacity(nb * Q8S_WORDS);
            let mut quants = [0u32; 4]; // the first half's quant words, waiting for the second half
            let mut half = 0;
            quant::for_each_group16(ty, bytes, |g| {
                let (s, m) = q8s_scale_min(g);
                out.extend([s.to_bits(), m.to_bits()]);
                let words =
                    std::array::from_fn::<u32, 4, _>(|k| u32::from_le_bytes(std::array::from_fn(|j| g.q[4 * k + j])));
                if half == 0 {
                    quants = words;
                } else {
                    out.extend(quants);
                    out.extend(words);
                }
                half ^= 1;
            })?;
            out
        }
        GgmlType::F32 => bytes.chunks_exact(4).map(le32).collect(),
        GgmlType::F16 => bytes.chunks_exact(2).map(|b| f16::from_bits(le16(b)).to_f32().to_bits()).collect(),
        GgmlType::BF16 => bytes.chunks_exact(2).map(|b| (le16(b) as u32) << 16).collect(),
        other => return Err(WeightFormat::for_type(other).unwrap_err()),
    })
}

/// Widens an F32/F16/BF16 vector (norm weights) to f32.
pub fn to_f32(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    let words = match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
            let (_, bb) = ty.block();
            if bytes.len() != n * bb as usize {
                return Err(Error::Model(format!("{ty} vector of {n} elements has {} bytes", bytes.len())));
            }
            match ty {
                GgmlType::F32 => bytes.chunks_exact(4).map(le32).collect::<Vec<u32>>(),
                GgmlType::F16 => bytes.chunks_exact(2).map(|b| f16::from_bits(le16(b)).to_f32().to_bits()).collect(),
                _ => bytes.chunks_exact(2).map(|b| (le16(b) as u32) << 16).collect(),
            }
        }
        other => return Err(Error::Unsupported(format!("norm weight of type {other} (need F32, F16 or BF16)"))),
    };
    Ok(words.into_iter().map(f32::from_bits).collect())
}

/// GGUF bytes of a quantized type made of random quants and sub-scales, not a quantization
/// of anything, so every bit pattern of the format gets exercised (kernel tests) or a model
/// of a real shape costs no quantizer (synthetic benchmarks); the f16 scales finite and
/// small (d, dmin in 0.001..0.1, Q4_1 / Q5_1's m in -0.5..0.5). `next` gives random u64s.
pub fn random_blocks(ty: GgmlType, n: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
    let f16 = |v: f32| f16::from_f32(v).to_bits().to_le_bytes();
    let (be, bb) = ty.block();
    let mut out = Vec::with_capacity(n / be as usize * bb as usize);
    for _ in 0..n / be as usize {
        let start = out.len();
        while out.len() < start + bb as usize {
            out.extend(next().to_le_bytes());
        }
        out.truncate(start + bb as usize);
        for (i, &o) in scale_offsets(ty).iter().enumerate() {
            let has_m = matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) && i == 1;
            let (lo, hi) = if has_m { (-0.5, 0.5) } else { (0.001, 0.1) };
            let v = lo + (hi - lo) * (next() >> 40) as f32 / (1u64 << 24) as f32;
            out[start + o..start + o + 2].copy_from_slice(&f16(v));
        }
    }
    out
}

/// Multiplies every f16 scale of blocks of `ty` (the ones `random_blocks` draws) by `factor`:
/// each value the blocks hold is linear in them, so the values scale by `factor` (to f16
/// precision).
pub fn scale_blocks(ty: GgmlType, data: &mut [u8], factor: f32) {
    let (_, bb) = ty.block();
    for block in data.chunks_exact_mut(bb as usize) {
        for &o in scale_offsets(ty) {
            let v = f16::from_le_bytes([block[o], block[o + 1]]).to_f32() * factor;
            block[o..o + 2].copy_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
        }
    }
}

/// Random GGUF bytes of any type for the kernel tests (`random_blocks` for quantized ones).
#[cfg(test)]
pub(crate) fn random_tensor(rng: &mut impl rand::Rng, ty: GgmlType, n: usize) -> Vec<u8> {
    let f16 = |v: f32| f16::from_f32(v).to_bits().to_le_bytes();
    let mut out = Vec::new();
    match ty {
        GgmlType::F32 => (0..n).for_each(|_| out.extend(rng.random_range(-1.0f32..1.0).to_le_bytes())),
        GgmlType::F16 => (0..n).for_each(|_| out.extend(f16(rng.random_range(-1.0..1.0)))),
        _ => out = random_blocks(ty, n, &mut || rng.random()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUANTIZED: [GgmlType; 11] = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::IQ4NL,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];

    /// What the shaders' load_block computes from a format's words, in f32 on the CPU: q·d + m
    /// for Q4 and Q8; for Q8S the two branches of weights_q8s_dot.wgsl's q8s_dequant.
    fn decode(fmt: WeightFormat, words: &[u32]) -> Vec<f32> {
        let mut y = Vec::new();
        for blk in words.chunks_exact(fmt.words_per_block()) {
            match fmt {
                WeightFormat::Q4 => {
                    let (d, m) =
                        (f16::from_bits(blk[0] as u16).to_f32(), f16::from_bits((blk[0] >> 16) as u16).to_f32());
                    let nib = |shift: u32| {
                        blk[1..].iter().flat_map(move |w| (0..4).map(move |j| (w >> (8 * j + shift)) & 15))
                    };
                    y.extend(nib(0).chain(nib(4)).map(|q| q as f32 * d + m));
                }
                WeightFormat::Q8 => {
                    let d = f16::from_bits(blk[0] as u16).to_f32();
                    let bytes = blk[1..].iter().flat_map(|w| (w ^ Q8_OFFSET).to_le_bytes());
                    y.extend(bytes.map(|q| q as i8 as f32 * d));
                }
                WeightFormat::Q8S => {
                    for half in 0..2 {
                        let (s, m) = (f32::from_bits(blk[2 * half]), f32::from_bits(blk[2 * half + 1]));
                        let bytes = blk[4 + 4 * half..8 + 4 * half].iter().flat_map(|w| w.to_le_bytes());
                        y.extend(bytes.map(|q| {
                            assert!(q < 128, "a Q8S quant must stay positive in place");
                            if m == -32.0 * s {
                                (q as f32 - 32.0) * s
                            } else {
                                q as f32 * s + m
                            }
                        }));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        y
    }

    /// The repack is exact: every weight the GPU reader computes is bit for bit the CPU
    /// reference's (up to the sign of zero), for random blocks with random-bit-pattern finite scales (subnormal,
    /// negative and large ones included).
    #[test]
    fn repack_is_exact_for_every_quantized_type() {
        let mut rng = rand::rng();
        for ty in QUANTIZED {
            let (be, bb) = ty.block();
            let n = 4 * 256;
            let mut bytes: Vec<u8> = (0..n / be as usize * bb as usize).map(|_| rand::Rng::random(&mut rng)).collect();
            for blk in bytes.chunks_exact_mut(bb as usize) {
                for &o in scale_offsets(ty) {
                    // Q4_0 as Q4 holds -8·d in f16: |d| ≤ 65504 / 8 (larger d is refused).
                    let limit = if ty == GgmlType::Q4_0 { 8188.0 } else { f32::INFINITY };
                    // Finite too: inf ≤ INFINITY would let an infinite scale through.
                    let ok = |v: f32| v.is_finite() && v.abs() <= limit;
                    while !ok(f16::from_bits(le16(&blk[o..])).to_f32()) {
                        blk[o + 1] = rand::Rng::random(&mut rng);
                    }
                }
            }
            let want = quant::dequantize(ty, &bytes, n).unwrap();
            let fmt = WeightFormat::for_type(ty).unwrap();
            let words = repack(ty, &bytes, n).unwrap();
            assert_eq!(words.len(), n / 32 * fmt.words_per_block(), "{ty}");
            let got = decode(fmt, &words);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // Zeros may differ in sign: q·d + m with m = -8·d gives +0 where (q - 8)·d gives -0.
                assert!(
                    g.to_bits() == w.to_bits() || *g == 0.0 && *w == 0.0,
                    "{ty} as {fmt:?}: element {i}: {g:e} vs {w:e}"
                );
            }
        }
    }

    /// Q8S's texture form keeps the four scale words of a block in the buffer and its eight
    /// quant words in two texels.
    #[test]
    fn q8s_splits_into_scales_and_texels() {
        let words: Vec<u32> = (0..3 * 12).collect();
        let (scales, texels, rows) = split_for_texture(WeightFormat::Q8S, &words).unwrap();
        assert_eq!(WeightFormat::Q8S.texture_form(), Some(WeightFormat::Q8STex));
        assert_eq!(rows, 1);
        assert_eq!(scales, [0, 1, 2, 3, 12, 13, 14, 15, 24, 25, 26, 27]);
        assert_eq!(&texels[..8], &[4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(&texels[16..24], &[28, 29, 30, 31, 32, 33, 34, 35]);
        assert!(texels[24..].iter().all(|&w| w == 0));
        assert!(split_for_texture(WeightFormat::F32, &words).is_err());
    }

    /// A block whose f16 d (or dmin, or Q4_1 / Q5_1's m) is NaN or infinite is reported with
    /// the tensor type, not uploaded to poison every output.
    #[test]
    fn non_finite_scales_are_refused() {
        let mut rng = rand::rng();
        for ty in QUANTIZED {
            let (be, bb) = ty.block();
            let n = 2 * be as usize;
            for &o in scale_offsets(ty) {
                for bad in [f16::NAN, f16::INFINITY, f16::NEG_INFINITY] {
                    let mut bytes = random_tensor(&mut rng, ty, n);
                    bytes[bb as usize + o..bb as usize + o + 2].copy_from_slice(&bad.to_le_bytes());
                    let e = repack(ty, &bytes, n).unwrap_err().to_string();
                    assert!(e.contains(ty.name()) && e.contains("block 1") && e.contains("non-finite"), "{e}");
                }
            }
            assert!(repack(ty, &random_tensor(&mut rng, ty, n), n).is_ok(), "{ty}");
        }
        let mut bytes = random_tensor(&mut rng, GgmlType::Q4_0, 32);
        bytes[..2].copy_from_slice(&f16::from_f32(8192.0).to_le_bytes());
        let e = repack(GgmlType::Q4_0, &bytes, 32).unwrap_err().to_string();
        assert!(e.contains("Q4_0") && e.contains("too large"), "{e}");
    }

    #[test]
    fn k_quants_need_whole_super_blocks() {
        let e = repack(GgmlType::Q4K, &[0; 144], 128).unwrap_err().to_string();
        assert!(e.contains("Q4_K") && e.contains("256"), "{e}");
        assert!(repack(GgmlType::Q6K, &[0; 209], 256).is_err());
        assert_eq!(WeightFormat::for_type(GgmlType::Q5_0).unwrap(), WeightFormat::Q8);
        assert_eq!(WeightFormat::for_type(GgmlType::IQ4NL).unwrap(), WeightFormat::Q8);
        assert_eq!(WeightFormat::for_type(GgmlType::Q6K).unwrap(), WeightFormat::Q8S);
        assert!(WeightFormat::for_type(GgmlType::Q8K).unwrap_err().to_string().contains("Q8_K"));
    }
}
