//! The public entry point: a model and its tokenizer on one GPU, and the one decode loop:
//! B lanes of one prompt (a single sequence is one lane, greedy is a sampler), each picked
//! on the GPU by its own sampler, streaming text per lane. Platform-neutral: the caller
//! supplies the model bytes and awaits.

use web_time::Instant;

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::gpu::Gpu;
use crate::model::{Arriving, LoadOptions, LoadPlan, LoadTimes, Model, Rows, Tensors};
use crate::sampling::config::SamplerConfig;
use crate::sampling::inspect::Inspection;
use crate::sampling::{LaneParams, LaneRecord};
use crate::tokenizer::Tokenizer;

/// Set it to stop a running generation after the step in flight (the lanes keep what
/// they produced). Shared by reference, so a UI or a signal handler can hold a clone.
pub type CancelFlag = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// One lane of a run: its sampler and the Philox sample index its dice use.
#[derive(Clone, Debug)]
pub struct LaneSpec {
    pub sampler: SamplerConfig,
    pub sample_index: u32,
}

/// What a run reports as it goes, per lane and token.
#[derive(Debug)]
pub struct LaneEvent<'a> {
    pub lane: u32,
    /// Index of this token in the lane's output (forced tokens count: see `generate_forced`).
    pub index: u32,
    pub id: u32,
    /// Newly completed text (valid UTF-8; may be empty while a character is split).
    pub text: &'a str,
    /// A token the caller forced (`generate_forced`): no sampler picked it, and its
    /// record has only `token` and `step` set.
    pub forced: bool,
    /// What the lane's sampler reported for this token.
    pub record: LaneRecord,
    /// With `GenerateOptions::inspect_top` > 0: the distribution behind this token.
    pub inspection: Option<Inspection>,
    /// Set on the lane's last event: why it stopped.
    pub stop: Option<&'static str>,
}

pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    /// Where the load's time went (`load.total`: all of it).
    pub load: LoadTimes,
}

/// What a generation produced, with its timings.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    /// The lane's tokens: the forced ones first (`generate_forced`), then those it sampled.
    pub ids: Vec<u32>,
    pub text: String,
    /// Why it stopped: "max_tokens", "eog", "stop_string" or "cancelled".
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
    /// A lane stops when its text contains one of these (the text is cut before it).
    pub stop_strings: Vec<String>,
    /// Report the top this-many candidates behind every token (0: off; ≤ 64). Reads each
    /// lane's logits row every step, so it costs a readback of 4·V bytes per lane.
    pub inspect_top: usize,
    pub cancel: Option<CancelFlag>,
    /// Whether step t+1 is submitted before step t is read back (see `Pipeline`).
    pub pipeline: Pipeline,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 64,
            stop_at_eog: true,
            stop_strings: Vec::new(),
            inspect_top: 0,
            cancel: None,
            pipeline: Pipeline::Auto,
        }
    }
}

/// How the decode loop orders a step's submit and the previous step's readback. The results
/// are the same every way (ids, text, events, sampler records); when every lane has stopped
/// by EOG, a stop string or cancel, one step past the last one read has run and is
/// discarded. Inspection (`inspect_top` > 0) always runs step by step, since it reads a
/// step's logits before the next step overwrites them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pipeline {
    /// `On`, except natively on a software adapter (lavapipe): there a submit waits for the
    /// step before it anyway, so nothing overlaps but the CPU's own work, which then competes
    /// with the adapter's worker threads for the cores; one step ahead measured 4–11 %
    /// slower on the 2-core VM (docs/BENCHMARKS.md).
    #[default]
    Auto,
    /// Step t+1 is submitted before step t is read back, so the GPU does not wait for the
    /// CPU's readback, text and stop checks.
    On,
    /// One step at a time: each step read back before the next is submitted.
    Off,
}

impl Pipeline {
    /// Whether to run one step ahead on `gpu`.
    pub fn one_ahead(self, gpu: &crate::gpu::Gpu) -> bool {
        match self {
            Pipeline::On => true,
            Pipeline::Off => false,
            Pipeline::Auto => cfg!(target_arch = "wasm32") || !gpu.facts.software,
        }
    }

    /// "auto", "on" or "off".
    pub fn parse(s: &str) -> Result<Pipeline> {
        match s {
            "auto" => Ok(Pipeline::Auto),
            "on" => Ok(Pipeline::On),
            "off" => Ok(Pipeline::Off),
            _ => Err(Error::Param(format!("pipeline {s:?}: use auto, on or off"))),
        }
    }
}

