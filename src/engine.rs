//! The public entry point: a model and its tokenizer on one GPU, and greedy generation that
//! streams text. Platform-neutral: the caller supplies the model bytes and awaits.

use web_time::Instant;

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::gpu::Gpu;
use crate::model::{LoadOptions, Model};
use crate::tokenizer::Tokenizer;

pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub load_ms: f64,
}

/// What a generation produced, with its timings.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    pub ids: Vec<u32>,
    pub text: String,
    /// Why it stopped: "max_tokens" or "eog".
    pub stop: &'static str,
    pub prefill_ms: f64,
    pub decode_ms: f64,
}

impl Generation {
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prompt_ids.len(), self.prefill_ms)
    }

    /// Decode rate over the tokens after the first (the first comes out of the prefill).
    pub fn decode_tok_s(&self) -> f64 {
        rate(self.ids.len().saturating_sub(1), self.decode_ms)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 / (ms / 1000.0)
    } else {
        0.0
    }
}

/// Generation settings that are not sampler settings.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_tokens: u32,
    /// Stop at an end-of-generation token (it is kept in `ids` but not in `text`).
    pub stop_at_eog: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 64, stop_at_eog: true }
    }
}

impl Engine {
    /// Parses the GGUF, builds the tokenizer, uploads the weights.
    pub async fn load(gpu: Gpu, bytes: &[u8], opts: &LoadOptions) -> Result<Engine> {
        let t0 = Instant::now();
        let g = Gguf::parse(bytes)?;
        let tokenizer = Tokenizer::from_gguf(&g)?;
        let model = Model::load(gpu, &g, opts).await?;
        if tokenizer.vocab_size() > model.cfg.vocab as usize {
            return Err(Error::Model(format!(
                "tokenizer has {} tokens but the model's vocabulary is {}",
                tokenizer.vocab_size(),
                model.cfg.vocab
            )));
        }
        Ok(Engine { model, tokenizer, load_ms: t0.elapsed().as_secs_f64() * 1e3 })
    }

    /// The prompt's ids; with `chat`, the text is first wrapped in the model's chat template.
    pub fn encode_prompt(&self, text: &str, chat: bool) -> Result<Vec<u32>> {
        let ids = if chat { self.tokenizer.encode(&self.tokenizer.chat_prompt(text)?)? } else { self.tokenizer.encode(text)? };
        if ids.is_empty() {
            return Err(Error::Param("the prompt is empty".into()));
        }
        Ok(ids)
    }

    /// Greedy generation from `prompt_ids`; `on_text` receives each valid-UTF-8 text delta.
    pub async fn generate_greedy(
        &mut self,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let n_ctx = self.model.n_ctx as usize;
        if prompt_ids.len() + opts.max_tokens as usize > n_ctx {
            return Err(Error::Context(format!(
                "{} prompt tokens + {} new tokens exceed the context of {n_ctx}",
                prompt_ids.len(),
                opts.max_tokens
            )));
        }
        let mut out = Generation { prompt_ids: prompt_ids.to_vec(), stop: "max_tokens", ..Default::default() };
        if opts.max_tokens == 0 {
            return Ok(out);
        }
        let mut stream = self.tokenizer.stream_decoder();
        let t0 = Instant::now();
        let mut id = self.model.prefill(prompt_ids, 0).await?;
        out.prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
        let t1 = Instant::now();
        let mut pos = prompt_ids.len() as u32;
        loop {
            out.ids.push(id);
            if opts.stop_at_eog && self.tokenizer.is_eog(id) {
                out.stop = "eog";
                break;
            }
            let delta = stream.push(id);
            out.text.push_str(&delta);
            on_text(&delta);
            if out.ids.len() as u32 >= opts.max_tokens {
                break;
            }
            id = self.model.decode(pos).await?;
            pos += 1;
        }
        let tail = stream.finish();
        out.text.push_str(&tail);
        on_text(&tail);
        out.decode_ms = t1.elapsed().as_secs_f64() * 1e3;
        Ok(out)
    }
}
