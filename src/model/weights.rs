//! Finding, checking and uploading the model's tensors.

use std::ops::Range;

use super::arriving::Tensors;
use super::ModelConfig;
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo};
use crate::gpu::{Gpu, Variant};
use crate::kernels::weights::{repack, split_for_texture, texture_shape, to_f32, WeightFormat, TEX_WIDTH};

/// A weight matrix on the GPU in its kernel format: one part, or, when it is larger than
/// one storage binding, several parts that each hold a range of its rows.
pub struct Matrix {
    pub parts: Vec<Part>,
    pub fmt: WeightFormat,
}

/// Rows `rows` of a matrix.
pub struct Part {
    pub rows: Range<u32>,
    pub buf: wgpu::Buffer,
    /// The quant texture of a texture format (its view), with `buf` holding the scale words.
    pub quants: Option<(wgpu::Texture, wgpu::TextureView)>,
}

impl Part {
    pub fn quants(&self) -> Option<&wgpu::TextureView> {
        self.quants.as_ref().map(|(_, v)| v)
    }
}

impl Matrix {
    /// The matrix as one buffer, for the kernels that need all its rows in one binding
    /// (the stacked q·k·v, gate·up).
    pub fn whole(&self) -> Result<&Part> {
        match &self.parts[..] {
            [one] => Ok(one),
            parts => Err(Error::Unsupported(format!("a stacked matrix in {} parts", parts.len()))),
        }
    }
}

pub struct LayerWeights {
    pub attn_norm: wgpu::Buffer, // [D]
    pub qkv: Qkv,
    /// The RoPE kernel's params, when the model has norms or biases: per-head norm weights
    /// of q and k [2, HD] (q's, then k's), then the q, k, v biases [H·HD + 2·KV].
    pub rope_params: Option<wgpu::Buffer>,
    pub wo: Matrix, // [D, H·HD]
    /// Norm of the attention output before the residual add (Gemma).
    pub post_attn_norm: Option<wgpu::Buffer>, // [D]
    pub ffn_norm: wgpu::Buffer, // [D]
    pub gate_up: Matrix, // [2·FF, D]  gate rows, then up rows
    pub down: Matrix, // [D, FF]
    /// Norm of the feed-forward output before the residual add (Gemma).
    pub post_ffn_norm: Option<wgpu::Buffer>, // [D]
}

/// The attention projections Wq [H·HD, D], Wk [KV, D], Wv [KV, D] (ggml dims [K = D, N]):
/// stacked into one [D + 2·KV, D] matrix for one dispatch when they share a format, else
/// three (GGUF files may quantize v differently).
pub enum Qkv {
    Stacked(Matrix),
    Separate(Box<[Matrix; 3]>),
}

pub struct Weights {
    pub embd: Matrix,           // [V, D]
    pub out_norm: wgpu::Buffer, // [D]
    /// None when tied to `embd`.
    pub output: Option<Matrix>, // [V, D]
    pub layers: Vec<LayerWeights>,
    pub bytes: u64,
}

fn tensor<'g>(g: &'g Gguf, name: &str) -> Result<&'g TensorInfo> {
    g.tensor(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))
}

/// Checks a matrix has ggml dims [k, n] (rows of length k) and a type the kernels read.
fn matrix_info<'g>(g: &'g Gguf, name: &str, k: u32, n: u32) -> Result<&'g TensorInfo> {
    let t = tensor(g, name)?;
    if t.dims != [k as u64, n as u64] {
        return Err(Error::Model(format!("tensor {name} has dims {:?}, expected [{k}, {n}]", t.dims)));
    }
    WeightFormat::for_type(t.ty).map_err(|e| Error::Unsupported(format!("{name}: {e}")))?;
    Ok(t)
}

/// A tensor's words in its GPU format: repacked, or, when only planning a load, counted.
enum Words {
    Data(Vec<u32>),
    Count(usize),
}

impl Words {
    fn len(&self) -> usize {
        match self {
            Words::Data(w) => w.len(),
            Words::Count(n) => *n,
        }
    }

    fn append(&mut self, other: Words) {
        match (self, other) {
            (Words::Data(a), Words::Data(b)) => a.extend(b),
            (me, other) => *me = Words::Count(me.len() + other.len()),
        }
    }
}

/// What a load will put on the GPU, worked out from the tensor table before any upload.
#[derive(Clone, Debug, Default)]
pub struct WeightPlan {
    /// Bytes of all weight buffers and textures.
    pub bytes: u64,
    /// The largest single buffer: its tensor and bytes.
    pub largest: (String, u64),
}