/// Lanes for `samplers` on the same prompt. With `same_dice`, every lane uses sample index
/// 0 so lanes that differ only in truncation see the same random numbers; without it, lane
/// i uses sample index i.
pub fn lane_specs(samplers: &[SamplerConfig], same_dice: bool) -> Vec<LaneSpec> {
    samplers
        .iter()
        .enumerate()
        .map(|(i, s)| LaneSpec { sampler: s.clone(), sample_index: if same_dice { 0 } else { i as u32 } })
        .collect()
}

impl Engine {
    /// Parses the GGUF, builds the tokenizer, uploads the weights.
    pub async fn load(gpu: Gpu, bytes: &[u8], opts: &LoadOptions) -> Result<Engine> {
        Self::load_reporting(gpu, bytes, opts, |_| {}).await
    }

    /// `load`, telling `on_plan` what the model will take on the GPU once it has been
    /// checked against the adapter's limits and before anything is uploaded.
    pub async fn load_reporting(
        gpu: Gpu,
        bytes: &[u8],
        opts: &LoadOptions,
        on_plan: impl FnOnce(&LoadPlan),
    ) -> Result<Engine> {
        let t0 = Instant::now();
        let g = Gguf::parse(bytes)?;
        let parse = t0.elapsed().as_secs_f64() * 1e3;
        Self::load_from(gpu, &g, &mut Tensors::File, opts, on_plan, t0, parse).await
    }

    /// `load_reporting` of a file that is still arriving: its header is parsed as soon as
    /// it is in, and each tensor is uploaded as its bytes arrive (`model::Arriving`). Reads
    /// the file to its end; returns the engine and the file's header.
    pub async fn load_arriving(
        gpu: Gpu,
        file: &mut Arriving,
        opts: &LoadOptions,
        on_plan: impl FnOnce(&LoadPlan),
    ) -> Result<(Engine, Gguf<'static>)> {
        let t0 = Instant::now();
        let g = file.header().await?;
        let parse = t0.elapsed().as_secs_f64() * 1e3 - file.waited;
        let mut engine = Self::load_from(gpu, &g, &mut Tensors::Arriving(file), opts, on_plan, t0, parse).await?;
        let before = file.waited;
        file.finish().await?;
        engine.load.copy = file.waited;
        engine.load.total += file.waited - before;
        Ok((engine, g))
    }

    async fn load_from(
        gpu: Gpu,
        g: &Gguf<'_>,
        src: &mut Tensors<'_>,
        opts: &LoadOptions,
        on_plan: impl FnOnce(&LoadPlan),
        t0: Instant,
        parse: f64,
    ) -> Result<Engine> {
        let (model, tokenizer, mut load) =
            Model::load_with(gpu, g, src, opts, on_plan, || Tokenizer::from_gguf(g)).await?;
        let tokenizer = tokenizer?;
        if tokenizer.vocab_size() > model.cfg.vocab as usize {
            return Err(Error::Model(format!(
                "tokenizer has {} tokens but the model's vocabulary is {}",
                tokenizer.vocab_size(),
                model.cfg.vocab
            )));
        }
        load.parse = parse;
        load.total = t0.elapsed().as_secs_f64() * 1e3;
        Ok(Engine { model, tokenizer, load })
    }

    /// The prompt's ids; with `chat`, the text is first wrapped in the model's chat template.
    pub fn encode_prompt(&self, text: &str, chat: bool) -> Result<Vec<u32>> {
        let ids = if chat { self.tokenizer.encode_chat_prompt(text)? } else { self.tokenizer.encode(text)? };
        if ids.is_empty() {
            return Err(Error::Param("the prompt is empty".into()));
        }
        Ok(ids)
    }
}

/// Per-lane bookkeeping while a run is in flight.
struct LaneState<'t> {
    stream: crate::tokenizer::StreamDecoder<'t>,
    out: Generation,
    done: bool,
}

impl Engine {
    /// Runs `lanes` on one prompt in one batched forward per step (the prompt's KV is
    /// computed once and shared). Every lane is picked by the GPU sampler chain; `on_event`
    /// hears each token of each lane as it comes. Returns one Generation per lane.
    pub async fn generate(
        &mut self,
        prompt_ids: &[u32],
        lanes: &[LaneSpec],
        opts: &GenerateOptions,
        on_event: impl FnMut(LaneEvent),
    ) -> Result<Vec<Generation>> {
        self.generate_forced(prompt_ids, &[], lanes, opts, on_event).await
    }

