//! The formats `import` reads: detecting one from a record's shape, and reading a
//! response's samples (OpenAI/vLLM `choices`, SGLang results), its error, a plain record.

use std::borrow::Cow;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{shown, shown_text, Error, Result};

/// The sample formats `import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    Vllm,
    Openai,
    Sglang,
    Plain,
}

impl ImportFormat {
    pub const NAMES: [&'static str; 4] = ["vllm", "openai", "sglang", "plain"];

    pub fn parse(s: &str) -> Result<ImportFormat> {
        match s {
            "vllm" => Ok(ImportFormat::Vllm),
            "openai" => Ok(ImportFormat::Openai),
            "sglang" => Ok(ImportFormat::Sglang),
            "plain" | "jsonl" => Ok(ImportFormat::Plain),
            _ => Err(Error::Param(format!("import format {}: expected one of {}", shown(s), Self::NAMES.join(", ")))),
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            ImportFormat::Vllm => "vLLM run-batch output",
            ImportFormat::Openai => "OpenAI-style completion responses",
            ImportFormat::Sglang => "SGLang /generate responses",
            ImportFormat::Plain => "plain JSONL samples",
        }
    }

    /// The format a record's shape says, if any.
    pub(super) fn detect(v: &Value) -> Option<ImportFormat> {
        match v {
            Value::Array(items) => items.first().and_then(Self::detect),
            Value::Object(o) => {
                if o.contains_key("samples") {
                    Some(ImportFormat::Plain)
                } else if o.contains_key("custom_id")
                    && o.get("response").is_some_and(|r| r.is_null() || r.get("status_code").is_some())
                {
                    Some(ImportFormat::Vllm)
                } else if o.contains_key("choices") {
                    Some(ImportFormat::Openai)
                } else if o.contains_key("text") && o.contains_key("meta_info") {
                    Some(ImportFormat::Sglang)
                } else {
                    o.get("response").and_then(Self::detect)
                }
            }
            _ => None,
        }
    }
}

/// A sample as read, before verification.
pub(super) struct Raw<'a> {
    pub text: Cow<'a, str>,
    pub index: u32,
    pub stop: String,
    pub tokens: u32,
}

pub(super) fn key_name(o: &Map<String, Value>) -> String {
    ["custom_id", "task", "prompt"]
        .iter()
        .find_map(|k| o.get(*k).map(|v| format!("{k} {}", shown(&v.as_str().map_or(v.to_string(), str::to_string)))))
        .unwrap_or_default()
}

pub(super) fn is_sglang_result(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v.get("meta_info").is_some() || v.as_array().is_some_and(|a| is_sglang_result(a.first())))
}

/// The error a response carries, if any: vLLM's `error` field, a status other than 200, or
/// an error body (OpenAI's `{"error": {"message"}}`, vLLM's older `{"object": "error"}`).
pub(super) fn error_of(error: Option<&Value>, response: &Value) -> Option<String> {
    if let Some(e) = error.filter(|e| !e.is_null()) {
        return Some(message(e));
    }
    if response.is_null() {
        return Some("no response".into());
    }
    let status = response.get("status_code").and_then(Value::as_u64);
    let body = response.get("body").unwrap_or(response);
    let body_error = body
        .get("error")
        .filter(|e| !e.is_null())
        .map(message)
        .or_else(|| (body.get("object").and_then(Value::as_str) == Some("error")).then(|| message(body)));
    match (status, body_error) {
        (Some(s), e) if s != 200 => Some(format!("status {s}{}", e.map_or(String::new(), |e| format!(": {e}")))),
        (_, Some(e)) => Some(e),
        _ => None,
    }
}

pub(super) fn message(e: &Value) -> String {
    e.get("message")
        .and_then(Value::as_str)
        .map_or_else(|| e.as_str().map_or(e.to_string(), str::to_string), str::to_string)
}

