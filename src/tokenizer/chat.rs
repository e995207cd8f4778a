//! Chat templates: the GGUF's `tokenizer.chat_template` (a Hugging Face Jinja template)
//! rendered with minijinja, set up the way `transformers` renders them: `trim_blocks`,
//! `lstrip_blocks`, the globals it adds (`raise_exception`, `strftime_now`), its `tojson`
//! (Python's `json.dumps`: `", "` and `": "`, keys in insertion order, no HTML escaping), the
//! Jinja features Qwen 2.5/3, Llama 3.x and SmolLM3 templates use (macros, `namespace()`,
//! `{% break %}` / `{% continue %}`), plus the Python string and dict methods templates
//! commonly call (`.strip()`, `.startswith()`, `.items()`, …).
//!
//! `strftime_now(fmt)` formats the current time in UTC (`transformers` and llama.cpp use the
//! local time zone; this crate has no time zone database, and the wasm build reads the clock
//! through `Date.now()`). It supports `%a %A %b %B %d %e %H %I %j %m %M %p %S %u %w %y %Y %F %T
//! %D %Z %z %% %n %t` and the `-` flag (`%-d`); any other conversion is kept as written.
//!
//! A template comes from the model file, so it is untrusted code: a render has a budget of
//! `CHAT_FUEL` template instructions (minijinja's fuel), the rendered text may not exceed
//! `MAX_RENDERED_BYTES`, and the built-ins whose one numeric argument sizes an allocation
//! (`indent`, `batch`, printf widths in `format`, our `.replace()`) are checked first.
//! A template that loops forever or writes without end fails promptly with a message that
//! says which limit it hit. minijinja has no memory limit of its own: what remains possible
//! is an intermediate value grown within the fuel (repeated `s ~ s`), bounded only by the
//! instruction budget and minijinja's own 100 MB cap on `str * n`. `tojson` and
//! `strftime_now` refuse to build a string over the output cap, and `tojson` a value nested
//! deeper than `MAX_JSON_DEPTH`.

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

/// The largest width `indent` / `format` / `tojson` and count `batch` accept.
const MAX_WIDTH: usize = 4096;

/// The deepest nesting `tojson` writes (Python's recursion limit is about 1000).
const MAX_JSON_DEPTH: usize = 256;

/// `now`: what `strftime_now` formats, in seconds since the Unix epoch (UTC).
fn environment(now: i64) -> Environment<'static> {
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
    env.add_function("strftime_now", move |fmt: &str| strftime(fmt, now));
    env.add_filter("tojson", tojson);
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
    let ctx = context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    render_at(template, ctx, now_unix())
}

/// Seconds since the Unix epoch; 0 if the clock reads earlier. `web_time` reads `Date.now()`
/// on wasm32 and `std::time::SystemTime` elsewhere.
fn now_unix() -> i64 {
    match web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Renders `template` with the variables `ctx`, `strftime_now` reading `now`.
fn render_at(template: &str, ctx: Value, now: i64) -> Result<String> {
    let env = environment(now);
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| Error::ChatTemplate(format!("cannot compile tokenizer.chat_template: {}", describe(&e))))?;
    let mut out = CappedWriter { buf: Vec::new(), cap: MAX_RENDERED_BYTES, over: false };
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

/// `transformers`' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, keyword arguments only.
fn tojson(v: &Value, kwargs: Kwargs) -> MjResult {
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let indent: Option<String> = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(i) if i.is_none() => None,
        Some(i) if i.is_integer() => {
            let n = i64::try_from(i).map_err(|_| bad_args("tojson", "indent is not an integer"))?;
            if n > MAX_WIDTH as i64 {
                return Err(bad_args("tojson", &format!("indent is larger than {MAX_WIDTH}")));
            }
            Some(" ".repeat(n.max(0) as usize))
        }
        Some(i) => match i.as_str() {
            Some(s) if s.len() <= MAX_WIDTH => Some(s.to_owned()),
            _ => return Err(bad_args("tojson", "indent must be an integer or a short string")),
        },
    };
    let (item_sep, key_sep) = match kwargs.get::<Option<Value>>("separators")? {
        Some(sep) if !sep.is_none() => {
            let parts: Vec<Value> = sep.try_iter()?.collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
                    (a.as_str().unwrap_or_default().to_owned(), b.as_str().unwrap_or_default().to_owned())
                }
                _ => return Err(bad_args("tojson", "separators must be two strings")),
            }
        }
        _ => ((if indent.is_some() { "," } else { ", " }).to_owned(), ": ".to_owned()),
    };
    kwargs.assert_all_used()?;
    let opts = JsonOpts { ensure_ascii, sort_keys, indent, item_sep, key_sep };
    let mut out = String::new();
    write_json(v, &opts, 0, &mut out)?;
    Ok(Value::from(out))
}

