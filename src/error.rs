//! The one error type of the core. Every failure that input can cause is a value of this
//! enum; nothing on a path that user data reaches panics.

use std::fmt::Write as _;

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
    /// The model's bytes stopped coming: a failed download or file read.
    #[error("reading the model: {0}")]
    Read(String),
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

/// The most characters of one value an error message shows.
pub const MAX_SHOWN_CHARS: usize = 120;

/// A value as an error message shows it: its Debug form, cut after `MAX_SHOWN_CHARS`
/// characters and marked with "…". Formatting stops there, so showing a 32 MiB array or a
/// megabyte string costs no more than showing a short one. Every value that input controls
/// (metadata values and keys, tensor names, lane specs, task specs) goes through this.
pub fn shown(v: &(impl std::fmt::Debug + ?Sized)) -> String {
    cut(|w| write!(w, "{v:?}"))
}

/// Text (a message from elsewhere, a template's own error) cut like `shown`, unquoted.
pub fn shown_text(s: &str) -> String {
    cut(|w| w.write_str(s))
}

fn cut(f: impl FnOnce(&mut Cut) -> std::fmt::Result) -> String {
    let mut w = Cut { s: String::new(), chars: 0, cut: false };
    // An error here only means the cut was reached.
    let _ = f(&mut w);
    if w.cut {
        w.s.push('…');
    }
    w.s
}

struct Cut {
    s: String,
    chars: usize,
    cut: bool,
}

impl std::fmt::Write for Cut {
    fn write_str(&mut self, part: &str) -> std::fmt::Result {
        for c in part.chars() {
            if self.chars == MAX_SHOWN_CHARS {
                self.cut = true;
                return Err(std::fmt::Error);
            }
            self.s.push(c);
            self.chars += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_are_cut() {
        assert_eq!(shown("abc"), "\"abc\"");
        assert_eq!(shown_text("abc"), "abc");
        let long = "x".repeat(10_000);
        let s = shown(&long);
        assert_eq!(s.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(s.starts_with("\"xxx") && s.ends_with('…'), "{s}");
        // Exactly at the limit: nothing cut.
        let s = shown_text(&"é".repeat(MAX_SHOWN_CHARS));
        assert!(!s.ends_with('…'));
        let v = vec![0u8; 1 << 20];
        assert!(shown(&v).len() < 200);
    }
}
