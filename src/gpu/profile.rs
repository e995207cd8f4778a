//! Recording dispatches, optionally timed per dispatch with timestamp queries.
//!
//! Normally every dispatch of a step goes into one compute pass. For profiling, each one
//! gets its own pass with begin/end timestamps, so the benchmark can print a table of GPU
//! time per kernel family and the next optimisation is chosen from data.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

pub struct Recorder<'e> {
    enc: &'e mut wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    timing: Option<(&'e wgpu::QuerySet, Vec<&'static str>)>,
}

impl<'e> Recorder<'e> {
    /// All dispatches in one pass.
    pub fn new(enc: &'e mut wgpu::CommandEncoder) -> Self {
        let pass = enc
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None })
            .forget_lifetime();
        Recorder { enc, pass: Some(pass), timing: None }
    }

    /// One pass per dispatch, timed into `queries` (two per dispatch).
    pub fn timed(enc: &'e mut wgpu::CommandEncoder, queries: &'e wgpu::QuerySet) -> Self {
        Recorder { enc, pass: None, timing: Some((queries, Vec::new())) }
    }

    /// Records one dispatch (or a few that belong together) under a kernel-family label.
    pub fn op(&mut self, label: &'static str, f: impl FnOnce(&mut wgpu::ComputePass)) {
        match (&mut self.pass, &mut self.timing) {
            (Some(pass), _) => f(pass),
            (None, Some((qs, labels))) => {
                let i = labels.len() as u32;
                labels.push(label);
                let mut pass = self.enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: qs,
                        beginning_of_pass_write_index: Some(2 * i),
                        end_of_pass_write_index: Some(2 * i + 1),
                    }),
                });
                f(&mut pass);
            }
            (None, None) => {}
        }
    }

    /// Ends the pass; returns the labels of the timed dispatches (empty when not timing).
    pub fn finish(mut self) -> Vec<&'static str> {
        self.pass.take();
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
