//! Launcher for shaders/quantize.wgsl: activation rows to int8 blocks (Q8_1-style) for the
//! int8 matmuls (see `Matmul::int8`). A quantized row of K values is K/32 blocks of three
//! vec4<u32>: 32 quants, then (d, s = d·Σq) as f32 bits.

use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};

const SRC: &str = include_str!("../../shaders/quantize.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::ReadWrite];
const WG: u32 = 32;

/// u32 words of one quantized block: 8 of quants, d, s and two of padding.
pub const BLOCK_WORDS: usize = 12;

pub struct Quantize {
    pipe: LazyPipeline,
    k: u32,
}

impl Quantize {
    /// Rows of `k` values (a multiple of 32).
    pub fn new(kern: &Kernels, k: u32) -> Result<Self> {
        if !k.is_multiple_of(32) {
            return Err(crate::Error::Param(format!("quantize: row length {k} is not a multiple of 32")));
        }
        let defs = Defines::new().u32("K", k).u32("WG", WG);
        Ok(Quantize { pipe: kern.pipeline("quantize", "main", &[COMMON, SRC], &defs, SIG)?, k })
    }

    /// Bytes of the quantized form of `m` rows of `k` values.
    pub fn bytes(k: u32, m: u32) -> u64 {
        (k / 32) as u64 * m as u64 * BLOCK_WORDS as u64 * 4
    }

    pub fn bind(
        &self,
        kern: &Kernels,
        rows: &wgpu::Buffer,
        x: &wgpu::Buffer,
        xq: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        kern.bind(SIG, "quantize", &[rows, x, xq])
    }

    /// Quantizes `m` rows (the `rows` uniform must say the same).
    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.k / 32, WG), m, 1);
    }
}

/// The kernel's arithmetic on the CPU: each row of `x` (a multiple of 32 long) as
/// `BLOCK_WORDS` words a block. The one step where the GPU may differ is 1/d (WGSL's
/// division is accurate to 2.5 ulp), which can move a q by one where x/d sits on a half.
pub fn quantize_ref(x: &[f32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(x.len() / 32 * BLOCK_WORDS);
    for blk in x.chunks_exact(32) {
        let d = blk.iter().fold(0f32, |a, v| a.max(v.abs())) * (1.0 / 127.0);
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        let q: Vec<i32> = blk.iter().map(|v| (v * inv).clamp(-127.0, 127.0).round() as i32).collect();
        out.extend(q.chunks_exact(4).map(|w| w.iter().rev().fold(0u32, |acc, &v| acc << 8 | (v as u8 as u32))));
        let s = q.iter().sum::<i32>() as f32;
        out.extend([d.to_bits(), (d * s).to_bits(), 0, 0]);
    }
    out
}

/// The quants of one block of `quantize_ref`'s output (its first 8 words).
pub fn unpack_block(words: &[u32]) -> [i32; 32] {
    std::array::from_fn(|i| (words[i / 4] >> (8 * (i % 4))) as u8 as i8 as i32)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::gpu::Variant;

    /// Fresh random rows (values up to ±8, a zero block, a block with a single
    /// large value): d and s are bit-equal to the CPU's (d is a product of the exact max;
    /// s is d·Σq of the GPU's own quants, one rounding), every dequantized value d·q is
    /// within d/2 · (1 + 1e-5) of x, and a quant differs from the CPU's only by one where
    /// x/d lies within 1e-4 of a half (the kernel's 1/d may differ by 2.5 ulp).
    #[test]
    fn matches_cpu_reference() {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        for (k, m) in [(96usize, 5usize), (576, 3), (1536, 1)] {
            let mut x = rand_vec(&mut rng, m * k, 8.0);
            x[..32].fill(0.0);
            x[(m - 1) * k + 39] = 300.0;
            let q = Quantize::new(&kern, k as u32).unwrap();
            let (rb, xb) = (rows(&kern, m as u32, 0), buf(&kern, &x));
            let xq = kern.gpu.storage("xq", Quantize::bytes(k as u32, m as u32)).unwrap();
            let bg = q.bind(&kern, &rb, &xb, &xq).unwrap();
            run(&kern, |p| q.record(p, &bg, m as u32));
            let got: Vec<u32> = read(&kern, &xq, m * k / 32 * BLOCK_WORDS).iter().map(|v| v.to_bits()).collect();
            let want = quantize_ref(&x);
            for (b, (g, w)) in got.chunks_exact(BLOCK_WORDS).zip(want.chunks_exact(BLOCK_WORDS)).enumerate() {
                let what = format!("k={k} m={m} block {b}");
                let xs = &x[b * 32..b * 32 + 32];
                let (d, s) = (f32::from_bits(g[8]), f32::from_bits(g[9]));
                assert_eq!(g[8], w[8], "{what}: d");
                let (gq, wq) = (unpack_block(g), unpack_block(w));
                assert_eq!(s.to_bits(), (d * gq.iter().sum::<i32>() as f32).to_bits(), "{what}: s");
                assert_eq!(&g[10..], &[0, 0], "{what}: padding");
                for i in 0..32 {
                    assert!((d * gq[i] as f32 - xs[i]).abs() <= d * 0.5 * (1.0 + 1e-5), "{what}: element {i}");
                    if gq[i] != wq[i] {
                        let t = (xs[i] / d).abs().fract();
                        assert!(
                            (gq[i] - wq[i]).abs() == 1 && (t - 0.5).abs() < 1e-4,
                            "{what}: q[{i}] {} vs {}",
                            gq[i],
                            wq[i]
                        );
                    }
                }
            }
        }
        assert!(Quantize::new(&kern, 100).is_err(), "a row that is not whole blocks");
    }
}
