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
//!   `engine.load(bytes, {nCtx, maxRows}, onPlan)`
//!                                            parses the GGUF, checks it against the adapter's
//!                                            limits (onPlan hears the GPU bytes it needs),
//!                                            uploads it; resolves to the model facts
//!   `engine.modelFacts()`                    {name, architecture, parameters, quantTypes, contextLength, …}
//!   `engine.generateLanes(prompt, chat, max, specs, sameDice, inspectTop, cb)`
//!                                            all lanes in one batched run; cb(event) per lane and token
//!   `engine.generateForks(prompt, chat, max, specs, sampleIndices, forced, inspectTop, cb)`
//!                                            the same, each lane with its own sample index and
//!                                            forced first tokens (`Engine::generate_forks`)
//!   `engine.stop()`                          the running generation ends after the step in flight
//!   `engine.deviceLost()`                    why the GPU device was lost, or null
//!   `engine.debugLoseDevice()`               destroys the device (the device-loss tests)
//!   `engine.inspectStep(prompt, chat, spec, sampleIndex, prefix, top)`
//!                                            the Inspection behind one token of one lane, recomputed
//!   `engine.tokenTexts(ids)`                 each id's decoded piece
//!
//! Records and inspections go out through serde-wasm-bindgen with the core's field names
//! (`LaneRecord` as `RecordView`, `Inspection`), so the page sees exactly what the CLI's
//! JSON shows.
//!   `engine.runEval(spec, cb)`, `evalPreview(spec)`   the eval runner (see web/eval.rs)

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::engine::{CancelFlag, LaneEvent, LaneSpec};
use crate::error::Error;
use crate::gguf::Gguf;
use crate::model::{Arriving, Chunks};
use crate::sampling::SamplerConfig;
use crate::{Engine, GenerateOptions, Generation, Gpu, GpuOptions, LoadOptions, LoadTimes};
use js_sys::{Array, Function, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

mod eval;
mod figures;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// What the page shows about the loaded model (computed from the GGUF at load time).
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelFacts {
    name: String,
    architecture: String,
    parameters: u64,
    /// Tensor type name → how many tensors use it.
    quant_types: BTreeMap<String, u32>,
    #[serde(rename = "contextLength")]
    context_train: u32,
    context_allocated: u32,
    vocab: u32,
    layers: u32,
    embedding: u32,
    file_bytes: u64,
    weight_bytes: u64,
    kv_bytes: u64,
    /// Where the load's time went, phase by phase (ms).
    load: LoadTimes,
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
    /// The running generation's cancel flag (the engine checks it between steps).
    cancel: CancelFlag,
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
            cancel: Arc::new(AtomicBool::new(false)),
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
        for (on, name) in
            [(f.has_subgroups, "subgroups"), (f.has_f16, "shader-f16"), (f.has_timestamps, "timestamp-query")]
        {
            if on {
                features.push(&name.into());
            }
        }
        set(&o, "features", features);
        o.into()
    }

    /// Parses and uploads a GGUF model, replacing the loaded one only once the new one is
    /// ready (a failed load keeps the old model and its facts). `opts`: `{nCtx, maxRows}`,
    /// both optional. `on_plan({weightBytes, kvBytes, largestTensor, largestBytes})` hears what the model will take on the GPU once it has been
    /// checked against the adapter's limits and before anything is uploaded. Resolves to
    /// the model facts.
    pub fn load(&self, bytes: Uint8Array, opts: JsValue, on_plan: Option<Function>) -> js_sys::Promise {
        self.start_load(Bytes::Whole(bytes), opts, on_plan)
    }

    /// `load` of a file that is still arriving: `pull()` resolves to the file's next bytes
    /// (a Uint8Array) or to null at its end; `size` is its size when known (null if not),
    /// `limit` the most bytes to accept. The header is parsed as soon as it is in, the
    /// pipelines are made while the rest arrives, and each tensor is uploaded once its bytes
    /// are in. A rejection of `pull` fails the load with its message.
    #[wasm_bindgen(js_name = loadStream)]
    pub fn load_stream(
        &self,
        pull: Function,
        size: Option<f64>,
        limit: f64,
        opts: JsValue,
        on_plan: Option<Function>,
    ) -> js_sys::Promise {
        let size = size.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s as usize);
        let limit = if limit.is_finite() && limit > 0.0 { limit as usize } else { 0 };
        self.start_load(Bytes::Arriving { pull, size, limit }, opts, on_plan)
    }

    fn start_load(&self, bytes: Bytes, opts: JsValue, on_plan: Option<Function>) -> js_sys::Promise {
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
            // The loaded model stays until the new one is fully ready: a file that fails to
            // parse or upload leaves the reader with the model that worked. (Both are in GPU
            // memory for the length of the upload.)
            let result = load(gpu, bytes, &load_opts, on_plan).await;
            busy.set(false);
            let (engine, facts) = result.map_err(js_err)?;
            let js = to_js(&facts)?;
            *cell.borrow_mut() = Some(engine);
            *facts_cell.borrow_mut() = Some(facts);
            Ok(js)
        })
    }

    /// Makes now the pipelines the load left for their first use (B > 1 logits, the sampler
    /// stages, the inspector's masks), for a page that will run them: the browser compiles
    /// them in its GPU process while the reader looks at the page, instead of at the first
    /// step. Returns how many it made. A failure is reported at the next step, like any
    /// pipeline made on first use.
    #[wasm_bindgen(js_name = makePipelines)]
    pub fn make_pipelines(&self) -> Result<u32, JsValue> {
        let engine = self.engine.borrow();
        let engine = engine.as_ref().ok_or_else(|| js_msg("no model is loaded yet"))?;
        let kern = &engine.model.kern;
        let left = kern.pipelines().iter().filter(|p| p.made_ms.is_none()).count();
        kern.make_all_pipelines();
        Ok(left as u32)
    }

    /// The loaded model's facts, or `null`.
    #[wasm_bindgen(js_name = modelFacts)]
    pub fn model_facts(&self) -> JsValue {
        self.facts.borrow().as_ref().map_or(Ok(JsValue::NULL), to_js).unwrap_or(JsValue::NULL)
    }

    /// The prompt's token ids (`chat`: wrapped in the model's chat template first).
    pub fn encode(&self, prompt: &str, chat: bool) -> Result<Uint32Array, JsValue> {
        let engine = self.engine.borrow();
        let engine = engine.as_ref().ok_or_else(|| js_msg("no model is loaded yet"))?;
        let ids = engine.encode_prompt(prompt, chat).map_err(js_err)?;
        Ok(Uint32Array::from(ids.as_slice()))
    }

    /// Runs every lane on one prompt in one batched generation (the engine's
    /// `Engine::generate`): `specs` are lane specs ("greedy", "top_p=0.9,temperature=1,seed=42",
    /// see SamplerConfig), `same_dice` gives every lane the same random numbers, and
    /// `inspect_top` > 0 attaches the top candidates and histogram behind every token.
    /// `on_event({lane, index, tokenId, text, stop, record, inspection})` hears each token of
    /// each lane; `stop` is set on a lane's last event ("max_tokens", "eog", "cancelled").
    /// Resolves to one `{ids, text, stop, promptTokens, prefillMs, decodeMs}` per lane.
    #[wasm_bindgen(js_name = generateLanes)]
    #[allow(clippy::too_many_arguments)]
    pub fn generate_lanes(
        &self,
        prompt: String,
        chat: bool,
        max_tokens: u32,
        specs: Vec<String>,
        same_dice: bool,
        inspect_top: u32,
        on_event: Function,
    ) -> js_sys::Promise {
        let sample_indices = (0..specs.len() as u32).map(|i| if same_dice { 0 } else { i }).collect();
        let forced = vec![Vec::new(); specs.len()];
        let run = LaneRun { prompt, chat, max_tokens, specs, sample_indices, forced, inspect_top };
        let handles = self.handles();
        future_to_promise(async move {
            let gens = run_lanes(handles, run, |ev| on_event.call1(&JsValue::NULL, &event_js(ev)?).map(|_| ())).await?;
            Ok(gens.iter().map(generation_js).collect::<Array>().into())
        })
    }

    /// `generateLanes` with forks: lane i uses Philox sample index `sample_indices[i]` and
    /// starts with the token ids `forced[i]` (an array of ids, empty for none) after the
    /// prompt, as if it had picked them (`Engine::generate_forced`: its first sampled token
    /// is token `forced[i].length`, drawn with that step's dice; `max_tokens` counts the
    /// sampled tokens). Forced tokens come first as events with `forced: true`. Ids outside
    /// the vocabulary and a fork past the context reject, naming the lane.
    #[wasm_bindgen(js_name = generateForks)]
    #[allow(clippy::too_many_arguments)]
    pub fn generate_forks(
        &self,
        prompt: String,
        chat: bool,
        max_tokens: u32,
        specs: Vec<String>,
        sample_indices: Vec<u32>,
        forced: Array,
        inspect_top: u32,
        on_event: Function,
    ) -> js_sys::Promise {
        let handles = self.handles();
        future_to_promise(async move {
            if sample_indices.len() != specs.len() || forced.length() as usize != specs.len() {
                return Err(js_msg(&format!(
                    "{} lane specs, {} sample indices and {} forced prefixes: give one of each per lane",
                    specs.len(),
                    sample_indices.len(),
                    forced.length()
                )));
            }
            let forced = forced.iter().enumerate().map(|(i, v)| token_ids(&v, i)).collect::<Result<Vec<_>, _>>()?;
            let run = LaneRun { prompt, chat, max_tokens, specs, sample_indices, forced, inspect_top };
            let gens = run_lanes(handles, run, |ev| on_event.call1(&JsValue::NULL, &event_js(ev)?).map(|_| ())).await?;
            Ok(gens.iter().map(generation_js).collect::<Array>().into())
        })
    }

    /// Why the GPU device was lost (e.g. "destroyed", or the browser's message), or null
    /// while it works. Once lost, every GPU call fails; the page makes a new `WebEngine`.
    #[wasm_bindgen(js_name = deviceLost)]
    pub fn device_lost(&self) -> Option<String> {
        self.gpu.lost()
    }

    /// Destroys the GPU device (`GPUDevice.destroy()`), as a driver reset or a browser that
    /// reclaims the GPU would lose it: for the device-loss tests.
    #[wasm_bindgen(js_name = debugLoseDevice)]
    pub fn debug_lose_device(&self) {
        self.gpu.device.destroy();
    }

    /// Asks the running generation to end after the step in flight.
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn handles(&self) -> Handles {
        Handles {
            engine: self.engine.clone(),
            busy: self.busy.clone(),
            cancel: self.cancel.clone(),
            gpu: self.gpu.clone(),
        }
    }

    /// Whether a call is running.
    #[wasm_bindgen(getter)]
    pub fn busy(&self) -> bool {
        self.busy.get()
    }

    /// The distribution behind token `prefix.length` of a lane with sampler `spec` (a lane
    /// spec, as in `generateLanes`) and Philox sample index `sample_index` (0 with same
    /// dice, else the lane's index), after `prompt` (chat-wrapped when `chat`) and the lane's
    /// generated ids `prefix`: the same Inspection a run with `inspectTop` = `top` records
    /// (one prefill and one sampler step, so it works for steps that were not recorded).
    #[wasm_bindgen(js_name = inspectStep)]
    pub fn inspect_step(
        &self,
        prompt: String,
        chat: bool,
        spec: String,
        sample_index: u32,
        prefix: Vec<u32>,
        top: u32,
    ) -> js_sys::Promise {
        let cell = self.engine.clone();
        let busy = self.busy.clone();
        future_to_promise(async move {
            let sampler = SamplerConfig::parse(&spec).map_err(js_err)?;
            let mut lease = Lease::take(&cell, &busy)?;
            let engine = lease.get();
            let ids = engine.encode_prompt(&prompt, chat).map_err(js_err)?;
            let lane = LaneSpec { sampler, sample_index };
            let ins = engine.inspect_step(&ids, &lane, &prefix, top as usize).await.map_err(js_err)?;
            to_js(&ins)
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

/// Lane `lane`'s forced ids: an array (or typed array) of whole numbers in u32's range.
fn token_ids(v: &JsValue, lane: usize) -> Result<Vec<u32>, JsValue> {
    let bad = |what: &str| js_msg(&format!("lane {}: forced tokens {what}", lane + 1));
    if !Array::is_array(v) && !v.is_instance_of::<Uint32Array>() {
        return Err(bad("must be an array of token ids"));
    }
    Array::from(v)
        .iter()
        .map(|x| match x.as_f64() {
            Some(n) if n >= 0.0 && n <= u32::MAX as f64 && n.fract() == 0.0 => Ok(n as u32),
            _ => Err(bad(&format!(
                "must be token ids (whole numbers ≥ 0), not {}",
                x.as_string().unwrap_or_else(|| format!("{x:?}"))
            ))),
        })
        .collect()
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

/// Where a load's bytes come from.
enum Bytes {
    /// The whole file, in JS memory.
    Whole(Uint8Array),
    /// A file still arriving, chunk by chunk from `pull()`.
    Arriving { pull: Function, size: Option<usize>, limit: usize },
}

/// `pull()`'s chunks, copied into wasm memory as the load asks for them.
struct JsChunks(Function);

impl Chunks for JsChunks {
    fn next_into<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::Result<bool>> + 'a>> {
        let failed = |e: JsValue| {
            let msg = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message()));
            Error::Read(msg.or_else(|| e.as_string()).unwrap_or_else(|| "the source failed".into()))
        };
        Box::pin(async move {
            let next = self.0.call0(&JsValue::NULL).map_err(failed)?;
            let next = JsFuture::from(js_sys::Promise::resolve(&next)).await.map_err(failed)?;
            if next.is_null() || next.is_undefined() {
                return Ok(false);
            }
            let chunk = next
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::Read("the source gave something other than bytes".into()))?;
            let at = buf.len();
            buf.resize(at + chunk.length() as usize, 0);
            chunk.copy_to(&mut buf[at..]);
            Ok(true)
        })
    }
}

