//! Recording dispatches, optionally timed per dispatch with timestamp queries.
//!
//! Normally every dispatch of a step goes into one compute pass. For profiling, each one
//! gets its own pass with begin/end timestamps, so the benchmark can print a table of GPU
//! time per kernel family and the next optimisation is chosen from data.
//!
//! The Recorder also counts what a step records: its ops, and the dispatch calls made
//! through [`Pass`] (the performance model's dispatch floor is dispatches × the cost of an
//! empty one). A kernel counts once its `record` takes `&mut impl Dispatch` instead of a
//! plain `wgpu::ComputePass`; one that still takes the plain pass runs as before, uncounted.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};

use crate::error::{Error, Result};
use crate::gpu::shader::LazyPipeline;
use crate::gpu::Gpu;

/// What a kernel's `record` needs of a compute pass: implemented by the plain pass (tests,
/// one-off dispatches) and by [`Pass`], which counts the dispatches.
pub trait Dispatch {
    /// Sets `pipeline`, making it first if this is its first use.
    fn set_pipeline(&mut self, pipeline: &LazyPipeline);
    fn set_bind_group(&mut self, index: u32, bind_group: &wgpu::BindGroup, offsets: &[u32]);
    fn dispatch_workgroups(&mut self, x: u32, y: u32, z: u32);
}

impl Dispatch for wgpu::ComputePass<'_> {
    fn set_pipeline(&mut self, pipeline: &LazyPipeline) {
        wgpu::ComputePass::set_pipeline(self, pipeline.get())
    }
    fn set_bind_group(&mut self, index: u32, bind_group: &wgpu::BindGroup, offsets: &[u32]) {
        wgpu::ComputePass::set_bind_group(self, index, bind_group, offsets)
    }
    fn dispatch_workgroups(&mut self, x: u32, y: u32, z: u32) {
        wgpu::ComputePass::dispatch_workgroups(self, x, y, z)
    }
}

/// The pass an op records into: a compute pass that counts its dispatch calls. It derefs to
/// the plain pass, so a kernel that takes `&mut wgpu::ComputePass` still records (uncounted).
pub struct Pass<'p> {
    inner: &'p mut wgpu::ComputePass<'static>,
    dispatches: &'p mut u32,
}

impl Dispatch for Pass<'_> {
    fn set_pipeline(&mut self, pipeline: &LazyPipeline) {
        self.inner.set_pipeline(pipeline.get())
    }
    fn set_bind_group(&mut self, index: u32, bind_group: &wgpu::BindGroup, offsets: &[u32]) {
        self.inner.set_bind_group(index, bind_group, offsets)
    }
    fn dispatch_workgroups(&mut self, x: u32, y: u32, z: u32) {
        *self.dispatches += 1;
        self.inner.dispatch_workgroups(x, y, z)
    }
}

impl Deref for Pass<'_> {
    type Target = wgpu::ComputePass<'static>;
    fn deref(&self) -> &Self::Target {
        self.inner
    }
}

impl DerefMut for Pass<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.inner
    }
}

/// Ops and counted dispatches of one recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ops: u32,
    pub dispatches: u32,
}

thread_local! {
    static LAST: Cell<Counts> = const { Cell::new(Counts { ops: 0, dispatches: 0 }) };
}

/// The counts of the last recording finished on this thread (a step's submit records and
/// finishes on the caller's thread; the bench reads them right after).
pub fn last_counts() -> Counts {
    LAST.with(|c| c.get())
}

pub struct Recorder<'e> {
    enc: &'e mut wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    timing: Option<(&'e wgpu::QuerySet, Vec<&'static str>)>,
    counts: Counts,
}

impl<'e> Recorder<'e> {
    /// All dispatches in one pass.
    pub fn new(enc: &'e mut wgpu::CommandEncoder) -> Self {
        let pass = enc
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None })
            .forget_lifetime();
        Recorder { enc, pass: Some(pass), timing: None, counts: Counts::default() }
    }

    /// One pass per dispatch, timed into `queries` (two per dispatch).
    pub fn timed(enc: &'e mut wgpu::CommandEncoder, queries: &'e wgpu::QuerySet) -> Self {
        Recorder { enc, pass: None, timing: Some((queries, Vec::new())), counts: Counts::default() }
    }

    /// Records one dispatch (or a few that belong together) under a kernel-family label.
    pub fn op(&mut self, label: &'static str, f: impl FnOnce(&mut Pass)) {
        self.counts.ops += 1;
        let dispatches = &mut self.counts.dispatches;
        match (&mut self.pass, &mut self.timing) {
            (Some(pass), _) => f(&mut Pass { inner: pass, dispatches }),
            (None, Some((qs, labels))) => {
                let i = labels.len() as u32;
                labels.push(label);
                let pass = self.enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: qs,
                        beginning_of_pass_write_index: Some(2 * i),
                        end_of_pass_write_index: Some(2 * i + 1),
                    }),
                });
                f(&mut Pass { inner: &mut pass.forget_lifetime(), dispatches });
            }
            (None, None) => {}
        }
    }

    /// Ends the pass; returns the labels of the timed dispatches (empty when not timing).
    /// Also keeps the counts for [`last_counts`].
    pub fn finish(mut self) -> Vec<&'static str> {
        self.pass.take();
        LAST.with(|c| c.set(self.counts));
        self.timing.map(|(_, l)| l).unwrap_or_default()
    }
}

