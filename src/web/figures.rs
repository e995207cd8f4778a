//! The eval page's Figures (src/eval/presets.rs): the presets as the page reads them, and
//! the survivor curve the top-nσ figure draws. The eval presets run through `runEval` with
//! their specs unchanged, so a figure's numbers are a report's.
//!
//!   `evalPresets(size)`                  every preset at "full" or "small": {name, title,
//!                                        after, figure, size, caption, parts: [{label, spec}],
//!                                        survivors, extrapolateTo, tokenBudget}
//!   `engine.survivorCurve(specJson)`     a `SurvivorSpec` (JSON) → its `SurvivorCurve`

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{js_err, to_js, Lease, WebEngine};
use crate::error::Error;
use crate::eval::presets::{presets, Size};
use crate::eval::{survivor_curve, SurvivorSpec};

#[wasm_bindgen(js_name = evalPresets)]
pub fn eval_presets(size: &str) -> Result<JsValue, JsValue> {
    let list = Size::parse(size).and_then(presets).map_err(js_err)?;
    to_js(&list)
}

#[wasm_bindgen]
impl WebEngine {
    /// Survivors against temperature at the first step after the spec's prompt, counted by
    /// the GPU chain (one prefill, one batched step).
    #[wasm_bindgen(js_name = survivorCurve)]
    pub fn survivor_curve(&self, spec_json: String) -> js_sys::Promise {
        let h = self.handles();
        future_to_promise(async move {
            let spec: SurvivorSpec = serde_json::from_str(&spec_json)
                .map_err(|e| js_err(Error::Param(format!("survivor curve request: {e}"))))?;
            let mut lease = Lease::take(&h.engine, &h.busy)?;
            let curve = survivor_curve(lease.get(), &spec).await.map_err(js_err)?;
            to_js(&curve)
        })
    }
}
