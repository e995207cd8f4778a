//! Would int8 activations with WGSL's packed 4×8-bit dot products (`dot4I8Packed`, the
//! `packed_4x8_integer_dot_product` language feature) beat the f32 matvec on this adapter?
//! `cargo run --release --example int8_probe` times, for the default model's shapes (Q4
//! gate and up stacked, 3072×576; a Q4 49152×576; the Q8_0 logits, 49152×576), one
//! activation row:
//! - `f32`: the engine's own row kernel (src/kernels/matmul.rs, weights in the texture);
//! - `dot4I8Packed`: the same tiling (8 weight rows an invocation, workgroups of 8, the
//!   same texture and scale words) with the activation row quantized to int8 per
//!   32-value block (Q8_1-style: d = max|x|/127, and s = d·Σq for the Q4_1 min term), four
//!   products per builtin call;
//! - `hand polyfill`: the same with the dot product written out with extractBits, which is
//!   what naga emits where the SPIR-V capability is missing (so the two lines tell whether
//!   the builtin reaches the driver as something faster).
//!   Each figure is the minimum over 6 submissions of 10 dispatches (wall and process CPU
//!   time, examples/common). The int8 output is checked against the f32 kernel's, to show the
//!   two compute the same product. Run on Chromium's SwiftShader with
//!   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.

use samplescope::gguf::GgmlType;
use samplescope::gpu::{Gpu, GpuOptions};
use samplescope::kernels::matmul::Matmul;
use samplescope::kernels::weights::{repack, split_for_texture, WeightFormat, TEX_WIDTH};
use samplescope::kernels::{Kernels, Rows};

mod common;
use common::{compute_pipeline, time_per_call};

const K: u32 = 576;
const KB: u32 = K / 32;

/// (name, type, N): K = 576 throughout.
const SHAPES: &[(&str, GgmlType, u32)] = &[
    ("gate+up Q4 (3072×576)", GgmlType::Q4_1, 3072),
    ("Q4 49152×576", GgmlType::Q4_1, 49152),
    ("logits Q8_0 (49152×576)", GgmlType::Q8_0, 49152),
];

/// The int8 matvec in the row kernels' shape. `q8`: Q8 texture blocks (two texels, bytes
/// 0..2 offset by 128), else Q4 (one texel of nibbles, (d, m) in the scale word).
fn shader(q8: bool, n: u32, builtin: bool) -> String {
    let dot = if builtin {
        "fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }"
    } else {
        "fn dot4(a: u32, b: u32) -> i32 {
    let x = bitcast<i32>(a);
    let y = bitcast<i32>(b);
    return extractBits(x, 0u, 8u) * extractBits(y, 0u, 8u) + extractBits(x, 8u, 8u) * extractBits(y, 8u, 8u)
         + extractBits(x, 16u, 8u) * extractBits(y, 16u, 8u) + extractBits(x, 24u, 8u) * extractBits(y, 24u, 8u);
}"
    };
    let block = if q8 {
        "let d = unpack2x16float(scales[blk]).x;
    let lo = texel(2u * blk) ^ vec4<u32>(0x00808080u);
    let hi = texel(2u * blk + 1u) ^ vec4<u32>(0x00808080u);
    let s = dot4(lo.x, xa.x) + dot4(lo.y, xa.y) + dot4(lo.z, xa.z) + dot4(lo.w, xa.w)
          + dot4(hi.x, xb.x) + dot4(hi.y, xb.y) + dot4(hi.z, xb.z) + dot4(hi.w, xb.w);
    return d * ds.x * f32(s);"
    } else {
        "let dm = unpack2x16float(scales[blk]);
    let q = texel(blk);
    let lo = q & vec4<u32>(0x0F0F0F0Fu);
    let hi = (q >> vec4<u32>(4u)) & vec4<u32>(0x0F0F0F0Fu);
    let s = dot4(lo.x, xa.x) + dot4(lo.y, xa.y) + dot4(lo.z, xa.z) + dot4(lo.w, xa.w)
          + dot4(hi.x, xb.x) + dot4(hi.y, xb.y) + dot4(hi.z, xb.z) + dot4(hi.w, xb.w);
    return dm.x * ds.x * f32(s) + dm.y * ds.y;"
    };
    format!(
        r#"const N: u32 = {n}u;
const KB: u32 = {KB}u;
const NG: u32 = N / 8u;
const TEX_W: u32 = {TEX_WIDTH}u;
@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> xq: array<vec4<u32>>;   // [KB, 2]: 32 int8 a block
@group(0) @binding(2) var<storage, read> xd: array<vec2<f32>>;   // [KB]: (d, d·Σq)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var quants: texture_2d<u32>;
fn texel(i: u32) -> vec4<u32> {{
    return textureLoad(quants, vec2<u32>(i % TEX_W, i / TEX_W), 0);
}}
{dot}
fn block_dot(blk: u32, xa: vec4<u32>, xb: vec4<u32>, ds: vec2<f32>) -> f32 {{
    {block}
}}
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let i = min(gid.x, NG - 1u);
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    var a4 = 0.0; var a5 = 0.0; var a6 = 0.0; var a7 = 0.0;
    for (var b = 0u; b < KB; b++) {{
        let xa = xq[2u * b];
        let xb = xq[2u * b + 1u];
        let ds = xd[b];
        a0 += block_dot(i * KB + b, xa, xb, ds);
        a1 += block_dot((i + NG) * KB + b, xa, xb, ds);
        a2 += block_dot((i + 2u * NG) * KB + b, xa, xb, ds);
        a3 += block_dot((i + 3u * NG) * KB + b, xa, xb, ds);
        a4 += block_dot((i + 4u * NG) * KB + b, xa, xb, ds);
        a5 += block_dot((i + 5u * NG) * KB + b, xa, xb, ds);
        a6 += block_dot((i + 6u * NG) * KB + b, xa, xb, ds);
        a7 += block_dot((i + 7u * NG) * KB + b, xa, xb, ds);
    }}
    if (gid.x < NG) {{
        y[i] = a0; y[i + NG] = a1; y[i + 2u * NG] = a2; y[i + 3u * NG] = a3;
        y[i + 4u * NG] = a4; y[i + 5u * NG] = a5; y[i + 6u * NG] = a6; y[i + 7u * NG] = a7;
    }}
}}
"#
    )
}

