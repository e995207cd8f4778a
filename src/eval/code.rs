//! The code verifier's platform-neutral half: from a model output and a code task to the
//! Python program that tests it (the "harness"), and from what running it did to a
//! `Verdict`. Running the program is the front end's job, through a `CodeRunner`: the
//! CLI's is a sandboxed `python3` subprocess (`native::pyrun`); the page's runs each in
//! Pyodide in a worker (web/code-worker.js; imports reach it through `code_replay`). Both
//! run the same harness text, so they see the same program.
//!
//! Which program a sample is:
//! - the code is the first ```python (or ```py, or bare ```) fenced block of the output,
//!   preferring one that defines the entry point, then the text before the first fence if
//!   that defines it (code followed by a lone closing fence); with no fence, the whole
//!   output;
//! - if the prompt defines the task's `entry_point` at top level (`def NAME(` at the
//!   start of a line: HumanEval's format, the prompt is the signature and docstring) and
//!   the code does not, the output *continues the prompt*: the program is prompt + code;
//! - otherwise the output is a *full program*; the prompt's top-level `import`/`from`
//!   lines go before it (a chat model restating `def f(xs: List[int])` usually drops the
//!   prompt's `from typing import List`).
//!
//! The harness compiles the tests, then runs the program and the tests in one namespace
//! (as HumanEval's evaluation does), then `check(ENTRY_POINT)` if the tests define
//! `check`. It reports one status on the last line of stdout: `pass`, the name of the
//! exception that ended it (`AssertionError` for a failed test, `SyntaxError`,
//! `NameError`, `MemoryError`, …) or `tests: ERROR` when the task's own tests do not
//! compile. A runner adds `timeout` (wall clock or CPU limit), `signal N` and `exit N`.
//! A program that prints the status line itself and exits could fake a pass: this checks
//! honest mistakes, not code written to fool it (the same holds for HumanEval's harness).

use std::future::Future;
use std::pin::Pin;

use super::tasks::{defines_check, Task};
use super::verify::Verdict;
use crate::error::Result;

/// The line prefix the harness writes its status after.
pub const STATUS_MARKER: &str = "@@samplescope-status@@ ";

/// The longest status kept in a verdict (an exception's class name can be anything).
const MAX_STATUS: usize = 80;

/// How a run ended. As JSON (the page's runner reports this way): `{"code": 0}`,
/// `{"signal": 9}` or `"timeout"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// The process exited with this code.
    Code(i32),
    /// A signal ended it (e.g. 24, SIGXCPU, at the CPU-time limit; 9 when killed).
    Signal(i32),
    /// The runner's wall-clock limit ended it.
    Timeout,
}

/// What running one harness program gave: how it ended and its output (a runner caps
/// both streams but keeps the end of stdout, where the status line is).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct RunOutcome {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

/// The future a `CodeRunner` returns: one outcome per program, in order. An `Err` means
/// the runner itself failed (no python3, no temporary directory), not a sample.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<RunOutcome>>> + 'a>>;

/// Runs harness programs, as many at once as it likes, each with its own limits. Not
/// `Send`: the page's runner lives on the JS event loop.
pub trait CodeRunner {
    fn run<'a>(&'a self, programs: &'a [String]) -> RunFuture<'a>;
}

/// A runner in a front end's options: `Clone`, and `Debug` by name only.
#[derive(Clone)]
pub struct SharedRunner(pub std::rc::Rc<dyn CodeRunner>);

impl std::fmt::Debug for SharedRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeRunner")
    }
}

/// `verify` for a caller that cannot wait (the importer reads a file a line at a time):
/// the runner's future must be ready when first polled, as the native runner's is (it
/// blocks while the programs run). An asynchronous runner (the page's) is an error here.
pub fn verify_now(runner: &dyn CodeRunner, task: &Task, outputs: &[&str]) -> Result<Vec<Verdict>> {
    let mut fut = std::pin::pin!(verify(runner, task, outputs));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(crate::error::Error::Param(
            "the code verifier's runner here is asynchronous; verifying imported samples needs one that \
             finishes at once (the CLI's python3 runner)"
                .into(),
        )),
    }
}

