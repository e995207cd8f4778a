//! `SamplerConfig`: the sampler settings of one lane, named as llama.cpp, vLLM and OpenAI
//! name them, with validation and a compact text form ("lane spec") for the CLI and the page:
//! `greedy`, `top_p=0.9`, `min_p=0.1,temperature=1.5`,
//! `top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{shown, shown_text, Error, Result};

/// The longest penalty window the GPU ring buffer holds per lane.
pub const MAX_PENALTY_WINDOW: u32 = 1024;

/// Temperatures in (0, MIN_TEMPERATURE) act as MIN_TEMPERATURE, so that z / T stays finite
/// for any logit below 3e32 (a logit divided into ±inf would drop out of play).
pub const MIN_TEMPERATURE: f32 = 1e-6;

/// Where the temperature divides the logits (docs/DESIGN.md, "Sampler semantics").
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
    /// `first` or `last`; anything else is an error (never a silent default).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "first" => Ok(TemperaturePosition::First),
            "last" => Ok(TemperaturePosition::Last),
            _ => Err(Error::Param(format!("temperature_position={}: expected first or last", shown(s)))),
        }
    }

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

    /// Checks every parameter against its range in `PARAMS`; the message names the
    /// parameter, the value and the range.
    pub fn validate(&self) -> Result<()> {
        for p in &PARAMS {
            let v = self.get(p.name);
            if !p.admits(&v) {
                return Err(Error::Param(format!("{} = {v}: must be {}", p.name, p.range_text())));
            }
        }
        Ok(())
    }

    /// The value of parameter `name` (one of `PARAMS`).
    fn get(&self, name: &str) -> ParamValue {
        match name {
            "temperature" => ParamValue::Float(self.temperature),
            "temperature_position" => ParamValue::Word(self.temperature_position.name()),
            "top_k" => ParamValue::Int(self.top_k as u64),
            "top_p" => ParamValue::Float(self.top_p),
            "min_p" => ParamValue::Float(self.min_p),
            "top_n_sigma" => self.top_n_sigma.map_or(ParamValue::Off, ParamValue::Float),
            "repetition_penalty" => ParamValue::Float(self.repetition_penalty),
            "penalty_last_n" => ParamValue::Int(self.penalty_last_n as u64),
            "seed" => ParamValue::Int(self.seed),
            _ => unreachable!("PARAMS and SamplerConfig name the same settings"),
        }
    }

    /// Sets parameter `name` to a value `Param::read` produced for it.
    fn set(&mut self, name: &str, v: ParamValue) {
        match (name, v) {
            ("temperature", ParamValue::Float(x)) => self.temperature = x,
            ("temperature_position", ParamValue::Word(w)) => {
                self.temperature_position =
                    if w == "last" { TemperaturePosition::Last } else { TemperaturePosition::First }
            }
            ("top_k", ParamValue::Int(x)) => self.top_k = x as u32,
            ("top_p", ParamValue::Float(x)) => self.top_p = x,
            ("min_p", ParamValue::Float(x)) => self.min_p = x,
            ("top_n_sigma", ParamValue::Float(x)) => self.top_n_sigma = Some(x),
            ("top_n_sigma", ParamValue::Off) => self.top_n_sigma = None,
            ("repetition_penalty", ParamValue::Float(x)) => self.repetition_penalty = x,
            ("penalty_last_n", ParamValue::Int(x)) => self.penalty_last_n = x as u32,
            ("seed", ParamValue::Int(x)) => self.seed = x,
            _ => unreachable!("Param::read gives each setting its own kind"),
        }
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
    /// default are written, in `PARAMS` order; `greedy` for temperature 0 with nothing else.
    pub fn to_spec(&self) -> String {
        let d = SamplerConfig::default();
        let mut parts: Vec<String> = Vec::new();
        for p in &PARAMS {
            let v = self.get(p.name);
            if p.name == "temperature" && self.is_greedy() {
                parts.push("greedy".into());
            } else if v != d.get(p.name) {
                parts.push(format!("{}={v}", p.name));
            }
        }
        if parts.is_empty() {
            parts.push(format!("temperature={}", self.temperature));
        }
        parts.join(",")
    }

    /// Reads a lane spec (see `PARAMS` and `web/lane-params.json`): comma-separated
    /// `key=value` items (and the word `greedy`, which sets temperature 0) over the
    /// defaults, then validates. Whitespace around items, keys and values is ignored; `-`
    /// in a key reads as `_`. Unknown keys, repeated keys and unparsable values are errors
    /// that name the item.
    pub fn parse(spec: &str) -> Result<SamplerConfig> {
        Self::parse_keys(spec).map(|(c, _)| c)
    }

    /// `parse`, plus the settings the spec gives (`greedy` gives `temperature`), so that a
    /// front end fills in a shared `--temperature` or seed exactly where the spec is silent,
    /// however the spec is spaced (`temperature = 0.5` sets the temperature).
    pub fn parse_keys(spec: &str) -> Result<(SamplerConfig, Vec<&'static str>)> {
        let mut c = SamplerConfig::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if item == "greedy" => ("temperature", "0"),
                None => {
                    return Err(Error::Param(format!("lane spec item {}: expected key=value or `greedy`", shown(item))))
                }
            };
            let key = key.replace('-', "_");
            let p = PARAMS.iter().find(|p| p.name == key).ok_or_else(|| {
                let known: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
                Error::Param(format!("lane spec: unknown setting {} (known: {})", shown(&key), known.join(", ")))
            })?;
            if seen.contains(&p.name) {
                return Err(Error::Param(format!("lane spec: {} is given twice", p.name)));
            }
            seen.push(p.name);
            c.set(p.name, p.read(value)?);
        }
        c.validate()?;
        Ok((c, seen))
    }
}