/// Walks the model's tensors and uploads each in its kernel format. With `dry`, it does
/// every size and limit check a real upload does but repacks and uploads nothing (each
/// buffer is a 16-byte stand-in), so a load can be refused, and its size shown, first.
struct Uploader<'a, 'g, 's> {
    gpu: &'a Gpu,
    g: &'a Gguf<'g>,
    /// Where the tensors' bytes come from; `None` when only planning.
    src: Option<&'a mut Tensors<'s>>,
    plan: WeightPlan,
}

impl Uploader<'_, '_, '_> {
    /// A tensor's words in the GPU format `WeightFormat::for_type` gives it.
    async fn repacked(&mut self, t: &TensorInfo) -> Result<Words> {
        let n = t.n_elements() as usize;
        Ok(match &mut self.src {
            None => Words::Count(WeightFormat::for_type(t.ty)?.words_for(n)),
            Some(src) => Words::Data(repack(t.ty, src.get(self.g, t).await?, n)?),
        })
    }

    /// One storage buffer holding `words[range]`.
    fn store(&mut self, label: &str, words: &Words, range: Range<usize>) -> Result<wgpu::Buffer> {
        let bytes = 4 * range.len() as u64;
        if bytes > self.max_binding() {
            return Err(Error::Unsupported(format!(
                "tensor {label} needs a buffer of {bytes} bytes, over this adapter's storage binding limit of {} bytes",
                self.max_binding()
            )));
        }
        self.plan.bytes += bytes;
        if bytes > self.plan.largest.1 {
            self.plan.largest = (label.to_owned(), bytes);
        }
        match words {
            Words::Data(w) => self.gpu.storage_init(label, bytemuck::cast_slice(&w[range])),
            Words::Count(_) => self.gpu.storage(label, 16),
        }
    }

    /// The largest buffer one binding can take on this device.
    fn max_binding(&self) -> u64 {
        let l = self.gpu.device.limits();
        l.max_storage_buffer_binding_size.min(l.max_buffer_size)
    }

    /// A matrix of `n` rows for the matmul and embed kernels: with the row (software-adapter)
    /// kernels, Q4, Q8 and Q8S go into their texture form when the texture fits the device;
    /// otherwise one buffer, or row ranges in several when it exceeds one binding.
    fn upload(&mut self, label: &str, words: Words, fmt: WeightFormat, n: u32) -> Result<Matrix> {
        let max = self.gpu.device.limits().max_texture_dimension_2d;
        let tex_fmt = fmt.texture_form().filter(|_| self.gpu.variant == Variant::Row && TEX_WIDTH <= max);
        if let Some(tex_fmt) = tex_fmt {
            let (rows, scale_words) = texture_shape(fmt, words.len())?;
            if rows <= max && 4 * scale_words as u64 <= self.max_binding() {
                let (scales, tex) = match &words {
                    Words::Data(w) => {
                        let (scales, texels, _) = split_for_texture(fmt, w)?;
                        (Words::Data(scales), self.gpu.texture_u32x4(label, TEX_WIDTH, rows, &texels)?)
                    }
                    Words::Count(_) => (Words::Count(scale_words), self.gpu.texture_u32x4(label, 1, 1, &[0; 4])?),
                };
                self.plan.bytes += rows as u64 * TEX_WIDTH as u64 * 16;
                let view = tex.create_view(&Default::default());
                let buf = self.store(label, &scales, 0..scale_words)?;
                return Ok(Matrix { parts: vec![Part { rows: 0..n, buf, quants: Some((tex, view)) }], fmt: tex_fmt });
            }
        }
        let row_words = words.len() / n.max(1) as usize;
        let row_bytes = 4 * row_words as u64;
        let per_part = (self.max_binding() / row_bytes.max(1)).min(n as u64) as u32;
        if per_part == 0 {
            return Err(Error::Unsupported(format!(
                "tensor {label}: one row is {row_bytes} bytes, over this adapter's storage binding limit of {} bytes",
                self.max_binding()
            )));
        }
        let mut parts = Vec::new();
        for r0 in (0..n).step_by(per_part as usize) {
            let r1 = (r0 + per_part).min(n);
            let buf = self.store(label, &words, r0 as usize * row_words..r1 as usize * row_words)?;
            parts.push(Part { rows: r0..r1, buf, quants: None });
        }
        Ok(Matrix { parts, fmt })
    }

    async fn matrix(&mut self, name: &str, k: u32, n: u32) -> Result<Matrix> {
        let t = matrix_info(self.g, name, k, n)?;
        let words = self.repacked(t).await?;
        self.upload(name, words, WeightFormat::for_type(t.ty)?, n)
    }

    /// q, k and v stacked when their formats agree.
    async fn qkv(&mut self, names: [&str; 3], k: u32, ns: [u32; 3]) -> Result<Qkv> {
        let info = |i: usize| matrix_info(self.g, names[i], k, ns[i]);
        let infos = [info(0)?, info(1)?, info(2)?];
        let fmts = [
            WeightFormat::for_type(infos[0].ty)?,
            WeightFormat::for_type(infos[1].ty)?,
            WeightFormat::for_type(infos[2].ty)?,
        ];
        let fmt = fmts[0];
        if fmts.iter().any(|&f| f != fmt) {
            return self.qkv_separate(names, k, ns).await;
        }
        let mut words = Words::Data(Vec::new());
        for t in infos {
            words.append(self.repacked(t).await?);
        }
        let m = self.upload(names[0], words, fmt, ns.iter().sum())?;
        if m.parts.len() > 1 {
            // Too large for one binding: three matmuls, each split as it needs.
            return self.qkv_separate(names, k, ns).await;
        }
        Ok(Qkv::Stacked(m))
    }

    async fn qkv_separate(&mut self, names: [&str; 3], k: u32, ns: [u32; 3]) -> Result<Qkv> {
        let q = self.matrix(names[0], k, ns[0]).await?;
        let kk = self.matrix(names[1], k, ns[1]).await?;
        Ok(Qkv::Separate(Box::new([q, kk, self.matrix(names[2], k, ns[2]).await?])))
    }

    /// Gate and up stacked in one buffer so one GLU dispatch reads both.
    async fn gate_up(&mut self, gate: &str, up: &str, k: u32, n: u32) -> Result<Matrix> {
        let (tg, tu) = (matrix_info(self.g, gate, k, n)?, matrix_info(self.g, up, k, n)?);
        let (fg, fu) = (WeightFormat::for_type(tg.ty)?, WeightFormat::for_type(tu.ty)?);
        if fg != fu {
            return Err(Error::Unsupported(format!(
                "{gate} is {} but {up} is {}: mixed gate/up formats",
                tg.ty, tu.ty
            )));
        }
        let mut words = self.repacked(tg).await?;
        words.append(self.repacked(tu).await?);
        let m = self.upload(gate, words, fg, 2 * n)?;
        if m.parts.len() > 1 {
            return Err(Error::Unsupported(format!(
                "{gate} and {up} together exceed this adapter's storage binding limit of {} bytes",
                self.max_binding()
            )));
        }
        Ok(m)
    }

    async fn vector(&mut self, name: &str, n: u32) -> Result<wgpu::Buffer> {
        self.vectors(&[(name, n)]).await
    }

    /// Vectors (name, length), one after the other in one buffer.
    async fn vectors(&mut self, names: &[(&str, u32)]) -> Result<wgpu::Buffer> {
        let mut all = Vec::with_capacity(names.iter().map(|v| v.1 as usize).sum());
        for &(name, n) in names {
            let t = tensor(self.g, name)?;
            if t.dims != [n as u64] {
                return Err(Error::Model(format!("tensor {name} has dims {:?}, expected [{n}]", t.dims)));
            }
            if let Some(src) = &mut self.src {
                let v = to_f32(t.ty, src.get(self.g, t).await?, n as usize)
                    .map_err(|e| Error::Unsupported(format!("{name}: {e}")))?;
                all.extend(v.into_iter().map(f32::to_bits));
            }
        }
        let words =
            if self.src.is_some() { Words::Data(all) } else { Words::Count(names.iter().map(|v| v.1 as usize).sum()) };
        self.store(names[0].0, &words, 0..words.len())
    }
}

