//! The one error type of the core. Every failure that input can cause is a value of this
//! enum; nothing on a path that user data reaches panics.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The bytes are not a well-formed GGUF file (truncated, corrupted, inconsistent).
    #[error("malformed GGUF: {0}")]
    Gguf(String),
    /// A well-formed file that asks for something this engine does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A model file whose metadata or tensors do not describe a usable Llama.
    #[error("invalid model: {0}")]
    Model(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// A caller-supplied parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(String),
    /// The prompt plus requested tokens do not fit in the context.
    #[error("context overflow: {0}")]
    Context(String),
    /// No adapter, device creation failed, a limit is too small.
    #[error("GPU unavailable: {0}")]
    NoGpu(String),
    /// A validation error, a failed readback or a lost device while running.
    #[error("GPU error: {0}")]
    Gpu(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
