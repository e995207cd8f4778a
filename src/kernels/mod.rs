//! Thin launchers for the WGSL kernels in shaders/, one family per file, each with a CPU
//! reference test beside it. A launcher sets up its pipelines at load time (each compiled on
//! first use: gpu/shader.rs), makes bind groups once, and records dispatches; it never
//! allocates per step.

pub mod attention;
pub mod embed;
pub mod matmul;
pub mod quantize;
pub mod rmsnorm;
pub mod rope;
pub mod weights;

use crate::error::Result;
use crate::gpu::shader::{Defines, LazyPipeline, PipelineCache, PipelineInfo, Slot};
use crate::gpu::{Gpu, Variant};

pub(crate) const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// The GPU plus the pipelines built for it.
pub struct Kernels {
    pub gpu: Gpu,
    cache: PipelineCache,
}

impl Kernels {
    pub fn new(gpu: Gpu) -> Self {
        Kernels { gpu, cache: PipelineCache::default() }
    }

    pub fn variant(&self) -> Variant {
        self.gpu.variant
    }

    pub(crate) fn pipeline(
        &self,
        label: &str,
        entry: &str,
        parts: &[&str],
        defs: &Defines,
        sig: &[Slot],
    ) -> Result<LazyPipeline> {
        self.cache.get(&self.gpu.device, label, entry, parts, defs, sig)
    }

    /// Every pipeline the launchers made so far asked for, and which were made (compiled).
    pub fn pipelines(&self) -> Vec<PipelineInfo> {
        self.cache.info()
    }

    /// Makes every pipeline asked for so far, instead of on first use (tests compare; the
    /// page's `prepare` request, once a model is loaded).
    pub fn make_all_pipelines(&self) {
        self.cache.make_all()
    }

    pub(crate) fn bind(&self, sig: &[Slot], label: &str, buffers: &[&wgpu::Buffer]) -> Result<wgpu::BindGroup> {
        self.bind_with(sig, label, buffers, None)
    }

    /// As `bind`, with a texture after the buffers (the last slot of `sig`).
    pub(crate) fn bind_with(
        &self,
        sig: &[Slot],
        label: &str,
        buffers: &[&wgpu::Buffer],
        texture: Option<&wgpu::TextureView>,
    ) -> Result<wgpu::BindGroup> {
        let (layout, _) = self.cache.layout(&self.gpu.device, sig)?;
        Ok(crate::gpu::shader::bind(&self.gpu.device, &layout, label, buffers, texture))
    }
}

/// The `Rows` uniform of shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Rows {
    pub n: u32,
    pub row0: u32,
    pub _pad: [u32; 2],
}

impl Rows {
    pub fn new(n: u32, row0: u32) -> Self {
        Rows { n, row0, _pad: [0; 2] }
    }
}

/// The `RowInfo` of shaders/common.wgsl: a row's position and where its KV lives.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RowInfo {
    pub pos: u32,
    /// Positions below this are the shared prefix, stored at slot = position.
    pub prefix: u32,
    /// Slot of position `prefix` for this row's own continuation.
    pub base: u32,
    pub _pad: u32,
}

impl RowInfo {
    /// A row of a single sequence: every position at slot = position.
    pub fn solo(pos: u32) -> Self {
        RowInfo { pos, prefix: u32::MAX, base: 0, _pad: 0 }
    }

    pub fn lane(pos: u32, prefix: u32, base: u32) -> Self {
        RowInfo { pos, prefix, base, _pad: 0 }
    }

    /// The KV slot of position `t` (mirrors `kv_slot` in common.wgsl).
    pub fn slot(&self, t: u32) -> u32 {
        if t < self.prefix {
            t
        } else {
            self.base + (t - self.prefix)
        }
    }
}

pub(crate) fn groups(n: u32, size: u32) -> u32 {
    n.div_ceil(size)
}

/// Shared by the kernel tests: a GPU (lavapipe in CI) and random data helpers.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::gpu::GpuOptions;
    use rand::Rng;

    pub fn kernels(variant: Variant) -> Kernels {
        let gpu = pollster::block_on(Gpu::new(GpuOptions {
            variant: Some(variant),
            int8: Some(false),
            ..Default::default()
        }))
        .expect("a GPU adapter (lavapipe)");
        Kernels::new(gpu)
    }

    pub fn rand_vec(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-scale..scale)).collect()
    }

    pub fn read(k: &Kernels, b: &wgpu::Buffer, n: usize) -> Vec<f32> {
        pollster::block_on(k.gpu.read_f32(b, n)).expect("readback")
    }

    pub fn run(k: &Kernels, f: impl FnOnce(&mut wgpu::ComputePass)) {
        let mut enc = k.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            f(&mut pass);
        }
        k.gpu.queue.submit([enc.finish()]);
    }

    pub fn rows(k: &Kernels, n: u32, row0: u32) -> wgpu::Buffer {
        k.gpu.uniform_init("rows", bytemuck::bytes_of(&Rows::new(n, row0)))
    }

    pub fn buf(k: &Kernels, data: &[f32]) -> wgpu::Buffer {
        k.gpu.storage_init("test", bytemuck::cast_slice(data)).unwrap()
    }

    pub fn buf_rows(k: &Kernels, info: &[RowInfo]) -> wgpu::Buffer {
        k.gpu.storage_init("test", bytemuck::cast_slice(info)).unwrap()
    }

    pub fn buf_u32(k: &Kernels, data: &[u32]) -> wgpu::Buffer {
        k.gpu.storage_init("test", bytemuck::cast_slice(data)).unwrap()
    }

    /// max |a-b| / bound_i must be ≤ 1, where bound_i = rel · scale_i + abs.
    pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], scale: &[f32], rel: f32, abs: f32) {
        assert_eq!(gpu.len(), cpu.len(), "{what}: length");
        for i in 0..gpu.len() {
            let bound = rel * scale[i] + abs;
            assert!(
                (gpu[i] - cpu[i]).abs() <= bound,
                "{what}: element {i}: gpu {} cpu {} (|diff| {} > bound {bound})",
                gpu[i],
                cpu[i],
                (gpu[i] - cpu[i]).abs()
            );
        }
    }
}
