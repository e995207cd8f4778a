//! Launcher for shaders/matmul.wgsl: y (+)= W·x with quantized W, optionally gate/up fused
//! with SiLU (GLU) or three stacked matrices written to three outputs (split, for q, k, v).
//! Pipelines for one activation row (decode) and several (prefill, lanes). On both kernel
//! variants Q4 and Q8 (and their texture forms on the row kernels) can take int8 activations
//! instead (`Matmul::int8`): x is then the output of a `Quantize` of the f32 rows.

use super::weights::WeightFormat;
use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};
use crate::gpu::Variant;

const SRC: &str = include_str!("../../shaders/matmul.wgsl");
// Rows, weights, x, y (three ys with a split), then the `dims` uniform.
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Uniform];
const SIG_SPLIT: &[Slot] =
    &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::ReadWrite, Slot::ReadWrite, Slot::Uniform];
// The same with the quant texture (Q4Tex, Q8Tex) bound after the buffers.
const SIG_TEX: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Uniform, Slot::Texture];
const SIG_SPLIT_TEX: &[Slot] = &[
    Slot::Uniform,
    Slot::Read,
    Slot::Read,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::Uniform,
    Slot::Texture,
];
const WG: u32 = 64;
const MAX_X_GROUPS: u32 = 65535;

pub struct Matmul {
    one_row: LazyPipeline,
    many_rows: LazyPipeline,
    /// The shader's `dims` uniform: blocks per weight row and vec4s per activation row.
    dims: wgpu::Buffer,
    n: u32,
    variant: Variant,
    shape: Shape,
    split: bool,
    texture: bool,
    int8: bool,
}

/// What one dispatch computes besides y = W·x.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue {
    /// y += W·x (the residual adds).
    pub accumulate: bool,
    /// W holds gate rows then up rows; y = silu(gate) · up.
    pub glu: bool,
    /// With `glu`: gelu_tanh(gate) · up instead.
    pub gelu: bool,
    /// W stacks three matrices of [n0, n1, n - n0 - n1] rows, written to three outputs.
    pub split: Option<[u32; 2]>,
    /// Where the n output columns go in y's rows: (row length, first column); None: (n, 0).
    pub columns: Option<(u32, u32)>,
}

/// How a dispatch tiles the output: see shaders/matmul.wgsl.
#[derive(Clone, Copy, Debug)]
struct Shape {
    /// Weight rows per invocation of the software kernel (4, 8 or 16) for one activation
    /// row, and for several.
    nr: u32,
    nr_batch: u32,
    /// Activation rows per invocation when there is more than one row (software: 1 or 4).
    r: u32,
    /// Invocations per workgroup.
    wg: u32,
}

impl Shape {
    /// Measured with examples/matmul_probe (CPU time per dispatch, min of 6, busy 2-core
    /// machine), natively on lavapipe and on Chromium's SwiftShader (VK_ICD_FILENAMES=
    /// /usr/lib/chromium/vk_swiftshader_icd.json): one weight row per invocation spent two
    /// thirds of its time gathering activations on lavapipe; 8 rows beat 4 on both (gate·up
    /// at M = 1: 0.61 vs 0.76 ms lavapipe, 5.7 vs 6.0 ms SwiftShader); 4 activation rows per
    /// invocation unpack each weight once for 4 rows. 8-invocation workgroups keep both cores
    /// busy on the 576-wide projections. With several activation rows, 16 weight rows per
    /// invocation beat 8 by 10-18% on both at M = 16 (gate·up 26.3 vs 21.5 ms SwiftShader,
    /// 6.0 vs 5.1 ms lavapipe); at M = 1 they gain nothing on lavapipe.
    const SOFTWARE: Shape = Shape { nr: 8, nr_batch: 16, r: 4, wg: 8 };
    const COOPERATIVE: Shape = Shape { nr: 1, nr_batch: 1, r: 4, wg: WG };

    fn for_variant(variant: Variant) -> Shape {
        match variant {
            Variant::Cooperative => Shape::COOPERATIVE,
            Variant::Row => Shape::SOFTWARE,
        }
    }
}

