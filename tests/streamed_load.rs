//! A load of a file that arrives in chunks (`Engine::load_arriving`, the page's load from
//! the network or the browser cache) gives the same model as a load of the whole file, for
//! every architecture and for any chunk size; a file that stops early or a source that fails
//! is a clear error. On small synthetic models (lavapipe).

use std::future::Future;
use std::pin::Pin;

use samplescope::engine::{GenerateOptions, LaneSpec};
use samplescope::model::{Arriving, Chunks};
use samplescope::sampling::SamplerConfig;
use samplescope::synth::{synthetic_model, SynthSpec, ARCHS};
use samplescope::{Engine, Error, Gpu, GpuOptions, LoadOptions, Result};

/// Hands out `file` in chunks of `size` bytes, then fails with `error` if it is set.
struct Slices {
    file: Vec<u8>,
    at: usize,
    size: usize,
    error: Option<&'static str>,
}

impl Chunks for Slices {
    fn next_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> Pin<Box<dyn Future<Output = Result<bool>> + 'a>> {
        Box::pin(async move {
            if self.at == self.file.len() {
                return match self.error {
                    Some(e) => Err(Error::Read(e.into())),
                    None => Ok(false),
                };
            }
            let end = (self.at + self.size).min(self.file.len());
            buf.extend_from_slice(&self.file[self.at..end]);
            self.at = end;
            Ok(true)
        })
    }
}

fn arriving(file: &[u8], size: usize, announced: bool, error: Option<&'static str>) -> Arriving {
    let src = Slices { file: file.to_vec(), at: 0, size, error };
    Arriving::new(Box::new(src), announced.then_some(file.len()), 1 << 30)
}

fn gpu() -> Gpu {
    pollster::block_on(Gpu::new(GpuOptions::default())).expect("a GPU adapter (lavapipe)")
}

fn opts() -> LoadOptions {
    LoadOptions { n_ctx: 64, max_rows: 16, ..LoadOptions::default() }
}

/// 12 greedy tokens after a fixed prompt.
fn greedy(engine: &mut Engine) -> Vec<u32> {
    let lanes = [LaneSpec { sampler: SamplerConfig::greedy(), sample_index: 0 }];
    let o = GenerateOptions { max_tokens: 12, stop_at_eog: false, ..GenerateOptions::default() };
    let out = pollster::block_on(engine.generate(&[1, 40, 77, 200, 5], &lanes, &o, |_| {})).unwrap();
    out[0].ids.clone()
}

#[test]
fn a_streamed_load_decodes_as_the_whole_file_does() {
    let gpu = gpu();
    for arch in ARCHS {
        let spec = SynthSpec { arch, rope_freqs: arch == "llama", n_ctx: 64, ..SynthSpec::default() };
        let file = synthetic_model(&spec).unwrap();
        let mut whole = pollster::block_on(Engine::load(gpu.clone(), &file, &opts())).unwrap();
        let want = greedy(&mut whole);
        drop(whole);
        for (chunk, announced) in [(4093, false), (1 << 16, true)] {
            let mut src = arriving(&file, chunk, announced, None);
            let (mut engine, header) =
                pollster::block_on(Engine::load_arriving(gpu.clone(), &mut src, &opts(), |_| {})).unwrap();
            assert_eq!(src.arrived(), file.len(), "{arch}: the whole file is read");
            assert_eq!(header.tensors.len(), samplescope::gguf::Gguf::parse(&file).unwrap().tensors.len());
            assert!(engine.load.copy > 0.0 && engine.load.copy <= engine.load.total, "{arch}: {:?}", engine.load);
            assert_eq!(greedy(&mut engine), want, "{arch} in chunks of {chunk}");
        }
    }
}

#[test]
fn a_file_that_stops_early_or_a_failing_source_is_a_clear_error() {
    let gpu = gpu();
    let file = synthetic_model(&SynthSpec::default()).unwrap();
    let load = |src: &mut Arriving| {
        pollster::block_on(Engine::load_arriving(gpu.clone(), src, &opts(), |_| {}))
            .err()
            .expect("an error")
            .to_string()
    };
    // Cut in the middle of the tensors: the header parses, an upload waits in vain.
    let cut = &file[..file.len() * 2 / 3];
    let e = load(&mut arriving(cut, 4096, false, None));
    assert!(e.contains("truncated"), "{e}");
    // The same, with the source failing there (a dropped connection, a size limit).
    let e = load(&mut arriving(cut, 4096, false, Some("the download was stopped")));
    assert_eq!(e, "reading the model: the download was stopped");
    // The file announced with its size but cut: refused at the header, before any upload.
    let e = load(&mut arriving(cut, 4096, true, None));
    assert!(e.contains("truncated"), "{e}");
    // Cut in the header.
    let e = load(&mut arriving(&file[..200], 64, false, None));
    assert!(e.contains("malformed GGUF"), "{e}");
}
