//! One lane's sampler parameters and its per-step record, as the shaders read and write
//! them: `LaneParams` and `Record` in shaders/sample_common.wgsl mirror these structs field
//! for field (64 bytes each).

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use super::config::{SamplerConfig, TemperaturePosition};
use crate::error::Result;

/// `LaneParams::flags` bits.
pub mod flags {
    pub const GREEDY: u32 = 1;
    pub const TEMP_LAST: u32 = 2;
    pub const SIGMA: u32 = 4;
    pub const TOP_K: u32 = 8;
    pub const TOP_P: u32 = 16;
    pub const MIN_P: u32 = 32;
    pub const PENALTY: u32 = 64;
}

/// One lane's sampler as the shaders read it (`LaneParams` in sample_common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct LaneParams {
    pub flags: u32,
    pub t_first: f32,
    pub t_last: f32,
    pub top_k: u32,
    pub top_p_fx: u32,
    pub ln_min_p: f32,
    pub n_sigma: f32,
    pub penalty: f32,
    pub penalty_last_n: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub sample_index: u32,
    pub _pad: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<LaneParams>() == 64);

impl LaneParams {
    /// The lane's parameters; `sample_index` is the third Philox counter word (the N lanes
    /// of a repeated-sampling run use 0..N with one seed).
    pub fn new(cfg: &SamplerConfig, sample_index: u32) -> Result<LaneParams> {
        cfg.validate()?;
        let mut f = 0;
        let on = |b: bool, bit: u32| if b { bit } else { 0 };
        if cfg.is_greedy() {
            f |= flags::GREEDY;
        } else {
            f |= on(cfg.temperature_position == TemperaturePosition::Last, flags::TEMP_LAST);
            f |= on(cfg.top_n_sigma.is_some(), flags::SIGMA);
            f |= on(cfg.top_k > 0, flags::TOP_K);
            f |= on(cfg.top_p < 1.0, flags::TOP_P);
            f |= on(cfg.min_p > 0.0, flags::MIN_P);
        }
        f |= on(cfg.penalty_on(), flags::PENALTY);
        Ok(LaneParams {
            flags: f,
            t_first: cfg.temperature_first(),
            t_last: cfg.temperature_last(),
            top_k: cfg.top_k,
            top_p_fx: ((cfg.top_p as f64) * 4_294_967_296.0).round().min(u32::MAX as f64) as u32,
            ln_min_p: cfg.ln_min_p(),
            n_sigma: cfg.top_n_sigma.unwrap_or(0.0),
            penalty: cfg.repetition_penalty,
            penalty_last_n: cfg.penalty_last_n,
            seed_lo: cfg.seed as u32,
            seed_hi: (cfg.seed >> 32) as u32,
            sample_index,
            _pad: [0; 4],
        })
    }

    pub fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }
}

/// What the chain reports per lane and step (`Record` in sample_common.wgsl). Thresholds are
/// working logits (penalized, divided by T when the temperature goes first); read them
/// through the accessors, which say which applied. Serialized as `RecordView`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable, Serialize)]
#[serde(into = "RecordView")]
pub struct LaneRecord {
    pub token: u32,
    /// Tokens left after truncation (1 for greedy; 0 when nothing was in play).
    pub survivors: u32,
    /// The largest working logit in play.
    pub max_logit: f32,
    /// The lane's `flags`, less the truncations that did not apply (all on the greedy path,
    /// top-k when k ≥ the tokens in play); thresholds that did not apply are 0.
    pub applied: u32,
    pub sigma: f32,
    pub top_k: f32,
    pub top_k_last_id: u32,
    pub top_p: f32,
    pub min_p: f32,
    /// The sampled token's working logit (its penalized logit for greedy).
    pub token_logit: f32,
    /// Its probability in the distribution it was drawn from (1 for greedy).
    pub token_prob: f32,
    /// The step whose dice were used (the lane's counter before this pick).
    pub step: u32,
    /// Tokens with a finite working logit.
    pub in_play: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<LaneRecord>() == 64);

impl LaneRecord {
    fn on(&self, bit: u32) -> bool {
        self.applied & bit != 0
    }
    pub fn greedy(&self) -> bool {
        self.on(flags::GREEDY)
    }
    /// top-nσ: survivors have w ≥ this.
    pub fn sigma_threshold(&self) -> Option<f32> {
        self.on(flags::SIGMA).then_some(self.sigma)
    }
    /// top-k: the k-th value and the last id kept among its ties (u32::MAX: all). None when
    /// off or when k ≥ the tokens in play (nothing to cut).
    pub fn top_k_cut(&self) -> Option<(f32, u32)> {
        self.on(flags::TOP_K).then_some((self.top_k, self.top_k_last_id))
    }
    /// top-p: survivors have w ≥ this.
    pub fn top_p_threshold(&self) -> Option<f32> {
        self.on(flags::TOP_P).then_some(self.top_p)
    }
    /// min-p: max + ln(min_p).
    pub fn min_p_threshold(&self) -> Option<f32> {
        self.on(flags::MIN_P).then_some(self.min_p)
    }
}

/// A record as the CLI's JSON and the page see it: the thresholds that applied, `None`
/// (null) for the samplers that did not.
#[derive(Serialize)]
pub struct RecordView {
    pub token: u32,
    pub survivors: u32,
    pub in_play: u32,
    pub max_logit: f32,
    pub token_logit: f32,
    pub token_prob: f32,
    pub step: u32,
    pub greedy: bool,
    pub sigma: Option<f32>,
    /// The k-th largest working logit.
    pub top_k: Option<f32>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
}

impl From<LaneRecord> for RecordView {
    fn from(r: LaneRecord) -> Self {
        RecordView {
            token: r.token,
            survivors: r.survivors,
            in_play: r.in_play,
            max_logit: r.max_logit,
            token_logit: r.token_logit,
            token_prob: r.token_prob,
            step: r.step,
            greedy: r.greedy(),
            sigma: r.sigma_threshold(),
            top_k: r.top_k_cut().map(|(v, _)| v),
            top_p: r.top_p_threshold(),
            min_p: r.min_p_threshold(),
        }
    }
}
