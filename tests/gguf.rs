//! The GGUF reader against files written by `GgufWriter`, hand-built malformed files and
//! the real default model. Malformed input must give an `Err` that says what is wrong,
//! never a panic or a huge allocation.

mod common;

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use samplescope::gguf::{Array, GgmlType, Gguf, Value};
use samplescope::gguf_write::GgufWriter;
use samplescope::synth::{synthetic_model, SynthSpec};

/// The error message of parsing `bytes`, which must fail.
fn parse_err(bytes: &[u8]) -> String {
    match Gguf::parse(bytes) {
        Ok(g) => panic!("parsed a malformed file: {g:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_err(bytes: &[u8], needles: &[&str]) {
    let msg = parse_err(bytes);
    assert!(needles.iter().any(|n| msg.contains(n)), "error {msg:?} should mention one of {needles:?}");
}

/// Little-endian bytes by hand, for files the writer cannot express.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        Raw(b"GGUF".to_vec()).u32(version).u64(n_tensors).u64(n_kv)
    }
    fn u32(mut self, v: u32) -> Raw {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Raw {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(self, s: &str) -> Raw {
        let mut r = self.u64(s.len() as u64);
        r.0.extend_from_slice(s.as_bytes());
        r
    }
    fn bytes(mut self, b: &[u8]) -> Raw {
        self.0.extend_from_slice(b);
        self
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = rand::rng();
    (0..n).map(|_| rng.random()).collect()
}

fn strings(v: &[&str]) -> Array {
    Array::from(v.to_vec())
}

/// One key of every value type, edge values, and arrays of every type, nested and empty.
fn all_values() -> Vec<(&'static str, Value)> {
    use samplescope::gguf::Array as A;
    use Value::*;
    vec![
        ("u8", U8(255)),
        ("i8", I8(-128)),
        ("u16", U16(65535)),
        ("i16", I16(-32768)),
        ("u32", U32(u32::MAX)),
        ("i32", I32(i32::MIN)),
        ("u64", U64(u64::MAX)),
        ("i64", I64(i64::MIN)),
        ("f32", F32(f32::MIN_POSITIVE / 4.0)),
        ("f32.inf", F32(f32::NEG_INFINITY)),
        ("f64", F64(-1.0e300)),
        ("bool.t", Bool(true)),
        ("bool.f", Bool(false)),
        ("str", String("héllo ✓ \n\0 end".into())),
        ("str.empty", String(std::string::String::new())),
        ("arr.u8", Array(A::U8(vec![0, 7]))),
        ("arr.i8", Array(A::I8(vec![-1]))),
        ("arr.u16", Array(A::U16(vec![1, 2]))),
        ("arr.i16", Array(A::I16(vec![-2]))),
        ("arr.u32", Array(A::U32(vec![3]))),
        ("arr.i32", Array(A::I32((-5..5).collect()))),
        ("arr.u64", Array(A::U64(vec![1 << 40]))),
        ("arr.i64", Array(A::I64(vec![-(1 << 40)]))),
        ("arr.f32", Array(A::F32(vec![0.5, -2.25]))),
        ("arr.f64", Array(A::F64(vec![1e-300]))),
        ("arr.bool", Array(A::Bool(vec![true, false]))),
        ("arr.str", Array(strings(&["a", "", "Ġthe"]))),
        ("arr.empty", Array(A::U8(vec![]))),
        ("arr.empty.str", Array(strings(&[]))),
        // An array of arrays whose inner element types differ, and three levels deep.
        ("arr.nested", Array(A::Array(vec![A::U8(vec![1]), strings(&["x", "y"]), A::F64(vec![])]))),
        ("arr.deep", Array(A::Array(vec![A::Array(vec![A::I64(vec![-3, 4])]), A::Array(vec![A::Array(vec![])])]))),
    ]
}

#[test]
fn every_metadata_type_round_trips() {
    let mut w = GgufWriter::new();
    for (k, v) in all_values() {
        w = w.metadata(k, v);
    }
    // NaN != NaN, so its payload bits are checked separately.
    let nan = f32::from_bits(0x7fc0_1234);
    let bytes = w.metadata("f32.nan", Value::F32(nan)).to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    match g.get("f32.nan") {
        Some(Value::F32(x)) => assert_eq!(x.to_bits(), nan.to_bits()),
        other => panic!("f32.nan read back as {other:?}"),
    }
    let mut read = g.metadata.clone();
    read.remove("f32.nan");
    let want: BTreeMap<String, Value> = all_values().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    assert_eq!(read, want);
    assert!(g.tensors.is_empty());
}

/// Tensors of several types and sizes, most not a multiple of the alignment, so padding
/// between them is exercised; their views must be exactly the bytes written.
#[test]
fn tensor_views_are_byte_exact() {
    let shapes: [(&str, &[u64], GgmlType); 6] = [
        ("a", &[3], GgmlType::F32),
        ("b.q4_1", &[64, 3], GgmlType::Q4_1),
        ("c.q8_0", &[32, 1, 1, 5], GgmlType::Q8_0),
        ("d.f16", &[7, 3], GgmlType::F16),
        ("e.q4_0", &[96], GgmlType::Q4_0),
        ("f.i8", &[1], GgmlType::I8),
    ];
    for alignment in [1u64, 8, 32, 64, 4096] {
        let mut w = GgufWriter::new().alignment(alignment).metadata("k", Value::U8(1));
        let mut want = Vec::new();
        for (name, dims, ty) in shapes {
            let (be, bb) = ty.block();
            let data = random_bytes((dims.iter().product::<u64>() / be * bb) as usize);
            want.push(data.clone());
            w = w.tensor(name, dims, ty, data);
        }
        let bytes = w.to_bytes();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.alignment, alignment);
        assert_eq!(g.data_offset % alignment, 0);
        assert_eq!(g.tensors.len(), shapes.len());
        for ((t, (name, dims, ty)), data) in g.tensors.iter().zip(shapes).zip(&want) {
            assert_eq!((t.name.as_str(), t.dims.as_slice(), t.ty), (name, dims, ty));
            assert_eq!(t.offset % alignment, 0, "{name} at alignment {alignment}");
            assert_eq!(t.n_bytes as usize, data.len());
            assert_eq!(g.tensor_data(t).unwrap(), data.as_slice(), "{name} at alignment {alignment}");
        }
        assert_eq!(g.tensor("c.q8_0").unwrap().n_elements(), 160);
    }
}

#[test]
fn version_2_is_read_like_version_3() {
    let mut bytes =
        GgufWriter::new().metadata("k", Value::I16(-4)).tensor("t", &[2], GgmlType::F32, vec![0; 8]).to_bytes();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!((g.version, g.get("k")), (2, Some(&Value::I16(-4))));
}

#[test]
fn synthetic_model_parses() {
    let spec = SynthSpec::default();
    let bytes = synthetic_model(&spec).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.get_str("general.architecture"), Some("llama"));
    let u = |k: &str| g.require_u64(k).unwrap() as usize;
    assert_eq!(u("llama.block_count"), spec.n_layer);
    assert_eq!(u("llama.embedding_length"), spec.n_embd);
    assert_eq!(u("llama.feed_forward_length"), spec.n_ff);
    assert_eq!(u("llama.attention.head_count"), spec.n_head);
    assert_eq!(u("llama.attention.head_count_kv"), spec.n_head_kv);
    assert_eq!(u("llama.context_length"), spec.n_ctx);
    assert_eq!(u("llama.rope.dimension_count"), spec.n_embd / spec.n_head);
    assert_eq!(u("llama.vocab_size"), spec.vocab);
    assert_eq!(g.get_f64("llama.rope.freq_base"), Some(spec.rope_base as f64));
    assert_eq!(g.get_f64("llama.attention.layer_norm_rms_epsilon"), Some(spec.eps as f64));
    assert_eq!(g.get_str("tokenizer.ggml.model"), Some("gpt2"));
    assert_eq!(g.get_array("tokenizer.ggml.tokens").unwrap().len(), spec.vocab);
    assert_eq!(g.get_array("tokenizer.ggml.token_type").unwrap().len(), spec.vocab);
    assert_eq!(g.get_array("tokenizer.ggml.tokens").unwrap().as_strings().and_then(|s| s.get(2)), Some("<|im_end|>"));
    assert_eq!(g.get_bool("tokenizer.ggml.add_bos_token"), Some(false));
    assert!(g.get_str("tokenizer.chat_template").unwrap().contains("<|im_start|>"));

    // Tied: token_embd + output_norm + 9 per layer, no output.weight.
    assert_eq!(g.tensors.len(), 2 + 9 * spec.n_layer);
    assert!(g.tensor("output.weight").is_none());
    let t = g.tensor("token_embd.weight").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty), (&[64, 300][..], GgmlType::Q8_0));
    let t = g.tensor("blk.1.ffn_down.weight").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty), (&[128, 64][..], GgmlType::Q4_1));
    assert_eq!(g.tensor("blk.0.attn_v.weight").unwrap().dims, [64, 32]);
    let t = g.tensor("blk.0.ffn_norm.weight").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty), (&[64][..], GgmlType::F32));
}

