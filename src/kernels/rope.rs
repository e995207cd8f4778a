//! Launcher for shaders/rope.wgsl (RoPE on q and k, then k and v into the KV cache).

use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::shader::{Defines, Slot};

const SRC: &str = include_str!("../../shaders/rope.wgsl");
const SIG: &[Slot] =
    &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::ReadWrite];
/// The same with the per-head norm weights [2, HD] (QK_NORM) last.
const SIG_NORM: &[Slot] = &[
    Slot::Uniform,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::Read,
];

/// Attention geometry shared by the RoPE and attention kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    /// Rotated dimensions per head (llama.rope.dimension_count), ≤ head_dim, even.
    pub n_rot: u32,
}

/// How the RoPE kernel treats a head: see shaders/rope.wgsl.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeStyle {
    /// Rotate (i, i + n_rot/2) instead of (2i, 2i+1).
    pub neox: bool,
    /// RMS-normalize each q and k head first with this epsilon (the weights are bound).
    pub qk_norm: Option<f32>,
}

pub struct Rope {
    pipe: wgpu::ComputePipeline,
    heads: Heads,
    sig: &'static [Slot],
}

/// Packs f32 pairs as the KV_F16 caches hold them (pack2x16float: round to nearest even).
pub fn pack_f16_pairs(v: &[f32]) -> Vec<u32> {
    v.chunks_exact(2)
        .map(|p| half::f16::from_f32(p[0]).to_bits() as u32 | (half::f16::from_f32(p[1]).to_bits() as u32) << 16)
        .collect()
}

pub fn unpack_f16_pairs(w: &[u32]) -> Vec<f32> {
    w.iter()
        .flat_map(|&x| [half::f16::from_bits(x as u16).to_f32(), half::f16::from_bits((x >> 16) as u16).to_f32()])
        .collect()
}

/// (cos, sin) of pos · base^(-2i/n_rot) for pos < ctx, i < n_rot/2, computed in f64.
pub fn rope_table(ctx: u32, n_rot: u32, base: f32) -> Vec<[f32; 2]> {
    let half = n_rot / 2;
    let mut t = Vec::with_capacity((ctx * half) as usize);
    for p in 0..ctx {
        for i in 0..half {
            let theta = p as f64 * (base as f64).powf(-2.0 * i as f64 / n_rot as f64);
            t.push([theta.cos() as f32, theta.sin() as f32]);
        }
    }
    t
}

impl Rope {
    pub fn new(kern: &Kernels, h: Heads, style: RopeStyle, kv_f16: bool) -> Result<Self> {
        let sig = if style.qk_norm.is_some() { SIG_NORM } else { SIG };
        let defs = Defines::new()
            .u32("H", h.n_head)
            .u32("HKV", h.n_head_kv)
            .u32("HD", h.head_dim)
            .u32("ROT", h.n_rot)
            .flag("NEOX", style.neox)
            .flag("QK_NORM", style.qk_norm.is_some())
            .f32("EPS", style.qk_norm.unwrap_or(0.0))
            .flag("KV_F16", kv_f16);
        Ok(Rope { pipe: kern.pipeline("rope", "main", &[COMMON, SRC], &defs, sig)?, heads: h, sig })
    }

    /// Buffers: rows, row info [M], table, q [M, H·HD] (in place), k, v [M, HKV·HD], k/v
    /// caches, and with `qk_norm` the norm weights [2, HD] (q's, then k's).
    pub fn bind(
        &self,
        kern: &Kernels,
        b: [&wgpu::Buffer; 8],
        qk_norm: Option<&wgpu::Buffer>,
    ) -> Result<wgpu::BindGroup> {
        if qk_norm.is_some() != (self.sig.len() == SIG_NORM.len()) {
            return Err(crate::Error::Param("rope: norm weights exactly when built with qk_norm".into()));
        }
        let mut all: Vec<&wgpu::Buffer> = b.to_vec();
        all.extend(qk_norm);
        kern.bind(self.sig, "rope", &all)
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.heads.n_head + self.heads.n_head_kv, 64), m, 1);
    }
}

