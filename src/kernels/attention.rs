//! Launcher for shaders/attention.wgsl: causal GQA over the KV cache.

use super::rope::Heads;
use super::{groups, Kernels, RowInfo, COMMON};
use crate::error::Result;
use crate::gpu::shader::{Defines, Slot};

const SRC: &str = include_str!("../../shaders/attention.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::Read, Slot::Read, Slot::ReadWrite];

pub struct Attention {
    pipe: wgpu::ComputePipeline,
    heads: Heads,
}

impl Attention {
    pub fn new(kern: &Kernels, h: Heads, kv_f16: bool) -> Result<Self> {
        let defs = Defines::new().u32("H", h.n_head).u32("HKV", h.n_head_kv).u32("HD", h.head_dim).flag("KV_F16", kv_f16);
        Ok(Attention { pipe: kern.pipeline("attention", "main", &[COMMON, SRC], &defs, SIG)?, heads: h })
    }

    /// Buffers: rows, row info [M], q [M, H·HD], k cache, v cache [SLOTS, HKV·HD], out [M, H·HD].
    pub fn bind(&self, kern: &Kernels, b: [&wgpu::Buffer; 6]) -> Result<wgpu::BindGroup> {
        kern.bind(SIG, "attention", &b)
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.heads.n_head, 64), m, 1);
    }
}

/// CPU reference for one query row: q [H·HD], caches [SLOTS, HKV·HD], attending to the
/// positions 0..=row.pos at their slots.
pub fn attention_ref(h: Heads, q: &[f32], kc: &[f32], vc: &[f32], row: RowInfo) -> Vec<f32> {
    let (hd, kvd) = (h.head_dim as usize, (h.n_head_kv * h.head_dim) as usize);
    let group = (h.n_head / h.n_head_kv) as usize;
    let mut out = vec![0f32; h.n_head as usize * hd];
    for head in 0..h.n_head as usize {
        let kvh = head / group;
        let qh = &q[head * hd..(head + 1) * hd];
        let slots: Vec<usize> = (0..=row.pos).map(|t| row.slot(t) as usize).collect();
        let scores: Vec<f64> = slots
            .iter()
            .map(|&t| {
                let k = &kc[t * kvd + kvh * hd..][..hd];
                qh.iter().zip(k).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() / (hd as f64).sqrt()
            })
            .collect();
        let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let ws: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
        let total: f64 = ws.iter().sum();
        for d in 0..hd {
            let acc: f64 = ws.iter().zip(&slots).map(|(w, &t)| w * vc[t * kvd + kvh * hd + d] as f64).sum();
            out[head * hd + d] = (acc / total) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::rope::{pack_f16_pairs, unpack_f16_pairs};
    use super::super::testutil::*;
    use super::*;
    use crate::gpu::Variant;

    fn check(kv_f16: bool) {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let h = Heads { n_head: 6, n_head_kv: 2, head_dim: 16, n_rot: 16 };
        let slots = 60usize;
        // Solo rows, and lane rows that share positions < 10 and own slots from 33 / 47.
        let info = [RowInfo::solo(0), RowInfo::solo(1), RowInfo::solo(32), RowInfo::lane(9, 10, 33), RowInfo::lane(20, 10, 33), RowInfo::lane(12, 10, 47)];
        let m = info.len();
        let (qd, kvd) = ((h.n_head * h.head_dim) as usize, (h.n_head_kv * h.head_dim) as usize);
        let q = rand_vec(&mut rng, m * qd, 1.0);
        let mut kc = rand_vec(&mut rng, slots * kvd, 1.0);
        let mut vc = rand_vec(&mut rng, slots * kvd, 1.0);
        let (kb, vb) = if kv_f16 {
            // The reference sees exactly the f16 values the GPU reads.
            kc = unpack_f16_pairs(&pack_f16_pairs(&kc));
            vc = unpack_f16_pairs(&pack_f16_pairs(&vc));
            (buf_u32(&kern, &pack_f16_pairs(&kc)), buf_u32(&kern, &pack_f16_pairs(&vc)))
        } else {
            (buf(&kern, &kc), buf(&kern, &vc))
        };
        let att = Attention::new(&kern, h, kv_f16).unwrap();
        let bufs = [rows(&kern, m as u32, 0), buf_rows(&kern, &info), buf(&kern, &q), kb, vb, buf(&kern, &vec![0.0; m * qd])];
        let bg = att.bind(&kern, std::array::from_fn(|i| &bufs[i])).unwrap();
        run(&kern, |p| att.record(p, &bg, m as u32));
        let got = read(&kern, &bufs[5], m * qd);
        let want: Vec<f32> = info.iter().enumerate().flat_map(|(i, &r)| attention_ref(h, &q[i * qd..(i + 1) * qd], &kc, &vc, r)).collect();
        // Outputs are convex combinations of values in [-1, 1]; f32 softmax and sums over
        // ≤ 33 positions stay within 1e-5 absolute.
        let scale = vec![1.0; want.len()];
        assert_close("attention", &got, &want, &scale, 1e-5, 0.0);
    }

    #[test]
    fn matches_cpu_reference() {
        check(false);
    }

    #[test]
    fn matches_cpu_reference_with_f16_cache() {
        check(true);
    }
}
