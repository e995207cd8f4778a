//! Code tasks verified where the import cannot wait: the page imports in the engine worker,
//! which cannot block on the Pyodide worker that runs the programs. So an import of code
//! samples goes twice through the same `import`:
//! 1. with a `ProgramRecorder`, which answers every program at once with a placeholder and
//!    keeps the distinct programs (`harness` texts) the import needs;
//! 2. the caller runs those programs (the page: web/code-runner.js) and imports again with
//!    a `ReplayRunner` holding their outcomes, which answers every program from them.
//!
//! The second pass is an ordinary import with a runner that finishes at once: pass@k, votes
//! and the report come from the one code path the CLI's import takes.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::code::{CodeRunner, Exit, RunFuture, RunOutcome};
use crate::error::{Error, Result};

/// The most programs one import may ask the page to run: each is a Python run of its own.
pub const MAX_PROGRAMS: usize = 100_000;

/// Pass 1: records every program asked for (each once, in the order first asked).
#[derive(Default)]
pub struct ProgramRecorder {
    seen: RefCell<HashSet<String>>,
    programs: RefCell<Vec<String>>,
}

impl ProgramRecorder {
    /// The distinct programs asked for so far.
    pub fn take(&self) -> Vec<String> {
        self.seen.borrow_mut().clear();
        std::mem::take(&mut *self.programs.borrow_mut())
    }
}

impl CodeRunner for ProgramRecorder {
    fn run<'a>(&'a self, programs: &'a [String]) -> RunFuture<'a> {
        let r = (|| {
            let mut seen = self.seen.borrow_mut();
            let mut list = self.programs.borrow_mut();
            for p in programs {
                if seen.insert(p.clone()) {
                    list.push(p.clone());
                    if list.len() > MAX_PROGRAMS {
                        return Err(Error::Param(format!(
                            "more than {MAX_PROGRAMS} distinct code samples in one import: the page runs each \
                             in Python one at a time; use `samplescope eval --import` for more"
                        )));
                    }
                }
            }
            // Not a verdict anyone sees: this pass's report is thrown away.
            Ok(programs
                .iter()
                .map(|_| RunOutcome { exit: Exit::Timeout, stdout: String::new(), stderr: String::new() })
                .collect())
        })();
        Box::pin(std::future::ready(r))
    }
}

/// Pass 2: each program's outcome, run elsewhere. A program it was not given is an error
/// (the file changed between the passes, or the outcomes are another import's).
pub struct ReplayRunner {
    outcomes: HashMap<String, RunOutcome>,
}

impl ReplayRunner {
    /// `programs[i]` ran with `outcomes[i]`.
    pub fn new(programs: Vec<String>, outcomes: Vec<RunOutcome>) -> Result<ReplayRunner> {
        if programs.len() != outcomes.len() {
            return Err(Error::Param(format!("{} outcomes for {} code programs", outcomes.len(), programs.len())));
        }
        Ok(ReplayRunner { outcomes: programs.into_iter().zip(outcomes).collect() })
    }
}

impl CodeRunner for ReplayRunner {
    fn run<'a>(&'a self, programs: &'a [String]) -> RunFuture<'a> {
        let r = programs
            .iter()
            .map(|p| {
                self.outcomes.get(p).cloned().ok_or_else(|| {
                    Error::Param("a code sample was not run before the import (was the file changed meanwhile?)".into())
                })
            })
            .collect();
        Box::pin(std::future::ready(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::code::{verify_now, STATUS_MARKER};
    use crate::eval::Task;

    fn outcome(status: &str) -> RunOutcome {
        RunOutcome { exit: Exit::Code(0), stdout: format!("{STATUS_MARKER}{status}\n"), stderr: String::new() }
    }

    #[test]
    fn record_then_replay() {
        let task = Task { prompt: "def f():\n".into(), tests: Some("assert f() == 1\n".into()), ..Task::default() };
        let rec = ProgramRecorder::default();
        verify_now(&rec, &task, &["    return 1\n", "    return 2\n"]).unwrap();
        verify_now(&rec, &task, &["    return 2\n"]).unwrap();
        let programs = rec.take();
        assert_eq!(programs.len(), 2, "each program once");
        let replay = ReplayRunner::new(programs, vec![outcome("pass"), outcome("AssertionError")]).unwrap();
        let v = verify_now(&replay, &task, &["    return 2\n", "    return 1\n"]).unwrap();
        assert_eq!((v[0].pass, v[1].pass), (false, true));
        assert_eq!(v[0].extracted.as_deref(), Some("AssertionError"));
        let e = verify_now(&replay, &task, &["    return 3\n"]).unwrap_err().to_string();
        assert!(e.contains("not run before"), "{e}");
        assert!(ReplayRunner::new(vec!["x".into()], vec![]).is_err());
    }
}
