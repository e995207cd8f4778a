//! Would Q4 weights read as `rgba32uint` texels beat storage-buffer words on a software
//! adapter? `cargo run --release --example texture_probe` times one matvec (K = 576,
//! N = 2048, one activation row) written both ways with the same
//! arithmetic as the software matmul (8 weight rows per invocation, nibbles converted in
//! place; N = 2048, the device's default texture limit). Buffer: a block is 5 u32 loads. Texture: one texel fetch (the block's 16 bytes of
//! nibbles) plus one u32 load for (d, m). On SwiftShader every non-constant-index buffer
//! load is an emulated 4-lane gather (docs/BENCHMARKS.md), which a texel fetch might avoid.
//! Weights are random; timing only (both variants' outputs are compared, so they compute
//! the same thing). Run natively on Chromium's SwiftShader with
//! VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.

use samplescope::gpu::{Gpu, GpuOptions};
use wgpu::util::DeviceExt;

const K: u32 = 576;
const N: u32 = 2048;
const KB: u32 = K / 32;

mod common;
use common::{compute_pipeline, time_per_call};

fn shader(texture: bool) -> String {
    let (decl, words) = if texture {
        (
            "@group(0) @binding(1) var<storage, read> scales: array<u32>;\n@group(0) @binding(4) var nibbles: texture_2d<u32>;",
            "let dm = unpack2x16float(scales[row * KB + b]);\n    let t = textureLoad(nibbles, vec2<u32>(b, row), 0);\n    let q0 = t.x; let q1 = t.y; let q2 = t.z; let q3 = t.w;",
        )
    } else {
        (
            "@group(0) @binding(1) var<storage, read> weights: array<u32>;",
            "let w = (row * KB + b) * 5u;\n    let dm = unpack2x16float(weights[w]);\n    let q0 = weights[w + 1u]; let q1 = weights[w + 2u]; let q2 = weights[w + 3u]; let q3 = weights[w + 4u];",
        )
    };
    format!(
        r#"const K: u32 = {K}u;
const N: u32 = {N}u;
const KB: u32 = {KB}u;
const NG: u32 = N / 8u;
{decl}
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
const SLO: vec4<f32> = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16777216.0);
const SHI: vec4<f32> = vec4<f32>(1.0 / 16.0, 1.0 / 4096.0, 1.0 / 1048576.0, 1.0);
fn lo(q: u32) -> vec4<f32> {{
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) & vec4<u32>(0xFu, 0xF00u, 0xF0000u, 0xF000000u)));
}}
fn hi(q: u32) -> vec4<f32> {{
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q, q, q, q >> 28u) & vec4<u32>(0xF0u, 0xF000u, 0xF00000u, 0xFu)));
}}
fn block_dot(row: u32, b: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>,
             x4: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>, sx: f32) -> f32 {{
    {words}
    let s = lo(q0) * x0 + lo(q1) * x1 + lo(q2) * x2 + lo(q3) * x3 + hi(q0) * x4 + hi(q1) * x5 + hi(q2) * x6 + hi(q3) * x7;
    return dm.x * (s.x + s.y + s.z + s.w) + dm.y * sx;
}}
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let i = min(gid.x, NG - 1u);
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    var a4 = 0.0; var a5 = 0.0; var a6 = 0.0; var a7 = 0.0;
    for (var b = 0u; b < KB; b++) {{
        let y0 = x[b * 8u]; let y1 = x[b * 8u + 1u]; let y2 = x[b * 8u + 2u]; let y3 = x[b * 8u + 3u];
        let y4 = x[b * 8u + 4u]; let y5 = x[b * 8u + 5u]; let y6 = x[b * 8u + 6u]; let y7 = x[b * 8u + 7u];
        let t = y0 + y1 + y2 + y3 + y4 + y5 + y6 + y7;
        let sx = t.x + t.y + t.z + t.w;
        let x0 = y0 * SLO; let x1 = y1 * SLO; let x2 = y2 * SLO; let x3 = y3 * SLO;
        let x4 = y4 * SHI; let x5 = y5 * SHI; let x6 = y6 * SHI; let x7 = y7 * SHI;
        a0 += block_dot(i, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a1 += block_dot(i + NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a2 += block_dot(i + 2u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a3 += block_dot(i + 3u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a4 += block_dot(i + 4u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a5 += block_dot(i + 5u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a6 += block_dot(i + 6u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a7 += block_dot(i + 7u * NG, b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
    }}
    if (gid.x < NG) {{
        y[i] = a0; y[i + NG] = a1; y[i + 2u * NG] = a2; y[i + 3u * NG] = a3;
        y[i + 4u * NG] = a4; y[i + 5u * NG] = a5; y[i + 6u * NG] = a6; y[i + 7u * NG] = a7;
    }}
}}
"#
    )
}

fn main() -> samplescope::Result<()> {
    let g = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let (dev, q) = (&g.device, &g.queue);
    println!("{}", g.facts.name);
    // Random Q4 blocks: word 0 = (d, m) as f16 pair, words 1..4 the nibbles.
    let mut state = 0x1234_5678u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let dm = half::f16::from_f32(0.01).to_bits() as u32 | (half::f16::from_f32(-0.05).to_bits() as u32) << 16;
    let blocks = (N * KB) as usize;
    let nib: Vec<u32> = (0..blocks * 4).map(|_| next()).collect();
    let mut words = Vec::with_capacity(blocks * 5);
    for blk in 0..blocks {
        words.push(dm);
        words.extend_from_slice(&nib[blk * 4..blk * 4 + 4]);
    }
    let storage = |label, data: &[u8]| {
        dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: data,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    };
    let w_buf = storage("weights", bytemuck::cast_slice(&words));
    let s_buf = storage("scales", bytemuck::cast_slice(&vec![dm; blocks]));
    let xs: Vec<f32> = (0..K).map(|i| (i % 100) as f32 / 100.0 - 0.5).collect();
    let x_buf = storage("x", bytemuck::cast_slice(&xs));
    let tex = dev.create_texture_with_data(
        q,
        &wgpu::TextureDescriptor {
            label: Some("nibbles"),
            size: wgpu::Extent3d { width: KB, height: N, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        },
        wgpu::util::TextureDataOrder::LayerMajor,
        bytemuck::cast_slice(&nib),
    );
    let view = tex.create_view(&Default::default());
    let mut outs = Vec::new();
    for texture in [false, true] {
        let pipe = compute_pipeline(dev, &shader(texture));
        let y_buf = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: N as u64 * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 1,
                resource: if texture { s_buf.as_entire_binding() } else { w_buf.as_entire_binding() },
            },
            wgpu::BindGroupEntry { binding: 2, resource: x_buf.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 3, resource: y_buf.as_entire_binding() },
        ];
        if texture {
            entries.push(wgpu::BindGroupEntry { binding: 4, resource: wgpu::BindingResource::TextureView(&view) });
        }
        let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &entries,
        });
        let (wall, cpu) = time_per_call(&g, 10, |p| {
            p.set_pipeline(&pipe);
            p.set_bind_group(0, &bg, &[]);
            p.dispatch_workgroups((N / 8).div_ceil(8), 1, 1);
        })?;
        let name = if texture { "texel fetch + 1 load" } else { "5 buffer loads" };
        println!("{name:<22} wall {wall:>8.3} ms   cpu {cpu:>8.3} ms");
        outs.push(pollster::block_on(g.read_f32(&y_buf, N as usize))?);
    }
    let diff = outs[0].iter().zip(&outs[1]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!("max |buffer - texture| = {diff:e}");
    Ok(())
}
