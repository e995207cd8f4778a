//! The browser edge: a thin `#[wasm_bindgen]` API over [`Engine`] for `web/worker.js`.
//!
//! Everything here converts: JS values in, core calls, plain JS objects and strings out.
//! Every core error becomes a `JsError` carrying the core's message; nothing panics across
//! the boundary (a panic would leave the wasm instance unusable), and a second call while
//! one is running is refused with a "busy" error instead of a RefCell panic.
//!
//! The API (all async methods return Promises):
//!   `WebEngine.create()`                     navigator.gpu + adapter + device, or a JsError
//!   `engine.adapter()`                       {name, backend, deviceType, driver, software, features, variant}
//!   `engine.load(bytes, {nCtx, maxRows})`    parses the GGUF, uploads it; resolves to the model facts
//!   `engine.modelFacts()`                    {name, architecture, parameters, quantTypes, contextLength, …}
//!   `engine.generate(prompt, chat, max, cb)` greedy; cb(textDelta, tokenId, index) per token
//!   `engine.stop()`                          the running generate ends after its current token
//!   `engine.inspect(prompt, chat, prefix)`   the logits (Float32Array [V]) after prompt + prefix
//!   `engine.tokenTexts(ids)`                 each id's decoded piece (for the inspector)

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Function, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_time::Instant;

use crate::error::Error;
use crate::gguf::Gguf;
use crate::{Engine, Gpu, GpuOptions, LoadOptions};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// What the page shows about the loaded model (computed from the GGUF at load time).
#[derive(Clone, Debug, Default)]
struct ModelFacts {
    name: String,
    architecture: String,
    parameters: u64,
    /// Tensor type name → how many tensors use it.
    quant_types: BTreeMap<String, u32>,
    context_train: u32,
    context_allocated: u32,
    vocab: u32,
    layers: u32,
    embedding: u32,
    file_bytes: u64,
    weight_bytes: u64,
    kv_bytes: u64,
    load_ms: f64,
    has_chat_template: bool,
}

/// The wasm engine: one GPU device and, after `load`, one model.
#[wasm_bindgen]
pub struct WebEngine {
    gpu: Gpu,
    /// `None` before `load` and while a call holds the engine (see [`Lease`]).
    engine: Rc<RefCell<Option<Engine>>>,
    /// Set while a call has taken the engine out.
    busy: Rc<Cell<bool>>,
    stop: Rc<Cell<bool>>,
    facts: Rc<RefCell<Option<ModelFacts>>>,
}

fn js_err(e: Error) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn js_msg(msg: &str) -> JsValue {
    JsError::new(msg).into()
}

/// Sets `obj[key] = value` (cannot fail on a plain object).
fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Takes the engine out of its cell for the length of one async call and puts it back when
/// dropped, so a second call made meanwhile gets a clear "busy" error.
struct Lease {
    cell: Rc<RefCell<Option<Engine>>>,
    busy: Rc<Cell<bool>>,
    engine: Option<Engine>,
}

impl Lease {
    fn take(cell: &Rc<RefCell<Option<Engine>>>, busy: &Rc<Cell<bool>>) -> Result<Lease, JsValue> {
        if busy.get() {
            return Err(js_msg("the engine is busy with another request; stop it or wait"));
        }
        let engine = cell.borrow_mut().take().ok_or_else(|| js_msg("no model is loaded yet"))?;
        busy.set(true);
        Ok(Lease { cell: cell.clone(), busy: busy.clone(), engine: Some(engine) })
    }

