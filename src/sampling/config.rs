//! `SamplerConfig`: the sampler settings of one lane, named as llama.cpp, vLLM and OpenAI
//! name them, with validation and a compact text form ("lane spec") for the CLI and the page:
//! `greedy`, `top_p=0.9`, `min_p=0.1,temperature=1.5`,
//! `top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest penalty window the GPU ring buffer holds per lane.
pub const MAX_PENALTY_WINDOW: u32 = 1024;

/// Temperatures in (0, MIN_TEMPERATURE) act as MIN_TEMPERATURE, so that z / T stays finite
/// for any logit below 3e32 (a logit divided into ±inf would drop out of play).
pub const MIN_TEMPERATURE: f32 = 1e-6;

/// Where the temperature divides the logits (DESIGN.md, "Sampler semantics").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemperaturePosition {
    /// Scale, then truncate the scaled distribution (vLLM, Hugging Face, SGLang).
    #[default]
    First,
    /// Truncate the unscaled distribution, then scale the survivors (llama.cpp).
    Last,
}

impl TemperaturePosition {
    pub fn name(self) -> &'static str {
        match self {
            TemperaturePosition::First => "first",
            TemperaturePosition::Last => "last",
        }
    }
}

/// One lane's sampler. Each truncation has an "off" value: top_k 0, top_p 1, min_p 0,
/// top_n_sigma None, repetition_penalty 1. Temperature 0 is greedy (nothing else applies).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplerConfig {
    pub temperature: f32,
    pub temperature_position: TemperaturePosition,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    pub top_n_sigma: Option<f32>,
    pub repetition_penalty: f32,
    pub penalty_last_n: u32,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 1.0,
            temperature_position: TemperaturePosition::First,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            top_n_sigma: None,
            repetition_penalty: 1.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    pub fn greedy() -> Self {
        SamplerConfig { temperature: 0.0, ..Self::default() }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Checks every parameter against its range; the message names the parameter, the
    /// value and the range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, v: &dyn fmt::Display, want: &str| Err(Error::Param(format!("{name} = {v}: must be {want}")));
        let t = self.temperature;
        if !t.is_finite() || t < 0.0 {
            return bad("temperature", &t, "finite and ≥ 0 (0 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", &self.top_p, "in (0, 1] (1 = off)");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", &self.min_p, "in [0, 1] (0 = off)");
        }
        if let Some(n) = self.top_n_sigma {
            if !(n > 0.0 && n.is_finite()) {
                return bad("top_n_sigma", &n, "finite and > 0 (leave it out to turn it off)");
            }
        }
        let r = self.repetition_penalty;
        if !(r > 0.0 && r.is_finite()) {
            return bad("repetition_penalty", &r, "finite and > 0 (1 = off)");
        }
        if self.penalty_last_n > MAX_PENALTY_WINDOW {
            return bad("penalty_last_n", &self.penalty_last_n, &format!("≤ {MAX_PENALTY_WINDOW}"));
        }
        Ok(())
    }

    /// The divisor applied before truncation (1 when temperature goes last or for greedy).
    pub fn temperature_first(&self) -> f32 {
        match self.temperature_position {
            TemperaturePosition::First if !self.is_greedy() => self.temperature.max(MIN_TEMPERATURE),
            _ => 1.0,
        }
    }

    /// The divisor applied to the survivors when sampling.
    pub fn temperature_last(&self) -> f32 {
        match self.temperature_position {
            TemperaturePosition::Last if !self.is_greedy() => self.temperature.max(MIN_TEMPERATURE),
            _ => 1.0,
        }
    }

    /// ln(min_p) as the f32 both chains add to the max logit (−inf when off).
    pub fn ln_min_p(&self) -> f32 {
        if self.min_p > 0.0 {
            (self.min_p as f64).ln() as f32
        } else {
            f32::NEG_INFINITY
        }
    }

    pub fn penalty_on(&self) -> bool {
        self.repetition_penalty != 1.0 && self.penalty_last_n > 0
    }

    /// The compact text form; `parse` reads it back. Only settings that differ from the
    /// default are written, in a fixed order; `greedy` for temperature 0 with nothing else.
    pub fn to_spec(&self) -> String {
        let d = SamplerConfig::default();
        let mut parts: Vec<String> = Vec::new();
        if self.is_greedy() {
            parts.push("greedy".into());
        } else if self.temperature != d.temperature {
            parts.push(format!("temperature={}", self.temperature));
        }
        if self.temperature_position != d.temperature_position {
            parts.push(format!("temperature_position={}", self.temperature_position.name()));
        }
        if self.top_k != d.top_k {
            parts.push(format!("top_k={}", self.top_k));
        }
        if self.top_p != d.top_p {
            parts.push(format!("top_p={}", self.top_p));
        }
        if self.min_p != d.min_p {
            parts.push(format!("min_p={}", self.min_p));
        }
        if let Some(n) = self.top_n_sigma {
            parts.push(format!("top_n_sigma={n}"));
        }
        if self.repetition_penalty != d.repetition_penalty {
            parts.push(format!("repetition_penalty={}", self.repetition_penalty));
        }
        if self.penalty_last_n != d.penalty_last_n {
            parts.push(format!("penalty_last_n={}", self.penalty_last_n));
        }
        if self.seed != d.seed {
            parts.push(format!("seed={}", self.seed));
        }
        if parts.is_empty() {
            parts.push(format!("temperature={}", self.temperature));
        }
        parts.join(",")
    }

    /// Reads a lane spec: comma-separated `key=value` items (and the word `greedy`, which
    /// sets temperature 0) over the defaults, then validates. Unknown keys, repeated keys
    /// and unparsable values are errors that name the item.
    pub fn parse(spec: &str) -> Result<SamplerConfig> {
        let mut c = SamplerConfig::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if item == "greedy" => ("temperature", "0"),
                None => return Err(Error::Param(format!("lane spec item {item:?}: expected key=value or `greedy`"))),
            };
            let key = key.replace('-', "_");
            let key = KEYS.iter().find(|&&k| k == key).copied().ok_or_else(|| {
                Error::Param(format!("lane spec: unknown setting {key:?} (known: {})", KEYS.join(", ")))
            })?;
            if seen.contains(&key) {
                return Err(Error::Param(format!("lane spec: {key} is given twice")));
            }
            seen.push(key);
            let num = |v: &str| -> Result<f32> {
                v.parse::<f32>().map_err(|_| Error::Param(format!("lane spec: {key}={v:?} is not a number")))
            };
            let int = |v: &str| -> Result<u64> {
                v.parse::<u64>().map_err(|_| Error::Param(format!("lane spec: {key}={v:?} is not a non-negative integer")))
            };
            match key {
                "temperature" => c.temperature = num(value)?,
                "temperature_position" => {
                    c.temperature_position = match value {
                        "first" => TemperaturePosition::First,
                        "last" => TemperaturePosition::Last,
                        _ => return Err(Error::Param(format!("lane spec: temperature_position={value:?}: expected first or last"))),
                    }
                }
                "top_k" => c.top_k = u32::try_from(int(value)?).map_err(|_| Error::Param(format!("lane spec: top_k={value} is too large")))?,
                "top_p" => c.top_p = num(value)?,
                "min_p" => c.min_p = num(value)?,
                "top_n_sigma" => c.top_n_sigma = if value == "off" { None } else { Some(num(value)?) },
                "repetition_penalty" => c.repetition_penalty = num(value)?,
                "penalty_last_n" => {
                    c.penalty_last_n = u32::try_from(int(value)?).map_err(|_| Error::Param(format!("lane spec: penalty_last_n={value} is too large")))?
                }
                "seed" => c.seed = int(value)?,
                _ => unreachable!("KEYS and this match list the same names"),
            }
        }
        c.validate()?;
        Ok(c)
    }
}

