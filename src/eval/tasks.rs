//! Task sets: a built-in generator of short arithmetic word problems with exact integer
//! answers, and user task sets as JSONL (`{"prompt": ..., "answer": ...}` per line, or
//! `{"prompt": ..., "tests": ..., "entry_point": ...}` for a code task checked by running
//! its tests, see `eval::code`).
//!
//! The generator is a pure function of (level, index, seed), so the CLI and the page build
//! the same problems, and task i of a set does not change when the set grows.

use serde::{Deserialize, Serialize};

use super::rng::SplitMix;
use crate::error::{shown, Error, Result};

/// One problem: the user message (the runner wraps it in the chat template) and the
/// expected answer as text (a number for the numeric verifier). A code task instead
/// carries a Python test program (`tests`) and, when the tests call a function, its name
/// (`entry_point`); its `answer` is usually empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub prompt: String,
    #[serde(default)]
    pub answer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
}

/// The longest test program a code task may carry (HumanEval's longest is ~10 KB).
pub const MAX_TESTS_BYTES: usize = 256 * 1024;

/// The longest `entry_point`.
const MAX_ENTRY_POINT: usize = 200;

/// Whether `name` is an ASCII Python identifier (what `entry_point` must be: the harness
/// writes it into the program as a name).
pub fn is_identifier(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Whether a test program defines a top-level `check` function, HumanEval's convention:
/// the harness then calls `check(ENTRY_POINT)` after the tests.
pub fn defines_check(tests: &str) -> bool {
    tests.lines().any(|l| l.starts_with("def check(") || l.starts_with("def check ("))
}

/// The levels `arithmetic` knows, easiest first.
pub const LEVELS: std::ops::RangeInclusive<u32> = 1..=4;

/// The most problems one spec may ask for (a guard against a typo like 1000000).
pub const MAX_COUNT: u32 = 10_000;

/// What the model is told on a line after each problem. Small chat models explain at
/// length and often never state a final number within the token budget; with SmolLM2-135M
/// this wording got short "9 + 6 = 15" replies more often than "Answer with a number."
const INSTRUCTION: &str = "Reply with only the number, no words.";

const NAMES: [&str; 12] = ["Sam", "Mia", "Tom", "Lily", "Ben", "Emma", "Max", "Zoe", "Leo", "Ava", "Noah", "Ella"];
const ITEMS: [&str; 10] =
    ["apples", "pencils", "marbles", "stickers", "cookies", "books", "coins", "cards", "shells", "balloons"];
const BOXES: [&str; 4] = ["bags", "boxes", "packs", "baskets"];

/// `arithmetic:LEVEL:COUNT`, the CLI's and the page's name for a generated task set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArithmeticSpec {
    pub level: u32,
    pub count: u32,
}

impl ArithmeticSpec {
    /// `Ok(None)` when `spec` does not start with `arithmetic:` (it may be a file name);
    /// an error that names the part when it does but is malformed.
    pub fn parse(spec: &str) -> Result<Option<ArithmeticSpec>> {
        let Some(rest) = spec.trim().strip_prefix("arithmetic:") else {
            return Ok(None);
        };
        let bad =
            |what: String| Error::Param(format!("task spec {}: {what} (expected arithmetic:LEVEL:COUNT)", shown(spec)));
        let (level, count) = rest.split_once(':').ok_or_else(|| bad("no COUNT".into()))?;
        let level: u32 =
            level.trim().parse().map_err(|_| bad(format!("level {} is not a whole number", shown(level))))?;
        let count: u32 =
            count.trim().parse().map_err(|_| bad(format!("count {} is not a whole number", shown(count))))?;
        if !LEVELS.contains(&level) {
            return Err(bad(format!("level {level} is not one of {}..={}", LEVELS.start(), LEVELS.end())));
        }
        if count == 0 || count > MAX_COUNT {
            return Err(bad(format!("count {count} is not in 1..={MAX_COUNT}")));
        }
        Ok(Some(ArithmeticSpec { level, count }))
    }

    pub fn generate(&self, seed: u64) -> Result<Vec<Task>> {
        arithmetic(self.level, self.count, seed)
    }
}

/// Problems 0..count of `level` for `seed`.
pub fn arithmetic(level: u32, count: u32, seed: u64) -> Result<Vec<Task>> {
    (0..count).map(|i| arithmetic_task(level, i, seed)).collect()
}

