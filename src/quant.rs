//! ggml block formats and CPU (de)quantizers, bit-exact with llama.cpp's
//! `dequantize_row_*` and `quantize_row_*_ref` (quantizers for F32, F16, BF16, Q4_0, Q4_1
//! and Q8_0 only; Q5_0, Q5_1, Q2_K … Q6_K and IQ4_NL are read, never written).
//!
//! These are the ground truth the GPU kernels are tested against and what the synthetic
//! model is written with, so they follow ggml's arithmetic step by step (f16 rounding of the
//! scale first, then the quants computed from the *unrounded* scale, as ggml does).
//! The f16 fields are raw `[u8; 2]` so the structs have alignment 1, no padding, and can be
//! cast straight from unaligned file bytes.

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::error::{Error, Result};
use crate::gguf::GgmlType;

/// Elements per block of the 32-wide formats.
pub const QK: usize = 32;

/// `x = (q - 8) * d`; `qs[j]` holds element j (low nibble) and j + 16 (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// `x = q * d + m`; same nibble order as Q4_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// `x = q * d`, q signed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [i8; QK],
}

/// `x = (q - 16) * d`, q 5 bits: low nibbles as Q4_0, bit 4 of element j is bit j of `qh` (LE).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// `x = q * d + m`; q as Q5_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// `x = d * kvalues[q]`, q a nibble in Q4_0's order, the values a fixed non-linear grid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIq4Nl {
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// IQ4_NL's grid (ggml's `kvalues_iq4nl`).
pub const IQ4NL_VALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Elements per K-quant super-block.
pub const QK_K: usize = 256;

/// 16 groups of 16: `x = d * (sc & 15) * q - dmin * (sc >> 4)`, q 2 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}

/// 16 groups of 16: `x = d * (sc - 32) * (q - 4)`, q 3 bits (2 in `qs`, the third in
/// `hmask`), sc 6 bits packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}

/// 8 groups of 32: `x = d * sc * q - dmin * m`, q 4 bits, sc and m 6 bits packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

/// As Q4_K with a fifth bit of q in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// 16 groups of 16: `x = d * sc * (q - 32)`, q 6 bits (4 in `ql`, 2 in `qh`), sc signed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: [u8; 2],
}

// The file format is the contract: a layout change here would silently misread every model.
const _: () = assert!(size_of::<BlockQ4_0>() == 18);
const _: () = assert!(size_of::<BlockQ4_1>() == 20);
const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(size_of::<BlockQ5_0>() == 22);
const _: () = assert!(size_of::<BlockQ5_1>() == 24);
const _: () = assert!(size_of::<BlockIq4Nl>() == 18);
const _: () = assert!(size_of::<BlockQ2K>() == 84);
const _: () = assert!(size_of::<BlockQ3K>() == 110);
const _: () = assert!(size_of::<BlockQ4K>() == 144);
const _: () = assert!(size_of::<BlockQ5K>() == 176);
const _: () = assert!(size_of::<BlockQ6K>() == 210);

fn h(bits: [u8; 2]) -> f32 {
    f16::from_le_bytes(bits).to_f32()
}

fn to_h(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

/// ggml's `GGML_FP32_TO_BF16`: round to nearest even, NaN forced quiet (not `half`'s rule).
fn to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u + (0x7fff + ((u >> 16) & 1))) >> 16) as u16
}

const SUPPORTED: &str = "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL";
/// The types `quantize` writes.
pub const QUANTIZABLE_TYPES: [GgmlType; 6] =
    [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0];

/// Number of bytes `n` elements of `ty` take, or an error if `ty` is not handled here or
/// `n` is not a whole number of blocks.
pub fn row_bytes(ty: GgmlType, n: usize) -> Result<usize> {
    use GgmlType::*;
    if !matches!(ty, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2K | Q3K | Q4K | Q5K | Q6K | IQ4NL) {
        return Err(Error::Unsupported(format!("dequantizing {ty} (supported: {SUPPORTED})")));
    }
    let (be, bb) = ty.block();
    let (be, bb) = (be as usize, bb as usize);
    if !n.is_multiple_of(be) {
        return Err(Error::Param(format!("{n} elements is not a multiple of the {ty} block size {be}")));
    }
    (n / be).checked_mul(bb).ok_or_else(|| Error::Param(format!("{n} elements of {ty} overflow usize")))
}