    fn get(&mut self) -> &mut Engine {
        self.engine.as_mut().expect("a lease holds its engine until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *self.cell.borrow_mut() = self.engine.take();
        self.busy.set(false);
    }
}

/// `navigator.gpu` of the window or worker we run in, if any.
fn navigator_gpu() -> Option<JsValue> {
    let nav = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    if nav.is_undefined() || nav.is_null() {
        return None;
    }
    let gpu = Reflect::get(&nav, &"gpu".into()).ok()?;
    (!gpu.is_undefined() && !gpu.is_null()).then_some(gpu)
}

#[wasm_bindgen]
impl WebEngine {
    /// Opens the GPU. Rejects with a message the page can show when this browser has no
    /// WebGPU (`navigator.gpu` missing) or no adapter.
    pub async fn create() -> Result<WebEngine, JsValue> {
        if navigator_gpu().is_none() {
            return Err(js_msg(
                "WebGPU is not available: this browser has no navigator.gpu \
                 (use Chrome or Edge 113+, or enable WebGPU in your browser's flags)",
            ));
        }
        let gpu = Gpu::new(GpuOptions::default()).await.map_err(js_err)?;
        Ok(WebEngine {
            gpu,
            engine: Rc::new(RefCell::new(None)),
            busy: Rc::new(Cell::new(false)),
            stop: Rc::new(Cell::new(false)),
            facts: Rc::new(RefCell::new(None)),
        })
    }

    /// The adapter and the features the engine uses on it.
    pub fn adapter(&self) -> JsValue {
        let f = &self.gpu.facts;
        let o = Object::new();
        set(&o, "name", f.name.as_str());
        set(&o, "backend", f.backend.as_str());
        set(&o, "deviceType", f.device_type.as_str());
        set(&o, "driver", f.driver.as_str());
        set(&o, "software", f.software);
        set(&o, "variant", self.gpu.variant.name());
        set(&o, "maxStorageBinding", f.max_storage_binding as f64);
        let features = Array::new();
        for (on, name) in [(f.has_subgroups, "subgroups"), (f.has_f16, "shader-f16"), (f.has_timestamps, "timestamp-query")] {
            if on {
                features.push(&name.into());
            }
        }
        set(&o, "features", features);
        o.into()
    }

    /// Parses and uploads a GGUF model (replacing any loaded one). `opts`: `{nCtx, maxRows}`,
    /// both optional. Resolves to the model facts.
    pub fn load(&self, bytes: Uint8Array, opts: JsValue) -> js_sys::Promise {
        let gpu = self.gpu.clone();
        let cell = self.engine.clone();
        let busy = self.busy.clone();
        let facts_cell = self.facts.clone();
        future_to_promise(async move {
            if busy.get() {
                return Err(js_msg("the engine is busy; stop the running generation first"));
            }
            let mut load_opts = LoadOptions::default();
            if let Some(n) = opt_u32(&opts, "nCtx")? {
                load_opts.n_ctx = n;
            }
            if let Some(n) = opt_u32(&opts, "maxRows")? {
                load_opts.max_rows = n;
            }
            busy.set(true);
            // Drop the old model first so its GPU memory can be reused.
            cell.borrow_mut().take();
            facts_cell.borrow_mut().take();
            let bytes = bytes.to_vec();
            let result = load(gpu, &bytes, &load_opts).await;
            busy.set(false);
            let (engine, facts) = result.map_err(js_err)?;
            let js = facts_js(&facts);
            *cell.borrow_mut() = Some(engine);
            *facts_cell.borrow_mut() = Some(facts);
            Ok(js)
        })
    }

    /// The loaded model's facts, or `null`.
    #[wasm_bindgen(js_name = modelFacts)]
    pub fn model_facts(&self) -> JsValue {
        self.facts.borrow().as_ref().map_or(JsValue::NULL, facts_js)
    }

    /// The prompt's token ids (`chat`: wrapped in the model's chat template first).
    pub fn encode(&self, prompt: &str, chat: bool) -> Result<Uint32Array, JsValue> {
        let engine = self.engine.borrow();
        let engine = engine.as_ref().ok_or_else(|| js_msg("no model is loaded yet"))?;
        let ids = engine.encode_prompt(prompt, chat).map_err(js_err)?;
        Ok(Uint32Array::from(ids.as_slice()))
    }

