//! Finding, checking and uploading the model's tensors.

use super::LlamaConfig;
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo};
use crate::gpu::{Gpu, Variant};
use crate::kernels::weights::{repack, split_for_texture, to_f32, WeightFormat, TEX_WIDTH};

/// A weight matrix on the GPU in its kernel format.
pub struct Matrix {
    pub buf: wgpu::Buffer,
    pub fmt: WeightFormat,
    /// The quant texture of a texture format (its view), with `buf` holding the scale words.
    pub quants: Option<(wgpu::Texture, wgpu::TextureView)>,
}

impl Matrix {
    pub fn quants(&self) -> Option<&wgpu::TextureView> {
        self.quants.as_ref().map(|(_, v)| v)
    }
}

pub struct LayerWeights {
    pub attn_norm: wgpu::Buffer, // [D]
    pub qkv: Qkv,
    pub wo: Matrix,             // [D, D]
    pub ffn_norm: wgpu::Buffer, // [D]
    pub gate_up: Matrix,        // [2·FF, D]  gate rows, then up rows
    pub down: Matrix,           // [D, FF]
}

/// The attention projections Wq [D, D], Wk [KV, D], Wv [KV, D] (ggml dims [K = D, N]):
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

struct Uploader<'a, 'g> {
    gpu: &'a Gpu,
    g: &'a Gguf<'g>,
    bytes: u64,
}

impl Uploader<'_, '_> {
    fn words(&mut self, label: &str, words: &[u32]) -> Result<wgpu::Buffer> {
        self.bytes += 4 * words.len() as u64;
        self.gpu.storage_init(label, bytemuck::cast_slice(words))
    }

    /// A matrix for the matmul and embed kernels: with the row (software-adapter) kernels,
    /// Q4 and Q8 go into their texture form when the texture fits the device.
    fn upload(&mut self, label: &str, words: Vec<u32>, fmt: WeightFormat) -> Result<Matrix> {
        let max = self.gpu.device.limits().max_texture_dimension_2d;
        let tex_fmt = fmt.texture_form().filter(|_| self.gpu.variant == Variant::Row && TEX_WIDTH <= max);
        let Some(tex_fmt) = tex_fmt else {
            return Ok(Matrix { buf: self.words(label, &words)?, fmt, quants: None });
        };
        let (scales, texels, rows) = split_for_texture(fmt, &words)?;
        if rows > max {
            return Ok(Matrix { buf: self.words(label, &words)?, fmt, quants: None });
        }
        let tex = self.gpu.texture_u32x4(label, TEX_WIDTH, rows, &texels)?;
        self.bytes += 4 * texels.len() as u64;
        let view = tex.create_view(&Default::default());
        Ok(Matrix { buf: self.words(label, &scales)?, fmt: tex_fmt, quants: Some((tex, view)) })
    }

    fn matrix(&mut self, name: &str, k: u32, n: u32) -> Result<Matrix> {
        let t = matrix_info(self.g, name, k, n)?;
        let words = repack(t.ty, self.g.tensor_data(t), t.n_elements() as usize)?;
        self.upload(name, words, WeightFormat::for_type(t.ty)?)
    }

    /// q, k and v stacked when their formats agree.
    fn qkv(&mut self, names: [&str; 3], k: u32, ns: [u32; 3]) -> Result<Qkv> {
        let info = |i: usize| matrix_info(self.g, names[i], k, ns[i]);
        let infos = [info(0)?, info(1)?, info(2)?];
        let fmts = [
            WeightFormat::for_type(infos[0].ty)?,
            WeightFormat::for_type(infos[1].ty)?,
            WeightFormat::for_type(infos[2].ty)?,
        ];
        let fmt = fmts[0];
        if fmts.iter().any(|&f| f != fmt) {
            let q = self.matrix(names[0], k, ns[0])?;
            let kk = self.matrix(names[1], k, ns[1])?;
            return Ok(Qkv::Separate(Box::new([q, kk, self.matrix(names[2], k, ns[2])?])));
        }
        let mut words = Vec::new();
        for t in infos {
            words.extend(repack(t.ty, self.g.tensor_data(t), t.n_elements() as usize)?);
        }
        Ok(Qkv::Stacked(self.upload(names[0], words, fmt)?))
    }

    /// Gate and up stacked in one buffer so one GLU dispatch reads both.
    fn gate_up(&mut self, gate: &str, up: &str, k: u32, n: u32) -> Result<Matrix> {
        let (tg, tu) = (matrix_info(self.g, gate, k, n)?, matrix_info(self.g, up, k, n)?);
        let (fg, fu) = (WeightFormat::for_type(tg.ty)?, WeightFormat::for_type(tu.ty)?);
        if fg != fu {
            return Err(Error::Unsupported(format!(
                "{gate} is {} but {up} is {}: mixed gate/up formats",
                tg.ty, tu.ty
            )));
        }
        let mut words = repack(tg.ty, self.g.tensor_data(tg), tg.n_elements() as usize)?;
        words.extend(repack(tu.ty, self.g.tensor_data(tu), tu.n_elements() as usize)?);
        self.upload(gate, words, fg)
    }

    fn vector(&mut self, name: &str, n: u32) -> Result<wgpu::Buffer> {
        let t = tensor(self.g, name)?;
        if t.dims != [n as u64] {
            return Err(Error::Model(format!("tensor {name} has dims {:?}, expected [{n}]", t.dims)));
        }
        let v =
            to_f32(t.ty, self.g.tensor_data(t), n as usize).map_err(|e| Error::Unsupported(format!("{name}: {e}")))?;
        self.bytes += 4 * n as u64;
        self.gpu.storage_init(name, bytemuck::cast_slice(&v))
    }
}

pub fn upload(gpu: &Gpu, g: &Gguf, c: &LlamaConfig) -> Result<Weights> {
    let mut u = Uploader { gpu, g, bytes: 0 };
    let (d, kv, ff, v) = (c.n_embd, c.kv_dim(), c.n_ff, c.vocab);
    let embd = u.matrix("token_embd.weight", d, v)?;
    let out_norm = u.vector("output_norm.weight", d)?;
    let output = if c.tied { None } else { Some(u.matrix("output.weight", d, v)?) };
    let mut layers = Vec::with_capacity(c.n_layer as usize);
    for i in 0..c.n_layer {
        let n = |s: &str| format!("blk.{i}.{s}.weight");
        layers.push(LayerWeights {
            attn_norm: u.vector(&n("attn_norm"), d)?,
            qkv: u.qkv([&n("attn_q"), &n("attn_k"), &n("attn_v")], d, [d, kv, kv])?,
            wo: u.matrix(&n("attn_output"), d, d)?,
            ffn_norm: u.vector(&n("ffn_norm"), d)?,
            gate_up: u.gate_up(&n("ffn_gate"), &n("ffn_up"), d, ff)?,
            down: u.matrix(&n("ffn_down"), ff, d)?,
        });
    }
    Ok(Weights { embd, out_norm, output, layers, bytes: u.bytes })
}