/// GPU time per kernel family: (label, calls, milliseconds), in first-seen order.
pub type KernelTimes = Vec<(&'static str, u32, f64)>;

pub struct Timer {
    pub queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    count: u32,
}

impl Timer {
    pub fn new(gpu: &Gpu, max_ops: u32) -> Result<Timer> {
        if !gpu.facts.has_timestamps {
            return Err(Error::Unsupported(format!("{} has no timestamp queries", gpu.facts.name)));
        }
        let count = 2 * max_ops;
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timer"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timer_resolve"),
            size: 8 * count as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Ok(Timer { queries, resolve, count })
    }

    /// Resolves the timestamps of `labels` (recorded into `enc` by a timed Recorder),
    /// submits, and sums the durations per label.
    pub async fn read(&self, gpu: &Gpu, mut enc: wgpu::CommandEncoder, labels: &[&'static str]) -> Result<KernelTimes> {
        let n = (2 * labels.len() as u32).min(self.count);
        enc.resolve_query_set(&self.queries, 0..n, &self.resolve, 0);
        let staging = gpu.readback_buffer("timer_staging", 8 * n as u64);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &staging, 0, 8 * n as u64);
        gpu.queue.submit([enc.finish()]);
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&gpu.read_mapped(&staging, 8 * n as u64).await?);
        let ns_per_tick = gpu.queue.get_timestamp_period() as f64;
        let mut out: KernelTimes = Vec::new();
        for (i, &label) in labels.iter().enumerate().take(n as usize / 2) {
            let ms = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * ns_per_tick / 1e6;
            match out.iter_mut().find(|(l, _, _)| *l == label) {
                Some(e) => {
                    e.1 += 1;
                    e.2 += ms;
                }
                None => out.push((label, 1, ms)),
            }
        }
        Ok(out)
    }
}

/// The cost of one empty dispatch on the adapter: the dispatch floor's unit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DispatchCost {
    /// Microseconds per dispatch, the figure the floor uses: `timestamp_us` where the adapter
    /// has timestamp queries, else `wall_us`.
    pub us: f64,
    /// "timestamp queries" or "wall clock".
    pub timed_by: &'static str,
    /// GPU time of the pass ÷ its dispatches (the best of 5 passes).
    pub timestamp_us: Option<f64>,
    /// (submit-to-done of the pass − of the same pass without dispatches) ÷ its dispatches,
    /// the best of 5 each.
    pub wall_us: f64,
    /// Dispatches in the timed pass.
    pub per_pass: u32,
}

/// Measures [`DispatchCost`]: one pass of `EMPTY_DISPATCHES` one-workgroup dispatches of a
/// shader that does nothing, each with its own pipeline and bind group change (two of each,
/// alternating, as a step changes them at every dispatch), in one submit.
pub async fn empty_dispatch_cost(gpu: &Gpu) -> Result<DispatchCost> {
    const K: u32 = EMPTY_DISPATCHES;
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("empty_dispatch"),
        source: wgpu::ShaderSource::Wgsl(
            "@group(0) @binding(0) var<storage, read_write> out: array<u32>;
             @compute @workgroup_size(64)
             fn main(@builtin(global_invocation_id) id: vec3<u32>) {
                 if (id.x == 0xffffffffu) { out[0] = 1u; }
             }"
            .into(),
        ),
    });
    let pipe = || {
        gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("empty_dispatch"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let pipes = [pipe(), pipe()];
    let buf = gpu.storage("empty_dispatch", 16)?;
    let bgs: Vec<wgpu::BindGroup> = pipes
        .iter()
        .map(|p| {
            gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("empty_dispatch"),
                layout: &p.get_bind_group_layout(0),
                entries: &[wgpu::BindGroupEntry { binding: 0, resource: buf.as_entire_binding() }],
            })
        })
        .collect();
    let timer = if gpu.facts.has_timestamps { Some(Timer::new(gpu, 1)?) } else { None };
    let (timer, pipes, bgs, buf) = (&timer, &pipes, &bgs, &buf);
    // One pass of `k` dispatches; returns (wall ms from submit to done, GPU ms of the pass).
    let run = |k: u32| async move {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("empty_dispatch"),
                timestamp_writes: timer.as_ref().map(|t| wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            for i in 0..k as usize {
                pass.set_pipeline(&pipes[i % 2]);
                pass.set_bind_group(0, &bgs[i % 2], &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        let t = web_time::Instant::now();
        let gpu_ms = match timer {
            Some(timer) => timer.read(gpu, enc, &["empty"]).await?.first().map(|e| e.2),
            None => {
                gpu.queue.submit([enc.finish()]);
                gpu.read_storage(buf, 0, 4).await?;
                None
            }
        };
        Ok::<_, Error>((t.elapsed().as_secs_f64() * 1e3, gpu_ms))
    };
    run(K).await?; // compiles the pipelines
    let (mut wall_k, mut wall_0, mut gpu_k) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..5 {
        let (w, g) = run(K).await?;
        wall_k = wall_k.min(w);
        gpu_k = gpu_k.min(g.unwrap_or(f64::MAX));
        wall_0 = wall_0.min(run(0).await?.0);
    }
    let wall_us = (wall_k - wall_0).max(0.0) * 1e3 / K as f64;
    let timestamp_us = timer.as_ref().map(|_| gpu_k * 1e3 / K as f64);
    Ok(DispatchCost {
        us: timestamp_us.unwrap_or(wall_us),
        timed_by: if timestamp_us.is_some() { "timestamp queries" } else { "wall clock" },
        timestamp_us,
        wall_us,
        per_pass: K,
    })
}

/// Dispatches in the pass [`empty_dispatch_cost`] times.
pub const EMPTY_DISPATCHES: u32 = 512;
