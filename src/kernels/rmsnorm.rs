//! Launcher for shaders/rmsnorm.wgsl.

use super::{groups, Kernels, COMMON};
use crate::error::Result;
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};

const SRC: &str = include_str!("../../shaders/rmsnorm.wgsl");
const SIG: &[Slot] = &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite];

pub struct RmsNorm {
    pipe: LazyPipeline,
}

impl RmsNorm {
    /// y = norm(x)·g.
    pub fn new(kern: &Kernels, d: u32, eps: f32) -> Result<Self> {
        Self::with(kern, d, eps, false)
    }

    /// y += norm(x)·g (a normed residual add).
    pub fn adding(kern: &Kernels, d: u32, eps: f32) -> Result<Self> {
        Self::with(kern, d, eps, true)
    }

    fn with(kern: &Kernels, d: u32, eps: f32, add: bool) -> Result<Self> {
        let defs = Defines::new().u32("D", d).f32("EPS", eps).flag("ADD", add);
        Ok(RmsNorm { pipe: kern.pipeline("rmsnorm", "main", &[COMMON, SRC], &defs, SIG)? })
    }

    pub fn bind(
        &self,
        kern: &Kernels,
        rows: &wgpu::Buffer,
        x: &wgpu::Buffer,
        g: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        kern.bind(SIG, "rmsnorm", &[rows, x, g, y])
    }

    pub fn record(&self, pass: &mut impl Dispatch, bg: &wgpu::BindGroup, m: u32) {
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups(m, 64), 1, 1);
    }
}

/// CPU reference (also used by the CPU forward pass).
pub fn rmsnorm_ref(x: &[f32], g: &[f32], eps: f32) -> Vec<f32> {
    let ss: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    let scale = 1.0 / (ss / x.len() as f64 + eps as f64).sqrt();
    x.iter().zip(g).map(|(&v, &w)| (v as f64 * scale * w as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::gpu::Variant;

    #[test]
    fn matches_cpu_reference() {
        check(false);
        check(true);
    }

    fn check(add: bool) {
        let kern = kernels(Variant::Row);
        let mut rng = rand::rng();
        let (d, total, m, row0) = (96usize, 7usize, 3usize, 4usize);
        let x = rand_vec(&mut rng, total * d, 3.0);
        let g = rand_vec(&mut rng, d, 1.5);
        let y0 = if add { rand_vec(&mut rng, m * d, 3.0) } else { vec![0.0; m * d] };
        let norm = RmsNorm::with(&kern, d as u32, 1e-5, add).unwrap();
        let (rb, xb, gb, yb) = (rows(&kern, m as u32, row0 as u32), buf(&kern, &x), buf(&kern, &g), buf(&kern, &y0));
        let bg = norm.bind(&kern, &rb, &xb, &gb, &yb).unwrap();
        run(&kern, |p| norm.record(p, &bg, m as u32));
        let got = read(&kern, &yb, m * d);
        let want: Vec<f32> =
            (0..m).flat_map(|i| rmsnorm_ref(&x[(row0 + i) * d..(row0 + i + 1) * d], &g, 1e-5)).collect();
        let want: Vec<f32> = want.iter().zip(&y0).map(|(w, y)| w + y).collect();
        // Each output is one product of an f32 sum of d squares: relative error ~ d·eps;
        // the add one more rounding of the larger term.
        let scale: Vec<f32> = want.iter().zip(&y0).map(|(v, y)| v.abs() + y.abs()).collect();
        assert_close("rmsnorm", &got, &want, &scale, 2e-5, 1e-6);
    }
}
