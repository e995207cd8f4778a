//! samplescope: a quantized Llama (GGUF) on wgpu/WebGPU, with the samplers as shader passes.
//!
//! The core is platform-neutral: it takes model bytes, never touches the file system,
//! spawns no threads and never blocks; GPU readbacks are async.

pub mod error;
pub mod gguf;
pub mod gguf_write;
pub mod quant;
pub mod synth;
pub mod tokenizer;

pub use error::{Error, Result};

pub mod bench;
pub mod engine;
pub mod eval;
pub mod gpu;
pub mod kernels;
pub mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod sampling;
#[cfg(not(target_arch = "wasm32"))]
pub mod soak;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use engine::{Engine, GenerateOptions, Generation, Pipeline};
pub use gpu::{Gpu, GpuOptions, Variant};
pub use model::{LoadOptions, LoadPlan, LoadTimes};
