//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The default model's bytes. The test command (`cargo xtask test`) fetches it first; a bare
/// `cargo test` without it fails here with the command to run, rather than skipping.
pub fn default_model_bytes() -> Vec<u8> {
    let path = samplescope::native::default_model_path().expect("no HOME or SAMPLESCOPE_CACHE to find the model");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the default model at {}: {e}\nrun `cargo xtask fetch-model` first", path.display())
    })
}

/// ../shared/reference/smollm2-135m-instruct-q4_1.json, parsed.
pub fn reference() -> serde_json::Value {
    let path = reference_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the llama.cpp reference at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference JSON parses")
}

pub fn reference_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SAMPLESCOPE_REFERENCE") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/smollm2-135m-instruct-q4_1.json")
}

/// Runs `ids` at positions pos0.. of the model's sequence through its sampler lane (the
/// greedy lane `load` sets, unless the test set others) and returns the pick after the last.
pub fn try_step(model: &mut samplescope::model::Model, ids: &[u32], pos0: u32) -> samplescope::Result<u32> {
    model.submit(samplescope::model::Rows::Sequence { ids, pos0, sample: true })?;
    Ok(pollster::block_on(model.collect())?.ids[0])
}

/// `try_step`, which must succeed.
pub fn step(model: &mut samplescope::model::Model, ids: &[u32], pos0: u32) -> u32 {
    try_step(model, ids, pos0).unwrap()
}

/// tests/llamacpp/NAME.json (llama.cpp's ids and logits on a synthetic fixture model) and
/// the model's bytes, regenerated here: they must be the bytes llama.cpp ran on.
pub fn llamacpp_fixture(name: &str) -> (serde_json::Value, Vec<u8>) {
    use sha2::{Digest, Sha256};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/llamacpp/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fx: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON parses");
    let bytes = samplescope::synth::synthetic_model(&samplescope::synth::fixture(name).unwrap()).unwrap();
    let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        sha,
        fx["gguf_sha256"].as_str().unwrap(),
        "fixture {name}: the model made here is not the one llama.cpp ran; rerun tests/llamacpp/make_fixtures.py"
    );
    (fx, bytes)
}

/// A JSON array of token ids.
pub fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}