#[test]
fn bad_magic_version_and_endianness() {
    let good = GgufWriter::new().metadata("k", Value::U8(1)).to_bytes();
    let mut b = good.clone();
    b[..4].copy_from_slice(b"GGML");
    assert_err(&b, &["not a GGUF file"]);
    let mut b = good.clone();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert_err(&b, &["version 1"]);
    let mut b = good.clone();
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert_err(&b, &["big-endian"]);
    let mut b = good;
    b[4..8].copy_from_slice(&4u32.to_le_bytes());
    assert_err(&b, &["version 4"]);
}

/// Every prefix of a file that ends inside its header, metadata, tensor table or data.
#[test]
fn every_truncation_is_an_error() {
    let mut w = GgufWriter::new();
    for (k, v) in all_values() {
        w = w.metadata(k, v);
    }
    let w =
        w.tensor("x", &[5], GgmlType::F32, random_bytes(20)).tensor("y", &[32, 2], GgmlType::Q8_0, random_bytes(68));
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    let last = g.tensors.last().unwrap();
    // Past this point only the padding after the last tensor remains, which may be cut.
    let end = (g.data_offset + last.offset + last.n_bytes) as usize;
    for n in 0..end {
        assert_err(&bytes[..n], &["truncated", "past the end", "cannot fit"]);
    }
    Gguf::parse(&bytes[..end]).unwrap();
}

