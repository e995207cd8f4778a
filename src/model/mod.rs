//! The Llama model on the GPU: weights uploaded once, activation buffers and bind groups made
//! once, and a forward pass that records the same dispatches every step.

pub mod config;
pub mod cpu;
mod forward;
mod weights;

pub use config::LlamaConfig;
pub use forward::Model;

/// Load-time choices.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Context length to allocate the KV cache for (capped by the model's own).
    pub n_ctx: u32,
    /// Most rows one forward call takes: prompt chunk length and the most lanes.
    pub max_rows: u32,
    /// Keep the KV cache as f16 pairs (half the memory, as llama.cpp does) instead of f32.
    pub kv_f16: bool,
    /// The most bytes the KV caches of all layers may take together; it bounds the lanes.
    pub kv_budget: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { n_ctx: 1024, max_rows: 128, kv_f16: true, kv_budget: 1 << 30 }
    }
}