/// Uploads the model's weights, their bytes from `src` (which may still be arriving: the
/// walk takes the layers first, since files put the embedding and output tables at either
/// end).
pub async fn upload(gpu: &Gpu, g: &Gguf<'_>, src: &mut Tensors<'_>, c: &ModelConfig) -> Result<Weights> {
    walk(&mut Uploader { gpu, g, src: Some(src), plan: WeightPlan::default() }, g, c).await
}

/// What `upload` would put on the GPU, or the error it would stop with on a size limit,
/// without repacking or uploading a weight; with the weights as 16-byte stand-ins in the
/// same formats and parts (a forward pass built on them makes the real one's pipelines).
pub fn plan(gpu: &Gpu, g: &Gguf, c: &ModelConfig) -> Result<(WeightPlan, Weights)> {
    let mut u = Uploader { gpu, g, src: None, plan: WeightPlan::default() };
    let stand_ins = at_once(walk(&mut u, g, c))?;
    Ok((u.plan, stand_ins))
}

/// The walk without a source: it never waits, so one poll runs it to the end.
fn at_once<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    use std::task::{Context, Poll, Waker};
    match std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(Error::Model("planning the load waited for a tensor's bytes".into())),
    }
}

/// Layer `i`'s RoPE-kernel params: norm weights, then biases, as the model has them.
async fn rope_params(u: &mut Uploader<'_, '_, '_>, c: &ModelConfig, i: u32) -> Result<Option<wgpu::Buffer>> {
    let n = |s: &str| format!("blk.{i}.{s}");
    let mut v: Vec<(String, u32)> = Vec::new();
    if c.qk_norm {
        v.extend([(n("attn_q_norm.weight"), c.head_dim), (n("attn_k_norm.weight"), c.head_dim)]);
    }
    if c.qkv_bias {
        v.extend([(n("attn_q.bias"), c.q_dim()), (n("attn_k.bias"), c.kv_dim()), (n("attn_v.bias"), c.kv_dim())]);
    }
    if v.is_empty() {
        return Ok(None);
    }
    let names: Vec<(&str, u32)> = v.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    u.vectors(&names).await.map(Some)
}

