//! Chat templates: the GGUF's `tokenizer.chat_template` (a Hugging Face Jinja template)
//! rendered with minijinja, set up the way `transformers` renders them (`trim_blocks`,
//! `lstrip_blocks`, `raise_exception`) plus the Python string and dict methods that
//! templates commonly call (`.strip()`, `.startswith()`, `.items()`, …).
//!
//! A template comes from the model file, so it is untrusted code: a render has a budget of
//! `CHAT_FUEL` template instructions (minijinja's fuel), the rendered text may not exceed
//! `MAX_RENDERED_BYTES`, and the built-ins whose one numeric argument sizes an allocation
//! (`indent`, `batch`, printf widths in `format`, our `.replace()`) are checked first.
//! A template that loops forever or writes without end fails promptly with a message that
//! says which limit it hit. minijinja has no memory limit of its own: what remains possible
//! is an intermediate value grown within the fuel (repeated `s ~ s`), bounded only by the
//! instruction budget and minijinja's own 100 MB cap on `str * n`.

use minijinja::value::{Kwargs, Rest, StringInput, Value, ValueKind};
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

/// Template instructions one render may execute. A chat template spends tens per message,
/// so this allows thousands of messages, more than any context holds, and ends a runaway
/// loop in well under a second (the tests' nested loop: ~0.1 s in a debug build).
pub const CHAT_FUEL: u64 = 1_000_000;

/// The most bytes a rendered prompt may have: 8 MiB is ~2M tokens, beyond every context
/// this engine runs, and small enough to hold on a phone.
pub const MAX_RENDERED_BYTES: usize = 8 << 20;

/// The largest width `indent` / `format` and count `batch` accept.
const MAX_WIDTH: usize = 4096;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_fuel(Some(CHAT_FUEL));
    env.add_filter(
        "indent",
        |v: StringInput, width: Option<usize>, first: Option<bool>, blank: Option<bool>, kwargs: Kwargs| {
            let width = match width {
                Some(w) => Some(w),
                None => kwargs.peek::<Option<usize>>("width")?,
            };
            if width.is_some_and(|w| w > MAX_WIDTH) {
                return Err(bad_args("indent", &format!("width is larger than {MAX_WIDTH}")));
            }
            minijinja::filters::indent(v, width, first, blank, kwargs)
        },
    );
    env.add_filter("batch", |state: &State, v: Value, count: usize, fill: Option<Value>| {
        if count > MAX_WIDTH {
            return Err(bad_args("batch", &format!("count is larger than {MAX_WIDTH}")));
        }
        minijinja::filters::batch(state, v, count, fill)
    });
    env.add_filter("format", |state: &State, fmt: &Value, rest: Rest<Value>| {
        if let Some(f) = fmt.as_str() {
            check_printf_widths(f)?;
        }
        minijinja::filters::format(state, fmt, rest)
    });
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
    let mut out = CappedWriter { buf: Vec::new(), cap: MAX_RENDERED_BYTES, over: false };
    let ctx = context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    match tmpl.render_captured_to(ctx, &mut out) {
        Ok(_) => {}
        Err(_) if out.over => {
            return Err(Error::ChatTemplate(format!(
                "tokenizer.chat_template wrote more than {} MiB; a template that never stops writing?",
                MAX_RENDERED_BYTES >> 20
            )))
        }
        Err(e) if e.kind() == ErrorKind::OutOfFuel => {
            return Err(Error::ChatTemplate(format!(
                "tokenizer.chat_template ran more than {CHAT_FUEL} steps; a loop that never ends?"
            )))
        }
        Err(e) => return Err(Error::ChatTemplate(format!("rendering tokenizer.chat_template: {}", describe(&e)))),
    }
    String::from_utf8(out.buf).map_err(|_| Error::ChatTemplate("tokenizer.chat_template wrote invalid UTF-8".into()))
}