/// A header read from the first bytes of a file that is still arriving: `None` for every
/// prefix that ends inside it, then the header `parse` reads, holding no tensor bytes; an
/// error as soon as what has arrived is malformed, or cannot fit in the file's size.
#[test]
fn a_header_parses_from_any_prefix_that_holds_it() {
    let mut w = GgufWriter::new();
    for (k, v) in all_values() {
        w = w.metadata(k, v);
    }
    let bytes = w.tensor("x", &[5], GgmlType::F32, random_bytes(20)).to_bytes();
    let whole = Gguf::parse(&bytes).unwrap();
    let header_end = (1..=bytes.len()).find(|&n| Gguf::parse_header(&bytes[..n], bytes.len()).unwrap().is_some());
    let header_end = header_end.expect("the whole file holds its header");
    assert!(header_end <= whole.data_offset as usize);
    for n in 0..header_end {
        assert!(Gguf::parse_header(&bytes[..n], bytes.len()).unwrap().is_none(), "prefix of {n}");
    }
    let g = Gguf::parse_header(&bytes[..header_end], bytes.len()).unwrap().unwrap();
    assert_eq!((g.data_offset, g.tensors.len(), g.metadata.len()), (whole.data_offset, 1, whole.metadata.len()));
    assert_eq!(g.data_end(), 20);
    assert!(g.tensor_data(&g.tensors[0]).unwrap_err().to_string().contains("not been read"));
    // A bad magic is an error from the first four bytes, whatever the file's size.
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(Gguf::parse_header(&bad[..4], 1 << 30).unwrap_err().to_string().contains("not a GGUF"));
    // A count that cannot fit in the announced size is an error, not a wait for more.
    let cut = (header_end / 2).max(24);
    assert!(Gguf::parse_header(&bytes[..cut], cut).is_err());
}