struct JsonOpts {
    ensure_ascii: bool,
    sort_keys: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
}

fn json_err(why: &str) -> minijinja::Error {
    bad_args("tojson", why)
}

fn write_json(v: &Value, o: &JsonOpts, depth: usize, out: &mut String) -> std::result::Result<(), minijinja::Error> {
    if out.len() > MAX_RENDERED_BYTES {
        return Err(json_err(&format!("the result would exceed {} MiB", MAX_RENDERED_BYTES >> 20)));
    }
    if depth > MAX_JSON_DEPTH {
        return Err(json_err(&format!("the value is nested deeper than {MAX_JSON_DEPTH}")));
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => out.push_str(&py_float(f64::try_from(v.clone())?)),
        ValueKind::String => write_json_str(v.as_str().unwrap_or_default(), o.ensure_ascii, out)?,
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            write_container(out, o, depth, '[', ']', &items, |item, out| write_json(item, o, depth + 1, out))?;
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for k in v.try_iter()? {
                let key = match k.kind() {
                    ValueKind::String => k.as_str().unwrap_or_default().to_owned(),
                    ValueKind::None => "null".to_owned(),
                    ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).to_owned(),
                    ValueKind::Number if k.is_integer() => k.to_string(),
                    ValueKind::Number => py_float(f64::try_from(k.clone())?),
                    other => return Err(json_err(&format!("keys must be str, int, float, bool or None, not {other}"))),
                };
                let val = v.get_item(&k)?;
                entries.push((key, val));
            }
            if o.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, o, depth, '{', '}', &entries, |(k, val), out| {
                write_json_str(k, o.ensure_ascii, out)?;
                out.push_str(&o.key_sep);
                write_json(val, o, depth + 1, out)
            })?;
        }
        other => return Err(json_err(&format!("a value of type {other} is not JSON serializable"))),
    }
    Ok(())
}

/// `[a, b]` / `{..}` with Python's layout: items on their own indented lines when indenting.
fn write_container<T>(
    out: &mut String,
    o: &JsonOpts,
    depth: usize,
    open: char,
    close: char,
    items: &[T],
    mut each: impl FnMut(&T, &mut String) -> std::result::Result<(), minijinja::Error>,
) -> std::result::Result<(), minijinja::Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let newline = |out: &mut String, level: usize| {
        if let Some(ind) = &o.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    };
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&o.item_sep);
        }
        newline(out, depth + 1);
        each(item, out)?;
    }
    newline(out, depth);
    out.push(close);
    Ok(())
}

