//! A GGUF file that arrives in chunks (a download, a read from the browser cache or a picked
//! file): the load parses its header as soon as the header is in, makes the pipelines while
//! the rest arrives, and waits for each tensor's bytes only when the upload reaches it
//! (`Model::load_streamed`). A whole file in memory is the same load with nothing to wait
//! for (`Tensors::File`).

use std::future::Future;
use std::pin::Pin;

use web_time::Instant;

use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo};
use crate::model::ModelConfig;

/// The first read for the header; it doubles until the header is in (a vocabulary of
/// 262,144 tokens makes a header of ~6 MB), so a header is parsed at most ~log2 times.
const FIRST_HEADER_READ: usize = 1 << 16;

/// Where the file's bytes come from.
pub trait Chunks {
    /// Appends the file's next bytes to `buf`; `Ok(false)` once the file has ended.
    fn next_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> Pin<Box<dyn Future<Output = Result<bool>> + 'a>>;
}

/// The bytes of a file as they arrive, never more than the size it was announced with.
pub struct Arriving {
    bytes: Vec<u8>,
    /// The most bytes the file may have: its size when known, otherwise the reader's limit.
    len: usize,
    chunks: Box<dyn Chunks>,
    ended: bool,
    data_offset: usize,
    /// Milliseconds spent waiting for chunks and copying them in.
    pub waited: f64,
}

impl Arriving {
    /// `size`: the file's size when known (it is reserved at once); `limit`: the most bytes
    /// to accept either way.
    pub fn new(chunks: Box<dyn Chunks>, size: Option<usize>, limit: usize) -> Arriving {
        let len = size.map_or(limit, |s| s.min(limit));
        let bytes = Vec::with_capacity(size.map_or(0, |_| len));
        Arriving { bytes, len, chunks, ended: false, data_offset: 0, waited: 0.0 }
    }

    /// The bytes that have arrived so far.
    pub fn arrived(&self) -> usize {
        self.bytes.len()
    }

    /// One more chunk; false once the file has ended.
    async fn more(&mut self) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        let t0 = Instant::now();
        let more = self.chunks.next_into(&mut self.bytes).await?;
        self.waited += t0.elapsed().as_secs_f64() * 1e3;
        if self.bytes.len() > self.len {
            return Err(Error::Gguf(format!(
                "the file goes on past the {} bytes it was announced with (or the size limit)",
                self.len
            )));
        }
        self.ended = !more;
        Ok(more)
    }

    /// The header (metadata and tensor table), once it has arrived. Its tensors must fit in
    /// the announced size: a file that cannot hold them is refused before the upload.
    pub async fn header(&mut self) -> Result<Gguf<'static>> {
        let mut want = FIRST_HEADER_READ;
        loop {
            while !self.ended && self.bytes.len() < want {
                self.more().await?;
            }
            let file_len = if self.ended { self.bytes.len() } else { self.len };
            if let Some(g) = Gguf::parse_header(&self.bytes, file_len)? {
                self.data_offset = usize::try_from(g.data_offset).unwrap_or(usize::MAX);
                let end = g.data_offset.saturating_add(g.data_end());
                if end > file_len as u64 {
                    return Err(Error::Gguf(format!(
                        "the tensors end at byte {end} but the file has at most {file_len}: truncated?"
                    )));
                }
                return Ok(g);
            }
            // Not reached once the file has ended: the parse then sees all of it.
            want = self.bytes.len().saturating_mul(2).max(want);
        }
    }

    /// `t`'s bytes, waiting until they have arrived.
    pub async fn tensor(&mut self, t: &TensorInfo) -> Result<&[u8]> {
        let end = self.end_of(t)?;
        while self.bytes.len() < end {
            if !self.more().await? {
                return Err(Error::Gguf(format!(
                    "tensor {:?} ends at byte {end} but the file ended at {}: truncated?",
                    t.name,
                    self.bytes.len()
                )));
            }
        }
        self.here(t)
    }

    /// `t`'s bytes if they have arrived (see `tensor`).
    pub fn here(&self, t: &TensorInfo) -> Result<&[u8]> {
        let end = self.end_of(t)?;
        self.bytes
            .get(end - t.n_bytes as usize..end)
            .ok_or_else(|| Error::Gguf(format!("tensor {:?}: its bytes have not arrived", t.name)))
    }

    fn end_of(&self, t: &TensorInfo) -> Result<usize> {
        let end = (self.data_offset as u64).checked_add(t.offset).and_then(|o| o.checked_add(t.n_bytes));
        end.and_then(|e| usize::try_from(e).ok())
            .filter(|&e| e <= self.len)
            .ok_or_else(|| Error::Gguf(format!("tensor {:?} runs past the end of the file", t.name)))
    }

    /// Reads the rest of the file (the load needs no more, but a file is checked whole, and
    /// its source may be caching it) and returns its length.
    pub async fn finish(&mut self) -> Result<usize> {
        while self.more().await? {}
        Ok(self.bytes.len())
    }
}

