//! Where the native front ends (CLI, tests, benches) find the default model on disk.
//! The core itself never touches the file system; this module is not built for wasm.

use std::path::PathBuf;

/// File name of the default model inside the cache directory.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// File name of the Gemma 3 270M Q4_K_M model in the cache directory
/// (`cargo xtask fetch-model gemma`).
pub const GEMMA_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// `$SAMPLESCOPE_CACHE`, else `$XDG_CACHE_HOME/samplescope`, else `$HOME/.cache/samplescope`.
/// `cargo xtask fetch-model` puts the default model here (the same rule lives in xtask).
pub fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("SAMPLESCOPE_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("samplescope")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("samplescope")))
}

/// `$SAMPLESCOPE_MODEL` if set, else the default model in the cache directory.
pub fn default_model_path() -> Option<PathBuf> {
    std::env::var_os("SAMPLESCOPE_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| cache_dir().map(|d| d.join(DEFAULT_MODEL_FILE)))
}

/// The code verifier's local runner: sandboxed `python3` subprocesses.
pub mod pyrun;