/// How a sample's code became a program (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// prompt + code
    Continuation,
    /// the prompt's imports + code
    Program,
}

/// The code in a model output: the first fenced block tagged python/py/python3 or
/// untagged (the first that defines `entry_point` when one does), else the whole output.
/// A fence left open (the sample hit its token limit) runs to the end of the output.
///
/// Small chat models often write the code first and only a closing fence after it; so
/// when no block defines `entry_point` but the text before the first fence does, that
/// text is the code.
pub fn extract_code(output: &str, entry_point: Option<&str>) -> String {
    let blocks = fenced_blocks(output);
    if blocks.is_empty() {
        return output.to_string();
    }
    if let Some(e) = entry_point {
        if let Some(b) = blocks.iter().find(|b| defines(b, e)) {
            return b.clone();
        }
        let before =
            output.split_inclusive('\n').take_while(|l| !l.trim_start().starts_with("```")).collect::<String>();
        if defines(&before, e) {
            return before;
        }
    }
    blocks[0].clone()
}

/// Fenced blocks whose tag is empty or names Python.
fn fenced_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let Some(tag) = line.trim_start().strip_prefix("```") else { continue };
        let python = matches!(tag.trim().to_ascii_lowercase().as_str(), "" | "python" | "py" | "python3");
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push_str(l);
        }
        if python {
            blocks.push(body);
        }
    }
    blocks
}

/// Whether `code` defines `name` at top level.
fn defines(code: &str, name: &str) -> bool {
    code.lines().any(|l| {
        let l = l.strip_prefix("async ").unwrap_or(l);
        l.strip_prefix("def ")
            .and_then(|r| r.trim_start().strip_prefix(name))
            .is_some_and(|r| r.trim_start().starts_with('('))
    })
}

/// The program a sample is, and how it was put together (see the module docs).
pub fn sample_program(task: &Task, output: &str) -> (String, Mode) {
    let entry = task.entry_point.as_deref();
    let code = extract_code(output, entry);
    match entry {
        Some(e) if defines(&task.prompt, e) && !defines(&code, e) => {
            let mut p = task.prompt.clone();
            if !p.ends_with('\n') && code.len() != output.len() {
                // A fenced body starts on a line of its own.
                p.push('\n');
            }
            p.push_str(&code);
            (p, Mode::Continuation)
        }
        _ => {
            let imports: String = task
                .prompt
                .lines()
                .filter(|l| l.starts_with("import ") || l.starts_with("from "))
                .map(|l| format!("{l}\n"))
                .collect();
            (imports + &code, Mode::Program)
        }
    }
}

/// The whole harness for one sample of a code task (`task.tests` must be set; a task
/// without tests gets an empty test program). The text is a Python program that a runner
/// may prefix with its own sandbox setup.
pub fn harness(task: &Task, output: &str) -> String {
    let (program, _) = sample_program(task, output);
    let tests = task.tests.as_deref().unwrap_or("");
    let entry = task.entry_point.as_deref().filter(|e| super::tasks::is_identifier(e));
    let call_check = entry.is_some() && defines_check(tests);
    format!(
        "{HARNESS}\n_ss_report(_ss_run({}, {}, {}, {}))\n_ss_os._exit(0)\n",
        py_str(&program),
        py_str(tests),
        entry.map_or("None".to_string(), py_str),
        if call_check { "True" } else { "False" },
    )
}

/// A Python string literal for `s`: a JSON string is one (its escapes are Python's, and
/// serde_json leaves non-ASCII characters as they are, which a UTF-8 source file allows).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "''".into())
}

/// The harness around the sample. `_ss_` names keep out of the way of the sample, which
/// runs in a namespace of its own; `os.write` and the status marker are bound before it
/// runs, and a 1 MiB reserve is freed before reporting so a `MemoryError` can be reported.
const HARNESS: &str = r#"import os as _ss_os, sys as _ss_sys
_ss_write = _ss_os.write
_ss_reserve = bytearray(1 << 20)


