//! Launcher for shaders/embed.wgsl.

use super::weights::WeightFormat;
use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};

const SRC: &str = include_str!("../../shaders/embed.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];
// The same with the quant texture of a texture format (Q4Tex, Q8Tex) after the buffers.
const SIG_TEX: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite, Slot::Texture];

pub struct Embed {
    pipe: LazyPipeline,
    d: u32,
    texture: bool,
}

impl Embed {
    /// The lookup of the whole table (`vocab` rows), each row times `scale`.
    pub fn new(kern: &Kernels, fmt: WeightFormat, d: u32, vocab: u32, scale: f32) -> Result<Self> {
        Self::part(kern, fmt, d, vocab, scale, 0..vocab)
    }

    /// The lookup of the table part holding rows `part` (tokens outside it are skipped).
    pub fn part(
        kern: &Kernels,
        fmt: WeightFormat,
        d: u32,
        vocab: u32,
        scale: f32,
        part: std::ops::Range<u32>,
    ) -> Result<Self> {
        if part.is_empty() || part.end > vocab {
            return Err(crate::Error::Param(format!("embedding rows {part:?} of {vocab}")));
        }
        let defs = Defines::new()
            .u32("D", d)
            .u32("VOCAB", vocab)
            .u32("V0", part.start)
            .u32("NV", part.end - part.start)
            .f32("SCALE", scale)
            .flag("BLOCK_DOT", false)
            .u32("TEX_BINDING", SIG.len() as u32);
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

    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(self.d / 32, 64), m, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::weights::{random_tensor, repack, split_for_texture, TEX_WIDTH};
    use super::*;
    use crate::gguf::GgmlType;
    use crate::gpu::Variant;
    use crate::quant;

    /// Every type the engine reads: quantized from random values where src/quant.rs can
    /// (F32, F16, Q4_0, Q4_1, Q8_0), else random blocks (random quants and sub-scales, small
    /// finite scales). Rows are 256 wide for the K-quants' super-blocks.
    #[test]
    fn gathers_dequantized_rows() {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let vocab = 50usize;
        use GgmlType::*;
        for ty in [Q8_0, Q4_1, Q4_0, F16, F32, Q5_0, Q5_1, IQ4NL, Q2K, Q3K, Q4K, Q5K, Q6K] {
            let d = if ty.block().0 == 256 { 256 } else { 64 };
            let bytes = match quant::quantize(ty, &rand_vec(&mut rng, vocab * d, 1.0)) {
                Ok(bytes) => bytes,
                Err(_) => random_tensor(&mut rng, ty, vocab * d),
            };
            let table = quant::dequantize(ty, &bytes, vocab * d).unwrap();
            let toks = [3u32, 49, 0, 3, 17];
            let words = repack(ty, &bytes, vocab * d).unwrap();
            let fmt = WeightFormat::for_type(ty).unwrap();
            // Each format as one buffer, and Q4/Q8/Q8S also in their texture form (scales in the
            // buffer, quants in a texture), as the software kernels load them.
            let mut layouts = vec![(fmt, buf_u32(&kern, &words), None)];
            if let Some(tex_fmt) = fmt.texture_form() {
                let (scales, texels, trows) = split_for_texture(fmt, &words).unwrap();
                let tex = kern.gpu.texture_u32x4("quants", TEX_WIDTH, trows, &texels).unwrap();
                layouts.push((tex_fmt, buf_u32(&kern, &scales), Some(tex.create_view(&Default::default()))));
            }
            for (fmt, wb, quants) in layouts {
                let e = Embed::new(&kern, fmt, d as u32, vocab as u32, 1.0).unwrap();
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
                // Every format's weights are exact, fused multiply-add or not (q·d is exact for
                // Q4 and Q8; Q8S: see weights_q8s_dot.wgsl): equal to the CPU's (±0 alike).
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(g == w, "embed {ty} as {fmt:?}: element {i}: gpu {g:e} cpu {w:e}");
                }
            }
        }
    }

    /// A table bound in two parts (rows 0..20 and 20..50), one dispatch each, with Gemma's
    /// √D scale: every token's row comes from the part that holds it.
    #[test]
    fn table_in_parts_with_scale() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            let mut rng = rand::rng();
            let (d, vocab, split, scale) = (64usize, 50usize, 20usize, 8.0f32);
            let ty = GgmlType::Q8_0;
            let bytes = quant::quantize(ty, &rand_vec(&mut rng, vocab * d, 1.0)).unwrap();
            let table = quant::dequantize(ty, &bytes, vocab * d).unwrap();
            let toks = [3u32, 49, 0, 20, 19, 77];
            let (rb, tb) = (rows(&kern, toks.len() as u32, 0), buf_u32(&kern, &toks));
            let xb = buf(&kern, &vec![0.0; toks.len() * d]);
            let row_bytes = d / 32 * 34;
            for rows_part in [0..split as u32, split as u32..vocab as u32] {
                let part = &bytes[rows_part.start as usize * row_bytes..rows_part.end as usize * row_bytes];
                let n = (rows_part.end - rows_part.start) as usize * d;
                let wb = buf_u32(&kern, &repack(ty, part, n).unwrap());
                let e = Embed::part(&kern, WeightFormat::Q8, d as u32, vocab as u32, scale, rows_part).unwrap();
                let bg = e.bind(&kern, &rb, &tb, &wb, None, &xb).unwrap();
                run(&kern, |p| e.record(p, &bg, toks.len() as u32));
            }
            let got = read(&kern, &xb, toks.len() * d);
            // Token 77 is past the vocabulary: clamped to the last row, as with one part.
            let want: Vec<f32> = toks
                .iter()
                .flat_map(|&t| table[t.min(49) as usize * d..(t.min(49) as usize + 1) * d].to_vec())
                .map(|v| v * scale)
                .collect();
            let mag: Vec<f32> = want.iter().map(|v| v.abs()).collect();
            assert_close(&format!("{variant:?} embed in parts"), &got, &want, &mag, 1e-6, 1e-7);
            assert!(Embed::part(&kern, WeightFormat::Q8, 64, 50, 1.0, 40..60).is_err());
        }
    }
}
