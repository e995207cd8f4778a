//! Shared by the probes in examples/ (`mod common;`).

/// CPU time of every thread of this process so far, in ns (Linux; 0 elsewhere). On a
/// software adapter the "GPU" is this process's threads, so CPU time is what a busy machine
/// distorts least.
pub fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A compute pipeline with its layout derived from the WGSL (`main` entry point).
#[allow(dead_code)]
pub fn compute_pipeline(dev: &wgpu::Device, wgsl: &str) -> wgpu::ComputePipeline {
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
    });
    dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// Times `record` (one dispatch, or a few that belong together): 6 submissions of one
/// compute pass that calls it `reps` times; returns the minimum (wall ms, CPU ms) per call.
#[allow(dead_code)]
pub fn time_per_call(
    g: &samplescope::gpu::Gpu,
    reps: u32,
    mut record: impl FnMut(&mut wgpu::ComputePass),
) -> samplescope::Result<(f64, f64)> {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    for _ in 0..6 {
        let (t, c) = (std::time::Instant::now(), cpu_ns());
        let mut enc = g.device.create_command_encoder(&Default::default());
        {
            let mut p = enc.begin_compute_pass(&Default::default());
            (0..reps).for_each(|_| record(&mut p));
        }
        g.queue.submit([enc.finish()]);
        g.wait_idle()?;
        wall = wall.min(t.elapsed().as_secs_f64() * 1e3 / reps as f64);
        cpu = cpu.min((cpu_ns() - c) as f64 / 1e6 / reps as f64);
    }
    Ok((wall, cpu))
}