/// The activation quantizer on the GPU (as `quantize` below), one invocation a block, so the
/// probe can time it back to back with the matvec it feeds: a separate dispatch is what an
/// int8 path costs beyond its dot products.
const QUANTIZE: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> xq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> xd: array<vec2<f32>>;
fn pack(v: vec4<f32>, inv: f32) -> u32 {
    return pack4xI8(vec4<i32>(round(v * inv)));
}
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= arrayLength(&xd)) {
        return;
    }
    var m = vec4<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
        m = max(m, abs(x[8u * b + k]));
    }
    let d = max(max(m.x, m.y), max(m.z, m.w)) / 127.0;
    let inv = select(0.0, 1.0 / d, d > 0.0);
    var w: array<u32, 8>;
    var s = 0;
    for (var k = 0u; k < 8u; k++) {
        let q = vec4<i32>(round(x[8u * b + k] * inv));
        s += q.x + q.y + q.z + q.w;
        w[k] = pack4xI8(q);
    }
    xq[2u * b] = vec4<u32>(w[0], w[1], w[2], w[3]);
    xq[2u * b + 1u] = vec4<u32>(w[4], w[5], w[6], w[7]);
    xd[b] = vec2<f32>(d, d * f32(s));
}
"#;

/// Q8_1-style quantization of one row: per 32 values, d = max|x|/127, q = round(x/d), the
/// quants packed four to a u32 (element 4j+i in byte i of word j), and (d, d·Σq).
fn quantize(x: &[f32]) -> (Vec<u32>, Vec<[f32; 2]>) {
    let (mut q, mut ds) = (Vec::new(), Vec::new());
    for blk in x.chunks_exact(32) {
        let amax = blk.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        let qs: Vec<i32> = blk.iter().map(|v| (v * inv).round() as i32).collect();
        for w in qs.chunks_exact(4) {
            q.push(w.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | ((v as u8 as u32) << (8 * i))));
        }
        ds.push([d, d * qs.iter().sum::<i32>() as f32]);
    }
    (q, ds)
}

