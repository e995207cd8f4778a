//! Launcher for shaders/attention.wgsl: causal GQA over the KV cache, as a scores pass and
//! a softmax-and-mix pass.

use super::rope::Heads;
use super::{groups, Kernels, RowInfo, COMMON};
use crate::error::{Error, Result};
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};

const SRC: &str = include_str!("../../shaders/attention.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::ReadWrite];

/// What a layer's queries see and how their scores are scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnSpec {
    /// Multiplier of q·k (usually head_dim^-½).
    pub scale: f32,
    /// Keys at positions pos − window + 1 ..= pos; None: 0 ..= pos.
    pub window: Option<u32>,
}

impl AttnSpec {
    pub fn full(h: Heads) -> Self {
        AttnSpec { scale: 1.0 / (h.head_dim as f32).sqrt(), window: None }
    }
}

pub struct Attention {
    scores: LazyPipeline,
    mix: LazyPipeline,
    heads: Heads,
    n_ctx: u32,
}

impl Attention {
    /// Rows attend to positions below `n_ctx` (the stride of the score scratch).
    pub fn new(kern: &Kernels, h: Heads, spec: AttnSpec, kv_f16: bool, n_ctx: u32) -> Result<Self> {
        if spec.window == Some(0) {
            return Err(Error::Param("attention window 0".into()));
        }
        let defs = Defines::new()
            .f32("SCALE", spec.scale)
            .u32("WINDOW", spec.window.unwrap_or(0))
            .u32("H", h.n_head)
            .u32("HKV", h.n_head_kv)
            .u32("HD", h.head_dim)
            .u32("NCTX", n_ctx)
            .flag("QUAD", h.head_dim.is_multiple_of(16))
            .flag("KV_F16", kv_f16);
        let make = |entry: &str| kern.pipeline(&format!("attention_{entry}"), entry, &[COMMON, SRC], &defs, SIG);
        Ok(Attention { scores: make("scores")?, mix: make("mix")?, heads: h, n_ctx })
    }

    /// Bytes of the score scratch for `rows` rows.
    pub fn scratch_bytes(&self, rows: u32) -> u64 {
        4 * rows as u64 * self.heads.n_head as u64 * self.n_ctx as u64
    }

    /// Buffers: rows, row info [M], q [M, H·HD], k cache, v cache [SLOTS, HKV·HD],
    /// out [M, H·HD], score scratch (`scratch_bytes(M)`).
    pub fn bind(&self, kern: &Kernels, b: [&wgpu::Buffer; 7]) -> Result<wgpu::BindGroup> {
        if b[6].size() < self.scratch_bytes(1) {
            return Err(Error::Param(format!(
                "attention scratch of {} bytes, a row needs {}",
                b[6].size(),
                self.scratch_bytes(1)
            )));
        }
        kern.bind(SIG, "attention", &b)
    }

    /// Records `m` rows whose positions are all below `t_end` (the CPU knows them: it wrote
    /// the row infos), so the scores pass covers positions 0..t_end.
    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32, t_end: u32) {
        let h = self.heads;
        pass.set_bind_group(0, bg, &[]);
        pass.set_pipeline(&self.scores);
        pass.dispatch_workgroups(groups(t_end.min(self.n_ctx).div_ceil(4), 64), h.n_head, m);
        pass.set_pipeline(&self.mix);
        let per = if h.head_dim.is_multiple_of(16) { 16 } else { 4 };
        pass.dispatch_workgroups(groups(h.n_head * h.head_dim / per, 16), m, 1);
    }
}

/// CPU reference for one query row: q [H·HD], caches [SLOTS, HKV·HD], attending to the
/// positions 0..=row.pos (or the window ending there) at their slots.
pub fn attention_ref(h: Heads, spec: AttnSpec, q: &[f32], kc: &[f32], vc: &[f32], row: RowInfo) -> Vec<f32> {
    let (hd, kvd) = (h.head_dim as usize, (h.n_head_kv * h.head_dim) as usize);
    let group = (h.n_head / h.n_head_kv) as usize;
    let mut out = vec![0f32; h.n_head as usize * hd];
    for head in 0..h.n_head as usize {
        let kvh = head / group;
        let qh = &q[head * hd..(head + 1) * hd];
        let first = spec.window.map_or(0, |w| (row.pos + 1).saturating_sub(w));
        let slots: Vec<usize> = (first..=row.pos).map(|t| row.slot(t) as usize).collect();
        let scores: Vec<f64> = slots
            .iter()
            .map(|&t| {
                let k = &kc[t * kvd + kvh * hd..][..hd];
                qh.iter().zip(k).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() * spec.scale as f64
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

    /// `head_dim` 16 takes the mix pass's 16-dims-an-invocation path, 12 the 4-dims one.
    fn check(kv_f16: bool, head_dim: u32, window: Option<u32>) {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let h = Heads { n_head: 6, n_head_kv: 2, head_dim, n_rot: head_dim };
        let spec = AttnSpec { scale: 0.7 / (head_dim as f32).sqrt(), window };
        let slots = 60usize;
        // Solo rows, and lane rows that share positions < 10 and own slots from 33 / 47.
        let info = [
            RowInfo::solo(0),
            RowInfo::solo(1),
            RowInfo::solo(32),
            RowInfo::lane(9, 10, 33),
            RowInfo::lane(20, 10, 33),
            RowInfo::lane(12, 10, 47),
        ];
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
        let n_ctx = 40;
        let att = Attention::new(&kern, h, spec, kv_f16, n_ctx).unwrap();
        let scratch = buf(&kern, &vec![0.0; att.scratch_bytes(m as u32) as usize / 4]);
        let bufs = [
            rows(&kern, m as u32, 0),
            buf_rows(&kern, &info),
            buf(&kern, &q),
            kb,
            vb,
            buf(&kern, &vec![0.0; m * qd]),
            scratch,
        ];
        let bg = att.bind(&kern, std::array::from_fn(|i| &bufs[i])).unwrap();
        let t_end = info.iter().map(|r| r.pos + 1).max().unwrap();
        run(&kern, |p| att.record(p, &bg, m as u32, t_end));
        let got = read(&kern, &bufs[5], m * qd);
        let want: Vec<f32> = info
            .iter()
            .enumerate()
            .flat_map(|(i, &r)| attention_ref(h, spec, &q[i * qd..(i + 1) * qd], &kc, &vc, r))
            .collect();
        // Outputs are convex combinations of values in [-1, 1]; f32 softmax and sums over
        // ≤ 33 positions stay within 1e-5 absolute.
        let scale = vec![1.0; want.len()];
        assert_close(&format!("attention, head_dim {head_dim}, window {window:?}"), &got, &want, &scale, 1e-5, 0.0);
    }

    #[test]
    fn matches_cpu_reference() {
        check(false, 16, None);
        check(false, 12, None);
    }

    #[test]
    fn matches_cpu_reference_with_f16_cache() {
        check(true, 16, None);
        check(true, 12, None);
    }

    /// Windows shorter than some rows' prefixes, across the lanes' shared prefix, of one
    /// key, and longer than every row (= full attention).
    #[test]
    fn sliding_window_matches_cpu_reference() {
        for w in [5, 11, 1, 64] {
            check(false, 16, Some(w));
            check(true, 12, Some(w));
        }
    }
}