    /// `generate`, every lane starting with the tokens `forced` after the prompt (a fork:
    /// "what if the lane had picked this?"). The rule (docs/DESIGN.md, "Forks"): a lane's
    /// token i, forced or sampled, is token i of its output; the forced ones are reported
    /// first (`LaneEvent::forced`) and kept in `Generation::ids`; the first sampled token is
    /// token `forced.len()`, drawn with the dice of step `forced.len()` (Philox counter
    /// (token, step, sample index, 0)) and the penalty window over prompt + forced, exactly
    /// as the lane that had picked those tokens itself would draw it. `max_tokens` counts
    /// the sampled tokens only. Ids outside the vocabulary and a prefix that leaves no room
    /// in the context are errors.
    pub async fn generate_forced(
        &mut self,
        prompt_ids: &[u32],
        forced: &[u32],
        lanes: &[LaneSpec],
        opts: &GenerateOptions,
        mut on_event: impl FnMut(LaneEvent),
    ) -> Result<Vec<Generation>> {
        if lanes.is_empty() {
            return Err(Error::Param("no lanes".into()));
        }
        if opts.inspect_top > 64 {
            return Err(Error::Param(format!("inspect_top {} (at most 64)", opts.inspect_top)));
        }
        self.check_forced(prompt_ids.len(), forced, opts.max_tokens)?;
        let params = lanes.iter().map(|l| LaneParams::new(&l.sampler, l.sample_index)).collect::<Result<Vec<_>>>()?;
        let n = lanes.len() as u32;
        let m = forced.len() as u32;
        let blank = Generation { prompt_ids: prompt_ids.to_vec(), stop: "max_tokens", ..Default::default() };
        let mut state: Vec<LaneState> = (0..n)
            .map(|_| LaneState { stream: self.tokenizer.stream_decoder(), out: blank.clone(), done: false })
            .collect();
        // The forced tokens, as each lane's first tokens (no sampler ran: the record says
        // only which token and which step).
        for (i, st) in state.iter_mut().enumerate() {
            for (j, &id) in forced.iter().enumerate() {
                st.out.ids.push(id);
                let mut delta = st.stream.push(id);
                if opts.max_tokens == 0 && j + 1 == forced.len() {
                    delta.push_str(&st.stream.finish());
                }
                st.out.text.push_str(&delta);
                let record = LaneRecord { token: id, step: j as u32, ..LaneRecord::default() };
                let stop = (opts.max_tokens == 0 && j + 1 == forced.len()).then_some("max_tokens");
                on_event(LaneEvent {
                    lane: i as u32,
                    index: j as u32,
                    id,
                    text: &delta,
                    forced: true,
                    record,
                    inspection: None,
                    stop,
                });
            }
        }
        if opts.max_tokens == 0 {
            return Ok(state.into_iter().map(|s| s.out).collect());
        }
        let history = [prompt_ids, forced].concat();
        // Inspecting reads step t's logits, which step t+1 would overwrite.
        let pipeline = opts.pipeline.one_ahead(&self.model.kern.gpu) && opts.inspect_top == 0;
        self.model.set_lanes(&params, &history, m)?;
        let t0 = Instant::now();
        let result = async {
            self.model.start_lanes(&history, n, opts.max_tokens).await?;
            // Steps 0..submitted are on the GPU; `step` is the one being read back.
            let mut submitted = 1u32;
            let (mut prefill_ms, mut t1) = (0.0, Instant::now());
            let mut step = 0u32;
            loop {
                // One step ahead, never past max_tokens (every lane has stopped by then, and
                // a lane's KV slots end there): the GPU runs step + 1 while the CPU streams
                // this step's text and checks its stops.
                if pipeline && submitted < opts.max_tokens {
                    self.model.submit(Rows::Lanes { step: submitted, ids: None })?;
                    submitted += 1;
                }
                let picks = self.model.collect().await?;
                if step == 0 {
                    prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
                    t1 = Instant::now();
                }
                let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed));
                // All lanes' distributions in one pass and one readback, before the next step
                // overwrites the logits.
                let mut inspections: Vec<Option<Inspection>> = if opts.inspect_top > 0 {
                    self.model.inspect_all(opts.inspect_top).await?.into_iter().map(Some).collect()
                } else {
                    Vec::new()
                };
                for (i, (&id, &record)) in picks.ids.iter().zip(&picks.records).enumerate() {
                    let st = &mut state[i];
                    if st.done {
                        continue;
                    }
                    let inspection =
                        inspections.get_mut(i).and_then(Option::take).map(|ins| with_texts(&self.tokenizer, ins));
                    st.out.ids.push(id);
                    let eog = opts.stop_at_eog && self.tokenizer.is_eog(id);
                    let mut delta = if eog { String::new() } else { st.stream.push(id) };
                    let mut stop = None;
                    if eog {
                        stop = Some("eog");
                    } else if let Some(cut) = find_stop(&st.out.text, &delta, &opts.stop_strings) {
                        delta.truncate(cut);
                        stop = Some("stop_string");
                    } else if st.out.ids.len() as u32 - m >= opts.max_tokens {
                        stop = Some("max_tokens");
                    } else if cancelled {
                        stop = Some("cancelled");
                    }
                    if stop.is_some() && stop != Some("stop_string") && !eog {
                        delta.push_str(&st.stream.finish());
                    }
                    st.out.text.push_str(&delta);
                    if let Some(s) = stop {
                        st.out.stop = s;
                        st.done = true;
                    }
                    on_event(LaneEvent {
                        lane: i as u32,
                        index: st.out.ids.len() as u32 - 1,
                        id,
                        text: &delta,
                        forced: false,
                        record,
                        inspection,
                        stop,
                    });
                }
                if state.iter().all(|s| s.done) {
                    break;
                }
                // Finished lanes stay in the batch (their rows are ignored): the kernels'
                // shape is per row, so removing them would only save their share.
                step += 1;
                if !pipeline {
                    self.model.submit(Rows::Lanes { step, ids: None })?;
                    submitted += 1;
                }
            }
            let decode_ms = t1.elapsed().as_secs_f64() * 1e3;
            for st in state.iter_mut() {
                st.out.prefill_ms = prefill_ms;
                st.out.decode_ms = decode_ms;
            }
            Ok::<_, Error>(())
        }
        .await;
        // A step submitted past the last one read (every lane stopped by EOG, a stop string
        // or cancel): it ran in the lanes' own KV slots; its picks are not wanted.
        self.model.discard();
        result?;
        Ok(state.into_iter().map(|s| s.out).collect())
    }
}

