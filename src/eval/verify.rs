//! Verifiers: map a model output and a task's answer to pass/fail, and say what they
//! extracted from the output (shown per sample, and the key of the majority vote).
//! The `code` verifier runs a task's tests instead, through a front end's runner
//! (`eval::code`); the text verifiers here need nothing but the text.

use serde::{Serialize, Serializer};

use super::tasks::Task;
use crate::error::{shown, shown_text, Error, Result};

/// How an output is checked against a task's answer.
#[derive(Clone, Debug)]
pub enum Verifier {
    /// The final number in the output equals the answer as a decimal number (exactly:
    /// "3.50" = "3.5", "1,234" = "1234").
    Numeric,
    /// The trimmed output equals the trimmed answer (case-sensitive).
    Exact,
    /// The output contains the trimmed answer (case-sensitive).
    Contains,
    /// The pattern's last match in the output (its first capture group if it has one)
    /// trimmed equals the trimmed answer. `(?i)` in the pattern ignores case.
    Regex(regex::Regex),
    /// Runs the task's `tests` against the program in the output (`eval::code`); passes
    /// when they all pass. Needs a `CodeRunner` from the front end, so `check` cannot do it.
    Code,
}

/// One output checked: what the verifier took from it (None: nothing to take) and whether
/// it passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub extracted: Option<String>,
    pub pass: bool,
}

impl Verifier {
    /// `numeric`, `exact`, `contains`, `regex:PATTERN` or `code`.
    pub fn parse(spec: &str) -> Result<Verifier> {
        match spec.trim() {
            "code" => Ok(Verifier::Code),
            "numeric" => Ok(Verifier::Numeric),
            "exact" => Ok(Verifier::Exact),
            "contains" => Ok(Verifier::Contains),
            s => match s.strip_prefix("regex:") {
                Some(p) => regex::Regex::new(p)
                    .map(Verifier::Regex)
                    .map_err(|e| Error::Param(format!("verifier regex {}: {}", shown(p), shown_text(&e.to_string())))),
                None => Err(Error::Param(format!(
                    "verifier {}: expected numeric, exact, contains, regex:PATTERN or code",
                    shown(s)
                ))),
            },
        }
    }

    /// The text form `parse` reads back.
    pub fn to_spec(&self) -> String {
        match self {
            Verifier::Numeric => "numeric".into(),
            Verifier::Exact => "exact".into(),
            Verifier::Contains => "contains".into(),
            Verifier::Regex(r) => format!("regex:{}", r.as_str()),
            Verifier::Code => "code".into(),
        }
    }

    /// Checks that `task` can ever pass: the code verifier needs its tests, a text
    /// verifier an answer it can match (`check_answer`) and no tests it would ignore.
    pub fn check_task(&self, task: &Task) -> Result<(), String> {
        match (self, &task.tests) {
            (Verifier::Code, None) => Err("it has no \"tests\" (the code verifier runs them)".into()),
            (Verifier::Code, Some(_)) => Ok(()),
            (_, Some(_)) => Err(format!(
                "it carries \"tests\", which the {} verifier would ignore: use --verifier code",
                self.to_spec()
            )),
            (_, None) => self.check_answer(&task.answer),
        }
    }

    /// Checks that `answer` can ever pass (for the numeric verifier: that it is one
    /// number), so a bad task set fails before any sampling.
    pub fn check_answer(&self, answer: &str) -> Result<(), String> {
        if answer.trim().is_empty() {
            return Err("the answer is empty".into());
        }
        if let Verifier::Numeric = self {
            let nums = numbers(answer);
            if nums.len() != 1 {
                return Err(format!(
                    "answer {} is not a single number (the numeric verifier needs one)",
                    shown(answer)
                ));
            }
        }
        Ok(())
    }

    /// Checks one output. The code verifier cannot run tests here: it fails every output
    /// with "needs a code runner" (callers use `eval::code::verify`).
    pub fn check(&self, output: &str, answer: &str) -> Verdict {
        let answer = answer.trim();
        let extracted = match self {
            Verifier::Code => return Verdict { extracted: Some("needs a code runner".into()), pass: false },
            Verifier::Numeric => {
                let got = numbers(output).pop();
                let want = numbers(answer).pop();
                let pass = got.is_some() && got == want;
                return Verdict { extracted: got, pass };
            }
            Verifier::Exact => Some(output.trim().to_string()).filter(|s| !s.is_empty()),
            Verifier::Contains => output.contains(answer).then(|| answer.to_string()),
            Verifier::Regex(re) => re.captures_iter(output).last().map(|c| {
                let m = c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str());
                m.trim().to_string()
            }),
        };
        let pass = extracted.as_deref() == Some(answer);
        Verdict { extracted, pass }
    }
}

impl Serialize for Verifier {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_spec())
    }
}

/// Every number in `text`, in order, in canonical form (see `canonical`). A number is a
/// run of digits, optionally with thousands groups ("1,234,567": groups of exactly three
/// after the first), optionally a decimal part ("3.50"; a period not followed by a digit
/// ends the sentence, not the number), optionally signed by a `-`, `+` or `−` right before
/// it that does not follow a letter or digit (so "5-3" is 5 and 3, "x = -3" is −3).
/// A currency sign or markdown around the number is simply not part of it.
pub fn numbers(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let negative = i > 0 && matches!(c[i - 1], '-' | '−') && (i < 2 || !c[i - 2].is_alphanumeric());
        // Digit groups separated by single commas, e.g. ["1", "234"].
        let mut groups = vec![take_digits(&c, &mut i)];
        while i + 1 < c.len() && c[i] == ',' && c[i + 1].is_ascii_digit() {
            i += 1;
            groups.push(take_digits(&c, &mut i));
        }
        let grouped = groups.len() > 1 && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3);
        // The sign belongs to the first number of the run only.
        let mut signed = negative;
        if groups.len() > 1 && !grouped {
            // "1,2,3" is a list: every group but the last is a number of its own.
            let last = groups.pop().unwrap_or_default();
            for g in groups {
                out.push(canonical(signed, &g, ""));
                signed = false;
            }
            groups = vec![last];
        }
        let int: String = groups.concat();
        let mut frac = String::new();
        if i + 1 < c.len() && c[i] == '.' && c[i + 1].is_ascii_digit() {
            i += 1;
            frac = take_digits(&c, &mut i);
        }
        out.push(canonical(signed, &int, &frac));
    }
    out
}

fn take_digits(c: &[char], i: &mut usize) -> String {
    let start = *i;
    while *i < c.len() && c[*i].is_ascii_digit() {
        *i += 1;
    }
    c[start..*i].iter().collect()
}

/// "-0012.500" → "-12.5", "-0" → "0": equal numbers get equal strings, so numbers compare
/// exactly (no float rounding) and majority votes count "3.5" and "3.50" together.
fn canonical(negative: bool, int: &str, frac: &str) -> String {
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}