    /// Greedy generation. `on_token(textDelta, tokenId, index)` is called for every generated
    /// token (the delta may be "" while a character's bytes are incomplete; an end-of-generation
    /// token ends the run and is not reported). Resolves to
    /// `{ids, text, stop, promptTokens, prefillMs, decodeMs}`; `stop` is "max_tokens", "eog"
    /// or "stopped".
    pub fn generate(&self, prompt: String, chat: bool, max_tokens: u32, on_token: Function) -> js_sys::Promise {
        let cell = self.engine.clone();
        let busy = self.busy.clone();
        let stop = self.stop.clone();
        future_to_promise(async move {
            let mut lease = Lease::take(&cell, &busy)?;
            stop.set(false);
            let engine = lease.get();
            let prompt_ids = engine.encode_prompt(&prompt, chat).map_err(js_err)?;
            let mut cb_error = None;
            let out = greedy(engine, &prompt_ids, max_tokens, &stop, |delta, id, index| {
                if cb_error.is_none() {
                    if let Err(e) = on_token.call3(&JsValue::NULL, &delta.into(), &id.into(), &index.into()) {
                        cb_error = Some(e);
                    }
                }
            })
            .await
            .map_err(js_err)?;
            if let Some(e) = cb_error {
                return Err(e);
            }
            let o = Object::new();
            set(&o, "ids", Uint32Array::from(out.ids.as_slice()));
            set(&o, "text", out.text.as_str());
            set(&o, "stop", out.stop);
            set(&o, "promptTokens", prompt_ids.len() as u32);
            set(&o, "prefillMs", out.prefill_ms);
            set(&o, "decodeMs", out.decode_ms);
            Ok(o.into())
        })
    }

    /// Asks the running `generate` to end after the token it is computing.
    pub fn stop(&self) {
        self.stop.set(true);
    }

    /// Whether a call is running.
    #[wasm_bindgen(getter)]
    pub fn busy(&self) -> bool {
        self.busy.get()
    }

    /// The raw logits (length V) for the next token after `prompt` (chat-wrapped when `chat`)
    /// followed by the generated ids `prefix`: the distribution the sampler saw at step
    /// `prefix.length`. Recomputed with one prefill, for the inspector.
    pub fn inspect(&self, prompt: String, chat: bool, prefix: Vec<u32>) -> js_sys::Promise {
        let cell = self.engine.clone();
        let busy = self.busy.clone();
        future_to_promise(async move {
            let mut lease = Lease::take(&cell, &busy)?;
            let engine = lease.get();
            let mut ids = engine.encode_prompt(&prompt, chat).map_err(js_err)?;
            ids.extend_from_slice(&prefix);
            engine.model.prefill(&ids, 0).await.map_err(js_err)?;
            let logits = engine.model.read_logits(1).await.map_err(js_err)?;
            Ok(Float32Array::from(logits.as_slice()).into())
        })
    }

    /// Each id's decoded piece (lossy for partial UTF-8), "" for an id outside the vocabulary.
    #[wasm_bindgen(js_name = tokenTexts)]
    pub fn token_texts(&self, ids: Vec<u32>) -> Result<Array, JsValue> {
        let engine = self.engine.borrow();
        let engine = engine.as_ref().ok_or_else(|| js_msg("no model is loaded yet (or it is busy)"))?;
        Ok(ids.iter().map(|&id| JsValue::from(engine.tokenizer.token_text(id).unwrap_or_default())).collect())
    }
}

/// `opts[key]` as a u32, if present.
fn opt_u32(opts: &JsValue, key: &str) -> Result<Option<u32>, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(None);
    }
    let v = Reflect::get(opts, &key.into())?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n >= 1.0 && n <= u32::MAX as f64 && n.fract() == 0.0 => Ok(Some(n as u32)),
        _ => Err(js_msg(&format!("option {key} must be a positive integer"))),
    }
}