/// A parameter's value, as `PARAMS` checks it and a lane spec writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ParamValue {
    Float(f32),
    Int(u64),
    Word(&'static str),
    /// An optional parameter left out (`top_n_sigma=off`).
    Off,
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Int(x) => write!(f, "{x}"),
            ParamValue::Word(w) => f.write_str(w),
            ParamValue::Off => f.write_str("off"),
        }
    }
}

/// What a parameter's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A finite f32 (Rust's `f32::from_str`: `0.5`, `1e-3`, `.5`).
    Float,
    /// A finite f32, or `off` (the parameter left out).
    OptionalFloat,
    /// Decimal digits within 0..=`max`.
    Int,
    /// One of these words.
    Word(&'static [&'static str]),
}

/// One setting of a lane spec: the one definition of its name, kind, range and default.
/// `SamplerConfig::parse`, `validate` and `to_spec` read it, and `lane_params_json` writes
/// it to `web/lane-params.json` for the page, so the CLI and the share links accept the
/// same specs.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// Lower bound (numbers) and whether the bound itself is allowed.
    pub min: f64,
    pub min_inclusive: bool,
    /// Upper bound (numbers; None: none) and whether the bound itself is allowed.
    pub max: Option<f64>,
    pub max_inclusive: bool,
    /// The default, written as a lane spec writes it.
    pub default: &'static str,
    /// The value that turns the setting off, if there is one.
    pub off: Option<&'static str>,
    /// One line for the UI.
    pub doc: &'static str,
}

const fn float(name: &'static str, min: f64, min_inclusive: bool, max: Option<f64>, default: &'static str) -> Param {
    Param { name, kind: ParamKind::Float, min, min_inclusive, max, max_inclusive: true, default, off: None, doc: "" }
}

const fn int(name: &'static str, max: u64, default: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::Int,
        min: 0.0,
        min_inclusive: true,
        max: Some(max as f64),
        max_inclusive: true,
        default,
        off: None,
        doc: "",
    }
}

/// Every lane-spec setting, in the order `to_spec` writes them.
pub const PARAMS: [Param; 9] = [
    Param {
        doc: "divides the logits; 0 = greedy (the word greedy is short for temperature=0)",
        ..float("temperature", 0.0, true, None, "1")
    },
    Param {
        name: "temperature_position",
        kind: ParamKind::Word(&["first", "last"]),
        min: 0.0,
        min_inclusive: true,
        max: None,
        max_inclusive: true,
        default: "first",
        off: None,
        doc: "first: scale, then truncate (vLLM, HF); last: truncate, then scale (llama.cpp)",
    },
    Param { off: Some("0"), doc: "keep the k most likely tokens; 0 = off", ..int("top_k", u32::MAX as u64, "0") },
    Param {
        off: Some("1"),
        doc: "keep the smallest set whose probability reaches p; 1 = off",
        ..float("top_p", 0.0, false, Some(1.0), "1")
    },
    Param {
        off: Some("0"),
        doc: "keep tokens with probability ≥ min_p × the top one's; 0 = off",
        ..float("min_p", 0.0, true, Some(1.0), "0")
    },
    Param {
        kind: ParamKind::OptionalFloat,
        off: Some("off"),
        doc: "keep logits ≥ max − n·σ; off (or left out) = off",
        ..float("top_n_sigma", 0.0, false, None, "off")
    },
    Param {
        off: Some("1"),
        doc: "divides positive / multiplies negative logits of recent tokens; 1 = off",
        ..float("repetition_penalty", 0.0, false, None, "1")
    },
    Param {
        doc: "how many recent tokens the repetition penalty looks at",
        ..int("penalty_last_n", MAX_PENALTY_WINDOW as u64, "64")
    },
    Param { doc: "the lane's dice (the Philox key)", ..int("seed", u64::MAX, "0") },
];