/// Where a load reads the tensors' bytes.
pub enum Tensors<'s> {
    /// The whole file is in memory, parsed by `Gguf::parse`.
    File,
    /// The file is arriving: each tensor is awaited.
    Arriving(&'s mut Arriving),
}

impl Tensors<'_> {
    /// `t`'s bytes from `g` or, while the file arrives, once they are in.
    pub async fn get<'a>(&'a mut self, g: &'a Gguf<'_>, t: &TensorInfo) -> Result<&'a [u8]> {
        match self {
            Tensors::File => g.tensor_data(t),
            Tensors::Arriving(a) => a.tensor(t).await,
        }
    }

    /// The model config, once the bytes it reads have arrived.
    pub async fn config(&mut self, g: &Gguf<'_>) -> Result<ModelConfig> {
        match self {
            Tensors::File => ModelConfig::from_gguf(g),
            Tensors::Arriving(a) => {
                if let Some(t) = g.tensor("rope_freqs.weight") {
                    a.tensor(t).await?;
                }
                ModelConfig::from_table(g, |t| a.here(t))
            }
        }
    }

    /// Milliseconds spent waiting for bytes so far.
    pub fn waited(&self) -> f64 {
        match self {
            Tensors::File => 0.0,
            Tensors::Arriving(a) => a.waited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgmlType, Value};
    use crate::gguf_write::GgufWriter;

    /// Hands out a file in chunks of `size` bytes.
    struct Slices {
        file: Vec<u8>,
        at: usize,
        size: usize,
    }

    impl Chunks for Slices {
        fn next_into<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> Pin<Box<dyn Future<Output = Result<bool>> + 'a>> {
            Box::pin(async move {
                if self.at == self.file.len() {
                    return Ok(false);
                }
                let end = (self.at + self.size).min(self.file.len());
                buf.extend_from_slice(&self.file[self.at..end]);
                self.at = end;
                Ok(true)
            })
        }
    }

    fn arriving(file: &[u8], chunk: usize, size: Option<usize>) -> Arriving {
        Arriving::new(Box::new(Slices { file: file.to_vec(), at: 0, size: chunk }), size, 1 << 30)
    }

    /// A file with a header over the first read and tensors of a few sizes.
    fn file() -> Vec<u8> {
        let words: Vec<String> = (0..20_000).map(|i| format!("token{i}")).collect();
        let mut w = GgufWriter::new()
            .metadata("general.architecture", Value::String("llama".into()))
            .metadata("tokenizer.ggml.tokens", Value::Array(words.into()));
        for (i, n) in [4usize, 1000, 64, 70_000].into_iter().enumerate() {
            let data: Vec<u8> = (0..4 * n).map(|b| (b * 7 + i) as u8).collect();
            w = w.tensor(format!("t{i}"), &[n as u64], GgmlType::F32, data);
        }
        w.to_bytes()
    }

    #[test]
    fn tensors_arrive_with_the_same_bytes_as_the_whole_file() {
        let f = file();
        let whole = Gguf::parse(&f).unwrap();
        for (chunk, size) in [(1, Some(f.len())), (333, None), (1 << 20, Some(f.len())), (f.len(), None)] {
            let mut a = arriving(&f, chunk, size);
            let g = pollster::block_on(a.header()).unwrap();
            assert_eq!(g.metadata.len(), whole.metadata.len());
            assert!(a.arrived() < f.len() || chunk >= f.len(), "the header is parsed before the tensors arrive");
            for t in &whole.tensors {
                let got = pollster::block_on(a.tensor(t)).unwrap().to_vec();
                assert_eq!(got, whole.tensor_data(t).unwrap(), "{} in chunks of {chunk}", t.name);
            }
            assert_eq!(pollster::block_on(a.finish()).unwrap(), f.len());
        }
    }

    #[test]
    fn a_truncated_or_oversized_file_is_a_clear_error() {
        let f = file();
        let whole = Gguf::parse(&f).unwrap();
        let last = whole.tensors.last().unwrap();
        // Cut inside the last tensor, size unknown: the header parses, the tensor cannot.
        let cut = &f[..f.len() - 100];
        let mut a = arriving(cut, 4096, None);
        let g = pollster::block_on(a.header()).unwrap();
        let e = pollster::block_on(a.tensor(g.tensor(&last.name).unwrap())).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // The same cut with its size announced: refused at the header.
        let mut a = arriving(cut, 4096, Some(cut.len()));
        let e = pollster::block_on(a.header()).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // Cut inside the header.
        let mut a = arriving(&f[..1000], 100, None);
        assert!(pollster::block_on(a.header()).is_err());
        // More bytes than announced.
        let longer = [f.as_slice(), &[0; 10]].concat();
        let mut a = arriving(&longer, 4096, Some(f.len()));
        let e = pollster::block_on(async {
            a.header().await?;
            a.finish().await
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("announced"), "{e}");
        // Not a GGUF file: an error from the first chunk, without reading on.
        let mut a = arriving(&vec![7u8; 1 << 20], 1 << 16, None);
        assert!(pollster::block_on(a.header()).unwrap_err().to_string().contains("not a GGUF"));
        assert!(a.arrived() <= FIRST_HEADER_READ);
    }
}
