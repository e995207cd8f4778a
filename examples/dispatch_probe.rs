//! What does one dispatch cost on this adapter, and an indirect dispatch of zero workgroups?
//! `cargo run --release --example dispatch_probe` records 200 dispatches of a trivial
//! kernel (4 workgroups of 64, each invocation adds to one word) in one compute pass, direct
//! and indirect with (4, 1, 1) and (0, 1, 1) workgroups, and prints the wall and CPU time
//! per dispatch (min of 6). The sampler chain's Row variant is ~30 such small dispatches a
//! step (src/sampling/gpu.rs), so their fixed cost decides its share of a decode step.

use samplescope::gpu::{Gpu, GpuOptions};
use wgpu::util::DeviceExt;

mod common;
use common::{compute_pipeline, time_per_call};

const SRC: &str = r#"
@group(0) @binding(0) var<storage, read_write> acc: array<atomic<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    atomicAdd(&acc[gid.x % 16u], 1u);
}
"#;

fn main() -> samplescope::Result<()> {
    let g = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let dev = &g.device;
    println!("{}", g.facts.name);
    let pipe = compute_pipeline(dev, SRC);
    let acc = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 64,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipe.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: acc.as_entire_binding() }],
    });
    let args = |n: u32| {
        dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&[n, 1, 1]),
            usage: wgpu::BufferUsages::INDIRECT,
        })
    };
    let (four, zero) = (args(4), args(0));
    const N: u32 = 200;
    for (name, ind) in [("direct (4,1,1)", None), ("indirect (4,1,1)", Some(&four)), ("indirect (0,1,1)", Some(&zero))]
    {
        // Pipeline and bind group set with each dispatch, as the decode step does.
        let (wall, cpu) = time_per_call(&g, N, |p| {
            p.set_pipeline(&pipe);
            p.set_bind_group(0, &bg, &[]);
            match ind {
                None => p.dispatch_workgroups(4, 1, 1),
                Some(b) => p.dispatch_workgroups_indirect(b, 0),
            }
        })?;
        println!("{name:<18} wall {:>7.1} µs   cpu {:>7.1} µs  per dispatch", wall * 1e3, cpu * 1e3);
    }
    Ok(())
}