impl Param {
    /// Reads `value` as this parameter's kind (its range is `validate`'s to check).
    fn read(&self, value: &str) -> Result<ParamValue> {
        let name = self.name;
        match self.kind {
            ParamKind::OptionalFloat if value == "off" => Ok(ParamValue::Off),
            ParamKind::Float | ParamKind::OptionalFloat => value
                .parse::<f32>()
                .map(ParamValue::Float)
                .map_err(|_| Error::Param(format!("lane spec: {name}={} is not a number", shown(value)))),
            ParamKind::Int => {
                let x = value.parse::<u64>().map_err(|_| {
                    Error::Param(format!("lane spec: {name}={} is not a non-negative integer", shown(value)))
                })?;
                // Past a u32 setting's type: "too large"; within it, `validate` names the range.
                if self.max.is_some_and(|m| m <= u32::MAX as f64) && x > u32::MAX as u64 {
                    return Err(Error::Param(format!("lane spec: {name}={} is too large", shown_text(value))));
                }
                Ok(ParamValue::Int(x))
            }
            ParamKind::Word(words) => {
                words.iter().find(|&&w| w == value).map(|&w| ParamValue::Word(w)).ok_or_else(|| {
                    Error::Param(format!("lane spec: {name}={}: expected {}", shown(value), words.join(" or ")))
                })
            }
        }
    }

    /// Whether `v` is in range.
    fn admits(&self, v: &ParamValue) -> bool {
        let x = match *v {
            ParamValue::Off => return self.kind == ParamKind::OptionalFloat,
            ParamValue::Word(w) => return matches!(self.kind, ParamKind::Word(ws) if ws.contains(&w)),
            ParamValue::Float(x) if !x.is_finite() => return false,
            ParamValue::Float(x) => x as f64,
            ParamValue::Int(x) => x as f64,
        };
        let above = if self.min_inclusive { x >= self.min } else { x > self.min };
        let below = match self.max {
            None => true,
            Some(m) if self.max_inclusive => x <= m,
            Some(m) => x < m,
        };
        above && below
    }

    /// The range in words, as error messages and the page show it.
    pub fn range_text(&self) -> String {
        let body = match self.kind {
            ParamKind::Word(ws) => format!("one of {}", ws.join(", ")),
            ParamKind::Int => match self.max {
                Some(m) if m < u64::MAX as f64 => format!("an integer in 0..={m}"),
                _ => "a non-negative integer".into(),
            },
            ParamKind::Float | ParamKind::OptionalFloat => match self.max {
                Some(m) => format!(
                    "in {}{}, {m}{}",
                    if self.min_inclusive { "[" } else { "(" },
                    self.min,
                    if self.max_inclusive { "]" } else { ")" }
                ),
                None => format!("finite and {} {}", if self.min_inclusive { "≥" } else { ">" }, self.min),
            },
        };
        match (self.name, self.off) {
            ("temperature", _) => format!("{body} (0 = greedy)"),
            (_, Some("off")) => format!("{body} (or off)"),
            (_, Some(off)) => format!("{body} ({off} = off)"),
            (_, None) => body,
        }
    }
}

/// `web/lane-params.json`: `PARAMS` for the page. tests/lane_params.rs fails when the file
/// is stale; `cargo xtask lane-params` rewrites it.
pub fn lane_params_json() -> String {
    use serde_json::{json, Value};
    let typed = |p: &Param, s: &str| -> Value {
        match (p.kind, s) {
            (ParamKind::OptionalFloat, "off") => Value::Null,
            (ParamKind::Word(_), w) => json!(w),
            (ParamKind::Int, x) => json!(x.parse::<u64>().unwrap_or(0)),
            (_, x) => json!(x.parse::<f64>().unwrap_or(0.0)),
        }
    };
    let params: Vec<Value> = PARAMS
        .iter()
        .map(|p| {
            let mut o = json!({
                "name": p.name,
                "kind": match p.kind {
                    ParamKind::Float => "float",
                    ParamKind::OptionalFloat => "optional_float",
                    ParamKind::Int => "int",
                    ParamKind::Word(_) => "word",
                },
                "default": typed(p, p.default),
                "off": p.off.map(|o| typed(p, o)),
                "range": p.range_text(),
                "doc": p.doc,
            });
            match p.kind {
                ParamKind::Word(ws) => o["values"] = json!(ws),
                ParamKind::Int => {
                    o["min"] = json!(0);
                    // u64::MAX is past JS's exact integers (2^53): written as a string.
                    o["max"] = match p.max {
                        Some(m) if m < u64::MAX as f64 => json!(m as u64),
                        _ => json!(u64::MAX.to_string()),
                    };
                }
                ParamKind::Float | ParamKind::OptionalFloat => {
                    o["min"] = json!(p.min);
                    o["min_inclusive"] = json!(p.min_inclusive);
                    o["max"] = json!(p.max);
                    o["max_inclusive"] = json!(p.max_inclusive);
                }
            }
            o
        })
        .collect();
    let doc = json!({
        "about": "Generated from PARAMS in src/sampling/config.rs; do not edit. Regenerate: cargo xtask lane-params",
        "grammar": {
            "items": "comma-separated; whitespace around items, keys and values is ignored; empty items are skipped",
            "item": "key=value, or the word greedy (temperature=0)",
            "keys": "the names below; '-' reads as '_'; each at most once",
            "float": "a decimal number as Rust's f32::from_str reads it (1, 0.5, .5, 1e-3, 1E3); must be finite",
            "int": "decimal digits only (no sign)",
            "range": "a value is checked against min/max after the whole spec is read",
        },
        "params": params,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

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
        let c = SamplerConfig::parse(
            "top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last",
        )
        .unwrap();
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
