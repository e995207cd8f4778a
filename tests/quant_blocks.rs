//! src/quant.rs against gguf-py's reference dequantizers, bit for bit: every block of
//! tests/data/quant_blocks.json (written by tests/data/quant_blocks.py) decodes to exactly the
//! f32 values recorded there, for every quantized type the engine reads.

use samplescope::gguf::GgmlType;
use samplescope::quant;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn dequantize_matches_gguf_py_bit_for_bit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/quant_blocks.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seen = Vec::new();
    for t in doc["types"].as_array().unwrap() {
        let ty = GgmlType::from_id(t["id"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(ty.name(), t["type"].as_str().unwrap());
        let bytes = hex(t["blocks"].as_str().unwrap());
        let want: Vec<u32> =
            t["values_f32_bits"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = quant::dequantize(ty, &bytes, want.len()).unwrap();
        let block = ty.block().0 as usize;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                *w,
                "{ty} block {} element {}: got {g:e}, gguf-py {:e}",
                i / block,
                i % block,
                f32::from_bits(*w)
            );
        }
        seen.push(ty);
    }
    use GgmlType::*;
    for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4NL, Q2K, Q3K, Q4K, Q5K, Q6K] {
        assert!(seen.contains(&ty), "no fixture blocks for {ty}");
    }
}