const KEYS: [&str; 9] = [
    "temperature",
    "temperature_position",
    "top_k",
    "top_p",
    "min_p",
    "top_n_sigma",
    "repetition_penalty",
    "penalty_last_n",
    "seed",
];

impl fmt::Display for SamplerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_spec())
    }
}

impl FromStr for SamplerConfig {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SamplerConfig::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str) -> String {
        SamplerConfig::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn specs_round_trip() {
        for spec in [
            "greedy",
            "top_p=0.9",
            "min_p=0.1,temperature=1.5",
            "top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last",
            "temperature=0.7,seed=7",
            "temperature=1",
        ] {
            let c = SamplerConfig::parse(spec).unwrap();
            assert_eq!(SamplerConfig::parse(&c.to_spec()).unwrap(), c, "{spec} -> {}", c.to_spec());
        }
        let c = SamplerConfig::parse("min_p=0.1, temperature=1.5").unwrap();
        assert_eq!((c.min_p, c.temperature, c.top_p, c.top_k), (0.1, 1.5, 1.0, 0));
        assert!(SamplerConfig::parse("greedy").unwrap().is_greedy());
        let c = SamplerConfig::parse("top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last").unwrap();
        assert_eq!(c.top_n_sigma, Some(1.0));
        assert_eq!(c.temperature_position, TemperaturePosition::Last);
        assert_eq!(SamplerConfig::parse("").unwrap(), SamplerConfig::default());
    }

