//! WGSL assembly and the pipeline cache.
//!
//! A kernel is one .wgsl file from shaders/, optionally preceded by helper snippets (the
//! weight-format readers), specialised by defines: each define becomes a WGSL `const`
//! in a generated header (so loop bounds are compile-time constants), and `#if NAME` /
//! `#else` / `#endif` lines keep or drop blocks. Variants are made with defines, never copies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Def {
    U32(u32),
    F32(f32),
    Bool(bool),
}

/// Defines in a stable order (they are part of the pipeline cache key).
#[derive(Clone, Debug, Default)]
pub struct Defines(Vec<(&'static str, Def)>);

impl Defines {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u32(mut self, name: &'static str, v: u32) -> Self {
        self.0.push((name, Def::U32(v)));
        self
    }
    pub fn f32(mut self, name: &'static str, v: f32) -> Self {
        self.0.push((name, Def::F32(v)));
        self
    }
    pub fn flag(mut self, name: &'static str, on: bool) -> Self {
        self.0.push((name, Def::Bool(on)));
        self
    }

    fn is_on(&self, name: &str) -> Option<bool> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, d)| match *d {
            Def::Bool(b) => b,
            Def::U32(v) => v != 0,
            Def::F32(v) => v != 0.0,
        })
    }

    fn header(&self) -> String {
        let mut s = String::new();
        for (name, d) in &self.0 {
            match d {
                Def::U32(v) => s.push_str(&format!("const {name}: u32 = {v}u;\n")),
                // {:?} keeps a decimal point and full precision.
                Def::F32(v) => s.push_str(&format!("const {name}: f32 = {v:?};\n")),
                Def::Bool(b) => s.push_str(&format!("const {name}: bool = {b};\n")),
            }
        }
        s
    }

    fn key(&self) -> String {
        self.0.iter().map(|(n, d)| format!("{n}={d:?}")).collect::<Vec<_>>().join(",")
    }
}

/// Applies `#if NAME` / `#else` / `#endif` (nestable). An unknown NAME is an error, so a
/// typo cannot silently drop code.
pub fn preprocess(src: &str, defs: &Defines) -> Result<String> {
    let mut out = String::with_capacity(src.len());
    // Each entry: (this block is active, the #if condition held)
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|&(a, _)| a);
    for (i, line) in src.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("#if ") {
            let name = name.trim();
            let (neg, name) = name.strip_prefix('!').map_or((false, name), |n| (true, n));
            let on = defs
                .is_on(name)
                .ok_or_else(|| Error::Gpu(format!("shader line {}: #if on undefined {name}", i + 1)))?;
            stack.push((on != neg, on != neg));
        } else if t == "#else" {
            let top =
                stack.last_mut().ok_or_else(|| Error::Gpu(format!("shader line {}: #else without #if", i + 1)))?;
            *top = (!top.1, top.1);
        } else if t == "#endif" {
            stack.pop().ok_or_else(|| Error::Gpu(format!("shader line {}: #endif without #if", i + 1)))?;
        } else if active(&stack) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !stack.is_empty() {
        return Err(Error::Gpu("shader: unterminated #if".into()));
    }
    Ok(out)
}

/// The full WGSL text of a kernel: the define header, then each part preprocessed.
pub fn assemble(parts: &[&str], defs: &Defines) -> Result<String> {
    let mut s = defs.header();
    for p in parts {
        s.push_str(&preprocess(p, defs)?);
    }
    Ok(s)
}

/// How a kernel binds one buffer, in binding order. Kernels with the same signature share
/// one explicit bind group layout, so a bind group works with every variant of the family
/// (auto layouts would make each pipeline's bind groups incompatible with the others').
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Uniform,
    Read,
    ReadWrite,
    /// A texture_2d<u32> read with textureLoad.
    Texture,
}

/// A compute pipeline made on first use. Its shader module is made (and so parsed and
/// validated) when the kernel is set up; the pipeline, where the driver compiles the shader
/// (on SwiftShader 20–650 ms each, most of a page load), on the first `get`. A load makes
/// only what its first token needs (`Forward::make_first_token_pipelines`); the rest are made
/// by the step that first records them, and a failure there reaches the device's error
/// handler (`Gpu::check_device` reports it) instead of failing the load.
#[derive(Clone)]
pub struct LazyPipeline(Arc<Lazy>);

struct Lazy {
    device: wgpu::Device,
    key: String,
    label: String,
    entry: String,
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    made: OnceLock<(wgpu::ComputePipeline, f64)>,
}

impl LazyPipeline {
    /// The pipeline, made now if it was not yet.
    pub fn get(&self) -> &wgpu::ComputePipeline {
        let l = &self.0;
        &l.made
            .get_or_init(|| {
                let t = web_time::Instant::now();
                let p = l.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&l.label),
                    layout: Some(&l.layout),
                    module: &l.module,
                    entry_point: Some(&l.entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (p, t.elapsed().as_secs_f64() * 1e3)
            })
            .0
    }
}

/// One pipeline the cache knows: its label and defines, and, once made, how long creating
/// it took on this thread (natively the driver's compile; on the web only the call, as the
/// browser compiles in its GPU process).
#[derive(Clone, Debug)]
pub struct PipelineInfo {
    pub key: String,
    pub made_ms: Option<f64>,
}

/// Holds each distinct (label, entry, defines) pipeline once; the 30 layers share them.
#[derive(Default)]
pub struct PipelineCache {
    map: Mutex<Vec<LazyPipeline>>,
    layouts: Mutex<HashMap<Vec<Slot>, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
}