impl Matmul {
    /// `k` is the row length (a multiple of 32), `n` the output width (rows of W; with
    /// `glu` W has 2n rows: gate then up).
    pub fn new(kern: &Kernels, fmt: WeightFormat, k: u32, n: u32, accumulate: bool, glu: bool) -> Result<Self> {
        Self::with(kern, fmt, k, n, Epilogue { accumulate, glu, ..Default::default() })
    }

    /// W·x with the given epilogue; for a split, `n` counts the rows of all three.
    /// Takes int8 activations where the GPU was opened for them (`Gpu::int8`) and the format
    /// has an int8 reader.
    pub fn with(kern: &Kernels, fmt: WeightFormat, k: u32, n: u32, epi: Epilogue) -> Result<Self> {
        let int8 = kern.gpu.int8 && fmt.int8_reader().is_some();
        Self::with_shape(kern, fmt, k, n, epi, Shape::for_variant(kern.variant()), int8)
    }

    fn with_shape(
        kern: &Kernels,
        fmt: WeightFormat,
        k: u32,
        n: u32,
        epi: Epilogue,
        shape: Shape,
        int8: bool,
    ) -> Result<Self> {
        let variant = kern.variant();
        let i8_reader = fmt.int8_reader().filter(|_| int8);
        if int8 && i8_reader.is_none() {
            return Err(crate::Error::Param(format!("int8 activations with {fmt:?}: no int8 reader")));
        }
        if fmt.uses_texture() && variant != Variant::Row {
            return Err(crate::Error::Param(format!("weight format {fmt:?} is for the row kernels")));
        }
        if k == 0 || !k.is_multiple_of(32) {
            return Err(crate::Error::Param(format!("matmul row length {k}: not whole 32-weight blocks")));
        }
        let [n0, n1] = epi.split.unwrap_or([n, 0]);
        if epi.split.is_some() && (epi.accumulate || epi.glu || n0 + n1 > n || epi.columns.is_some()) {
            return Err(crate::Error::Param(format!("matmul split [{n0}, {n1}] of {n} rows with accumulate/glu")));
        }
        let (ldy, col0) = epi.columns.unwrap_or((n, 0));
        if col0.checked_add(n).is_none_or(|end| end > ldy) || (epi.gelu && !epi.glu) {
            return Err(crate::Error::Param(format!("matmul of {n} columns at {col0} of {ldy}, gelu {}", epi.gelu)));
        }
        let make = |r: u32, nr: u32| {
            let defs = Defines::new()
                .u32("N", n)
                .u32("R", r)
                .u32("WG", shape.wg)
                .u32("N0", n0)
                .u32("N1", n1)
                .flag("ACCUMULATE", epi.accumulate)
                .u32("LDY", ldy)
                .u32("COL0", col0)
                .flag("GLU", epi.glu)
                .flag("GELU", epi.gelu)
                .flag("SPLIT", epi.split.is_some())
                .flag("COOP", variant == Variant::Cooperative)
                .flag("BATCH", r > 1)
                .flag("WIDE", nr >= 8)
                .flag("WIDER", nr == 16)
                .flag("BLOCK_DOT", variant == Variant::Row && !int8)
                .flag("I8", int8)
                .u32("TEX_BINDING", Self::sig(epi.split.is_some(), false).len() as u32);
            let sig = Self::sig(epi.split.is_some(), fmt.uses_texture());
            let src: &[&str] = match i8_reader {
                Some(i8) => &[COMMON, fmt.reader(), SRC, i8],
                None => &[COMMON, fmt.reader(), SRC],
            };
            kern.pipeline(&format!("matmul_{fmt:?}"), "main", src, &defs, sig)
        };
        let (kb, xrow) = (k / 32, if int8 { k / 32 * 3 } else { k / 4 });
        Ok(Matmul {
            one_row: make(1, shape.nr)?,
            many_rows: make(shape.r, shape.nr_batch)?,
            dims: kern.gpu.uniform_init("matmul dims", bytemuck::cast_slice(&[kb, xrow, 0, 0])),
            n,
            variant,
            shape,
            split: epi.split.is_some(),
            texture: fmt.uses_texture(),
            int8,
        })
    }

    /// Whether x must be int8 blocks (`Quantize`'s output for rows of k values) rather than
    /// f32 rows.
    pub fn int8(&self) -> bool {
        self.int8
    }