/// Problem `index` of `level` for `seed`:
/// 1. one step, add or take away, numbers below 20;
/// 2. two steps (add then take away, or the reverse), numbers below 40;
/// 3. a product: groups of equal size, then add or take away some;
/// 4. three steps with a product and two-digit numbers.
///
/// SmolLM2-135M-Instruct (Q4_1), greedy, 32 tokens, seed 0, measured on lavapipe: level 1
/// 4/20 right (20%), level 2 1/10, level 3 1/10 (by luck: it restated a number that
/// happened to be the answer). It mostly fails by arithmetic slips ("14 − 7 = 6") and by
/// reversing who gives to whom, so sampling helps: on 8 level-1 tasks × 8 samples at
/// temperature 1, pass@8 was 37.5% for top_p=0.9 and min_p=0.1 against greedy's 25%.
pub fn arithmetic_task(level: u32, index: u32, seed: u64) -> Result<Task> {
    let mut r = SplitMix::keyed(&[seed, level as u64, index as u64]);
    let name = *r.pick(&NAMES);
    let friend = loop {
        let f = *r.pick(&NAMES);
        if f != name {
            break f;
        }
    };
    let item = *r.pick(&ITEMS);
    let (text, answer): (String, i64) = match level {
        1 => {
            let (a, b) = (r.range(3, 19) as i64, r.range(2, 9) as i64);
            if r.range(0, 1) == 0 {
                (format!("{name} has {a} {item} and buys {b} more. How many {item} does {name} have now?"), a + b)
            } else {
                let a = a.max(b + 1);
                (
                    format!("{name} has {a} {item} and gives {b} to {friend}. How many {item} does {name} have now?"),
                    a - b,
                )
            }
        }
        2 => {
            let (a, b, c) = (r.range(10, 39) as i64, r.range(2, 19) as i64, r.range(2, 19) as i64);
            if r.range(0, 1) == 0 {
                let c = c.min(a + b - 1);
                (format!("{name} has {a} {item}. {name} buys {b} more and then gives {c} to {friend}. How many {item} does {name} have now?"), a + b - c)
            } else {
                let b = b.min(a - 1);
                (format!("{name} has {a} {item}. {name} gives {b} to {friend} and then finds {c} more. How many {item} does {name} have now?"), a - b + c)
            }
        }
        3 => {
            let boxes = *r.pick(&BOXES);
            let (a, b, c) = (r.range(2, 9) as i64, r.range(3, 9) as i64, r.range(2, 9) as i64);
            if r.range(0, 1) == 0 {
                (format!("{name} has {a} {boxes} with {b} {item} in each and {c} more {item} on the table. How many {item} does {name} have in all?"), a * b + c)
            } else {
                let c = c.min(a * b - 1);
                (format!("{name} buys {a} {boxes} with {b} {item} in each and gives {c} {item} to {friend}. How many {item} does {name} have now?"), a * b - c)
            }
        }
        4 => {
            let boxes = *r.pick(&BOXES);
            let (a, b) = (r.range(3, 12) as i64, r.range(4, 15) as i64);
            let (c, d) = (r.range(11, 49) as i64, r.range(5, 30) as i64);
            let d = d.min(c + a * b - 1);
            (
                format!(
                    "{name} has {c} {item}. {name} buys {a} {boxes} with {b} {item} in each, then gives {d} {item} to {friend}. How many {item} does {name} have now?"
                ),
                c + a * b - d,
            )
        }
        _ => {
            return Err(Error::Param(format!(
                "arithmetic level {level} is not one of {}..={}",
                LEVELS.start(),
                LEVELS.end()
            )))
        }
    };
    debug_assert!(answer >= 0, "level {level} made a negative answer");
    Ok(Task { prompt: format!("{text}\n{INSTRUCTION}"), answer: answer.to_string(), ..Task::default() })
}

/// Reads a JSONL task set: one object per line with a non-empty string `prompt` and an
/// `answer` that is a number or a non-empty string; other fields are ignored, blank lines
/// skipped. Every bad line is reported (the first ten), each naming its line number.
///
/// A code task has a non-empty string `tests` (HumanEval's name `test` is read too) and may
/// have `entry_point` (an identifier; required when the tests define `check`); its
/// `answer` may be absent.
pub fn parse_jsonl(text: &str) -> Result<Vec<Task>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(t) => tasks.push(t),
            Err(e) => errors.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(10);
        errors.truncate(10);
        if more > 0 {
            errors.push(format!("… and {more} more bad lines"));
        }
        return Err(Error::Param(format!("task set: {}", errors.join("\n"))));
    }
    if tasks.is_empty() {
        return Err(Error::Param("task set: no tasks (expected one JSON object per line)".into()));
    }
    Ok(tasks)
}

