//! Sampling: `SamplerConfig` (what a lane asks for), the GPU sampler chain that runs it as
//! compute passes over the logits buffer, the CPU reference chain that defines it (DESIGN.md,
//! "Sampler semantics"), Philox4x32-10 for the dice, and the step inspector.
//!
//! Wiring into a decode loop (see `SamplerChain` for the details):
//! 1. load: `SamplerChain::new(&kernels, vocab, max_lanes)`, then `chain.bind(&kernels,
//!    &logits, &tokens)` with the forward pass's own buffers;
//! 2. per generation: `binding.set_params(&gpu, &[LaneParams::new(&cfg, sample_index)?, …])`
//!    and `binding.set_history(&gpu, lane, &prompt_ids, 0)` for each lane;
//! 3. per step, in the forward pass's compute pass right after the logits:
//!    `chain.record(&mut pass, &binding)` instead of the argmax; then copy
//!    `binding.records_buffer()` (64 bytes a lane) to a staging buffer and read it, one step
//!    behind if you like: the next step's embedding already reads `tokens` on the GPU.

pub mod config;
pub mod cpu;
pub mod gpu;
pub mod inspect;
pub mod philox;

pub use config::{SamplerConfig, TemperaturePosition};
pub use gpu::{ChainBinding, LaneParams, LaneRecord, SamplerChain};
pub use inspect::{Candidate, Inspection};