impl Engine {
    /// Why `forced` cannot follow a prompt of `prompt_len` tokens in a run of `max_tokens`
    /// new tokens: an id outside the model's vocabulary, or a fork past the context.
    pub fn check_forced(&self, prompt_len: usize, forced: &[u32], max_tokens: u32) -> Result<()> {
        let vocab = self.model.cfg.vocab;
        if let Some((j, &id)) = forced.iter().enumerate().find(|(_, &id)| id >= vocab) {
            return Err(Error::Param(format!(
                "forced token {} of {} is id {id}, outside the vocabulary (ids 0 to {})",
                j + 1,
                forced.len(),
                vocab - 1
            )));
        }
        let n_ctx = self.model.n_ctx as usize;
        if !forced.is_empty() && prompt_len + forced.len() + max_tokens as usize > n_ctx {
            return Err(Error::Context(format!(
                "a fork after token {} of its lane: {prompt_len} prompt tokens + {} forced + {max_tokens} new \
                 tokens exceed the context of {n_ctx}",
                forced.len(),
                forced.len()
            )));
        }
        Ok(())
    }

    /// Lanes that may each start with their own forced tokens (`forced[i]` for lane i, empty
    /// for none; see `generate_forced`): one batched run per distinct prefix, in the order
    /// of first use, with events and generations numbered as the caller's lanes. Every
    /// prefix is checked before anything runs.
    pub async fn generate_forks(
        &mut self,
        prompt_ids: &[u32],
        lanes: &[LaneSpec],
        forced: &[Vec<u32>],
        opts: &GenerateOptions,
        mut on_event: impl FnMut(LaneEvent),
    ) -> Result<Vec<Generation>> {
        if forced.len() != lanes.len() {
            return Err(Error::Param(format!("{} forced prefixes for {} lanes", forced.len(), lanes.len())));
        }
        for (i, f) in forced.iter().enumerate() {
            self.check_forced(prompt_ids.len(), f, opts.max_tokens).map_err(|e| match e {
                Error::Context(m) => Error::Context(format!("lane {}: {m}", i + 1)),
                Error::Param(m) => Error::Param(format!("lane {}: {m}", i + 1)),
                e => e,
            })?;
        }
        let mut groups: Vec<(&[u32], Vec<usize>)> = Vec::new();
        for (i, f) in forced.iter().enumerate() {
            match groups.iter_mut().find(|g| g.0 == f.as_slice()) {
                Some(g) => g.1.push(i),
                None => groups.push((f, vec![i])),
            }
        }
        let mut out = vec![Generation::default(); lanes.len()];
        for (prefix, members) in groups {
            let specs: Vec<LaneSpec> = members.iter().map(|&i| lanes[i].clone()).collect();
            let gens = self
                .generate_forced(prompt_ids, prefix, &specs, opts, |mut ev| {
                    ev.lane = members[ev.lane as usize] as u32;
                    on_event(ev)
                })
                .await?;
            for (g, &i) in gens.into_iter().zip(&members) {
                out[i] = g;
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// The distribution behind token `prefix.len()` of a lane of `prompt_ids` that has
    /// generated `prefix` so far: the same `Inspection` a run with `inspect_top` records,
    /// recomputed with one prefill of prompt + prefix and one step of the lane's sampler at
    /// that step (same history, same dice).
    pub async fn inspect_step(
        &mut self,
        prompt_ids: &[u32],
        lane: &LaneSpec,
        prefix: &[u32],
        top: usize,
    ) -> Result<Inspection> {
        if top == 0 || top > 64 {
            return Err(Error::Param(format!("inspect: {top} candidates (1 to 64)")));
        }
        let params = LaneParams::new(&lane.sampler, lane.sample_index)?;
        let ids = [prompt_ids, prefix].concat();
        self.model.discard();
        self.model.set_lanes(&[params], &ids, prefix.len() as u32)?;
        self.model.submit(Rows::Sequence { ids: &ids, pos0: 0, sample: true })?;
        self.model.collect().await?;
        let ins = self.model.inspect_all(top).await?.remove(0);
        Ok(with_texts(&self.tokenizer, ins))
    }

    /// `inspect_step` for many lanes at one step: every lane continues `prompt_ids` +
    /// `prefix` with its own sampler, in one prefill and one batched sampler step, and each
    /// gets its Inspection (survivors from the GPU chain's masks). At most 64 lanes.
    pub async fn inspect_lanes(
        &mut self,
        prompt_ids: &[u32],
        lanes: &[LaneSpec],
        prefix: &[u32],
        top: usize,
    ) -> Result<Vec<Inspection>> {
        if lanes.is_empty() || lanes.len() > 64 {
            return Err(Error::Param(format!("inspect: {} lanes (1 to 64)", lanes.len())));
        }
        if top == 0 || top > 64 {
            return Err(Error::Param(format!("inspect: {top} candidates (1 to 64)")));
        }
        let params = lanes.iter().map(|l| LaneParams::new(&l.sampler, l.sample_index)).collect::<Result<Vec<_>>>()?;
        let ids = [prompt_ids, prefix].concat();
        self.model.set_lanes(&params, &ids, prefix.len() as u32)?;
        self.model.start_lanes(&ids, lanes.len() as u32, 1).await?;
        self.model.collect().await?;
        let ins = self.model.inspect_all(top).await?;
        Ok(ins.into_iter().map(|i| with_texts(&self.tokenizer, i)).collect())
    }
}

/// The inspection with each candidate's decoded piece.
fn with_texts(tokenizer: &Tokenizer, mut ins: Inspection) -> Inspection {
    for c in &mut ins.candidates {
        c.text = tokenizer.token_text(c.id).unwrap_or_default();
    }
    ins
}

/// Where to cut `delta` if `text + delta` now contains a stop string (a byte index into
/// `delta`, at a char boundary).
fn find_stop(text: &str, delta: &str, stops: &[String]) -> Option<usize> {
    if delta.is_empty() {
        return None;
    }
    let joined = format!("{text}{delta}");
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            // Only a match that ends inside the new text is new.
            let from = text.len().saturating_sub(s.len().saturating_sub(1));
            let from = (from..=text.len()).find(|&i| joined.is_char_boundary(i)).unwrap_or(text.len());
            joined[from..].find(s.as_str()).map(|i| from + i)
        })
        .min()
        .map(|at| at.saturating_sub(text.len()))
}

#[cfg(test)]
mod tests {
    use super::find_stop;

    #[test]
    fn stop_strings_cut_at_the_first_match_even_across_tokens() {
        let stops = vec!["\n\n".to_string(), "END".to_string()];
        assert_eq!(find_stop("abc", "de", &stops), None);
        assert_eq!(find_stop("abc\n", "\nxyz", &stops), Some(0));
        assert_eq!(find_stop("abc", "dEN", &stops), None);
        assert_eq!(find_stop("abcdEN", "D!", &stops), Some(0));
        assert_eq!(find_stop("x", "yENDz\n\n", &stops), Some(1));
        assert_eq!(find_stop("é", "éEND", &stops), Some(2));
    }
}