fn main() -> samplescope::Result<()> {
    let opts = GpuOptions { variant: Some(samplescope::gpu::Variant::Row), ..Default::default() };
    let kern = Kernels::new(pollster::block_on(Gpu::new(opts))?);
    let g = kern.gpu.clone();
    let lang = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle()).wgsl_language_features();
    println!("{} ({}), row kernels", g.facts.name, g.facts.driver);
    println!(
        "wgsl_language_features has packed_4x8_integer_dot_product: {}",
        lang.contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct)
    );
    println!("{:<26} {:<16} {:>9} {:>9} {:>8}", "matvec, M = 1", "kernel", "wall ms", "cpu ms", "GMAC/s");
    let xs: Vec<f32> = (0..K).map(|i| ((i * 37) % 1000) as f32 / 500.0 - 1.0).collect();
    let (xq, xds) = quantize(&xs);
    for &(name, ty, n) in SHAPES {
        let nw = (n * K) as usize;
        let (bpb, head) = if ty == GgmlType::Q8_0 { (34, 2) } else { (20, 4) };
        let mut state = 0x9E37_79B9u32;
        let mut bytes: Vec<u8> = (0..nw / 32 * bpb)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        for blk in bytes.chunks_mut(bpb) {
            blk[..2].copy_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
            if head == 4 {
                blk[2..4].copy_from_slice(&half::f16::from_f32(-0.05).to_bits().to_le_bytes());
            }
        }
        let fmt = WeightFormat::for_type(ty)?;
        let words = repack(ty, &bytes, nw)?;
        let (scales, texels, rows) = split_for_texture(fmt, &words)?;
        let tex = g.texture_u32x4("quants", TEX_WIDTH, rows, &texels)?;
        let view = tex.create_view(&Default::default());
        let w = g.storage_init("w", bytemuck::cast_slice(&scales))?;

        // The engine's f32 kernel.
        let mm = Matmul::new(&kern, fmt.texture_form().unwrap(), K, n, false, false)?;
        let rows_u = g.uniform_init("rows", bytemuck::bytes_of(&Rows::new(1, 0)));
        let x = g.storage_init("x", bytemuck::cast_slice(&xs))?;
        let y = g.storage("y", n as u64 * 4)?;
        let bg = mm.bind(&kern, &rows_u, &w, Some(&view), &x, &y)?;
        let (wall, cpu) = time_per_call(&g, 10, |p| mm.record(p, &bg, 1))?;
        println!("{name:<26} {:<16} {wall:>9.3} {cpu:>9.3} {:>8.2}", "f32", nw as f64 / (wall * 1e6));
        let want = pollster::block_on(g.read_f32(&y, n as usize))?;

        let xqb = g.storage_init("xq", bytemuck::cast_slice(&xq))?;
        let xdb = g.storage_init("xd", bytemuck::cast_slice(&xds))?;
        for builtin in [true, false] {
            let pipe = compute_pipeline(&g.device, &shader(ty == GgmlType::Q8_0, n, builtin));
            let y8 = g.storage("y8", n as u64 * 4)?;
            let entries = [
                wgpu::BindGroupEntry { binding: 0, resource: w.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: xqb.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: xdb.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: y8.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: wgpu::BindingResource::TextureView(&view) },
            ];
            let bg8 = g.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipe.get_bind_group_layout(0),
                entries: &entries,
            });
            let (wall, cpu) = time_per_call(&g, 10, |p| {
                p.set_pipeline(&pipe);
                p.set_bind_group(0, &bg8, &[]);
                p.dispatch_workgroups((n / 8).div_ceil(8), 1, 1);
            })?;
            let label = if builtin { "dot4I8Packed" } else { "hand polyfill" };
            println!("{:<26} {label:<16} {wall:>9.3} {cpu:>9.3} {:>8.2}", "", nw as f64 / (wall * 1e6));
            let got = pollster::block_on(g.read_f32(&y8, n as usize))?;
            let (err, mag) =
                got.iter().zip(&want).fold((0f32, 0f32), |(e, m), (a, b)| (e.max((a - b).abs()), m.max(b.abs())));
            if builtin {
                println!("{:<26} max |int8 − f32| = {err:.3e} (max |y| {mag:.3})", "");
                // The quantizer and the matvec back to back, as a step would run them.
                let qpipe = compute_pipeline(&g.device, QUANTIZE);
                let (gq, gd) = (g.storage("gq", xq.len() as u64 * 4)?, g.storage("gd", xds.len() as u64 * 8)?);
                let qbg = g.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &qpipe.get_bind_group_layout(0),
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: x.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: gq.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 2, resource: gd.as_entire_binding() },
                    ],
                });
                let (wall, cpu) = time_per_call(&g, 10, |p| {
                    p.set_pipeline(&qpipe);
                    p.set_bind_group(0, &qbg, &[]);
                    p.dispatch_workgroups(KB.div_ceil(32), 1, 1);
                    p.set_pipeline(&pipe);
                    p.set_bind_group(0, &bg8, &[]);
                    p.dispatch_workgroups((n / 8).div_ceil(8), 1, 1);
                })?;
                println!("{:<26} {:<16} {wall:>9.3} {cpu:>9.3} {:>8.2}", "", "quantize+dot4", nw as f64 / (wall * 1e6));
                let gqv: Vec<u32> =
                    pollster::block_on(g.read_f32(&gq, xq.len()))?.iter().map(|f| f.to_bits()).collect();
                let same = gqv.iter().zip(&xq).filter(|(a, b)| a == b).count();
                if name.starts_with("gate") {
                    println!("{:<26} GPU quantizer words equal to the CPU's: {same} of {}", "", xq.len());
                }
            }
        }
    }
    Ok(())
}
