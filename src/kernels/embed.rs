//! Launcher for shaders/embed.wgsl.

use super::weights::WeightFormat;
use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::shader::{Defines, Slot};

const SRC: &str = include_str!("../../shaders/embed.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
// The same with the quant texture of a texture format (Q4Tex, Q8Tex) after the buffers.
const SIG_TEX: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Texture];

pub struct Embed {
    pipe: wgpu::ComputePipeline,
    d: u32,
    texture: bool,
}

impl Embed {
    pub fn new(kern: &Kernels, fmt: WeightFormat, d: u32, vocab: u32) -> Result<Self> {
        let defs = Defines::new().u32("D", d).u32("VOCAB", vocab).flag("BLOCK_DOT", false).flag("SPLIT", false);
        let texture = fmt.uses_texture();
        let sig = if texture { SIG_TEX } else { SIG };
        Ok(Embed {
            pipe: kern.pipeline(&format!("embed_{fmt:?}"), "main", &[COMMON, fmt.reader(), SRC], &defs, sig)?,
            d,
            texture,
        })
    }

    /// `table` holds the weights (for the texture formats: the scale words, with the
    /// `quants` texture, which other formats refuse).
    pub fn bind(
        &self,
        kern: &Kernels,
        rows: &wgpu::Buffer,
        tokens: &wgpu::Buffer,
        table: &wgpu::Buffer,
        quants: Option<&wgpu::TextureView>,
        x: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        if quants.is_some() != self.texture {
            return Err(crate::Error::Param(format!(
                "embed {} a quant texture",
                if self.texture { "needs" } else { "takes no" }
            )));
        }
        kern.bind_with(if self.texture { SIG_TEX } else { SIG }, "embed", &[rows, tokens, table, x], quants)
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.d / 32, 64), m, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::weights::{repack, split_for_texture, TEX_WIDTH};
    use super::*;
    use crate::gguf::GgmlType;
    use crate::gpu::Variant;
    use crate::quant;

    #[test]
    fn gathers_dequantized_rows() {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let (d, vocab) = (64usize, 50usize);
        for ty in [GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::F16, GgmlType::F32] {
            let bytes = quant::quantize(ty, &rand_vec(&mut rng, vocab * d, 1.0)).unwrap();
            let table = quant::dequantize(ty, &bytes, vocab * d).unwrap();
            let toks = [3u32, 49, 0, 3, 17];
            let words = repack(ty, &bytes, vocab * d).unwrap();
            let fmt = WeightFormat::for_type(ty).unwrap();
            // Each format as one buffer, and Q4/Q8 also in their texture form (scales in the
            // buffer, quants in a texture), as the software kernels load them.
            let mut layouts = vec![(fmt, buf_u32(&kern, &words), None)];
            if let Some(tex_fmt) = fmt.texture_form() {
                let (scales, texels, trows) = split_for_texture(fmt, &words).unwrap();
                let tex = kern.gpu.texture_u32x4("quants", TEX_WIDTH, trows, &texels).unwrap();
                layouts.push((tex_fmt, buf_u32(&kern, &scales), Some(tex.create_view(&Default::default()))));
            }
            for (fmt, wb, quants) in layouts {
                let e = Embed::new(&kern, fmt, d as u32, vocab as u32).unwrap();
                let (rb, tb) = (rows(&kern, toks.len() as u32, 0), buf_u32(&kern, &toks));
                let xb = buf(&kern, &vec![0.0; toks.len() * d]);
                let wrong = if quants.is_some() {
                    None
                } else {
                    Some(kern.gpu.texture_u32x4("x", 1, 1, &[0; 4]).unwrap().create_view(&Default::default()))
                };
                assert!(
                    e.bind(&kern, &rb, &tb, &wb, wrong.as_ref(), &xb).is_err(),
                    "texture or not, as the format says"
                );
                let bg = e.bind(&kern, &rb, &tb, &wb, quants.as_ref(), &xb).unwrap();
                run(&kern, |p| e.record(p, &bg, toks.len() as u32));
                let got = read(&kern, &xb, toks.len() * d);
                let want: Vec<f32> =
                    toks.iter().flat_map(|&t| table[t as usize * d..(t as usize + 1) * d].to_vec()).collect();
                // Dequantization is exact in f32 on both sides (q·d + m with f16 d, m): no slack
                // beyond one rounding of the fused multiply-add.
                let scale: Vec<f32> = want.iter().map(|v| v.abs()).collect();
                assert_close(&format!("embed {ty} as {fmt:?}"), &got, &want, &scale, 1e-6, 1e-7);
            }
        }
    }
}
