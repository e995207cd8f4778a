//! Sampling: `SamplerConfig` (what a lane asks for), the GPU sampler chain that runs it as
//! compute passes over the logits buffer, the CPU reference chain that defines it (docs/DESIGN.md,
//! "Sampler semantics"), Philox4x32-10 for the dice, and the step inspector.
//!
//! Wiring into a decode loop (model/forward.rs and model/mod.rs do this):
//! 1. load: `SamplerChain::new(&kernels, vocab, max_lanes)` (≤ `gpu::MAX_LANES`), then
//!    `chain.bind(&kernels, &logits, &tokens)` with the forward pass's own buffers: lane i
//!    reads logits row i and writes tokens[i], which the next step's embedding reads;
//! 2. per generation: `binding.set_params(&gpu, &[LaneParams::new(&cfg, sample_index)?, …])`
//!    and `binding.set_history(&gpu, lane, &prompt_ids, 0)` for each lane (its penalty
//!    window and its step counter; the chain appends each pick and advances the step);
//! 3. per step, in the forward pass's compute pass right after the logits matmul:
//!    `chain.record(&mut pass, &binding)` (greedy lanes included; the penalty edits the
//!    logits in place, so record it once per forward); then copy the first
//!    `binding.records_bytes()` of `binding.records_buffer()` (64 bytes a lane) to a
//!    MAP_READ buffer in the same submission and read it, one step behind if you like;
//! 4. on request, before the next forward overwrites the logits: `chain.inspect(…)` or
//!    `chain.inspect_all(…)`.

pub mod config;
pub mod cpu;
pub mod gpu;
pub mod inspect;
pub mod lane;
pub mod philox;

pub use config::{SamplerConfig, TemperaturePosition};
pub use gpu::{ChainBinding, SamplerChain};
pub use inspect::{Candidate, Heat, Inspection, Threshold};
pub use lane::{LaneParams, LaneRecord};
