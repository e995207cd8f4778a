//! Incremental detokenization for streaming output.

use super::Tokenizer;
use crate::error::Result;

/// Streams text: `push(id)` returns the newly completed text; bytes of a character split
/// across tokens wait for the rest; `finish()` flushes what is left (lossily).
///
/// The concatenation of every `push` and the final `finish` equals `Tokenizer::decode` of all
/// the ids: invalid sequences become U+FFFD as soon as they are known to be invalid, exactly
/// where `String::from_utf8_lossy` (and llama.cpp) put them. One difference: with
/// `add_space_prefix` (Llama 2's SentencePiece), `decode` drops the first token's leading
/// space and this keeps it, since streamed tokens continue a prompt.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    /// Bytes of an incomplete UTF-8 sequence at the end of the output so far (at most 3).
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    pub(crate) fn new(tokenizer: &'a Tokenizer) -> Self {
        Self { tokenizer, pending: Vec::with_capacity(8) }
    }

    /// Adds a token, returns the text it completes. An id outside the vocabulary adds nothing
    /// (see `try_push` to get an error instead).
    pub fn push(&mut self, id: u32) -> String {
        self.try_push(id).unwrap_or_default()
    }

    /// Like `push`, but an id outside the vocabulary is an error.
    pub fn try_push(&mut self, id: u32) -> Result<String> {
        let bytes = self.tokenizer.token_bytes(id).ok_or_else(|| self.tokenizer.out_of_range(id))?;
        Ok(self.push_bytes(bytes))
    }

    /// Adds raw bytes, returns the text they complete.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY-free: the prefix is valid UTF-8 by construction.
                    out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An invalid sequence: one replacement character, go on after it.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &rest[valid + n..];
                        }
                        // A sequence cut short by the end of input: wait for more bytes.
                        None => {
                            rest = &rest[valid..];
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }

    /// Bytes held back because they end inside a multi-byte character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Flushes the held-back bytes (an incomplete character becomes U+FFFD) and resets.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}