/// What the page shows of a file's header.
fn file_facts(g: &Gguf, file_bytes: u64) -> ModelFacts {
    let mut facts = ModelFacts {
        name: g.get_str("general.name").unwrap_or("").to_owned(),
        architecture: g.get_str("general.architecture").unwrap_or("").to_owned(),
        file_bytes,
        ..ModelFacts::default()
    };
    for t in &g.tensors {
        facts.parameters += t.n_elements();
        *facts.quant_types.entry(t.ty.name().to_owned()).or_default() += 1;
    }
    facts
}

async fn load(
    gpu: Gpu,
    bytes: Bytes,
    opts: &LoadOptions,
    on_plan: Option<Function>,
) -> crate::Result<(Engine, ModelFacts)> {
    let report = |plan: &crate::LoadPlan| {
        let Some(f) = on_plan else { return };
        let o = Object::new();
        set(&o, "weightBytes", plan.weight_bytes as f64);
        set(&o, "kvBytes", plan.kv_bytes as f64);
        set(&o, "largestTensor", plan.largest.0.as_str());
        set(&o, "largestBytes", plan.largest.1 as f64);
        // The page's own failure to show it must not stop the load.
        let _ = f.call1(&JsValue::NULL, &o);
    };
    let (engine, mut facts) = match bytes {
        Bytes::Whole(js) => {
            let t0 = web_time::Instant::now();
            let bytes = js.to_vec();
            let copy = t0.elapsed().as_secs_f64() * 1e3;
            let facts = file_facts(&Gguf::parse(&bytes)?, bytes.len() as u64);
            let mut engine = Engine::load_reporting(gpu, &bytes, opts, report).await?;
            engine.load.copy = copy;
            engine.load.total += copy;
            (engine, facts)
        }
        Bytes::Arriving { pull, size, limit } => {
            let mut file = Arriving::new(Box::new(JsChunks(pull)), size, limit);
            let (engine, header) = Engine::load_arriving(gpu, &mut file, opts, report).await?;
            (engine, file_facts(&header, file.arrived() as u64))
        }
    };
    let m = &engine.model;
    facts.context_train = m.cfg.n_ctx_train;
    facts.context_allocated = m.n_ctx;
    facts.vocab = m.cfg.vocab;
    facts.layers = m.cfg.n_layer;
    facts.embedding = m.cfg.n_embd;
    facts.weight_bytes = m.weight_bytes;
    facts.kv_bytes = m.kv_bytes();
    facts.load = engine.load;
    facts.has_chat_template = engine.tokenizer.has_chat_template();
    if facts.name.is_empty() {
        facts.name = m.cfg.name.clone();
    }
    Ok((engine, facts))
}