    fn sig(split: bool, texture: bool) -> &'static [Slot] {
        match (split, texture) {
            (false, false) => SIG,
            (true, false) => SIG_SPLIT,
            (false, true) => SIG_TEX,
            (true, true) => SIG_SPLIT_TEX,
        }
    }

    /// The bind group over `buffers` (then the quant texture, which the texture formats need
    /// and the others refuse).
    fn bind_buffers(
        &self,
        kern: &Kernels,
        label: &str,
        buffers: &[&wgpu::Buffer],
        quants: Option<&wgpu::TextureView>,
    ) -> Result<wgpu::BindGroup> {
        if quants.is_some() != self.texture {
            return Err(crate::Error::Param(format!(
                "matmul {} a quant texture",
                if self.texture { "needs" } else { "takes no" }
            )));
        }
        kern.bind_with(Self::sig(self.split, self.texture), label, buffers, quants)
    }

    /// `w` holds the weights (for the texture formats: the scale words, with the `quants`
    /// texture).
    pub fn bind(
        &self,
        kern: &Kernels,
        rows: &wgpu::Buffer,
        w: &wgpu::Buffer,
        quants: Option<&wgpu::TextureView>,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        if self.split {
            return Err(crate::Error::Param("a split matmul binds three outputs (bind_split)".into()));
        }
        self.bind_buffers(kern, "matmul", &[rows, w, x, y, &self.dims], quants)
    }

    /// The bind group of a split matmul: outputs `ys` for the three stacked matrices.
    pub fn bind_split(
        &self,
        kern: &Kernels,
        rows: &wgpu::Buffer,
        w: &wgpu::Buffer,
        quants: Option<&wgpu::TextureView>,
        x: &wgpu::Buffer,
        ys: [&wgpu::Buffer; 3],
    ) -> Result<wgpu::BindGroup> {
        if !self.split {
            return Err(crate::Error::Param("bind_split on a matmul with one output".into()));
        }
        self.bind_buffers(kern, "matmul_split", &[rows, w, x, ys[0], ys[1], ys[2], &self.dims], quants)
    }

    /// Records the dispatch for `m` activation rows (the `rows` uniform must say the same).
    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32) {
        let (pipe, r, nr) = if m == 1 {
            (&self.one_row, 1, self.shape.nr)
        } else {
            (&self.many_rows, self.shape.r, self.shape.nr_batch)
        };
        pass.set_pipeline(pipe);
        pass.set_bind_group(0, bg, &[]);
        match self.variant {
            Variant::Row => {
                let invocations = self.n.div_ceil(nr);
                pass.dispatch_workgroups(groups(invocations, self.shape.wg), groups(m, r), 1)
            }
            Variant::Cooperative => {
                let nx = self.n.min(MAX_X_GROUPS);
                pass.dispatch_workgroups(nx, groups(m, r), groups(self.n, nx));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::quantize::{quantize_ref, unpack_block, BLOCK_WORDS};
    use super::super::testutil::*;
    use super::super::weights::{random_tensor, repack, split_for_texture, TEX_WIDTH};
    use super::*;
    use crate::gguf::GgmlType;
    use crate::quant;

    /// Every quantized type the engine reads, with F32 and F16: Q4 (Q4_0, Q4_1), Q8 (Q8_0,
    /// Q5_0, IQ4_NL), Q8S (Q5_1, the K-quants) and F32.
    const EVERY_TYPE: [GgmlType; 13] = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::IQ4NL,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];

    /// A row length that is whole blocks of `ty` and not a power of two where it can be.
    fn row_len(ty: GgmlType) -> usize {
        if ty.block().0 == 256 {
            256
        } else {
            96
        }
    }

    /// The weights of `n` elements on the GPU: one buffer in the type's format, or with
    /// `texture` (Q4 and Q8) its texture form: scale words plus the quant texture.
    fn upload(
        kern: &Kernels,
        ty: GgmlType,
        bytes: &[u8],
        n: usize,
        texture: bool,
    ) -> (WeightFormat, wgpu::Buffer, Option<wgpu::TextureView>) {
        let words = repack(ty, bytes, n).unwrap();
        let fmt = WeightFormat::for_type(ty).unwrap();
        if !texture {
            return (fmt, buf_u32(kern, &words), None);
        }
        let (scales, texels, rows) = split_for_texture(fmt, &words).unwrap();
        let tex = kern.gpu.texture_u32x4("quants", TEX_WIDTH, rows, &texels).unwrap();
        (fmt.texture_form().unwrap(), buf_u32(kern, &scales), Some(tex.create_view(&Default::default())))
    }

    /// Both layouts of Q4, Q8 and Q8S on the row kernels, one elsewhere.
    fn layouts(variant: Variant, ty: GgmlType) -> &'static [bool] {
        let has_texture = WeightFormat::for_type(ty).unwrap().texture_form().is_some();
        if has_texture && variant == Variant::Row {
            &[false, true]
        } else {
            &[false]
        }
    }

    fn check(variant: Variant, ty: GgmlType, m: usize, accumulate: bool, glu: bool) {
        for &texture in layouts(variant, ty) {
            check_shape(variant, Shape::for_variant(variant), ty, m, accumulate, glu, texture, (row_len(ty), 70))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_shape(
        variant: Variant,
        shape: Shape,
        ty: GgmlType,
        m: usize,
        accumulate: bool,
        glu: bool,
        texture: bool,
        (k, n): (usize, usize),
    ) {
        check_shape_with(variant, shape, ty, m, accumulate, glu, texture, (k, n), false)
    }

    /// |m| of each weight's block (the Q4 min; 0 for the other formats), for the int8 bound.
    fn block_mins(ty: GgmlType, wbytes: &[u8], n: usize) -> Vec<f32> {
        let f16 = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32().abs();
        (0..n)
            .map(|i| match ty {
                GgmlType::Q4_1 => f16(&wbytes[i / 32 * 20 + 2..]),
                GgmlType::Q4_0 => 8.0 * f16(&wbytes[i / 32 * 18..]),
                _ => 0.0,
            })
            .collect()
    }

    /// As `check_shape`; with `int8`, x goes to the GPU as `quantize_ref`'s blocks and the
    /// f64 reference multiplies the same dequantized activations d·q, so the quantization is
    /// emulated exactly and only f32 roundings differ: per block d·(dx·Σq·qx) + m·s, each
    /// within a few ulps of its terms, summed over K/32 blocks. The bound is the tests' usual
    /// 1e-5 · scale + 1e-6, where the scale adds |m|·Σ|dx·qx| (s = dx·Σqx is rounded once).
    #[allow(clippy::too_many_arguments)]
    fn check_shape_with(
        variant: Variant,
        shape: Shape,
        ty: GgmlType,
        m: usize,
        accumulate: bool,
        glu: bool,
        texture: bool,
        (k, n): (usize, usize),
        int8: bool,
    ) {
        let kern = kernels(variant);
        let mut rng = rand::rng();
        let wrows = if glu { 2 * n } else { n };
        let wbytes = random_tensor(&mut rng, ty, wrows * k);
        let w = quant::dequantize(ty, &wbytes, wrows * k).unwrap();
        let wmin = if int8 { block_mins(ty, &wbytes, wrows * k) } else { vec![0.0; wrows * k] };
        let x_f32 = rand_vec(&mut rng, m * k, 1.0);
        let xq = quantize_ref(&x_f32);
        // What the matmul multiplies: the activations, or their int8 blocks dequantized.
        let x: Vec<f32> = if int8 {
            xq.chunks_exact(BLOCK_WORDS)
                .flat_map(|b| {
                    let d = f32::from_bits(b[8]);
                    unpack_block(b).map(|q| (d as f64 * q as f64) as f32)
                })
                .collect()
        } else {
            x_f32.clone()
        };
        let y0 = rand_vec(&mut rng, m * n, 1.0);

        let epi = Epilogue { accumulate, glu, ..Default::default() };
        let (fmt, wb, quants) = upload(&kern, ty, &wbytes, wrows * k, texture);
        let mm = Matmul::with_shape(&kern, fmt, k as u32, n as u32, epi, shape, int8).unwrap();
        assert_eq!(mm.int8(), int8);
        let rb = rows(&kern, m as u32, 0);
        let (xb, yb) = (if int8 { buf_u32(&kern, &xq) } else { buf(&kern, &x_f32) }, buf(&kern, &y0));
        let other = if texture { None } else { Some(dummy_view(&kern)) };
        assert!(mm.bind(&kern, &rb, &wb, other.as_ref(), &xb, &yb).is_err(), "texture or not, as the format says");
        let bg = mm.bind(&kern, &rb, &wb, quants.as_ref(), &xb, &yb).unwrap();
        run(&kern, |p| mm.record(p, &bg, m as u32));
        let got = read(&kern, &yb, m * n);

        // CPU reference in f64; the bound scales with Σ|w·x| (f32 accumulation over k terms).
        let (mut want, mut scale) = (vec![0f32; m * n], vec![0f32; m * n]);
        for i in 0..m {
            for j in 0..n {
                let dot = |row: usize| -> (f64, f64) {
                    (0..k).fold((0.0, 0.0), |(s, a), t| {
                        let p = w[row * k + t] as f64 * x[i * k + t] as f64;
                        (s + p, a + p.abs() + (wmin[row * k + t] * x[i * k + t]).abs() as f64)
                    })
                };
                let (g, ga) = dot(j);
                let (v, mag) = if glu {
                    let (u, ua) = dot(n + j);
                    let silu = g / (1.0 + (-g).exp());
                    (silu * u, ga * u.abs() + ua * silu.abs())
                } else {
                    (g, ga)
                };
                let base = if accumulate { y0[i * n + j] as f64 } else { 0.0 };
                want[i * n + j] = (base + v) as f32;
                scale[i * n + j] = (mag + base.abs()) as f32;
            }
        }
        assert_close(
            &format!("{variant:?} {shape:?} {fmt:?} {ty} m={m} acc={accumulate} glu={glu} int8={int8}"),
            &got,
            &want,
            &scale,
            1e-5,
            1e-6,
        );
    }

    fn dummy_view(kern: &Kernels) -> wgpu::TextureView {
        kern.gpu.texture_u32x4("dummy", 1, 1, &[0; 4]).unwrap().create_view(&Default::default())
    }

    /// ggml's GELU (tanh form) in f64.
    fn gelu_ref(x: f64) -> f64 {
        0.5 * x * (1.0 + (0.7978845608028654 * (x + 0.044715 * x * x * x)).tanh())
    }

    /// Gemma's gated GELU, and a matrix run as two dispatches over row ranges of W (how a
    /// matrix larger than one binding runs), each writing its columns of y; both variants.
    #[test]
    fn gelu_glu_and_row_ranges_match_cpu_reference() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            let mut rng = rand::rng();
            let (k, n, ty) = (64usize, 40usize, GgmlType::Q8_0);
            for m in [1usize, 5] {
                // Gate values up to ~±20: the tanh argument reaches the clamp.
                let wbytes = random_tensor(&mut rng, ty, 2 * n * k);
                let w = quant::dequantize(ty, &wbytes, 2 * n * k).unwrap();
                let x = rand_vec(&mut rng, m * k, 3.0);
                let epi = Epilogue { glu: true, gelu: true, ..Default::default() };
                let (fmt, wb, quants) = upload(&kern, ty, &wbytes, 2 * n * k, false);
                let mm = Matmul::with(&kern, fmt, k as u32, n as u32, epi).unwrap();
                let (rb, xb, yb) = (rows(&kern, m as u32, 0), buf(&kern, &x), buf(&kern, &vec![0.0; m * n]));
                let bg = mm.bind(&kern, &rb, &wb, quants.as_ref(), &xb, &yb).unwrap();
                run(&kern, |p| mm.record(p, &bg, m as u32));
                let got = read(&kern, &yb, m * n);
                let dot = |row: usize, i: usize| -> (f64, f64) {
                    (0..k).fold((0.0, 0.0), |(s, a), t| {
                        let p = w[row * k + t] as f64 * x[i * k + t] as f64;
                        (s + p, a + p.abs())
                    })
                };
                let (mut want, mut scale) = (Vec::new(), Vec::new());
                for i in 0..m {
                    for j in 0..n {
                        let ((g, ga), (u, ua)) = (dot(j, i), dot(n + j, i));
                        want.push((gelu_ref(g) * u) as f32);
                        // gelu' ≤ 1.13: the gate's error passes through at most that.
                        scale.push((1.13 * ga * u.abs() + ua * gelu_ref(g).abs()) as f32);
                    }
                }
                assert_close(&format!("{variant:?} gelu glu m={m}"), &got, &want, &scale, 2e-5, 1e-6);

                // The first 24 rows of W, then the other 16, into columns 0..24 and 24..40.
                let yb = buf(&kern, &vec![0.0; m * n]);
                for (r0, r1) in [(0usize, 24usize), (24, n)] {
                    let part = &wbytes[r0 * k / 32 * 34..r1 * k / 32 * 34];
                    let (fmt, wb, quants) = upload(&kern, ty, part, (r1 - r0) * k, false);
                    let epi = Epilogue { columns: Some((n as u32, r0 as u32)), ..Default::default() };
                    let mm = Matmul::with(&kern, fmt, k as u32, (r1 - r0) as u32, epi).unwrap();
                    let bg = mm.bind(&kern, &rb, &wb, quants.as_ref(), &xb, &yb).unwrap();
                    run(&kern, |p| mm.record(p, &bg, m as u32));
                }
                let got = read(&kern, &yb, m * n);
                let want: Vec<f32> =
                    (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| dot(j, i).0 as f32).collect();
                let scale: Vec<f32> =
                    (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| dot(j, i).1 as f32).collect();
                assert_close(&format!("{variant:?} row ranges m={m}"), &got, &want, &scale, 1e-5, 1e-6);
            }
            let bad = Epilogue { columns: Some((30, 20)), ..Default::default() };
            assert!(Matmul::with(&kern, WeightFormat::Q8, 64, 16, bad).is_err(), "columns past the row");
        }
    }

    /// Texture formats with more texels than a texture row (Q4: 2 × 1100 = 2200 > 2048
    /// blocks, a texel each; Q8: 1100 blocks, two texels each; Q8S: 1120 blocks, two texels
    /// each), so blocks wrap to the next row; and the cooperative kernels refuse the texture
    /// formats.
    /// K is a uniform: matmuls that differ only in K (o and down) share their two pipelines,
    /// and each still multiplies by its own row length when both run in one pass.
    #[test]
    fn row_lengths_share_a_pipeline() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            let mut rng = rand::rng();
            let (n, m, ty) = (40usize, 5usize, GgmlType::Q4_1);
            let ks = [64usize, 160];
            let made: Vec<_> = ks
                .iter()
                .map(|&k| {
                    let wbytes = random_tensor(&mut rng, ty, n * k);
                    let w = quant::dequantize(ty, &wbytes, n * k).unwrap();
                    let x = rand_vec(&mut rng, m * k, 1.0);
                    let (fmt, wb, quants) = upload(&kern, ty, &wbytes, n * k, false);
                    let mm = Matmul::new(&kern, fmt, k as u32, n as u32, false, false).unwrap();
                    let (xb, yb) = (buf(&kern, &x), buf(&kern, &vec![0.0; m * n]));
                    (k, w, x, mm, wb, quants, xb, yb)
                })
                .collect();
            assert_eq!(kern.pipelines().len(), 2, "{variant:?}: one-row and several-row, for both K");
            let rb = rows(&kern, m as u32, 0);
            let bgs: Vec<_> = made
                .iter()
                .map(|(_, _, _, mm, wb, q, xb, yb)| mm.bind(&kern, &rb, wb, q.as_ref(), xb, yb).unwrap())
                .collect();
            run(&kern, |p| made.iter().zip(&bgs).for_each(|(t, bg)| t.3.record(p, bg, m as u32)));
            for (k, w, x, _, _, _, _, yb) in &made {
                let got = read(&kern, yb, m * n);
                let (mut want, mut scale) = (vec![0f32; m * n], vec![0f32; m * n]);
                for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                    let p = (0..*k).map(|t| w[j * k + t] as f64 * x[i * k + t] as f64);
                    want[i * n + j] = p.clone().sum::<f64>() as f32;
                    scale[i * n + j] = p.map(f64::abs).sum::<f64>() as f32;
                }
                assert_close(&format!("{variant:?} k={k}"), &got, &want, &scale, 1e-5, 1e-6);
            }
        }
    }

    #[test]
    fn texture_rows_wrap() {
        for m in [1, 5] {
            check_shape(
                Variant::Row,
                Shape::for_variant(Variant::Row),
                GgmlType::Q4_1,
                m,
                false,
                m == 5,
                true,
                (64, 1100),
            );
            check_shape(
                Variant::Row,
                Shape::for_variant(Variant::Row),
                GgmlType::Q8_0,
                m,
                m == 1,
                false,
                true,
                (32, 1100),
            );
        }
        // Q8S: 140 rows of 8 blocks, two texels each.
        let row = Shape::for_variant(Variant::Row);
        for m in [1, 5] {
            check_shape(Variant::Row, row, GgmlType::Q6K, m, false, false, true, (256, 140));
        }
        let kern = kernels(Variant::Cooperative);
        assert!(Matmul::new(&kern, WeightFormat::Q4Tex, 64, 8, false, false).is_err());
        assert!(Matmul::new(&kern, WeightFormat::Q8Tex, 64, 8, false, false).is_err());
        assert!(Matmul::new(&kern, WeightFormat::Q8STex, 256, 8, false, false).is_err());
    }

    /// Every type, fresh random blocks, one activation row and several (4 a lane on the row
    /// kernels, so the mat4x4 block_dot too), both layouts on the row kernels. The bound is
    /// the tests' usual 1e-5 · Σ|w·x| + 1e-6: the GPU weights are exact, only the f32 sums
    /// differ from the f64 reference.
    #[test]
    fn matches_cpu_reference_every_format_and_variant() {
        for variant in [Variant::Row, Variant::Cooperative] {
            for ty in EVERY_TYPE {
                for m in [1, 5] {
                    check(variant, ty, m, false, false);
                }
            }
            check(variant, GgmlType::Q4_1, 3, true, false);
            check(variant, GgmlType::Q8_0, 1, false, true);
            check(variant, GgmlType::Q4_1, 6, true, true);
            check(variant, GgmlType::Q4K, 3, true, false);
            check(variant, GgmlType::Q6K, 1, false, true);
            check(variant, GgmlType::Q2K, 6, true, true);
        }
    }

    /// The software tiling with other workgroup sizes; N = 70 is not a multiple of 4 weight
    /// rows, M = 2 and 7 not of 4 activation rows.
    #[test]
    fn software_tilings_match_cpu_reference() {
        let shapes = [
            Shape { nr: 4, nr_batch: 4, r: 4, wg: 1 },
            Shape { nr: 8, nr_batch: 16, r: 4, wg: 64 },
            Shape { nr: 4, nr_batch: 8, r: 4, wg: 8 },
            Shape { nr: 16, nr_batch: 4, r: 4, wg: 8 },
        ];
        for shape in shapes {
            for m in [1, 2, 7] {
                for texture in [false, true] {
                    check_shape(Variant::Row, shape, GgmlType::Q4_1, m, m == 7, false, texture, (96, 70));
                }
                check_shape(Variant::Row, shape, GgmlType::Q8_0, m, false, m == 2, m == 7, (96, 70));
                check_shape(Variant::Row, shape, GgmlType::Q3K, m, m == 2, false, m != 2, (256, 70));
            }
        }
    }

    /// Int8 activations: Q4 (Q4_0, Q4_1) and Q8 (Q8_0, Q5_0, IQ4_NL) on both variants (both
    /// layouts on the row kernels), one activation row and several (4 an invocation or a
    /// workgroup), the epilogues; the cooperative kernels with more blocks a row than lanes
    /// (K = 2112: 66 blocks over 64 lanes); the software tilings (4, 8 and 16 weight rows an
    /// invocation). Each against the f64 reference on the same int8 activations (see
    /// `check_shape_with` for the bound). The formats without an int8 reader refuse int8.
    #[test]
    fn int8_matches_cpu_reference_with_quantization_emulated() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let shape = Shape::for_variant(variant);
            for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::IQ4NL] {
                for &texture in layouts(variant, ty) {
                    for (m, acc, glu) in
                        [(1, false, false), (5, false, false), (3, true, false), (1, false, true), (6, true, true)]
                    {
                        check_shape_with(variant, shape, ty, m, acc, glu, texture, (96, 70), true);
                    }
                }
            }
        }
        let coop = Shape::COOPERATIVE;
        for m in [1, 7] {
            check_shape_with(Variant::Cooperative, coop, GgmlType::Q4_1, m, m == 7, false, false, (2112, 70), true);
            check_shape_with(Variant::Cooperative, coop, GgmlType::Q8_0, m, false, m == 7, false, (2112, 70), true);
        }
        let shapes = [Shape { nr: 4, nr_batch: 4, r: 4, wg: 1 }, Shape { nr: 16, nr_batch: 8, r: 4, wg: 8 }];
        for shape in shapes {
            for m in [1, 2, 7] {
                check_shape_with(Variant::Row, shape, GgmlType::Q4_1, m, m == 7, false, m != 2, (576, 70), true);
                check_shape_with(Variant::Row, shape, GgmlType::Q8_0, m, false, m == 2, m == 7, (96, 1100), true);
            }
        }
        let epi = Epilogue::default();
        for variant in [Variant::Row, Variant::Cooperative] {
            let (kern, shape) = (kernels(variant), Shape::for_variant(variant));
            for fmt in [WeightFormat::Q8S, WeightFormat::F32] {
                assert!(Matmul::with_shape(&kern, fmt, 64, 8, epi, shape, true).is_err(), "{variant:?} {fmt:?} int8");
            }
        }
        let coop = kernels(Variant::Cooperative);
        let tex = Matmul::with_shape(&coop, WeightFormat::Q4Tex, 64, 8, epi, Shape::COOPERATIVE, true);
        assert!(tex.is_err(), "the texture formats are for the row kernels");
    }

    /// Three stacked matrices, one dispatch, three outputs: each output equals its own
    /// matrix times x (the q, k, v projections).
    #[test]
    fn split_outputs_match_cpu_reference() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            let mut rng = rand::rng();
            let (k, parts) = (64usize, [40usize, 12, 12]);
            let n: usize = parts.iter().sum();
            for (ty, m) in [(GgmlType::Q4_1, 1), (GgmlType::Q8_0, 5)] {
                let wbytes = random_tensor(&mut rng, ty, n * k);
                let w = quant::dequantize(ty, &wbytes, n * k).unwrap();
                let x = rand_vec(&mut rng, m * k, 1.0);
                for &texture in layouts(variant, ty) {
                    let epi = Epilogue { split: Some([parts[0] as u32, parts[1] as u32]), ..Default::default() };
                    let (fmt, wb, quants) = upload(&kern, ty, &wbytes, n * k, texture);
                    let mm = Matmul::with(&kern, fmt, k as u32, n as u32, epi).unwrap();
                    let (rb, xb) = (rows(&kern, m as u32, 0), buf(&kern, &x));
                    let ys: Vec<wgpu::Buffer> = parts.iter().map(|&p| buf(&kern, &vec![0.0; m * p])).collect();
                    assert!(
                        mm.bind(&kern, &rb, &wb, quants.as_ref(), &xb, &ys[0]).is_err(),
                        "a split matmul has three outputs"
                    );
                    let bg = mm.bind_split(&kern, &rb, &wb, quants.as_ref(), &xb, [&ys[0], &ys[1], &ys[2]]).unwrap();
                    run(&kern, |p| mm.record(p, &bg, m as u32));
                    let mut first = 0;
                    for (part, yb) in parts.iter().zip(&ys) {
                        let got = read(&kern, yb, m * part);
                        let (mut want, mut scale) = (Vec::new(), Vec::new());
                        for i in 0..m {
                            for j in first..first + part {
                                let terms = (0..k).map(|t| w[j * k + t] as f64 * x[i * k + t] as f64);
                                want.push(terms.clone().sum::<f64>() as f32);
                                scale.push(terms.map(f64::abs).sum::<f64>() as f32);
                            }
                        }
                        assert_close(
                            &format!("{variant:?} split {fmt:?} {ty} m={m} rows {first}.."),
                            &got,
                            &want,
                            &scale,
                            1e-5,
                            1e-6,
                        );
                        first += part;
                    }
                }
            }
        }
    }
}