def _ss_report(status):
    global _ss_reserve
    _ss_reserve = None
    try:
        _ss_sys.stdout.flush()
    except BaseException:
        pass
    _ss_write(1, ("\n@@samplescope-status@@ " + status + "\n").encode("utf-8", "replace"))


def _ss_run(sample, tests, entry, call_check):
    env = {"__name__": "__sample__", "__builtins__": __builtins__}
    try:
        tests_code = compile(tests, "tests.py", "exec")
    except BaseException as e:
        return "tests: " + type(e).__name__
    try:
        sample_code = compile(sample, "sample.py", "exec")
    except BaseException as e:
        return type(e).__name__
    try:
        exec(sample_code, env)
        if entry is not None and entry not in env:
            return "NameError"
        exec(tests_code, env)
        if call_check:
            env["check"](env[entry])
    except BaseException as e:
        name = type(e).__name__
        env.clear()
        return name
    return "pass"
"#;

/// The verdict for one run: `extracted` is the status (see the module docs), and only
/// `pass` passes.
pub fn interpret(outcome: &RunOutcome) -> Verdict {
    let status = match outcome.exit {
        Exit::Timeout => "timeout".to_string(),
        _ => match outcome.stdout.rfind(STATUS_MARKER) {
            Some(at) => {
                let rest = &outcome.stdout[at + STATUS_MARKER.len()..];
                let s: String = rest.lines().next().unwrap_or("").trim().chars().take(MAX_STATUS).collect();
                if s.is_empty() {
                    "no status".into()
                } else {
                    s
                }
            }
            // SIGXCPU: the CPU-time limit.
            None if outcome.exit == Exit::Signal(24) => "timeout".into(),
            None if outcome.stderr.contains("MemoryError") => "MemoryError".into(),
            None => match outcome.exit {
                Exit::Signal(n) => format!("signal {n}"),
                Exit::Code(c) => format!("exit {c}"),
                Exit::Timeout => unreachable!(),
            },
        },
    };
    let pass = status == "pass";
    Verdict { extracted: Some(status), pass }
}

