//! Survivors against temperature at one step (the top-nσ paper's figure): how many tokens
//! each truncation keeps as the temperature rises, counted by the GPU sampler chain itself
//! (`Engine::inspect_lanes`: one prefill, one batched step, a lane per sampler and
//! temperature), with the step's logit histogram and top-nσ's max − nσ line.
//!
//! With the temperature applied first, top-p and min-p keep more tokens as T rises, while
//! top-nσ's set does not change: max − nσ scales with the logits, so the same tokens pass.

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, LaneSpec};
use crate::error::{shown, Error, Result};
use crate::sampling::config::SamplerConfig;
use crate::sampling::inspect::Inspection;

/// The most sampler × temperature lanes one curve takes (one batched step).
pub const MAX_LANES: usize = 63;

/// What to measure: `samplers` (lane specs without a temperature of their own) at each of
/// `temperatures`, on the first token after `prompt` (chat-wrapped when `chat`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SurvivorSpec {
    pub prompt: String,
    #[serde(default)]
    pub chat: bool,
    pub samplers: Vec<String>,
    pub temperatures: Vec<f32>,
}

/// One sampler's survivor count at each temperature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SurvivorSeries {
    pub spec: String,
    pub survivors: Vec<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SurvivorCurve {
    pub temperatures: Vec<f32>,
    pub series: Vec<SurvivorSeries>,
    /// Tokens in play at the step (the vocabulary, less any with a non-finite logit).
    pub in_play: u32,
    /// The step's logits at T = 1 (the first sampler with top-nσ, else the first sampler):
    /// its histogram, its range and the thresholds that applied (top-nσ's is max − nσ).
    pub at_t1: Inspection,
}

impl SurvivorSpec {
    /// The lanes in order: every sampler at every temperature (sampler-major), then the
    /// T = 1 lane for the histogram. Errors name the sampler or temperature.
    pub fn lanes(&self) -> Result<Vec<SamplerConfig>> {
        if self.samplers.is_empty() || self.temperatures.is_empty() {
            return Err(Error::Param("survivors: give at least one sampler and one temperature".into()));
        }
        if self.samplers.len().saturating_mul(self.temperatures.len()) > MAX_LANES {
            return Err(Error::Param(format!(
                "survivors: {} samplers × {} temperatures: at most {MAX_LANES} lanes",
                self.samplers.len(),
                self.temperatures.len()
            )));
        }
        let base = self
            .samplers
            .iter()
            .map(|s| {
                let c = SamplerConfig::parse(s).map_err(|e| Error::Param(format!("sampler {}: {e}", shown(s))))?;
                if c.is_greedy() {
                    return Err(Error::Param(format!(
                        "sampler {}: greedy keeps one token at every temperature",
                        shown(s)
                    )));
                }
                Ok(c)
            })
            .collect::<Result<Vec<_>>>()?;
        let at = |c: &SamplerConfig, t: f32| {
            let c = SamplerConfig { temperature: t, ..c.clone() };
            c.validate().map_err(|e| Error::Param(format!("temperature {t}: {e}")))?;
            Ok(c)
        };
        let mut lanes = Vec::with_capacity(base.len() * self.temperatures.len() + 1);
        for c in &base {
            for &t in &self.temperatures {
                lanes.push(at(c, t)?);
            }
        }
        let hist = base.iter().find(|c| c.top_n_sigma.is_some()).unwrap_or(&base[0]);
        lanes.push(at(hist, 1.0)?);
        Ok(lanes)
    }
}

/// Measures the curve on the loaded model (see the module docs).
pub async fn survivor_curve(engine: &mut Engine, spec: &SurvivorSpec) -> Result<SurvivorCurve> {
    let configs = spec.lanes()?;
    let prompt = engine.encode_prompt(&spec.prompt, spec.chat)?;
    // Every lane draws with sample index 0: the dice do not change what survives.
    let lanes: Vec<LaneSpec> = configs.iter().map(|c| LaneSpec { sampler: c.clone(), sample_index: 0 }).collect();
    let mut ins = engine.inspect_lanes(&prompt, &lanes, &[], 1).await?;
    let at_t1 = ins.pop().expect("the T = 1 lane");
    let n = spec.temperatures.len();
    let series = spec
        .samplers
        .iter()
        .zip(ins.chunks(n))
        .map(|(s, row)| SurvivorSeries {
            spec: s.trim().to_string(),
            survivors: row.iter().map(|i| i.survivors).collect(),
        })
        .collect();
    Ok(SurvivorCurve { temperatures: spec.temperatures.clone(), series, in_play: at_t1.record.in_play, at_t1 })
}

impl SurvivorCurve {
    /// A table for the terminal: a row per temperature, a column per sampler.
    pub fn table(&self) -> String {
        let mut out = format!("{:>6}", "T");
        for s in &self.series {
            out += &format!(" {:>16}", s.spec);
        }
        out.push('\n');
        for (i, t) in self.temperatures.iter().enumerate() {
            out += &format!("{t:>6}");
            for s in &self.series {
                out += &format!(" {:>16}", s.survivors[i]);
            }
            out.push('\n');
        }
        out += &format!("{} tokens in play", self.in_play);
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a survivor curve serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(samplers: &[&str], temperatures: &[f32]) -> SurvivorSpec {
        SurvivorSpec {
            prompt: "x".into(),
            chat: false,
            samplers: samplers.iter().map(|s| s.to_string()).collect(),
            temperatures: temperatures.to_vec(),
        }
    }

    #[test]
    fn lanes_are_sampler_major_with_the_histogram_lane_last() {
        let lanes = spec(&["top_p=0.9", "top_n_sigma=1"], &[0.5, 2.0]).lanes().unwrap();
        let got: Vec<String> = lanes.iter().map(|c| c.to_spec()).collect();
        let want = ["top_p=0.9,temperature=0.5", "top_p=0.9,temperature=2", "top_n_sigma=1,temperature=0.5"];
        for (g, w) in got.iter().zip(want) {
            assert_eq!(SamplerConfig::parse(g).unwrap(), SamplerConfig::parse(w).unwrap(), "{g} vs {w}");
        }
        assert_eq!(lanes.len(), 5);
        assert_eq!((lanes[4].top_n_sigma, lanes[4].temperature), (Some(1.0), 1.0));
    }

    #[test]
    fn bad_specs_are_named() {
        let e = |s: SurvivorSpec| s.lanes().unwrap_err().to_string();
        assert!(e(spec(&["greedy"], &[1.0])).contains("greedy"));
        assert!(e(spec(&["top_q=1"], &[1.0])).contains("top_q"));
        assert!(e(spec(&["min_p=0.1"], &[-1.0])).contains("temperature -1"));
        assert!(e(spec(&["min_p=0.1"; 8], &[1.0; 8])).contains("at most 63"));
        assert!(e(spec(&[], &[1.0])).contains("at least one"));
    }
}
