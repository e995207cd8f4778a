//! Times the matmul kernel alone on this machine's adapter, for the default model's shapes:
//! `cargo run --release --example matmul_probe [-- M...]` (activation rows, default 1 16).
//!
//! For choosing a tiling (shaders/matmul.wgsl, `Shape` in src/kernels/matmul.rs) from data:
//! each figure is the minimum over 6 submissions of 10 dispatches, as wall time and as CPU
//! time of the whole process (on a software adapter the "GPU" is this process's threads, so
//! CPU time is what a busy machine distorts least). Weights are random; timing only.

use samplescope::gguf::GgmlType;
use samplescope::gpu::Variant;
use samplescope::gpu::{Gpu, GpuOptions};
use samplescope::kernels::matmul::Matmul;
use samplescope::kernels::weights::{repack, split_for_texture, WeightFormat, TEX_WIDTH};
use samplescope::kernels::{Kernels, Rows};

mod common;
use common::time_per_call;

/// SmolLM2-135M's matmuls: (name, type, K, N, gate·up fused).
const SHAPES: &[(&str, GgmlType, u32, u32, bool)] = &[
    ("q (576×576)", GgmlType::Q4_1, 576, 576, false),
    ("k, v (192×576)", GgmlType::Q4_1, 576, 192, false),
    ("gate·up (2·1536×576)", GgmlType::Q4_1, 576, 1536, true),
    ("down (576×1536)", GgmlType::Q4_1, 1536, 576, false),
    ("logits (49152×576, Q8_0)", GgmlType::Q8_0, 576, 49152, false),
];

fn main() -> samplescope::Result<()> {
    let ms: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let ms = if ms.is_empty() { vec![1, 16] } else { ms };
    let kern = Kernels::new(pollster::block_on(Gpu::new(GpuOptions::default()))?);
    let g = kern.gpu.clone();
    println!(
        "{} ({} kernels; with the row kernels Q4 and Q8 in textures, as the model loads them)",
        g.facts.name,
        kern.variant().name()
    );
    println!("{:<26} {:>4} {:>10} {:>10} {:>8}", "matmul", "M", "wall ms", "cpu ms", "GMAC/s");
    for &(name, ty, k, n, glu) in SHAPES {
        let wrows = if glu { 2 * n } else { n } as usize;
        let nw = wrows * k as usize;
        // Random bytes with sane scales: block layout is (f16 d[, f16 m], quants).
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
        // As the model uploads them: Q4 and Q8 in their texture form for the row kernels.
        let (fmt, words) = (WeightFormat::for_type(ty)?, repack(ty, &bytes, nw)?);
        let (fmt, w, tex) = match fmt.texture_form().filter(|_| kern.variant() == Variant::Row) {
            Some(tex_fmt) => {
                let (scales, texels, rows) = split_for_texture(fmt, &words)?;
                let tex = g.texture_u32x4("quants", TEX_WIDTH, rows, &texels)?;
                (
                    tex_fmt,
                    g.storage_init("w", bytemuck::cast_slice(&scales))?,
                    Some(tex.create_view(&Default::default())),
                )
            }
            None => (fmt, g.storage_init("w", bytemuck::cast_slice(&words))?, None),
        };
        let mm = Matmul::new(&kern, fmt, k, n, false, glu)?;
        for &m in &ms {
            let rows = g.uniform_init("rows", bytemuck::bytes_of(&Rows::new(m, 0)));
            let xs: Vec<f32> = (0..m * k).map(|i| (i % 1000) as f32 / 1000.0 - 0.5).collect();
            let x = g.storage_init("x", bytemuck::cast_slice(&xs))?;
            let y = g.storage("y", (m * n * 4) as u64)?;
            let bg = mm.bind(&kern, &rows, &w, tex.as_ref(), &x, &y)?;
            let (wall, cpu) = time_per_call(&g, 10, |p| mm.record(p, &bg, m))?;
            let gmac = (nw as f64 * m as f64) / (wall * 1e6);
            println!("{name:<26} {m:>4} {wall:>10.3} {cpu:>10.3} {gmac:>8.2}");
        }
    }
    Ok(())
}