impl PipelineCache {
    pub fn layout(&self, device: &wgpu::Device, sig: &[Slot]) -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        let mut layouts = self.layouts.lock().map_err(|_| Error::Gpu("pipeline cache poisoned".into()))?;
        if let Some(l) = layouts.get(sig) {
            return Ok(l.clone());
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = sig
            .iter()
            .enumerate()
            .map(|(i, s)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match s {
                    Slot::Texture => wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Uint,
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    _ => wgpu::BindingType::Buffer {
                        ty: match s {
                            Slot::Uniform => wgpu::BufferBindingType::Uniform,
                            Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                            _ => wgpu::BufferBindingType::Storage { read_only: false },
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: None,
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        layouts.insert(sig.to_vec(), (bgl.clone(), pl.clone()));
        Ok((bgl, pl))
    }

    /// The pipeline of `entry` in the assembled `parts`: its shader module made now, the
    /// pipeline on first use (`LazyPipeline::get`).
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        &self,
        device: &wgpu::Device,
        label: &str,
        entry: &str,
        parts: &[&str],
        defs: &Defines,
        sig: &[Slot],
    ) -> Result<LazyPipeline> {
        let key = format!("{label}|{entry}|{}", defs.key());
        let poisoned = || Error::Gpu("pipeline cache poisoned".into());
        if let Some(p) = self.map.lock().map_err(|_| poisoned())?.iter().find(|p| p.0.key == key) {
            return Ok(p.clone());
        }
        let (_, layout) = self.layout(device, sig)?;
        let src = assemble(parts, defs)?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        // On wasm32 wgpu's handles are neither Send nor Sync; there is one thread there.
        #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
        let pipeline = LazyPipeline(Arc::new(Lazy {
            device: device.clone(),
            key,
            label: label.to_string(),
            entry: entry.to_string(),
            module,
            layout,
            made: OnceLock::new(),
        }));
        self.map.lock().map_err(|_| poisoned())?.push(pipeline.clone());
        Ok(pipeline)
    }

    /// Every pipeline asked for so far, in the order first asked, and whether it was made.
    pub fn info(&self) -> Vec<PipelineInfo> {
        let map = self.map.lock().map(|m| m.clone()).unwrap_or_default();
        map.iter().map(|p| PipelineInfo { key: p.0.key.clone(), made_ms: p.0.made.get().map(|m| m.1) }).collect()
    }

    /// Makes every pipeline asked for so far (what a load did before they were made on
    /// first use; tests compare the two).
    pub fn make_all(&self) {
        let map = self.map.lock().map(|m| m.clone()).unwrap_or_default();
        map.iter().for_each(|p| {
            p.get();
        });
    }
}

/// A bind group over `buffers` in binding order, then `texture` if any.
pub fn bind(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    buffers: &[&wgpu::Buffer],
    texture: Option<&wgpu::TextureView>,
) -> wgpu::BindGroup {
    let mut entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    if let Some(view) = texture {
        entries.push(wgpu::BindGroupEntry {
            binding: buffers.len() as u32,
            resource: wgpu::BindingResource::TextureView(view),
        });
    }
    device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout, entries: &entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_else_endif_nest() {
        let d = Defines::new().flag("A", true).flag("B", false).u32("N", 3);
        let src = "x\n#if A\na\n#if B\nb\n#else\nnb\n#endif\n#else\nna\n#endif\n#if !B\nnotb\n#endif\ny";
        assert_eq!(preprocess(src, &d).unwrap(), "x\na\nnb\nnotb\ny\n");
        assert!(assemble(&["z"], &d)
            .unwrap()
            .starts_with("const A: bool = true;\nconst B: bool = false;\nconst N: u32 = 3u;\n"));
    }

    /// A pipeline that cannot be made (here: its entry point is missing) fails on first use,
    /// not at setup; the step that used it ends in a clear error at the next wait, never a
    /// panic, and the device goes on working.
    #[test]
    fn a_pipeline_that_fails_on_first_use_is_a_clear_error() {
        use crate::kernels::testutil::{buf_u32, kernels, run};
        let kern = kernels(crate::gpu::Variant::Row);
        let src = "@group(0) @binding(0) var<storage, read_write> out: array<u32>;
                   @compute @workgroup_size(1) fn main() { out[0] = 7u; }";
        let sig = [Slot::ReadWrite];
        let bad = kern.pipeline("missing_entry", "nope", &[src], &Defines::new(), &sig).expect("set up lazily");
        let good = kern.pipeline("fine", "main", &[src], &Defines::new(), &sig).unwrap();
        let out = buf_u32(&kern, &[0]);
        let bg = kern.bind(&sig, "out", &[&out]).unwrap();
        let step = |p: &LazyPipeline| {
            run(&kern, |pass| {
                pass.set_pipeline(p.get());
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            })
        };
        step(&bad);
        let err = pollster::block_on(kern.gpu.read_storage(&out, 0, 4)).unwrap_err();
        assert!(err.to_string().contains("the GPU reported an error"), "{err}");
        step(&good);
        assert_eq!(pollster::block_on(kern.gpu.read_storage(&out, 0, 4)).unwrap(), 7u32.to_le_bytes());
    }

    #[test]
    fn errors_not_silence() {
        let d = Defines::new();
        assert!(preprocess("#if NOPE\n#endif", &d).is_err());
        assert!(preprocess("#else", &d).is_err());
        assert!(preprocess("#endif", &d).is_err());
        assert!(preprocess("#if !NOPE", &Defines::new().flag("NOPE", true)).is_err());
    }
}
