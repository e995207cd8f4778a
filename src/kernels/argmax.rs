//! Launcher for shaders/argmax.wgsl: the greedy pick, writing token ids on the GPU.

use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::shader::{Defines, Slot};

const SRC: &str = include_str!("../../shaders/argmax.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::ReadWrite, Slot::ReadWrite];
pub const CHUNK: u32 = 256;

pub struct Argmax {
    scan: wgpu::ComputePipeline,
    pick: wgpu::ComputePipeline,
    chunks: u32,
}

impl Argmax {
    pub fn new(kern: &Kernels, vocab: u32) -> Result<Self> {
        let defs = Defines::new().u32("VOCAB", vocab).u32("CHUNK", CHUNK);
        Ok(Argmax {
            scan: kern.pipeline("argmax", "scan_chunks", &[COMMON, SRC], &defs, SIG)?,
            pick: kern.pipeline("argmax", "pick", &[COMMON, SRC], &defs, SIG)?,
            chunks: vocab.div_ceil(CHUNK),
        })
    }

    /// Bytes of scratch the `part` binding needs for `m` rows.
    pub fn scratch_bytes(&self, m: u32) -> u64 {
        8 * self.chunks as u64 * m as u64
    }

    pub fn bind(&self, kern: &Kernels, rows: &wgpu::Buffer, logits: &wgpu::Buffer, scratch: &wgpu::Buffer, tokens: &wgpu::Buffer) -> Result<wgpu::BindGroup> {
        kern.bind(SIG, "argmax", &[rows, logits, scratch, tokens])
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, m: u32) {
        pass.set_bind_group(0, bg, &[]);
        pass.set_pipeline(&self.scan);
        pass.dispatch_workgroups(groups(self.chunks, 64), m, 1);
        pass.set_pipeline(&self.pick);
        pass.dispatch_workgroups(groups(m, 64), 1, 1);
    }
}

/// CPU reference: the first maximum (lowest id among ties); NaN never wins.
pub fn argmax_ref(row: &[f32]) -> u32 {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0 as u32
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::gpu::Variant;
    use rand::Rng;

    #[test]
    fn matches_cpu_reference_with_ties() {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let vocab = 1000usize;
        let mut logits = Vec::new();
        for r in 0..6 {
            let mut row = rand_vec(&mut rng, vocab, 10.0);
            match r {
                // A tie across chunks: the lower id must win.
                0 => {
                    let (a, b) = (rng.random_range(0..300), rng.random_range(700..vocab));
                    row[a] = 50.0;
                    row[b] = 50.0;
                }
                // A tie inside a chunk.
                1 => {
                    row[600] = 50.0;
                    row[601] = 50.0;
                }
                2 => row[vocab - 1] = 99.0,
                3 => row.iter_mut().for_each(|v| *v = f32::NEG_INFINITY),
                4 => row[5] = f32::NAN,
                _ => {}
            }
            logits.extend(row);
        }
        let m = 6u32;
        let am = Argmax::new(&kern, vocab as u32).unwrap();
        let (rb, lb) = (rows(&kern, m, 0), buf(&kern, &logits));
        let scratch = kern.gpu.storage("scratch", am.scratch_bytes(m)).unwrap();
        let tb = buf_u32(&kern, &[u32::MAX; 6]);
        let bg = am.bind(&kern, &rb, &lb, &scratch, &tb).unwrap();
        run(&kern, |p| am.record(p, &bg, m));
        let got: Vec<u32> = bytemuck::cast_slice(&read(&kern, &tb, 6)).to_vec();
        let want: Vec<u32> = logits.chunks(vocab).map(argmax_ref).collect();
        assert_eq!(got, want);
    }
}