async fn load(gpu: Gpu, bytes: &[u8], opts: &LoadOptions) -> crate::Result<(Engine, ModelFacts)> {
    let g = Gguf::parse(bytes)?;
    let mut facts = ModelFacts {
        name: g.get_str("general.name").unwrap_or("").to_owned(),
        architecture: g.get_str("general.architecture").unwrap_or("").to_owned(),
        file_bytes: bytes.len() as u64,
        ..ModelFacts::default()
    };
    for t in &g.tensors {
        facts.parameters += t.n_elements();
        *facts.quant_types.entry(t.ty.name().to_owned()).or_default() += 1;
    }
    drop(g);
    let engine = Engine::load(gpu, bytes, opts).await?;
    let m = &engine.model;
    facts.context_train = m.cfg.n_ctx_train;
    facts.context_allocated = m.n_ctx;
    facts.vocab = m.cfg.vocab;
    facts.layers = m.cfg.n_layer;
    facts.embedding = m.cfg.n_embd;
    facts.weight_bytes = m.weight_bytes;
    facts.kv_bytes = m.kv_bytes();
    facts.load_ms = engine.load_ms;
    facts.has_chat_template = engine.tokenizer.has_chat_template();
    if facts.name.is_empty() {
        facts.name = m.cfg.name.clone();
    }
    Ok((engine, facts))
}

fn facts_js(f: &ModelFacts) -> JsValue {
    let o = Object::new();
    set(&o, "name", f.name.as_str());
    set(&o, "architecture", f.architecture.as_str());
    set(&o, "parameters", f.parameters as f64);
    let q = Object::new();
    for (ty, n) in &f.quant_types {
        set(&q, ty, *n);
    }
    set(&o, "quantTypes", q);
    set(&o, "contextLength", f.context_train);
    set(&o, "contextAllocated", f.context_allocated);
    set(&o, "vocab", f.vocab);
    set(&o, "layers", f.layers);
    set(&o, "embedding", f.embedding);
    set(&o, "fileBytes", f.file_bytes as f64);
    set(&o, "weightBytes", f.weight_bytes as f64);
    set(&o, "kvBytes", f.kv_bytes as f64);
    set(&o, "loadMs", f.load_ms);
    set(&o, "hasChatTemplate", f.has_chat_template);
    o.into()
}

struct Greedy {
    ids: Vec<u32>,
    text: String,
    stop: &'static str,
    prefill_ms: f64,
    decode_ms: f64,
}

/// Greedy decoding, step for step what `Engine::generate_greedy` does, plus what the page
/// needs from it: each token's id as it arrives and a stop flag checked between tokens.
/// Stand-in until the engine's batched lanes API streams per-token events itself.
async fn greedy(
    engine: &mut Engine,
    prompt_ids: &[u32],
    max_tokens: u32,
    stop: &Cell<bool>,
    mut on_token: impl FnMut(&str, u32, u32),
) -> crate::Result<Greedy> {
    let n_ctx = engine.model.n_ctx as usize;
    if prompt_ids.len() + max_tokens as usize > n_ctx {
        return Err(Error::Context(format!(
            "{} prompt tokens + {max_tokens} new tokens exceed the context of {n_ctx}",
            prompt_ids.len()
        )));
    }
    let mut out = Greedy { ids: Vec::new(), text: String::new(), stop: "max_tokens", prefill_ms: 0.0, decode_ms: 0.0 };
    if max_tokens == 0 {
        return Ok(out);
    }
    let tokenizer = &engine.tokenizer;
    let model = &mut engine.model;
    let mut stream = tokenizer.stream_decoder();
    let t0 = Instant::now();
    let mut id = model.prefill(prompt_ids, 0).await?;
    out.prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let mut pos = prompt_ids.len() as u32;
    loop {
        if tokenizer.is_eog(id) {
            out.stop = "eog";
            // Bytes of an unfinished character go to the last token (a repeated index).
            let tail = stream.finish();
            if let (false, Some(&last)) = (tail.is_empty(), out.ids.last()) {
                out.text.push_str(&tail);
                on_token(&tail, last, out.ids.len() as u32 - 1);
            }
            break;
        }
        let mut delta = stream.push(id);
        out.ids.push(id);
        let last = out.ids.len() as u32 >= max_tokens || stop.get();
        if last {
            delta.push_str(&stream.finish());
        }
        out.text.push_str(&delta);
        on_token(&delta, id, out.ids.len() as u32 - 1);
        if last {
            if stop.get() {
                out.stop = "stopped";
            }
            break;
        }
        id = model.decode(pos).await?;
        pos += 1;
    }
    out.decode_ms = t1.elapsed().as_secs_f64() * 1e3;
    Ok(out)
}