/// The samples of one response payload, in index order: an OpenAI/vLLM completion's
/// `choices`, or SGLang results (one, or a list).
pub(super) fn samples_of(payload: &Value, format: ImportFormat) -> std::result::Result<Vec<Raw<'_>>, String> {
    if let Some(choices) = payload.get("choices") {
        let Some(choices) = choices.as_array() else {
            return Err(format!("\"choices\" must be a list, got {}", kind(choices)));
        };
        let mut out = Vec::with_capacity(choices.len());
        for (pos, c) in choices.iter().enumerate() {
            let text = c
                .get("text")
                .or_else(|| c.pointer("/message/content"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("choice {pos} has no \"text\" (or \"message\".\"content\") string"))?;
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64) as u32;
            let stop = match (c.get("finish_reason").and_then(Value::as_str), c.get("stop_reason")) {
                (Some("length"), _) => "max_tokens".to_string(),
                (Some("stop"), Some(Value::String(_))) => "stop_string".to_string(),
                (Some("stop"), _) => "eog".to_string(),
                (Some(other), _) => other.to_string(),
                (None, _) => String::new(),
            };
            out.push(Raw { text: Cow::Borrowed(text), index, stop, tokens: 0 });
        }
        out.sort_by_key(|r| r.index);
        return Ok(out);
    }
    let items: Vec<&Value> = match payload {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    if format != ImportFormat::Sglang && !is_sglang_result(items.first().copied()) {
        return Err("no \"choices\" (an OpenAI completion) and no \"text\" with \"meta_info\" (SGLang)".into());
    }
    let mut out = Vec::with_capacity(items.len());
    for (pos, item) in items.iter().enumerate() {
        let text = item.get("text").and_then(Value::as_str).ok_or_else(|| {
            format!("result {pos} has no \"text\" string (expected SGLang's {{\"text\", \"meta_info\"}})")
        })?;
        let fr = item.pointer("/meta_info/finish_reason");
        let stop = match (fr.and_then(|f| f.get("type")).and_then(Value::as_str), fr.and_then(|f| f.get("matched"))) {
            (Some("length"), _) => "max_tokens".to_string(),
            (Some("stop"), Some(Value::String(_))) => "stop_string".to_string(),
            (Some("stop"), _) => "eog".to_string(),
            (Some(other), _) => other.to_string(),
            (None, _) => String::new(),
        };
        let tokens = item.pointer("/meta_info/completion_tokens").and_then(Value::as_u64).unwrap_or(0) as u32;
        out.push(Raw { text: Cow::Borrowed(text), index: pos as u32, stop, tokens });
    }
    Ok(out)
}

/// The lane a record's own request says, when it carries one (a record joined with the
/// exported request: samplescope's lane spec in `vllm_xargs` / `custom_params`).
pub(super) fn request_lane(o: &Map<String, Value>) -> Option<String> {
    let body = o.get("body").or_else(|| o.get("request").map(|r| r.get("body").unwrap_or(r)))?;
    let lane = ["/vllm_xargs/samplescope_lane", "/sampling_params/custom_params/samplescope_lane"]
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str));
    if let Some(lane) = lane {
        return Some(lane.to_string());
    }
    // Another tool's request: its sampling fields (vLLM's body, SGLang's sampling_params),
    // top_k −1 being off there as 0 is here.
    let params = body.get("sampling_params").unwrap_or(body);
    let mut parts = Vec::new();
    for key in ["temperature", "top_p", "top_k", "min_p", "repetition_penalty"] {
        match params.get(key) {
            Some(Value::Number(x)) if key == "top_k" && x.as_i64().is_some_and(|k| k < 0) => {}
            Some(Value::Number(x)) => parts.push(format!("{key}={x}")),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn plain_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.contains("missing field `samples`") {
        "no \"samples\" list: not a plain record".into()
    } else {
        format!("not a plain record ({})", shown_text(&msg))
    }
}

/// One plain record. Texts borrow from the line where they have no escapes.
#[derive(Deserialize)]
pub(super) struct PlainLine<'a> {
    #[serde(default)]
    pub task: Option<u64>,
    #[serde(default, borrow)]
    pub custom_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub prompt: Option<Text<'a>>,
    #[serde(default)]
    pub answer: Option<Value>,
    #[serde(default, borrow)]
    pub config: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub greedy: Option<Text<'a>>,
    #[serde(borrow)]
    pub samples: Vec<Text<'a>>,
}

/// A string that borrows from the input when it can (serde's Cow borrows only as a field).
pub(super) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> std::result::Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> std::result::Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}
