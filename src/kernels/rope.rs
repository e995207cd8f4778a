//! Launcher for shaders/rope.wgsl (RoPE on q and k, then k and v into the KV cache).

use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};

const SRC: &str = include_str!("../../shaders/rope.wgsl");
const SIG: &[Slot] =
    &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::ReadWrite];
/// The same with the params vector (norm weights, biases) last.
const SIG_PARAMS: &[Slot] = &[
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
    /// Add the q, k and v projections' biases first (they are bound).
    pub bias: bool,
}

impl RopeStyle {
    fn has_params(&self) -> bool {
        self.qk_norm.is_some() || self.bias
    }
}

pub struct Rope {
    pipe: LazyPipeline,
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

/// The angle of rotation pair i at position `pos`: pos · base^(-2i/n_rot), divided by the
/// pair's frequency factor when the model has them (Llama 3's `rope_freqs.weight`, as
/// ggml's rope applies them), in f64.
pub fn rope_angle(pos: u32, i: u32, n_rot: u32, base: f32, factors: Option<&[f32]>) -> f64 {
    let factor = factors.map_or(1.0, |f| f[i as usize] as f64);
    pos as f64 * (base as f64).powf(-2.0 * i as f64 / n_rot as f64) / factor
}

/// (cos, sin) of `rope_angle` for pos < ctx, i < n_rot/2. `factors` has n_rot/2 entries.
pub fn rope_table(ctx: u32, n_rot: u32, base: f32, factors: Option<&[f32]>) -> Vec<[f32; 2]> {
    let half = n_rot / 2;
    let mut t = Vec::with_capacity((ctx * half) as usize);
    for p in 0..ctx {
        for i in 0..half {
            let theta = rope_angle(p, i, n_rot, base, factors);
            t.push([theta.cos() as f32, theta.sin() as f32]);
        }
    }
    t
}

impl Rope {
    pub fn new(kern: &Kernels, h: Heads, style: RopeStyle, kv_f16: bool) -> Result<Self> {
        let sig = if style.has_params() { SIG_PARAMS } else { SIG };
        let defs = Defines::new()
            .u32("H", h.n_head)
            .u32("HKV", h.n_head_kv)
            .u32("HD", h.head_dim)
            .u32("ROT", h.n_rot)
            .flag("NEOX", style.neox)
            .flag("QK_NORM", style.qk_norm.is_some())
            .f32("EPS", style.qk_norm.unwrap_or(0.0))
            .flag("BIAS", style.bias)
            .flag("PARAMS", style.has_params())
            .flag("KV_F16", kv_f16);
        Ok(Rope { pipe: kern.pipeline("rope", "main", &[COMMON, SRC], &defs, sig)?, heads: h, sig })
    }

    /// Buffers: rows, row info [M], table, q [M, H·HD] (in place), k, v [M, HKV·HD], k/v
    /// caches, and with a norm or biases the params: norm weights [2, HD] (q's, then k's)
    /// with `qk_norm`, then biases [H·HD + 2·HKV·HD] (q's, k's, v's) with `bias`.
    pub fn bind(
        &self,
        kern: &Kernels,
        b: [&wgpu::Buffer; 8],
        params: Option<&wgpu::Buffer>,
    ) -> Result<wgpu::BindGroup> {
        if params.is_some() != (self.sig.len() == SIG_PARAMS.len()) {
            return Err(crate::Error::Param("rope: params exactly when built with a norm or biases".into()));
        }
        let mut all: Vec<&wgpu::Buffer> = b.to_vec();
        all.extend(params);
        kern.bind(self.sig, "rope", &all)
    }

    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.heads.n_head + self.heads.n_head_kv, 64), m, 1);
    }
}