/// What a generation's future needs from its `WebEngine`.
struct Handles {
    engine: Rc<RefCell<Option<Engine>>>,
    busy: Rc<Cell<bool>>,
    cancel: CancelFlag,
    gpu: Gpu,
}

struct LaneRun {
    prompt: String,
    chat: bool,
    max_tokens: u32,
    specs: Vec<String>,
    /// Per lane: its Philox sample index and the tokens it starts with.
    sample_indices: Vec<u32>,
    forced: Vec<Vec<u32>>,
    inspect_top: u32,
}

/// Takes the engine, runs the lanes, hands every event to `on_event`; the first error
/// `on_event` returns cancels the run and is what the promise rejects with.
async fn run_lanes(
    h: Handles,
    run: LaneRun,
    mut on_event: impl FnMut(&LaneEvent) -> Result<(), JsValue>,
) -> Result<Vec<Generation>, JsValue> {
    let mut lease = Lease::take(&h.engine, &h.busy)?;
    let samplers = run
        .specs
        .iter()
        .enumerate()
        .map(|(i, spec)| SamplerConfig::parse(spec).map_err(|e| js_msg(&format!("lane {}: {e}", i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    h.cancel.store(false, Ordering::Relaxed);
    let opts = GenerateOptions {
        max_tokens: run.max_tokens,
        inspect_top: run.inspect_top as usize,
        cancel: Some(h.cancel.clone()),
        ..GenerateOptions::default()
    };
    let engine = lease.get();
    let prompt_ids = engine.encode_prompt(&run.prompt, run.chat).map_err(js_err)?;
    let lanes: Vec<LaneSpec> = samplers
        .into_iter()
        .zip(&run.sample_indices)
        .map(|(sampler, &sample_index)| LaneSpec { sampler, sample_index })
        .collect();
    let mut cb_error = None;
    let gens = engine
        .generate_forks(&prompt_ids, &lanes, &run.forced, &opts, |ev| {
            if cb_error.is_none() {
                if let Err(e) = on_event(&ev) {
                    cb_error = Some(e);
                    h.cancel.store(true, Ordering::Relaxed);
                }
            }
        })
        .await
        .map_err(|e| js_err(h.gpu.explain(e)))?;
    match cb_error {
        Some(e) => Err(e),
        None => Ok(gens),
    }
}

fn generation_js(g: &Generation) -> JsValue {
    let o = Object::new();
    set(&o, "ids", Uint32Array::from(g.ids.as_slice()));
    set(&o, "text", g.text.as_str());
    set(&o, "stop", g.stop);
    set(&o, "promptTokens", g.prompt_ids.len() as u32);
    set(&o, "prefillMs", g.prefill_ms);
    set(&o, "decodeMs", g.decode_ms);
    o.into()
}

/// A lane event as a plain object (see `generateLanes`).
fn event_js(ev: &LaneEvent) -> Result<JsValue, JsValue> {
    let o = Object::new();
    set(&o, "lane", ev.lane);
    set(&o, "index", ev.index);
    set(&o, "tokenId", ev.id);
    set(&o, "text", ev.text);
    set(&o, "forced", ev.forced);
    set(&o, "stop", ev.stop.map_or(JsValue::NULL, JsValue::from_str));
    set(&o, "record", to_js(&ev.record)?);
    set(&o, "inspection", ev.inspection.as_ref().map_or(Ok(JsValue::NULL), to_js)?);
    Ok(o.into())
}

/// A core value as a plain JS object (`None` as null, maps as objects).
fn to_js<T: serde::Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let s = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true).serialize_maps_as_objects(true);
    v.serialize(&s).map_err(|e| js_msg(&format!("converting a result for the page: {e}")))
}