    #[test]
    fn serde_round_trip() {
        let c = SamplerConfig::parse("top_k=40,temperature_position=last,seed=9").unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"temperature_position\":\"last\""), "{j}");
        assert_eq!(serde_json::from_str::<SamplerConfig>(&j).unwrap(), c);
        // Missing fields take their defaults.
        assert_eq!(serde_json::from_str::<SamplerConfig>("{\"top_p\":0.5}").unwrap().top_p, 0.5);
    }

    #[test]
    fn clear_errors() {
        assert!(err("tempreature=1").contains("unknown setting \"tempreature\""));
        assert!(err("top_p=abc").contains("top_p=\"abc\" is not a number"));
        assert!(err("top_p=0").contains("top_p = 0: must be in (0, 1]"));
        assert!(err("top_p=1.5").contains("top_p"));
        assert!(err("top_p=NaN").contains("top_p = NaN"));
        assert!(err("min_p=-0.1").contains("min_p"));
        assert!(err("min_p=1.1").contains("min_p"));
        assert!(err("temperature=-1").contains("temperature = -1"));
        assert!(err("temperature=inf").contains("temperature"));
        assert!(err("temperature=nan").contains("temperature"));
        assert!(err("top_n_sigma=0").contains("top_n_sigma"));
        assert!(err("top_n_sigma=-1").contains("top_n_sigma"));
        assert!(err("repetition_penalty=0").contains("repetition_penalty"));
        assert!(err("repetition_penalty=nan").contains("repetition_penalty"));
        assert!(err("top_k=-3").contains("top_k=\"-3\" is not a non-negative integer"));
        assert!(err("penalty_last_n=5000").contains("penalty_last_n"));
        assert!(err("top_k=3,top_k=4").contains("given twice"));
        assert!(err("temperature_position=middle").contains("first or last"));
        assert!(err("hot").contains("expected key=value"));
    }

    #[test]
    fn derived_values() {
        let c = SamplerConfig { temperature: 2.0, ..Default::default() };
        assert_eq!((c.temperature_first(), c.temperature_last()), (2.0, 1.0));
        let c = SamplerConfig { temperature_position: TemperaturePosition::Last, ..c };
        assert_eq!((c.temperature_first(), c.temperature_last()), (1.0, 2.0));
        let c = SamplerConfig { temperature: 1e-9, ..Default::default() };
        assert_eq!(c.temperature_first(), MIN_TEMPERATURE);
        assert_eq!(SamplerConfig::default().ln_min_p(), f32::NEG_INFINITY);
        assert_eq!(SamplerConfig { min_p: 0.5, ..Default::default() }.ln_min_p(), (0.5f64).ln() as f32);
    }
}
