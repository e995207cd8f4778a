//! `cargo xtask fuzz [--seconds N] [--seed S]` and the time-boxed fuzz step of `test`: the
//! mutation fuzzer in tests/fuzz.rs (GGUF reader, config, tokenizer, chat template, CPU
//! model) run for a while. A failing input is saved to target/fuzz-failures/.

use std::process::Command;

use crate::util::{cargo, run};
use crate::Res;

/// Seconds of fuzzing in `cargo xtask test` (~5,000 inputs on a 2-core machine).
pub const TEST_SECONDS: u64 = 30;

/// The fuzz test binary's command for `seconds`, from `seed` (None: the clock, printed).
pub fn command(seconds: u64, seed: Option<u64>) -> Command {
    let mut cmd = cargo();
    // --workspace: the same feature set as `cargo test --workspace`, so the step reuses that
    // build instead of compiling the library and its dependencies again (2.5 min on CI).
    cmd.args(["test", "--workspace", "--test", "fuzz", "fuzz", "--", "--ignored", "--exact", "--nocapture"]);
    cmd.env("SAMPLESCOPE_FUZZ_SECONDS", seconds.to_string());
    if let Some(s) = seed {
        cmd.env("SAMPLESCOPE_FUZZ_SEED", s.to_string());
    }
    cmd
}

/// `cargo xtask fuzz [--seconds N] [--seed S]` (default 600 s).
pub fn fuzz(args: &[String]) -> Res {
    let (mut seconds, mut seed) = (600u64, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Res<u64> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a whole number"))
        };
        match a.as_str() {
            "--seconds" => seconds = value("--seconds")?,
            "--seed" => seed = Some(value("--seed")?),
            other => return Err(format!("fuzz: unknown argument `{other}` (use --seconds N, --seed S)")),
        }
    }
    run(&mut command(seconds, seed))
}