#[test]
fn huge_counts_allocate_nothing() {
    let huge = 1u64 << 60;
    assert_err(&Raw::header(3, huge, 0).0, &["tensor count"]);
    assert_err(&Raw::header(3, 0, huge).0, &["metadata count"]);
    assert_err(&Raw::header(3, 0, u64::MAX).0, &["metadata count"]);
    // Key length, string value length, array count, nested array count.
    assert_err(&Raw::header(3, 0, 1).u64(huge).bytes(&[b'k'; 16]).0, &["metadata key"]);
    assert_err(&Raw::header(3, 0, 1).str("k").u32(8).u64(huge).bytes(&[b'v'; 16]).0, &["cannot fit"]);
    assert_err(&Raw::header(3, 0, 1).str("k").u32(9).u32(0).u64(huge).bytes(&[0; 16]).0, &["cannot fit"]);
    let nested = Raw::header(3, 0, 1).str("k").u32(9).u32(9).u64(1).u32(6).u64(huge);
    assert_err(&nested.bytes(&[0; 64]).0, &["cannot fit"]);
    // Tensor name length, n_dims, dims whose product overflows.
    assert_err(&Raw::header(3, 1, 0).u64(huge).bytes(&[0; 32]).0, &["tensor name"]);
    for n_dims in [0, 5, u32::MAX] {
        let b = Raw::header(3, 1, 0).str("t").u32(n_dims).bytes(&[0; 64]).0;
        assert_err(&b, &[&format!("has {n_dims} dimensions")]);
    }
    let b = Raw::header(3, 1, 0).str("t").u32(2).u64(1 << 40).u64(1 << 40).u32(0).u64(0).bytes(&[0; 64]).0;
    assert_err(&b, &["overflow"]);
}

/// One F32 tensor [4] with the given type id and offset, and `data` after the header.
fn one_tensor(ty: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut r = Raw::header(3, 1, 0).str("t").u32(1).u64(4).u32(ty).u64(offset);
    r.0.resize(r.0.len().next_multiple_of(32) + data, 0);
    r.0
}

#[test]
fn bad_tensors() {
    Gguf::parse(&one_tensor(0, 0, 16)).unwrap();
    assert_err(&one_tensor(0, 0, 15), &["past the end"]);
    assert_err(&one_tensor(0, 32, 16), &["past the end"]);
    assert_err(&one_tensor(0, u64::MAX - 31, 16), &["past the end"]);
    assert_err(&one_tensor(0, 4, 64), &["not aligned"]);
    assert_err(&one_tensor(99, 0, 16), &["unknown ggml type id 99"]);
    assert_err(&one_tensor(4, 0, 16), &["unknown ggml type id 4"]); // the removed Q4_2
                                                                    // A Q8_0 row of 4 elements is not a whole block.
    assert_err(&one_tensor(8, 0, 64), &["not a multiple"]);
    // Declared data longer than what was written.
    let b = GgufWriter::new().tensor("t", &[64], GgmlType::F32, vec![0; 100]).to_bytes();
    assert_err(&b, &["past the end"]);
    let b = GgufWriter::new().tensor("t", &[1], GgmlType::F32, vec![0; 4]).tensor("t", &[1], GgmlType::F32, vec![0; 4]);
    assert_err(&b.to_bytes(), &["duplicate tensor"]);
}

#[test]
fn bad_metadata() {
    for a in [Value::U32(0), Value::U32(3), Value::U64(48), Value::I32(-32), Value::String("32".into())] {
        let b = GgufWriter::new().metadata("general.alignment", a.clone()).to_bytes();
        assert_err(&b, &["general.alignment"]);
    }
    let b = GgufWriter::new().metadata("k", Value::U8(1)).metadata("k", Value::U8(2)).to_bytes();
    assert_err(&b, &["duplicate metadata key \"k\""]);
    let deep = (0..20).fold(Array::U8(vec![0]), |v, _| Array::Array(vec![v]));
    assert_err(&GgufWriter::new().metadata("deep", Value::Array(deep)).to_bytes(), &["nested deeper"]);
    assert_err(&Raw::header(3, 0, 1).str("k").u32(13).bytes(&[0; 16]).0, &["unknown value type 13"]);
    assert_err(&Raw::header(3, 0, 1).str("k").u32(9).u32(13).u64(1).bytes(&[0; 16]).0, &["array element type 13"]);
    assert_err(&Raw::header(3, 0, 1).str("k").u32(7).bytes(&[2; 16]).0, &["bool byte 2"]);
    assert_err(&Raw::header(3, 0, 1).u64(2).bytes(&[0xff, 0xfe]).u32(0).bytes(&[0; 8]).0, &["UTF-8"]);
}