/// The render's output, refusing to grow past `cap` bytes.
struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(b.len()) > self.cap {
            self.over = true;
            return Err(std::io::Error::other("rendered output over its cap"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Rejects printf conversions whose width or precision exceeds `MAX_WIDTH` (`%99999999s`
/// would allocate that many bytes before any check).
fn check_printf_widths(f: &str) -> std::result::Result<(), minijinja::Error> {
    let b = f.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        while i < b.len() && b"-+ #0".contains(&b[i]) {
            i += 1;
        }
        for _ in 0..2 {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            // More than 8 digits is too large whatever they say (and parses without overflow).
            let n = if i - start > 8 { usize::MAX } else { f[start..i].parse::<usize>().unwrap_or(0) };
            if n > MAX_WIDTH {
                return Err(bad_args("format", &format!("width or precision larger than {MAX_WIDTH}")));
            }
            if i < b.len() && b[i] == b'.' {
                i += 1;
            } else {
                break;
            }
        }
    }
    Ok(())
}

/// The error and its causes on one line, cut to `error::MAX_SHOWN_CHARS` (a template's own
/// message, `raise_exception(...)`, may be any size).
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    crate::error::shown_text(&s)
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
            let limit = match args.get(2).and_then(Value::as_i64) {
                Some(n) if n >= 0 => n as usize,
                _ => usize::MAX,
            };
            // The result's size before building it: an empty `old` matches between every char.
            let matches = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old).count() };
            let grow = new.len().saturating_sub(old.len()).saturating_mul(matches.min(limit));
            if s.len().saturating_add(grow) > MAX_RENDERED_BYTES {
                return Err(bad_args(method, &format!("the result would exceed {} MiB", MAX_RENDERED_BYTES >> 20)));
            }
            Value::from(s.replacen(old, new, limit))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(template: &str) -> Result<String> {
        render(template, &[ChatMessage::user("hi")], true, "<s>", "</s>")
    }

    fn timed(template: &str) -> String {
        let t0 = std::time::Instant::now();
        let e = run(template).unwrap_err().to_string();
        assert!(t0.elapsed().as_secs() < 20, "{template}: took {:?}", t0.elapsed());
        e
    }

    #[test]
    fn a_loop_without_end_runs_out_of_fuel() {
        let e = timed("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}");
        assert!(e.contains("ran more than 1000000 steps"), "{e}");
        // Recursion by macro ends too (minijinja's recursion limit, or the fuel).
        let e = timed("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert!(e.starts_with("chat template: "), "{e}");
    }

    #[test]
    fn an_output_bomb_stops_at_the_cap() {
        let e = timed("{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}");
        assert!(e.contains("wrote more than 8 MiB"), "{e}");
        // Within the fuel, but each step writes a lot.
        let e = timed("{% for i in range(1000) %}{{ messages[0].content * 100000 }}{% endfor %}");
        assert!(e.contains("wrote more than 8 MiB"), "{e}");
    }

    #[test]
    fn sized_builtins_are_checked_before_they_allocate() {
        let e = timed("{{ 'a\\nb' | indent(100000000000) }}");
        assert!(e.contains("indent(): width is larger than 4096"), "{e}");
        let e = timed("{{ 'a\\nb' | indent(width=100000000000) }}");
        assert!(e.contains("indent(): width"), "{e}");
        let e = timed("{{ [1, 2] | batch(1000000000000000) | list }}");
        assert!(e.contains("batch(): count"), "{e}");
        let e = timed("{{ '%999999999999s' | format('x') }}");
        assert!(e.contains("format(): width"), "{e}");
        let e = timed("{{ '%.99999999d' | format(1) }}");
        assert!(e.contains("format(): width"), "{e}");
        let e = timed("{{ ('x' * 10000).replace('', 'y' * 10000) }}");
        assert!(e.contains("replace(): the result would exceed"), "{e}");
        // Ordinary uses still work.
        assert_eq!(run("{{ 'a\\nb' | indent(2) }}|{{ '%3d|%-4s|' | format(7, 'ab') }}").unwrap(), "a\n  b|  7|ab  |");
        assert_eq!(run("{{ [1, 2, 3] | batch(2) | list | length }}{{ 'aXa'.replace('a', 'bb') }}").unwrap(), "2bbXbb");
    }
}
