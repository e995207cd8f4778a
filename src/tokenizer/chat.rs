//! Chat templates: the GGUF's `tokenizer.chat_template` (a Hugging Face Jinja template)
//! rendered with minijinja, set up the way `transformers` renders them (`trim_blocks`,
//! `lstrip_blocks`, `raise_exception`) plus the Python string and dict methods that
//! templates commonly call (`.strip()`, `.startswith()`, `.items()`, …).

use minijinja::value::{Value, ValueKind};
use minijinja::{context, Environment, ErrorKind, State};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One chat turn. `role` is usually "system", "user" or "assistant".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: content.into() }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_function("raise_exception", |msg: String| -> std::result::Result<Value, minijinja::Error> {
        Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("template raised: {msg}")))
    });
    env.set_unknown_method_callback(python_method);
    env
}

/// Renders `template` for `messages`.
pub(crate) fn render(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String> {
    let env = environment();
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| Error::ChatTemplate(format!("cannot compile tokenizer.chat_template: {}", describe(&e))))?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    })
    .map_err(|e| Error::ChatTemplate(format!("rendering tokenizer.chat_template: {}", describe(&e))))
}

/// The error and its causes on one line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

type MjResult = std::result::Result<Value, minijinja::Error>;

fn bad_args(method: &str, why: &str) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, format!("{method}(): {why}"))
}

fn str_arg<'a>(method: &str, args: &'a [Value], i: usize) -> std::result::Result<Option<&'a str>, minijinja::Error> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_none() || v.is_undefined() => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| bad_args(method, "expected a string argument")),
    }
}

/// Python methods on strings and dicts that HF chat templates call.
fn python_method(state: &State, value: &Value, method: &str, args: &[Value]) -> MjResult {
    if let Some(s) = value.as_str() {
        return string_method(s, method, args);
    }
    if value.kind() == ValueKind::Map {
        match method {
            "items" => return state.apply_filter("items", std::slice::from_ref(value)),
            "keys" => return Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => {
                let vals = value.try_iter()?.map(|k| value.get_item(&k)).collect::<std::result::Result<Vec<_>, _>>()?;
                return Ok(Value::from(vals));
            }
            "get" => {
                let key = args.first().ok_or_else(|| bad_args(method, "missing key"))?;
                let v = value.get_item(key)?;
                return Ok(if v.is_undefined() { args.get(1).cloned().unwrap_or(Value::from(())) } else { v });
            }
            _ => {}
        }
    }
    Err(minijinja::Error::from(ErrorKind::UnknownMethod))
}

fn string_method(s: &str, method: &str, args: &[Value]) -> MjResult {
    let chars = |i| str_arg(method, args, i);
    Ok(match method {
        "strip" | "lstrip" | "rstrip" => {
            let set = chars(0)?;
            let pred = |c: char| match set {
                Some(set) => set.contains(c),
                None => c.is_whitespace(),
            };
            Value::from(match method {
                "strip" => s.trim_matches(pred),
                "lstrip" => s.trim_start_matches(pred),
                _ => s.trim_end_matches(pred),
            })
        }
        "startswith" | "endswith" => {
            let arg = args.first().ok_or_else(|| bad_args(method, "missing argument"))?;
            let test = |p: &str| if method == "startswith" { s.starts_with(p) } else { s.ends_with(p) };
            if let Some(p) = arg.as_str() {
                Value::from(test(p))
            } else if arg.kind() == ValueKind::Seq {
                let mut any = false;
                for p in arg.try_iter()? {
                    any |= test(p.as_str().ok_or_else(|| bad_args(method, "expected strings"))?);
                }
                Value::from(any)
            } else {
                return Err(bad_args(method, "expected a string or a tuple of strings"));
            }
        }
        "split" | "rsplit" => {
            let sep = chars(0)?;
            let max = match args.get(1) {
                Some(v) if !v.is_none() => v.as_i64().ok_or_else(|| bad_args(method, "maxsplit must be an integer"))?,
                _ => -1,
            };
            let parts: Vec<Value> = match (sep, max) {
                (Some(""), _) => return Err(bad_args(method, "empty separator")),
                (Some(sep), m) if m < 0 => s.split(sep).map(Value::from).collect(),
                (Some(sep), m) if method == "split" => s.splitn(m as usize + 1, sep).map(Value::from).collect(),
                (Some(sep), m) => {
                    let mut v: Vec<Value> = s.rsplitn(m as usize + 1, sep).map(Value::from).collect();
                    v.reverse();
                    v
                }
                (None, _) => s.split_whitespace().map(Value::from).collect(),
            };
            Value::from(parts)
        }
        "lower" => Value::from(s.to_lowercase()),
        "upper" => Value::from(s.to_uppercase()),
        "title" => Value::from(minijinja::filters::title(s.into())),
        "capitalize" => {
            let mut c = s.chars();
            Value::from(match c.next() {
                Some(f) => f.to_uppercase().chain(c.flat_map(char::to_lowercase)).collect::<String>(),
                None => String::new(),
            })
        }
        "replace" => {
            let old = chars(0)?.ok_or_else(|| bad_args(method, "missing old"))?;
            let new = chars(1)?.ok_or_else(|| bad_args(method, "missing new"))?;
            match args.get(2).and_then(Value::as_i64) {
                Some(n) if n >= 0 => Value::from(s.replacen(old, new, n as usize)),
                _ => Value::from(s.replace(old, new)),
            }
        }
        "count" => {
            let sub = chars(0)?.ok_or_else(|| bad_args(method, "missing substring"))?;
            if sub.is_empty() {
                Value::from(s.chars().count() + 1)
            } else {
                Value::from(s.matches(sub).count())
            }
        }
        "isspace" => Value::from(!s.is_empty() && s.chars().all(char::is_whitespace)),
        _ => return Err(minijinja::Error::from(ErrorKind::UnknownMethod)),
    })
}