fn parse_line(line: &str) -> std::result::Result<Task, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(obj) = v else {
        return Err(format!("expected an object like {{\"prompt\": ..., \"answer\": ...}}, got {}", kind(&v)));
    };
    let prompt = match obj.get("prompt") {
        None => return Err("missing field \"prompt\"".into()),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("\"prompt\" is empty".into()),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("\"prompt\" must be a string, got {}", kind(other))),
    };
    let tests = match (obj.get("tests"), obj.get("test")) {
        (Some(_), Some(_)) => return Err("both \"tests\" and \"test\": give one".into()),
        (None, None) => None,
        (Some(v), None) => Some(("tests", v)),
        (None, Some(v)) => Some(("test", v)),
    };
    let tests = match tests {
        None => None,
        Some((name, Value::String(s))) if s.trim().is_empty() => return Err(format!("\"{name}\" is empty")),
        Some((name, Value::String(s))) if s.len() > MAX_TESTS_BYTES => {
            return Err(format!("\"{name}\" is {} bytes: at most {MAX_TESTS_BYTES}", s.len()))
        }
        Some((_, Value::String(s))) => Some(s.clone()),
        Some((name, other)) => {
            return Err(format!("\"{name}\" must be a string (a Python program), got {}", kind(other)))
        }
    };
    let entry_point = match obj.get("entry_point") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !is_identifier(s) || s.len() > MAX_ENTRY_POINT => {
            return Err(format!("\"entry_point\" {} is not a Python identifier", shown(s)))
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("\"entry_point\" must be a string, got {}", kind(other))),
    };
    if entry_point.is_some() && tests.is_none() {
        return Err("\"entry_point\" without \"tests\": a code task needs a test program".into());
    }
    if entry_point.is_none() && tests.as_deref().is_some_and(defines_check) {
        return Err("the tests define check(candidate) but there is no \"entry_point\" to pass it".into());
    }
    let answer = match obj.get("answer") {
        None if tests.is_some() => String::new(),
        None => return Err("missing field \"answer\"".into()),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("\"answer\" is empty".into()),
        Some(Value::String(s)) => s.clone(),
        // serde_json prints integers exactly and floats in their shortest round-trip form.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("\"answer\" must be a number or a string, got {}", kind(other))),
    };
    Ok(Task { prompt, answer, tests, entry_point })
}

fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_reject_clearly() {
        assert_eq!(ArithmeticSpec::parse("arithmetic:2:20").unwrap(), Some(ArithmeticSpec { level: 2, count: 20 }));
        assert_eq!(ArithmeticSpec::parse("tasks.jsonl").unwrap(), None);
        let err = |s: &str| ArithmeticSpec::parse(s).unwrap_err().to_string();
        assert!(err("arithmetic:9:5").contains("level 9"));
        assert!(err("arithmetic:1").contains("no COUNT"));
        assert!(err("arithmetic:1:0").contains("count 0"));
        assert!(err("arithmetic:x:3").contains("level \"x\""));
    }

    #[test]
    fn levels_differ_and_answers_are_non_negative() {
        for level in LEVELS {
            for t in arithmetic(level, 200, 3).unwrap() {
                assert!(t.answer.parse::<u64>().is_ok(), "level {level}: {t:?}");
                assert!(t.prompt.ends_with(INSTRUCTION));
            }
        }
        assert_ne!(arithmetic_task(1, 0, 0).unwrap(), arithmetic_task(2, 0, 0).unwrap());
    }

    #[test]
    fn code_tasks_parse_and_bad_fields_name_their_line() {
        let text = concat!(
            r#"{"prompt": "2+2?", "answer": 4}"#,
            "\n",
            r#"{"task_id": "HumanEval/0", "prompt": "def f(x):\n", "test": "def check(c):\n    assert c(1) == 2\n", "entry_point": "f"}"#,
            "\n",
            r#"{"prompt": "Print hi", "tests": "assert True\n"}"#,
        );
        let t = parse_jsonl(text).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].answer.as_str(), t[0].tests.as_deref()), ("4", None));
        assert_eq!(t[1].entry_point.as_deref(), Some("f"));
        assert!(t[1].tests.as_deref().unwrap().contains("def check(c)"));
        assert_eq!(t[1].answer, "");
        assert_eq!((t[2].tests.as_deref(), t[2].entry_point.as_deref()), (Some("assert True\n"), None));
        let err =
            |line: &str| parse_jsonl(&format!("{{\"prompt\": \"x\", \"answer\": 1}}\n{line}")).unwrap_err().to_string();
        assert!(err(r#"{"prompt": "p", "tests": "", "entry_point": "f"}"#).contains("line 2: \"tests\" is empty"));
        assert!(
            err(r#"{"prompt": "p", "tests": "assert 1", "entry_point": "f(x)"}"#).contains("not a Python identifier")
        );
        assert!(err(r#"{"prompt": "p", "tests": 3}"#).contains("must be a string"));
        assert!(err(r#"{"prompt": "p", "entry_point": "f"}"#).contains("without \"tests\""));
        assert!(err(r#"{"prompt": "p", "tests": "def check(c):\n  pass"}"#).contains("no \"entry_point\""));
        assert!(err(r#"{"prompt": "p", "tests": "a", "test": "b"}"#).contains("both"));
        assert!(err(r#"{"prompt": "p"}"#).contains("missing field \"answer\""));
        let big = format!(r#"{{"prompt": "p", "tests": "{}"}}"#, "#".repeat(MAX_TESTS_BYTES + 1));
        assert!(err(&big).contains("at most"));
        assert!(is_identifier("_f1") && !is_identifier("1f") && !is_identifier("") && !is_identifier("é"));
    }
}
