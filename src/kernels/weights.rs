//! GPU weight formats: the upload side of shaders/weights_*.wgsl.
//!
//! Every matrix reaches the GPU as `array<u32>` in 32-weight blocks that one `load_q` per
//! format reads (raw quants plus the block's scale and offset; shaders/weights.wgsl builds
//! `load_block`, the dequantized block, on top). Formats whose blocks are not a multiple of 4 bytes are repacked here,
//! once, at load time: Q8_0 (34 bytes) becomes 9 words (bytes 0..2 of each quant word in offset binary, see
//! `Q8_OFFSET`); Q4_0 becomes Q4_1 with m = -8·d
//! (exact in f16); F16 and BF16 are widened to F32.

use half::f16;

use crate::error::{Error, Result};
use crate::gguf::GgmlType;

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
    F32,
}

/// Texels a row of a quant texture (shaders/weights_tex.wgsl's TEX_W); within WebGPU's
/// default max texture width (8192).
pub const TEX_WIDTH: u32 = 2048;

/// Splits the words of a Q4 or Q8 matrix ([scale word, quant words] a block) into the scale
/// words and the quant texels of its texture format, padded to whole texture rows; returns
/// (scales, texels as u32 words, rows).
pub fn split_for_texture(fmt: WeightFormat, words: &[u32]) -> Result<(Vec<u32>, Vec<u32>, u32)> {
    if fmt.texture_form().is_none() {
        return Err(Error::Param(format!("weight format {fmt:?} has no texture form")));
    }
    let per = fmt.words_per_block();
    let quant = per - 1; // a multiple of 4: one or two texels a block
    let blocks = words.len() / per;
    let rows = ((blocks * quant / 4) as u32).div_ceil(TEX_WIDTH).max(1);
    let mut texels = vec![0u32; (rows * TEX_WIDTH * 4) as usize];
    let mut scales = Vec::with_capacity(blocks);
    for (b, blk) in words.chunks_exact(per).enumerate() {
        scales.push(blk[0]);
        texels[b * quant..(b + 1) * quant].copy_from_slice(&blk[1..]);
    }
    Ok((scales, texels, rows))
}

impl WeightFormat {
    /// The GPU format a GGUF tensor type is uploaded as, or an error naming the type.
    pub fn for_type(ty: GgmlType) -> Result<Self> {
        match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 => Ok(WeightFormat::Q4),
            GgmlType::Q8_0 => Ok(WeightFormat::Q8),
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => Ok(WeightFormat::F32),
            other => {
                Err(Error::Unsupported(format!("tensor type {other} (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)")))
            }
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
            WeightFormat::F32 => {
                concat!(include_str!("../../shaders/weights_f32.wgsl"), include_str!("../../shaders/weights.wgsl"))
            }
        }
    }

    /// Whether the kernels also bind a quant texture.
    pub fn uses_texture(self) -> bool {
        matches!(self, WeightFormat::Q4Tex | WeightFormat::Q8Tex)
    }

    /// The format with the quants in a texture, for the row (software) kernels.
    pub fn texture_form(self) -> Option<WeightFormat> {
        match self {
            WeightFormat::Q4 => Some(WeightFormat::Q4Tex),
            WeightFormat::Q8 => Some(WeightFormat::Q8Tex),
            _ => None,
        }
    }

    pub fn words_per_block(self) -> usize {
        match self {
            WeightFormat::Q4 => 5,
            WeightFormat::Q4Tex | WeightFormat::Q8Tex => 1,
            WeightFormat::Q8 => 9,
            WeightFormat::F32 => 32,
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

/// Repacks a tensor's GGUF bytes into the GPU words of its format. `n` is the element count
/// and must be a multiple of 32 (a matrix row length is checked by the model loader).
pub fn repack(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<u32>> {
    if !n.is_multiple_of(32) {
        return Err(Error::Unsupported(format!("{ty} tensor of {n} elements: not a multiple of 32")));
    }
    let (blk_elems, blk_bytes) = ty.block();
    let need = n / blk_elems as usize * blk_bytes as usize;
    if bytes.len() != need {
        return Err(Error::Model(format!("{ty} tensor of {n} elements has {} bytes, expected {need}", bytes.len())));
    }
    let nb = n / 32;
    Ok(match ty {
        GgmlType::Q4_1 => bytes.chunks_exact(4).map(le32).collect(),
        GgmlType::Q4_0 => {
            let mut out = Vec::with_capacity(nb * 5);
            for blk in bytes.chunks_exact(18) {
                let d = f16::from_bits(le16(blk));
                let m = f16::from_f32(-8.0 * d.to_f32());
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