/// CPU reference: rotates one head vector in place, pairs (2i, 2i+1) or with `neox`
/// (i, i + n_rot/2).
pub fn rope_ref(v: &mut [f32], pos: u32, n_rot: u32, base: f32, neox: bool) {
    let half = (n_rot / 2) as usize;
    for i in 0..half {
        let theta = pos as f64 * (base as f64).powf(-2.0 * i as f64 / n_rot as f64);
        let (s, c) = theta.sin_cos();
        let (ia, ib) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
        let (a, b) = (v[ia] as f64, v[ib] as f64);
        v[ia] = (a * c - b * s) as f32;
        v[ib] = (a * s + b * c) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::RowInfo;
    use super::*;
    use crate::gpu::Variant;
    use crate::kernels::rmsnorm::rmsnorm_ref;

    fn check(kv_f16: bool, style: RopeStyle, n_rot: u32) {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let h = Heads { n_head: 4, n_head_kv: 2, head_dim: 16, n_rot };
        let (ctx, slots, base) = (40u32, 64usize, 10000.0f32);
        // A solo row, a lane row inside the shared prefix, and two lane rows past it.
        let info = [RowInfo::solo(0), RowInfo::lane(7, 20, 41), RowInfo::lane(39, 20, 41), RowInfo::lane(25, 20, 50)];
        let m = info.len();
        let hd = h.head_dim as usize;
        let (qd, kd) = ((h.n_head * h.head_dim) as usize, (h.n_head_kv * h.head_dim) as usize);
        let q = rand_vec(&mut rng, m * qd, 2.0);
        let k = rand_vec(&mut rng, m * kd, 2.0);
        let v = rand_vec(&mut rng, m * kd, 2.0);
        let norms = rand_vec(&mut rng, 2 * hd, 1.5);
        let rope = Rope::new(&kern, h, style, kv_f16).unwrap();
        let table: Vec<f32> = rope_table(ctx, h.n_rot, base).into_iter().flatten().collect();
        let bufs = [
            rows(&kern, m as u32, 0),
            buf_rows(&kern, &info),
            buf(&kern, &table),
            buf(&kern, &q),
            buf(&kern, &k),
            buf(&kern, &v),
            buf(&kern, &vec![0.0; slots * kd]),
            buf(&kern, &vec![0.0; slots * kd]),
        ];
        let norm_buf = buf(&kern, &norms);
        let norm_arg = style.qk_norm.map(|_| &norm_buf);
        let other = if norm_arg.is_some() { None } else { Some(&norm_buf) };
        assert!(rope.bind(&kern, std::array::from_fn(|i| &bufs[i]), other).is_err(), "norm weights as built");
        let bg = rope.bind(&kern, std::array::from_fn(|i| &bufs[i]), norm_arg).unwrap();
        run(&kern, |p| rope.record(p, &bg, m as u32));
        let gq = read(&kern, &bufs[3], m * qd);
        let cache = |b: &wgpu::Buffer| {
            if kv_f16 {
                let words: Vec<u32> = bytemuck::cast_slice(&read(&kern, b, slots * kd / 2)).to_vec();
                unpack_f16_pairs(&words)
            } else {
                read(&kern, b, slots * kd)
            }
        };
        let (gk, gv) = (cache(&bufs[6]), cache(&bufs[7]));

        let head_ref = |head: &mut [f32], which: usize, pos: u32| {
            if let Some(eps) = style.qk_norm {
                let n = rmsnorm_ref(head, &norms[which * hd..(which + 1) * hd], eps);
                head.copy_from_slice(&n);
            }
            rope_ref(head, pos, h.n_rot, base, style.neox);
        };
        let mut wq = q.clone();
        let (mut wk, mut wv) = (vec![0.0; slots * kd], vec![0.0; slots * kd]);
        for (i, r) in info.iter().enumerate() {
            for head in wq[i * qd..(i + 1) * qd].chunks_mut(hd) {
                head_ref(head, 0, r.pos);
            }
            let dst = r.slot(r.pos) as usize * kd;
            wk[dst..dst + kd].copy_from_slice(&k[i * kd..(i + 1) * kd]);
            wv[dst..dst + kd].copy_from_slice(&v[i * kd..(i + 1) * kd]);
            for head in wk[dst..dst + kd].chunks_mut(hd) {
                head_ref(head, 1, r.pos);
            }
        }
        // One complex multiply by an f32-rounded (cos, sin): error ≲ 2 ulp of |x| ≤ 2√2; the
        // norm adds an f32 sum of HD squares (relative ~HD·2^-24) and a product, on values
        // up to |w|·√HD ≈ 6. The f16 caches add one rounding: 2^-11 relative.
        let abs = if style.qk_norm.is_some() { 1e-5 } else { 1e-6 };
        let ones = vec![1.0f32; wk.len()];
        assert_close("rope q", &gq, &wq, &ones[..wq.len()], abs, 0.0);
        let rel = if kv_f16 { 3.0 * 4.9e-4 } else { abs };
        let mag: Vec<f32> = wk.iter().map(|x| x.abs().max(1.0)).collect();
        assert_close("rope k cache", &gk, &wk, &mag, rel, 0.0);
        let mag: Vec<f32> = wv.iter().map(|x| x.abs()).collect();
        assert_close("v cache", &gv, &wv, &mag, if kv_f16 { 4.9e-4 } else { 0.0 }, 0.0);
    }

    const NORMAL: RopeStyle = RopeStyle { neox: false, qk_norm: None };

    #[test]
    fn rotates_and_stores_like_the_reference() {
        check(false, NORMAL, 12);
    }

    #[test]
    fn f16_cache_rounds_once() {
        check(true, NORMAL, 12);
    }

    /// Gemma 3's head: per-head norm, then NEOX pairs; with part of the head unrotated too.
    #[test]
    fn neox_with_head_norm() {
        for n_rot in [16, 12] {
            check(false, RopeStyle { neox: true, qk_norm: Some(1e-6) }, n_rot);
            check(true, RopeStyle { neox: true, qk_norm: Some(1e-6) }, n_rot);
        }
        check(false, RopeStyle { neox: true, qk_norm: None }, 16);
        check(false, RopeStyle { neox: false, qk_norm: Some(1e-5) }, 12);
    }
}