/// Checks `outputs` of `task` by running each harness on `runner`: one verdict per output.
/// The one entry point for every caller (the eval runner, imported samples).
pub async fn verify(runner: &dyn CodeRunner, task: &Task, outputs: &[&str]) -> Result<Vec<Verdict>> {
    let programs: Vec<String> = outputs.iter().map(|o| harness(task, o)).collect();
    let outcomes = runner.run(&programs).await?;
    if outcomes.len() != programs.len() {
        return Err(crate::error::Error::Param(format!(
            "code runner gave {} results for {} programs",
            outcomes.len(),
            programs.len()
        )));
    }
    Ok(outcomes.iter().map(interpret).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(prompt: &str, tests: &str, entry: Option<&str>) -> Task {
        Task { prompt: prompt.into(), tests: Some(tests.into()), entry_point: entry.map(Into::into), ..Task::default() }
    }

    #[test]
    fn fenced_blocks_are_extracted() {
        let out = "Here you go:\n```python\ndef f(x):\n    return x + 1\n```\nDone.";
        assert_eq!(extract_code(out, Some("f")), "def f(x):\n    return x + 1\n");
        // No fence: the whole output.
        assert_eq!(extract_code("    return 1\n", Some("f")), "    return 1\n");
        // Not python: skipped; the defining block wins over an earlier one.
        let out = "```text\nf(1)\n```\n```py\nprint(1)\n```\n```\ndef f():\n  pass\n```";
        assert_eq!(extract_code(out, Some("f")), "def f():\n  pass\n");
        assert_eq!(extract_code(out, None), "print(1)\n");
        // A fence left open runs to the end.
        assert_eq!(extract_code("```python\ndef f():\n    return 2", None), "def f():\n    return 2");
        // Code, then only a closing fence: the text before it, when that defines the function.
        let out = "def f(x):\n    return x\n\nprint(f(1))\n```\n\nThis uses `f`.";
        assert_eq!(extract_code(out, Some("f")), "def f(x):\n    return x\n\nprint(f(1))\n");
        assert_eq!(extract_code(out, Some("g")), "\nThis uses `f`.");
        // Only python-looking fences count: a shell fence alone means the whole text.
        assert_eq!(extract_code("```bash\nls\n```", None), "```bash\nls\n```");
    }

    #[test]
    fn continuation_or_full_program() {
        let t =
            task("from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n", "", Some("f"));
        let (p, m) = sample_program(&t, "    return sum(xs)\n");
        assert_eq!(m, Mode::Continuation);
        assert_eq!(p, format!("{}    return sum(xs)\n", t.prompt));
        let (p, m) = sample_program(&t, "Sure!\n```python\ndef f(xs):\n    return sum(xs)\n```");
        assert_eq!(m, Mode::Program);
        assert_eq!(p, "from typing import List\ndef f(xs):\n    return sum(xs)\n");
        // `def f (` and `async def f(` define it; `def ff(` and an indented def do not.
        assert!(defines("def f (x):", "f") && defines("async def f(x):", "f"));
        assert!(!defines("def ff(x):", "f") && !defines("    def f(x):", "f"));
        // A fenced body continues a prompt without a final newline on a line of its own.
        let t2 = task("def g():", "", Some("g"));
        assert_eq!(sample_program(&t2, "```python\n    return 3\n```").0, "def g():\n    return 3\n");
        // No entry point, or a prompt in prose: the program itself.
        let t3 = task("Print 3.", "assert True", None);
        assert_eq!(sample_program(&t3, "print(3)").1, Mode::Program);
        let t4 = task("Write f(x) returning x.", "assert f(1) == 1", Some("f"));
        assert_eq!(sample_program(&t4, "    return x").1, Mode::Program);
    }

    #[test]
    fn harness_embeds_sample_and_tests_as_literals() {
        let t = task("def f(x):\n", "def check(candidate):\n    assert candidate(1) == 2\n", Some("f"));
        let h = harness(&t, "    return x + 1 # \"quoted\" \\ é\n");
        assert!(h.contains(r#""def f(x):\n    return x + 1 # \"quoted\" \\ é\n""#), "{h}");
        assert!(h.contains("_ss_run(") && h.ends_with(", \"f\", True))\n_ss_os._exit(0)\n"), "{h}");
        // Plain asserts: no check() call.
        let t = task("p", "assert f(1) == 2\n", Some("f"));
        assert!(harness(&t, "def f(x): return 2").contains(", \"f\", False))"));
        assert!(HARNESS.contains(STATUS_MARKER.trim_end()));
    }

    #[test]
    fn outcomes_become_verdicts() {
        let o = |exit, stdout: &str, stderr: &str| {
            interpret(&RunOutcome { exit, stdout: stdout.into(), stderr: stderr.into() })
        };
        let pass = o(Exit::Code(0), &format!("hi\n{STATUS_MARKER}pass\n"), "");
        assert_eq!((pass.extracted.as_deref(), pass.pass), (Some("pass"), true));
        // The last status line counts (a sample printing a fake one earlier does not).
        let v = o(Exit::Code(0), &format!("{STATUS_MARKER}pass\n\n{STATUS_MARKER}AssertionError\n"), "");
        assert_eq!((v.extracted.as_deref(), v.pass), (Some("AssertionError"), false));
        assert_eq!(o(Exit::Timeout, &format!("{STATUS_MARKER}pass\n"), "").extracted.as_deref(), Some("timeout"));
        assert_eq!(o(Exit::Signal(24), "", "").extracted.as_deref(), Some("timeout"));
        assert_eq!(o(Exit::Signal(11), "", "").extracted.as_deref(), Some("signal 11"));
        assert_eq!(o(Exit::Code(1), "", "MemoryError\n").extracted.as_deref(), Some("MemoryError"));
        assert_eq!(o(Exit::Code(0), "bye", "").extracted.as_deref(), Some("exit 0"));
        let long = o(Exit::Code(0), &format!("{STATUS_MARKER}{}\n", "E".repeat(500)), "");
        assert_eq!(long.extracted.unwrap().len(), MAX_STATUS);
    }
}
