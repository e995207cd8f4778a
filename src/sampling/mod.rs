//! Sampling: `SamplerConfig` (what a lane asks for), the GPU sampler chain that runs it as
//! compute passes over the logits buffer, the CPU reference chain that defines it (DESIGN.md,
//! "Sampler semantics"), Philox4x32-10 for the dice, and the step inspector.

pub mod config;
pub mod cpu;
pub mod philox;

pub use config::{SamplerConfig, TemperaturePosition};