async fn walk(u: &mut Uploader<'_, '_, '_>, g: &Gguf<'_>, c: &ModelConfig) -> Result<Weights> {
    let (d, qd, kv, ff, v) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff, c.vocab);
    let mut layers = Vec::with_capacity(c.n_layer as usize);
    for i in 0..c.n_layer {
        let n = |s: &str| format!("blk.{i}.{s}.weight");
        let attn_norm = u.vector(&n("attn_norm"), d).await?;
        let qkv = u.qkv([&n("attn_q"), &n("attn_k"), &n("attn_v")], d, [qd, kv, kv]).await?;
        let rope_params = rope_params(u, c, i).await?;
        let wo = u.matrix(&n("attn_output"), qd, d).await?;
        let post_attn_norm = if c.post_norms { Some(u.vector(&n("post_attention_norm"), d).await?) } else { None };
        let ffn_norm = u.vector(&n("ffn_norm"), d).await?;
        let gate_up = u.gate_up(&n("ffn_gate"), &n("ffn_up"), d, ff).await?;
        let down = u.matrix(&n("ffn_down"), ff, d).await?;
        let post_ffn_norm = if c.post_norms { Some(u.vector(&n("post_ffw_norm"), d).await?) } else { None };
        layers.push(LayerWeights {
            attn_norm,
            qkv,
            rope_params,
            wo,
            post_attn_norm,
            ffn_norm,
            gate_up,
            down,
            post_ffn_norm,
        });
    }
    let embd = u.matrix("token_embd.weight", d, v).await?;
    let out_norm = u.vector("output_norm.weight", d).await?;
    let output = if c.tied { None } else { Some(u.matrix("output.weight", d, v).await?) };
    check_all_used(g, c)?;
    Ok(Weights { embd, out_norm, output, layers, bytes: u.plan.bytes })
}

/// The tensor names this configuration reads; any other tensor in the file would be
/// ignored, and a tensor that changes the math must never be ignored (rope_freqs, biases).
pub fn expected_tensors(c: &ModelConfig) -> Vec<String> {
    let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".to_string()];
    if !c.tied {
        names.push("output.weight".into());
    }
    if c.rope_freqs.is_some() {
        names.push("rope_freqs.weight".into()); // read by ModelConfig
    }
    let mut per_layer = vec!["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm"];
    per_layer.extend(["ffn_gate", "ffn_up", "ffn_down"]);
    if c.qk_norm {
        per_layer.extend(["attn_q_norm", "attn_k_norm"]);
    }
    if c.post_norms {
        per_layer.extend(["post_attention_norm", "post_ffw_norm"]);
    }
    let mut per_layer: Vec<String> = per_layer.iter().map(|s| format!("{s}.weight")).collect();
    if c.qkv_bias {
        per_layer.extend(["attn_q.bias", "attn_k.bias", "attn_v.bias"].map(String::from));
    }
    for i in 0..c.n_layer {
        names.extend(per_layer.iter().map(|s| format!("blk.{i}.{s}")));
    }
    names
}

fn check_all_used(g: &Gguf, c: &ModelConfig) -> Result<()> {
    let expected: std::collections::HashSet<String> = expected_tensors(c).into_iter().collect();
    match g.tensors.iter().find(|t| !expected.contains(t.name.as_str())) {
        Some(t) => Err(Error::Unsupported(format!(
            "tensor {} (this engine's {} graph does not use it, and ignoring it would change the result)",
            crate::error::shown(&t.name),
            c.arch.name()
        ))),
        None => Ok(()),
    }
}