#[test]
fn default_model_table() {
    let bytes = common::default_model_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.tensors.len(), 272);
    let mut by_type: HashMap<GgmlType, usize> = HashMap::new();
    for t in &g.tensors {
        *by_type.entry(t.ty).or_default() += 1;
        assert_eq!(g.tensor_data(t).unwrap().len() as u64, t.n_bytes);
    }
    assert_eq!(by_type, HashMap::from([(GgmlType::Q4_1, 210), (GgmlType::F32, 61), (GgmlType::Q8_0, 1)]));
    assert_eq!(g.get_u64("llama.block_count"), Some(30));
    assert_eq!(g.get_u64("llama.embedding_length"), Some(576));
    assert_eq!(g.get_array("tokenizer.ggml.tokens").map(Array::len), Some(49152));
    let t = g.tensor("token_embd.weight").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty), (&[576, 49152][..], GgmlType::Q8_0));
    assert!(g.tensor("output.weight").is_none(), "SmolLM2 ties its output to the embedding");
}

/// A 32 MiB u8 array once parsed into 1 GiB (a `Value` per byte). Arrays are typed vectors
/// now: the parsed size is the file's, and what a file may materialize is capped.
#[test]
fn metadata_arrays_cost_what_the_file_holds() {
    use samplescope::gguf::MAX_METADATA_BYTES;
    const MIB: usize = 1 << 20;
    let b = GgufWriter::new().metadata("big", Value::Array(Array::U8(vec![7; 32 * MIB]))).to_bytes();
    let g = Gguf::parse(&b).unwrap();
    let a = g.get_array("big").unwrap();
    assert_eq!(a.len(), 32 * MIB);
    assert!(a.heap_bytes() <= 32 * MIB, "{} bytes for 32 MiB", a.heap_bytes());
    // Strings: one text and an offset each, no more than the file's 8-byte length prefixes.
    let n = 4 * MIB;
    let b = GgufWriter::new().metadata("s", Value::Array(Array::from(vec![""; n]))).to_bytes();
    let g = Gguf::parse(&b).unwrap();
    assert!(g.get_array("s").unwrap().heap_bytes() <= b.len(), "{}", g.get_array("s").unwrap().heap_bytes());
    // Past the cap, before anything is allocated: a bigger u8 array, and 4M empty nested
    // arrays (12 bytes each in the file, several times that parsed).
    let cap = MAX_METADATA_BYTES as usize;
    let b = GgufWriter::new().metadata("huge", Value::Array(Array::U8(vec![0; cap + 1]))).to_bytes();
    assert_err(&b, &["\"huge\"", "more than 64 MiB"]);
    let nested = Array::Array(vec![Array::U8(vec![]); 4 * MIB]);
    assert_err(&GgufWriter::new().metadata("nest", Value::Array(nested)).to_bytes(), &["\"nest\"", "more than 64 MiB"]);
    // The cap counts every key together.
    let half = Value::Array(Array::U8(vec![0; cap / 2 + 1]));
    let b = GgufWriter::new().metadata("a", half.clone()).metadata("b", half).to_bytes();
    assert_err(&b, &["\"b\"", "more than 64 MiB"]);
}

/// Keys and tensor names come from the file: a message shows a cut of them.
#[test]
fn errors_show_a_cut_of_keys_and_names() {
    let key = "k".repeat(1 << 20);
    let b = GgufWriter::new().metadata(key.clone(), Value::U8(1)).metadata(key, Value::U8(2)).to_bytes();
    let e = parse_err(&b);
    assert!(e.contains("duplicate metadata key \"kkk") && e.ends_with('…') && e.len() < 300, "{} chars", e.len());
    let name = "t".repeat(1 << 20);
    let b = GgufWriter::new().tensor(name.clone(), &[1], GgmlType::F32, vec![0; 4]).tensor(
        name,
        &[1],
        GgmlType::F32,
        vec![0; 4],
    );
    let e = parse_err(&b.to_bytes());
    assert!(e.contains("duplicate tensor \"ttt") && e.len() < 300, "{} chars", e.len());
    let b = GgufWriter::new().metadata("general.alignment", Value::Array(Array::U8(vec![1; 1 << 20]))).to_bytes();
    let e = parse_err(&b);
    assert!(e.contains("general.alignment Array(U8([1, 1,") && e.len() < 300, "{} chars", e.len());
}