/// CPU reference: rotates one head vector in place, pairs (2i, 2i+1) or with `neox`
/// (i, i + n_rot/2).
pub fn rope_ref(v: &mut [f32], pos: u32, n_rot: u32, base: f32, factors: Option<&[f32]>, neox: bool) {
    let half = (n_rot / 2) as usize;
    for i in 0..half {
        let theta = rope_angle(pos, i as u32, n_rot, base, factors);
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

    /// `freqs`: run with random frequency factors in the table (Llama 3).
    fn check(kv_f16: bool, style: RopeStyle, n_rot: u32, freqs: bool) {
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
        let biases = rand_vec(&mut rng, qd + 2 * kd, 1.0);
        let factors: Vec<f32> =
            rand_vec(&mut rng, n_rot as usize / 2, 1.0).iter().map(|x| 1.0 + 4.0 * x.abs()).collect();
        let factors = freqs.then_some(&factors[..]);
        let rope = Rope::new(&kern, h, style, kv_f16).unwrap();
        let table: Vec<f32> = rope_table(ctx, h.n_rot, base, factors).into_iter().flatten().collect();
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
        let mut params = Vec::new();
        if style.qk_norm.is_some() {
            params.extend(&norms);
        }
        if style.bias {
            params.extend(&biases);
        }
        let params_buf = buf(&kern, if params.is_empty() { &norms } else { &params });
        let arg = style.has_params().then_some(&params_buf);
        let other = if arg.is_some() { None } else { Some(&params_buf) };
        assert!(rope.bind(&kern, std::array::from_fn(|i| &bufs[i]), other).is_err(), "params as built");
        let bg = rope.bind(&kern, std::array::from_fn(|i| &bufs[i]), arg).unwrap();
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
            rope_ref(head, pos, h.n_rot, base, factors, style.neox);
        };
        // The projections with their biases, as the kernel sees them.
        let (mut q, mut k, mut v) = (q.clone(), k.clone(), v.clone());
        if style.bias {
            let add = |x: &mut [f32], b: &[f32]| {
                x.chunks_mut(b.len()).for_each(|r| r.iter_mut().zip(b).for_each(|(a, b)| *a += b))
            };
            add(&mut q, &biases[..qd]);
            add(&mut k, &biases[qd..qd + kd]);
            add(&mut v, &biases[qd + kd..]);
        }
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
        // A bias is one more f32 add (values up to 3: ≤ 2^-22 absolute).
        let abs = if style.qk_norm.is_some() {
            1e-5
        } else if style.bias {
            2e-6
        } else {
            1e-6
        };
        let ones = vec![1.0f32; wk.len()];
        assert_close("rope q", &gq, &wq, &ones[..wq.len()], abs, 0.0);
        let rel = if kv_f16 { 3.0 * 4.9e-4 } else { abs };
        let mag: Vec<f32> = wk.iter().map(|x| x.abs().max(1.0)).collect();
        assert_close("rope k cache", &gk, &wk, &mag, rel, 0.0);
        let mag: Vec<f32> = wv.iter().map(|x| x.abs()).collect();
        assert_close("v cache", &gv, &wv, &mag, if kv_f16 { 4.9e-4 } else { 0.0 }, 0.0);
    }

    const NORMAL: RopeStyle = RopeStyle { neox: false, qk_norm: None, bias: false };

    #[test]
    fn rotates_and_stores_like_the_reference() {
        check(false, NORMAL, 12, false);
    }

    #[test]
    fn f16_cache_rounds_once() {
        check(true, NORMAL, 12, false);
    }

    /// Llama 3: the angles divided by per-pair frequency factors.
    #[test]
    fn frequency_factors() {
        check(false, NORMAL, 16, true);
        check(false, NORMAL, 12, true);
    }

    /// Gemma 3's and Qwen3's head: per-head norm, then NEOX pairs; with part of the head
    /// unrotated too.
    #[test]
    fn neox_with_head_norm() {
        for n_rot in [16, 12] {
            check(false, RopeStyle { neox: true, qk_norm: Some(1e-6), bias: false }, n_rot, false);
            check(true, RopeStyle { neox: true, qk_norm: Some(1e-6), bias: false }, n_rot, false);
        }
        check(false, RopeStyle { neox: true, qk_norm: None, bias: false }, 16, false);
        check(false, RopeStyle { neox: false, qk_norm: Some(1e-5), bias: false }, 12, false);
    }

    /// Qwen2: q, k, v biases, NEOX pairs; and biases with a head norm (bias first).
    #[test]
    fn biases() {
        check(false, RopeStyle { neox: true, qk_norm: None, bias: true }, 16, false);
        check(true, RopeStyle { neox: true, qk_norm: None, bias: true }, 12, false);
        check(false, RopeStyle { neox: false, qk_norm: Some(1e-6), bias: true }, 12, false);
    }
}