/// Decodes `n` elements of type `ty` from exactly `row_bytes(ty, n)` bytes.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    let need = row_bytes(ty, n)?;
    if bytes.len() != need {
        return Err(Error::Param(format!("{n} elements of {ty} need {need} bytes, got {}", bytes.len())));
    }
    let mut y = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => y.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        GgmlType::F16 => y.extend(bytes.chunks_exact(2).map(|c| h([c[0], c[1]]))),
        GgmlType::BF16 => {
            y.extend(bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)))
        }
        GgmlType::Q4_0 => {
            for b in bytemuck::cast_slice::<u8, BlockQ4_0>(bytes) {
                let d = h(b.d);
                y.extend(b.qs.iter().map(|&q| ((q & 0xf) as i32 - 8) as f32 * d));
                y.extend(b.qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
        }
        GgmlType::Q4_1 => {
            for b in bytemuck::cast_slice::<u8, BlockQ4_1>(bytes) {
                let (d, m) = (h(b.d), h(b.m));
                y.extend(b.qs.iter().map(|&q| (q & 0xf) as f32 * d + m));
                y.extend(b.qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
        }
        GgmlType::Q8_0 => {
            for b in bytemuck::cast_slice::<u8, BlockQ8_0>(bytes) {
                let d = h(b.d);
                y.extend(b.qs.iter().map(|&q| q as f32 * d));
            }
        }
        GgmlType::IQ4NL => {
            for b in bytemuck::cast_slice::<u8, BlockIq4Nl>(bytes) {
                let d = h(b.d);
                y.extend(b.qs.iter().map(|&q| d * IQ4NL_VALUES[(q & 0xf) as usize] as f32));
                y.extend(b.qs.iter().map(|&q| d * IQ4NL_VALUES[(q >> 4) as usize] as f32));
            }
        }
        _ => for_each_group16(ty, bytes, |g| y.extend((0..16).map(|i| g.value(i))))?,
    }
    Ok(y)
}

/// Sixteen consecutive weights that share a scale. ggml's dequantizers of Q5_0, Q5_1 and
/// the K-quants all compute a weight as `scale·(q − bias) − min` in f32, in that order,
/// with q ≥ 0 and, per type, bias or min zero (Q5_1's min is −m: `a − (−m)` is `a + m`
/// bit for bit). The GPU repack (src/kernels/weights.rs) starts from this form too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Group16 {
    /// 0..63 for every type.
    pub q: [u8; 16],
    pub bias: u8,
    pub scale: f32,
    pub min: f32,
}

impl Group16 {
    pub fn value(&self, i: usize) -> f32 {
        self.scale * (self.q[i] as i32 - self.bias as i32) as f32 - self.min
    }
}

/// Calls `f` on the 16-weight groups of a Q5_0, Q5_1 or K-quant tensor, in element order.
/// `bytes` must be whole blocks.
pub fn for_each_group16(ty: GgmlType, bytes: &[u8], mut f: impl FnMut(&Group16)) -> Result<()> {
    let (_, bb) = ty.block();
    if !bytes.len().is_multiple_of(bb as usize) {
        return Err(Error::Param(format!("{} bytes is not a whole number of {ty} blocks", bytes.len())));
    }
    fn each<B: Pod, const G: usize>(bytes: &[u8], groups: fn(&B) -> [Group16; G], f: &mut impl FnMut(&Group16)) {
        bytemuck::cast_slice::<u8, B>(bytes).iter().for_each(|b| groups(b).iter().for_each(&mut *f));
    }
    match ty {
        GgmlType::Q5_0 => each(bytes, q5_0_groups, &mut f),
        GgmlType::Q5_1 => each(bytes, q5_1_groups, &mut f),
        GgmlType::Q2K => each(bytes, q2k_groups, &mut f),
        GgmlType::Q3K => each(bytes, q3k_groups, &mut f),
        GgmlType::Q4K => each(bytes, q4k_groups, &mut f),
        GgmlType::Q5K => each(bytes, q5k_groups, &mut f),
        GgmlType::Q6K => each(bytes, q6k_groups, &mut f),
        _ => return Err(Error::Unsupported(format!("{ty} has no 16-weight groups"))),
    }
    Ok(())
}

fn group(q: impl Fn(usize) -> u8, bias: u8, scale: f32, min: f32) -> Group16 {
    Group16 { q: std::array::from_fn(q), bias, scale, min }
}

/// The 5-bit quants of Q5_0 / Q5_1, elements 0..31.
fn q5_quants(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let qh = u32::from_le_bytes(qh);
    std::array::from_fn(|e| {
        let nib = if e < 16 { qs[e] & 0xf } else { qs[e - 16] >> 4 };
        nib | (((qh >> e) & 1) as u8) << 4
    })
}

fn q5_0_groups(b: &BlockQ5_0) -> [Group16; 2] {
    let (q, d) = (q5_quants(b.qh, &b.qs), h(b.d));
    std::array::from_fn(|g| group(|i| q[16 * g + i], 16, d, 0.0))
}

fn q5_1_groups(b: &BlockQ5_1) -> [Group16; 2] {
    let (q, d, m) = (q5_quants(b.qh, &b.qs), h(b.d), h(b.m));
    std::array::from_fn(|g| group(|i| q[16 * g + i], 0, d, -m))
}

// Q2_K and Q3_K: 128 elements take 32 bytes of 2-bit quants; element 32j + 16k + i (j < 4
// the shift, k < 2) is bits 2j of byte 16k + i. Group g = 8·half + 2j + k.
fn q2_bits(qs: &[u8], g: usize, i: usize) -> u8 {
    let (half, j, k) = (g / 8, (g % 8) / 2, g % 2);
    (qs[32 * half + 16 * k + i] >> (2 * j)) & 3
}

fn q2k_groups(b: &BlockQ2K) -> [Group16; 16] {
    let (d, dmin) = (h(b.d), h(b.dmin));
    std::array::from_fn(|g| {
        let sc = b.scales[g];
        group(|i| q2_bits(&b.qs, g, i), 0, d * (sc & 0xf) as f32, dmin * (sc >> 4) as f32)
    })
}

fn q3k_groups(b: &BlockQ3K) -> [Group16; 16] {
    let d = h(b.d);
    let s = &b.scales;
    std::array::from_fn(|g| {
        // 6-bit scales: low nibbles in bytes 0..8, high 2 bits in bytes 8..12.
        let lo = if g < 8 { s[g] & 0xf } else { s[g - 8] >> 4 };
        let sc = (lo | ((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) as i32 - 32;
        // The third bit: bit (4·half + j) of hmask[16k + i]; set means q − 4 ≥ 0.
        let (half, j, k) = (g / 8, (g % 8) / 2, g % 2);
        let hbit = |i: usize| (b.hmask[16 * k + i] >> (4 * half + j)) & 1;
        group(|i| q2_bits(&b.qs, g, i) | hbit(i) << 2, 4, d * sc as f32, 0.0)
    })
}

/// ggml's `get_scale_min_k4`: scale and min of group j (< 8) of 32 in Q4_K / Q5_K.
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

// Q4_K / Q5_K: 64 elements take 32 bytes of nibbles, low nibbles first; group g of 16 is
// half g % 2 of the 32-group g / 2.
fn q4k_nibble(qs: &[u8], g: usize, i: usize) -> u8 {
    let (j32, half) = (g / 2, g % 2);
    let byte = qs[32 * (j32 / 2) + 16 * half + i];
    if j32.is_multiple_of(2) {
        byte & 0xf
    } else {
        byte >> 4
    }
}

fn q4k_groups(b: &BlockQ4K) -> [Group16; 16] {
    let (d, dmin) = (h(b.d), h(b.dmin));
    std::array::from_fn(|g| {
        let (sc, m) = scale_min_k4(g / 2, &b.scales);
        group(|i| q4k_nibble(&b.qs, g, i), 0, d * sc as f32, dmin * m as f32)
    })
}

fn q5k_groups(b: &BlockQ5K) -> [Group16; 16] {
    let (d, dmin) = (h(b.d), h(b.dmin));
    std::array::from_fn(|g| {
        let (sc, m) = scale_min_k4(g / 2, &b.scales);
        // The fifth bit of 32-group j is bit j of qh[l], l the element's index in its group.
        let hbit = |i: usize| (b.qh[16 * (g % 2) + i] >> (g / 2)) & 1;
        group(|i| q4k_nibble(&b.qs, g, i) | hbit(i) << 4, 0, d * sc as f32, dmin * m as f32)
    })
}

fn q6k_groups(b: &BlockQ6K) -> [Group16; 16] {
    let d = h(b.d);
    std::array::from_fn(|g| {
        // Per 128 elements: ql 64 bytes, qh 32. Element 32j + l (j < 4, l < 32): low
        // nibble (j even) or high (j odd) of ql[32·(j % 2) + l], bits 2j of qh[l].
        let (half, e0) = (g / 8, 16 * (g % 8));
        let q = |i: usize| {
            let (j, l) = ((e0 + i) / 32, (e0 + i) % 32);
            let lb = b.ql[64 * half + 32 * (j % 2) + l];
            let low = if j < 2 { lb & 0xf } else { lb >> 4 };
            low | ((b.qh[32 * half + l] >> (2 * j)) & 3) << 4
        };
        group(q, 32, d * b.scales[g] as f32, 0.0)
    })
}

/// Encodes `x` as `ty`. `x.len()` must be a whole number of blocks.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    if !QUANTIZABLE_TYPES.contains(&ty) {
        let names: Vec<String> = QUANTIZABLE_TYPES.iter().map(|t| t.to_string()).collect();
        return Err(Error::Unsupported(format!("quantizing {ty} (supported: {})", names.join(", "))));
    }
    let mut out = Vec::with_capacity(row_bytes(ty, x.len())?);
    match ty {
        GgmlType::F32 => x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => x.iter().for_each(|&v| out.extend_from_slice(&to_h(v))),
        GgmlType::BF16 => x.iter().for_each(|&v| out.extend_from_slice(&to_bf16(v).to_le_bytes())),
        GgmlType::Q4_0 => x.chunks_exact(QK).for_each(|c| out.extend_from_slice(bytemuck::bytes_of(&q4_0(c)))),
        GgmlType::Q4_1 => x.chunks_exact(QK).for_each(|c| out.extend_from_slice(bytemuck::bytes_of(&q4_1(c)))),
        GgmlType::Q8_0 => x.chunks_exact(QK).for_each(|c| out.extend_from_slice(bytemuck::bytes_of(&q8_0(c)))),
        _ => unreachable!("row_bytes rejected {ty}"),
    }
    Ok(out)
}

// The `(v + 0.5) as i8` casts below mirror ggml's `(int8_t)(v + 0.5f)`: truncation toward
// zero, in range for every finite input (Rust saturates where C would be undefined).

fn q4_0(x: &[f32]) -> BlockQ4_0 {
    // The signed value of largest magnitude maps to -8 exactly, so the full 16 levels are used.
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut b = BlockQ4_0 { d: to_h(d), qs: [0; QK / 2] };
    for j in 0..QK / 2 {
        let lo = ((x[j] * id + 8.5) as i8).min(15) as u8;
        let hi = ((x[j + QK / 2] * id + 8.5) as i8).min(15) as u8;
        b.qs[j] = lo | (hi << 4);
    }
    b
}

fn q4_1(x: &[f32]) -> BlockQ4_1 {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut b = BlockQ4_1 { d: to_h(d), m: to_h(min), qs: [0; QK / 2] };
    for j in 0..QK / 2 {
        let lo = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
        let hi = (((x[j + QK / 2] - min) * id + 0.5) as i8).min(15) as u8;
        b.qs[j] = lo | (hi << 4);
    }
    b
}

fn q8_0(x: &[f32]) -> BlockQ8_0 {
    // C's MAX macro, not f32::max, so a NaN propagates the way it does in ggml.
    let amax = x.iter().fold(0f32, |a, &v| if a > v.abs() { a } else { v.abs() });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut b = BlockQ8_0 { d: to_h(d), qs: [0; QK] };
    for (q, &v) in b.qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8; // roundf: half away from zero, like f32::round
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random(n: usize, scale: f32) -> Vec<f32> {
        let mut rng = rand::rng();
        (0..n).map(|_| rng.random_range(-scale..scale)).collect()
    }

    /// Max |x - dequant(quant(x))| per block, against a per-block bound.
    fn check_round_trip(ty: GgmlType, bound: impl Fn(&[f32]) -> f32) {
        // Scales keep every block's f16 scale normal (a subnormal d loses relative precision).
        for scale in [0.1f32, 1.0, 300.0] {
            let x = random(QK * 64, scale);
            let q = quantize(ty, &x).unwrap();
            assert_eq!(q.len(), row_bytes(ty, x.len()).unwrap());
            let y = dequantize(ty, &q, x.len()).unwrap();
            for (xb, yb) in x.chunks(QK).zip(y.chunks(QK)) {
                // Slack for the f32 arithmetic of the quantizer itself.
                let b = bound(xb) + amax(xb) * 2f32.powi(-20);
                for (a, c) in xb.iter().zip(yb) {
                    assert!((a - c).abs() <= b, "{ty} scale {scale}: {a} -> {c}, bound {b}");
                }
            }
        }
    }

    fn amax(x: &[f32]) -> f32 {
        x.iter().fold(0f32, |a, v| a.max(v.abs()))
    }

    #[test]
    fn round_trip_bounds() {
        let x = random(1000, 1e30);
        assert_eq!(dequantize(GgmlType::F32, &quantize(GgmlType::F32, &x).unwrap(), 1000).unwrap(), x);
        // F16 / BF16 relative rounding is 2^-11 / 2^-8 (half an ulp).
        check_round_trip(GgmlType::F32, |_| 0.0);
        check_round_trip(GgmlType::F16, |b| amax(b) * 2f32.powi(-11));
        check_round_trip(GgmlType::BF16, |b| amax(b) * 2f32.powi(-8));
        // Q8_0: step d = amax/127, error <= d/2, plus f16 rounding of d (2^-11 relative) over 127 steps.
        check_round_trip(GgmlType::Q8_0, |b| amax(b) / 127.0 * (0.5 + 127.0 * 2f32.powi(-11)));
        // Q4_0: step d = amax/8, error <= d/2 except the top level (+7 d instead of +8 d)
        // clamps a value up to amax to 7 d: error <= d, plus f16 rounding of d over 8 steps.
        check_round_trip(GgmlType::Q4_0, |b| amax(b) / 8.0 * (1.0 + 8.0 * 2f32.powi(-11)));
        // Q4_1: step d = range/15, error <= d/2, plus f16 rounding of d and m.
        check_round_trip(GgmlType::Q4_1, |b| {
            let range = b.iter().cloned().fold(f32::MIN, f32::max) - b.iter().cloned().fold(f32::MAX, f32::min);
            range / 15.0 * 0.5 + (range + amax(b)) * 2f32.powi(-10)
        });
    }

    #[test]
    fn known_blocks_decode() {
        // d = 0.5 (f16 0x3800), qs[j] = lo j%16 | hi (15-j%16): elements 0..15 then 16..31.
        let mut b = vec![0x00, 0x38];
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let y = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        let want: Vec<f32> =
            (0..16).map(|j| (j - 8) as f32 * 0.5).chain((0..16).map(|j| (7 - j) as f32 * 0.5)).collect();
        assert_eq!(y, want);

        // Q4_1: d = 2, m = -1 (f16 0x4000, 0xbc00).
        let mut b = vec![0x00, 0x40, 0x00, 0xbc];
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        let want: Vec<f32> =
            (0..16).map(|j| j as f32 * 2.0 - 1.0).chain((0..16).map(|j| (15 - j) as f32 * 2.0 - 1.0)).collect();
        assert_eq!(y, want);

        // Q8_0: d = 0.25, q = -16..15.
        let mut b = vec![0x00, 0x34];
        b.extend((-16i8..16).map(|q| q as u8));
        let y = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!(y, (-16..16).map(|q| q as f32 * 0.25).collect::<Vec<_>>());

        assert_eq!(dequantize(GgmlType::F16, &[0x00, 0x3c, 0x00, 0xc0], 2).unwrap(), [1.0, -2.0]);
        assert_eq!(dequantize(GgmlType::BF16, &[0x80, 0x3f, 0x40, 0xc0], 2).unwrap(), [1.0, -3.0]);
    }

    #[test]
    fn known_blocks_encode() {
        // Q4_0: the max-magnitude value is -4 → d = 0.5, it lands on q = 0; +3.5 on q = 15.
        let mut x = vec![0.0f32; 32];
        x[0] = -4.0;
        x[1] = 3.5;
        x[16] = 1.0;
        let q = quantize(GgmlType::Q4_0, &x).unwrap();
        assert_eq!(&q[..2], &[0x00, 0x38]);
        assert_eq!(q[2], 10 << 4); // x[0] → 0, x[16] = 1.0 → 2 + 8
        assert_eq!(q[3], 15 | (8 << 4));
        // A positive max gives a negative d: +8 → q = 0 and nothing can reach +8 d.
        let q = quantize(GgmlType::Q4_0, &[8.0; 32]).unwrap();
        assert_eq!(dequantize(GgmlType::Q4_0, &q, 32).unwrap(), vec![8.0; 32]);

        // Q4_1: values 0..31 step 1 over range 31 → d = 31/15, m = 0.
        let x: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let q = quantize(GgmlType::Q4_1, &x).unwrap();
        assert_eq!(h([q[0], q[1]]), f16::from_f32(31.0 / 15.0).to_f32());
        assert_eq!(&q[2..4], &[0, 0]);
        assert_eq!(q[4] & 0xf, 0);
        assert_eq!(q[4 + 15] >> 4, 15);

        // Q8_0: amax 127 → d = 1, exact; 0.5 rounds away from zero.
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        x[31] = 127.0;
        x[0] = -2.5;
        let q = quantize(GgmlType::Q8_0, &x).unwrap();
        assert_eq!(&q[..2], &[0x00, 0x3c]);
        assert_eq!(q[2] as i8, -3);
        assert_eq!(q[2 + 31] as i8, 127);

        // All zeros: d = 0, no NaN.
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            let q = quantize(ty, &[0.0; 32]).unwrap();
            assert_eq!(dequantize(ty, &q, 32).unwrap(), vec![0.0; 32], "{ty}");
        }
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80); // tie → even
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
    }

    #[test]
    fn bad_lengths_and_types_are_errors() {
        assert!(quantize(GgmlType::Q4_0, &[0.0; 31]).is_err());
        assert!(quantize(GgmlType::Q8_0, &[0.0; 33]).is_err());
        assert!(dequantize(GgmlType::Q4_1, &[0; 20], 16).is_err());
        assert!(dequantize(GgmlType::Q4_1, &[0; 19], 32).is_err());
        assert!(dequantize(GgmlType::F32, &[0; 5], 1).is_err());
        let e = quantize(GgmlType::Q6K, &[0.0; 256]).unwrap_err().to_string();
        assert!(e.contains("Q6_K"), "{e}");
        assert!(dequantize(GgmlType::Q4K, &[0; 144], 128).is_err());
        assert!(dequantize(GgmlType::Q6K, &[0; 210], 256).is_ok());
        let e = dequantize(GgmlType::Q8K, &[0; 292], 256).unwrap_err().to_string();
        assert!(e.contains("Q8_K"), "{e}");
        assert!(dequantize(GgmlType::I32, &[0; 4], 1).is_err());
        assert!(quantize(GgmlType::F16, &[]).unwrap().is_empty());
    }
}