/// A JSON string as Python writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other
/// control characters as `\u00XX`; with `ensure_ascii`, DEL and everything past ASCII as
/// `\uXXXX` (UTF-16 surrogate pairs above U+FFFF).
fn write_json_str(s: &str, ensure_ascii: bool, out: &mut String) -> std::result::Result<(), minijinja::Error> {
    if out.len().saturating_add(s.len()) > MAX_RENDERED_BYTES {
        return Err(json_err(&format!("the result would exceed {} MiB", MAX_RENDERED_BYTES >> 20)));
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(())
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for decimal
/// exponents -4..16 (with at least one decimal, `1.0`), else `1e+16` / `1.5e-05`;
/// `NaN`, `Infinity`, `-Infinity` as `json.dumps` writes them.
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return (if x > 0.0 { "Infinity" } else { "-Infinity" }).into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        format!("{sign}{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
    }
}

const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The UTC calendar fields of a Unix time: (year, month 1..=12, day 1..=31, day of the year
/// 1..=366, weekday 0 = Sunday, hour, minute, second). Howard Hinnant's `civil_from_days`.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_march + 2) / 153;
    let day = (doy_march - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = BEFORE[month as usize - 1] + day + u32::from(leap && month > 2);
    let weekday = (days + 4).rem_euclid(7) as u32;
    (year, month, day, yday, weekday, secs / 3600, secs / 60 % 60, secs % 60)
}

/// C's `strftime` on the UTC time `unix`, for the conversions listed in the module docs.
fn strftime(fmt: &str, unix: i64) -> MjResult {
    let (year, month, day, yday, wday, hour, min, sec) = civil(unix);
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() > MAX_RENDERED_BYTES {
            return Err(bad_args("strftime_now", &format!("the result would exceed {} MiB", MAX_RENDERED_BYTES >> 20)));
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let unpadded = chars.next_if_eq(&'-').is_some();
        let Some(conv) = chars.next() else {
            out.push('%');
            if unpadded {
                out.push('-');
            }
            break;
        };
        let num = |out: &mut String, n: i64, width: usize, pad: char| {
            let s = n.to_string();
            if !unpadded {
                for _ in s.len()..width {
                    out.push(pad);
                }
            }
            out.push_str(&s);
        };
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        match conv {
            'a' => out.push_str(&WEEKDAYS[wday as usize][..3]),
            'A' => out.push_str(WEEKDAYS[wday as usize]),
            'b' | 'h' => out.push_str(&MONTHS[month as usize - 1][..3]),
            'B' => out.push_str(MONTHS[month as usize - 1]),
            'd' => num(&mut out, day.into(), 2, '0'),
            'e' => num(&mut out, day.into(), 2, ' '),
            'H' => num(&mut out, hour.into(), 2, '0'),
            'I' => num(&mut out, hour12.into(), 2, '0'),
            'j' => num(&mut out, yday.into(), 3, '0'),
            'm' => num(&mut out, month.into(), 2, '0'),
            'M' => num(&mut out, min.into(), 2, '0'),
            'S' => num(&mut out, sec.into(), 2, '0'),
            'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'u' => num(&mut out, if wday == 0 { 7 } else { wday.into() }, 1, '0'),
            'w' => num(&mut out, wday.into(), 1, '0'),
            'y' => num(&mut out, year.rem_euclid(100), 2, '0'),
            'Y' => num(&mut out, year, 1, '0'),
            'F' => out.push_str(&format!("{year}-{month:02}-{day:02}")),
            'T' => out.push_str(&format!("{hour:02}:{min:02}:{sec:02}")),
            'D' => out.push_str(&format!("{month:02}/{day:02}/{:02}", year.rem_euclid(100))),
            'Z' => out.push_str("UTC"),
            'z' => out.push_str("+0000"),
            '%' => out.push('%'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            other => {
                out.push('%');
                if unpadded {
                    out.push('-');
                }
                out.push(other);
            }
        }
    }
    Ok(Value::from(out))
}

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

    /// 2024-07-26 09:05:07 UTC, a Friday.
    const JUL_26_2024: i64 = 1_721_984_707;

    fn msgs(list: &[(&str, &str)]) -> Vec<ChatMessage> {
        list.iter().map(|(r, c)| ChatMessage::new(*r, *c)).collect()
    }

    /// `template` over `messages` at `JUL_26_2024`, with extra variables `extra`.
    fn render_msgs(template: &str, messages: &[ChatMessage], extra: Value) -> Result<String> {
        let ctx = context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => "<|begin_of_text|>",
            eos_token => "<|eot_id|>",
            ..extra
        };
        render_at(template, ctx, JUL_26_2024)
    }

    #[test]
    fn macros_render() {
        let t = "{% macro turn(m, open='<', close='>') %}{{ open }}{{ m.role }}{{ close }}{{ m.content | trim }}\
                 {% endmacro %}{% for m in messages %}{{ turn(m) }}{{ turn(m, close=']') }}{% endfor %}";
        assert_eq!(run(t).unwrap(), "<user>hi<user]hi");
    }

    #[test]
    fn namespace_carries_state_out_of_a_loop() {
        // Qwen3's search for the last real user query, walking the messages backwards.
        let t = "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n\
                 {%- for message in messages[::-1] %}\n\
                     {%- set index = (messages|length - 1) - loop.index0 %}\n\
                     {%- if ns.multi_step_tool and message.role == 'user' and not message.content.startswith('<tool_response>') %}\n\
                         {%- set ns.multi_step_tool = false %}\n\
                         {%- set ns.last_query_index = index %}\n\
                     {%- endif %}\n\
                 {%- endfor %}\n\
                 {{- ns.last_query_index }}|{{ ns.multi_step_tool }}";
        let m = msgs(&[
            ("system", "s"),
            ("user", "first"),
            ("assistant", "a"),
            ("user", "second"),
            ("assistant", "call"),
            ("user", "<tool_response>42</tool_response>"),
        ]);
        assert_eq!(render_msgs(t, &m, context! {}).unwrap(), "3|False");
        assert_eq!(render_msgs(t, &m[..1], context! {}).unwrap(), "0|True");
    }

    #[test]
    fn loop_controls() {
        let m = msgs(&[("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")]);
        let t = "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}\
                 {% if m.content == 'c' %}{% break %}{% endif %}{{ m.content }}{{ loop.index }}{% endfor %}";
        assert_eq!(render_msgs(t, &m, context! {}).unwrap(), "a2b3");
    }

    #[test]
    fn raise_exception_message_surfaces() {
        let t = "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}\
                 {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\
                 {% endif %}{{ m.content }}{% endfor %}";
        assert_eq!(render_msgs(t, &msgs(&[("user", "a"), ("assistant", "b")]), context! {}).unwrap(), "ab");
        let e = render_msgs(t, &msgs(&[("user", "a"), ("user", "b")]), context! {}).unwrap_err().to_string();
        assert!(
            e.contains("template raised: Conversation roles must alternate user/assistant/user/assistant/..."),
            "{e}"
        );
    }

    #[test]
    fn tojson_is_pythons_json_dumps() {
        // Keys in insertion order, ", " and ": ", no HTML escaping, Python's floats.
        let t = r#"{{ {"name": "get_weather", "arguments": {"city": "Paris <&>", "days": 3, "metric": true, "t": 21.5, "x": none}} | tojson }}"#;
        assert_eq!(
            run(t).unwrap(),
            r#"{"name": "get_weather", "arguments": {"city": "Paris <&>", "days": 3, "metric": true, "t": 21.5, "x": null}}"#
        );
        assert_eq!(
            run(r#"{{ [1, 'é\n"\\', [], {}, 1.0, 1e16, 0.000015] | tojson }}"#).unwrap(),
            r#"[1, "é\n\"\\", [], {}, 1.0, 1e+16, 1.5e-05]"#
        );
        assert_eq!(run("{{ messages | tojson }}").unwrap(), r#"[{"role": "user", "content": "hi"}]"#);
        assert_eq!(
            run("{{ {'a': [1, 2, {'b': none}], 'c': {}} | tojson(indent=2) }}").unwrap(),
            "{\n  \"a\": [\n    1,\n    2,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {}\n}"
        );
        assert_eq!(
            run("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, separators=(',', ':')) }}").unwrap(),
            r#"{"a":2,"b":1}"#
        );
        assert_eq!(run("{{ 'é\u{7f}😀' | tojson(ensure_ascii=true) }}").unwrap(), r#""\u00e9\u007f\ud83d\ude00""#);
        assert_eq!(run("{{ '\u{1}\u{7f}' | tojson }}").unwrap(), "\"\\u0001\u{7f}\"");
        let e = run("{{ undefined_thing | tojson }}").unwrap_err().to_string();
        assert!(e.contains("tojson(): a value of type undefined is not JSON serializable"), "{e}");
        let e = run("{{ 1 | tojson(indent=100000) }}").unwrap_err().to_string();
        assert!(e.contains("tojson(): indent is larger than 4096"), "{e}");
    }

    #[test]
    fn python_float_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e22, "1e+22"),
            (1.5e-5, "1.5e-05"),
            (1e-4, "0.0001"),
            (-12.5, "-12.5"),
            (123456789012345.6, "123456789012345.6"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(py_float(x), want, "{x}");
        }
    }

    #[test]
    fn strftime_now_formats_utc() {
        // Each expected string is Python's `datetime(..., tzinfo=timezone.utc).strftime(...)`.
        let fmt = "%d %b %Y|%d %B %Y|%m|%H:%M:%S|%a %A|%j|%y|%e|%I %p|%-d|%u %w|%F %T %D|%%|%Z";
        for (unix, want) in [
            (JUL_26_2024, "26 Jul 2024|26 July 2024|07|09:05:07|Fri Friday|208|24|26|09 AM|26|5 5|2024-07-26 09:05:07 07/26/24|%|UTC"),
            (951_868_740, "29 Feb 2000|29 February 2000|02|23:59:00|Tue Tuesday|060|00|29|11 PM|29|2 2|2000-02-29 23:59:00 02/29/00|%|UTC"),
            (-1, "31 Dec 1969|31 December 1969|12|23:59:59|Wed Wednesday|365|69|31|11 PM|31|3 3|1969-12-31 23:59:59 12/31/69|%|UTC"),
            (4_107_542_400, "01 Mar 2100|01 March 2100|03|00:00:00|Mon Monday|060|00| 1|12 AM|1|1 1|2100-03-01 00:00:00 03/01/00|%|UTC"),
        ] {
            assert_eq!(strftime(fmt, unix).unwrap().as_str(), Some(want), "{unix}");
        }
        // Unknown conversions stay as written; a lone % at the end too.
        assert_eq!(strftime("%Q %-Q 100%", 0).unwrap().as_str(), Some("%Q %-Q 100%"));
        // Through a template, at the render's time; and the clock of this machine is read.
        assert_eq!(render_msgs("{{ strftime_now('%d %b %Y') }}", &[], context! {}).unwrap(), "26 Jul 2024");
        let year: i64 = run("{{ strftime_now('%Y') }}").unwrap().parse().unwrap();
        assert!(year >= 2025, "{year}");
    }

    #[test]
    fn new_features_keep_the_limits() {
        // A macro that writes without end stops at the output cap.
        let e =
            timed("{% macro w() %}{{ 'x' * 1000000 }}{% endmacro %}{% for i in range(100000) %}{{ w() }}{% endfor %}");
        assert!(e.contains("wrote more than 8 MiB"), "{e}");
        // `continue` does not escape the fuel.
        let e = timed("{% for i in range(100000) %}{% for j in range(100000) %}{% continue %}{% endfor %}{% endfor %}");
        assert!(e.contains("ran more than 1000000 steps"), "{e}");
        // tojson: nesting and size.
        let e = timed(
            "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | tojson }}",
        );
        assert!(e.contains("tojson(): the value is nested deeper than 256"), "{e}");
        let e = timed("{{ ('x' * 9000000) | tojson }}");
        assert!(e.contains("tojson(): the result would exceed 8 MiB"), "{e}");
        let e = timed("{{ strftime_now('%B' * 3000000) }}");
        assert!(e.contains("strftime_now(): the result would exceed 8 MiB"), "{e}");
        // An include finds nothing to load (no loader is set).
        let e = timed("{% include 'other.jinja' %}");
        assert!(e.contains("other.jinja"), "{e}");
    }

    /// A Llama 3.x-style template (written for this test, not Meta's text): the date from
    /// `strftime_now` unless `date_string` is given, the system message trimmed and moved
    /// into the header turn, unknown roles refused.
    const LLAMA3_STYLE: &str = r#"{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content | trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if message.role not in ['user', 'assistant', 'ipython', 'tool'] %}
        {{- raise_exception('Unknown role: ' + message.role) }}
    {%- endif %}
    {{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"#;

    #[test]
    fn a_llama3_style_template_renders_exactly() {
        let m = msgs(&[("system", "  Be brief.\n"), ("user", "Hi!"), ("assistant", "Hello."), ("user", " 2+2? ")]);
        let want = |date: &str| {
            format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\
                 Today Date: {date}\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>\
                 <|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\
                 \n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            )
        };
        assert_eq!(render_msgs(LLAMA3_STYLE, &m, context! {}).unwrap(), want("26 Jul 2024"));
        let at = |unix| {
            render_at(
                LLAMA3_STYLE,
                context! { messages => &m, add_generation_prompt => true, bos_token => "<|begin_of_text|>" },
                unix,
            )
        };
        assert_eq!(at(1_741_521_600).unwrap(), want("09 Mar 2025"));
        assert_eq!(
            render_msgs(LLAMA3_STYLE, &m, context! { date_string => "01 Jan 2030" }).unwrap(),
            want("01 Jan 2030")
        );
        let e = render_msgs(LLAMA3_STYLE, &msgs(&[("robot", "x")]), context! {}).unwrap_err().to_string();
        assert!(e.contains("template raised: Unknown role: robot"), "{e}");
    }
}
