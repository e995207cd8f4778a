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
    /// Most rows one forward call takes (longer prompts are prefilled in chunks).
    pub max_rows: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { n_ctx: 1024, max_rows: 128 }
    }
}
