//! `cargo xtask test`: the step runner and its steps. Installs what the tests need, then runs
//! every test (the CI entry point), the browser tests last (browser.rs).

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{cargo, first_line, make_private_temp_dir, run, workspace_root};
use crate::{browser, model, tools, web, Res};

/// One step of `cargo xtask test`. To add a step, write a `fn(&Ctx) -> Res` and list it in
/// `steps()`.
struct Step {
    name: &'static str,
    run: fn(&Ctx) -> Res,
    /// A failed prerequisite skips every later step (their results would be meaningless);
    /// a failed check does not, so one run reports every check.
    prerequisite: bool,
}

/// What the steps share; also used by `test-browser` and `bench`.
pub struct Ctx {
    /// Passed through to `cargo test --workspace`.
    pub test_args: Vec<String>,
    /// Set as XDG_RUNTIME_DIR for the test processes when the caller has none (hushes Mesa).
    /// Removed when the `Ctx` is dropped.
    pub runtime_dir: Option<PathBuf>,
}

impl Ctx {
    pub fn new(test_args: &[String]) -> Res<Ctx> {
        let runtime_dir = match env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            Some(_) => None,
            None => Some(make_private_temp_dir("samplescope-xdg-runtime")?),
        };
        Ok(Ctx { test_args: test_args.to_vec(), runtime_dir })
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(dir) = &self.runtime_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The checks come first: they need no model or GPU driver, so a failed prerequisite cannot
/// hide their results, and as checks (not prerequisites) they never skip the tests.
fn steps() -> Vec<Step> {
    vec![
        Step { name: "cargo fmt --all --check", run: fmt_check, prerequisite: false },
        Step { name: "cargo clippy -D warnings", run: clippy, prerequisite: false },
        Step { name: "npm run checkjs (tsc over web/)", run: checkjs, prerequisite: false },
        Step { name: "Mesa lavapipe (Vulkan on the CPU)", run: ensure_lavapipe, prerequisite: true },
        Step { name: "rust target wasm32-unknown-unknown", run: ensure_wasm_target, prerequisite: true },
        Step { name: "python3 (the code verifier's sandbox)", run: ensure_python3, prerequisite: true },
        Step { name: "default model", run: ensure_model, prerequisite: true },
        Step { name: "Gemma 3 270M model", run: ensure_gemma, prerequisite: true },
        Step { name: "cargo test --workspace", run: cargo_test, prerequisite: false },
        Step { name: "fuzz (30 s, tests/fuzz.rs)", run: fuzz_step, prerequisite: false },
        Step { name: "GPU check pack (gpu-pack --dev, run.sh --short)", run: gpu_check, prerequisite: false },
        Step { name: "wasm32 build of the library (build-web)", run: wasm_check, prerequisite: false },
        Step { name: "node packages and chromium", run: browser::ensure_tools, prerequisite: true },
        Step { name: "web build (build-web)", run: browser::build, prerequisite: true },
        Step { name: "browser tests (node --test)", run: browser::run_tests, prerequisite: false },
    ]
}

/// `cargo xtask lint`: the checks of `test` alone, plus clippy on the wasm32-only code
/// (src/web.rs, src/web/), which `test` leaves out for its cost on a fresh machine.
fn lint_steps() -> Vec<Step> {
    vec![
        Step { name: "cargo fmt --all --check", run: fmt_check, prerequisite: false },
        Step { name: "cargo clippy -D warnings", run: clippy, prerequisite: false },
        Step { name: "cargo clippy -D warnings (wasm32 lib)", run: clippy_wasm, prerequisite: false },
        Step { name: "npm run checkjs (tsc over web/)", run: checkjs, prerequisite: false },
    ]
}

/// `cargo xtask test [ARGS...]`: every step in order, then a summary; `Err` when a step
/// failed or was skipped.
pub fn test(test_args: &[String]) -> Res {
    run_steps(&steps(), Ctx::new(test_args)?)
}

/// `cargo xtask lint`.
pub fn lint() -> Res {
    run_steps(&lint_steps(), Ctx::new(&[])?)
}

fn run_steps(steps: &[Step], ctx: Ctx) -> Res {
    let total = Instant::now();
    let mut results: Vec<(&str, Option<Res>, Duration)> = Vec::new();
    let mut blocked: Option<&str> = None;

    for (i, step) in steps.iter().enumerate() {
        if let Some(by) = blocked {
            results.push((step.name, None, Duration::ZERO));
            println!("\n==> [{}/{}] {} — skipped ({by} failed)", i + 1, steps.len(), step.name);
            continue;
        }
        println!("\n==> [{}/{}] {}", i + 1, steps.len(), step.name);
        let t = Instant::now();
        let r = (step.run)(&ctx);
        if let Err(e) = &r {
            eprintln!("xtask: step failed: {e}");
            if step.prerequisite {
                blocked = Some(step.name);
            }
        }
        results.push((step.name, Some(r), t.elapsed()));
    }
    drop(ctx);

    println!("\n==> summary");
    let mut failed = 0;
    for (name, r, took) in &results {
        let (tag, detail) = match r {
            Some(Ok(())) => ("ok  ", String::new()),
            Some(Err(e)) => {
                failed += 1;
                ("FAIL", format!("  ({})", first_line(e)))
            }
            None => {
                failed += 1;
                ("skip", String::new())
            }
        };
        println!("  {tag}  {name:<38} {:>7.1}s{detail}", took.as_secs_f64());
    }
    println!("  total {:.1}s", total.elapsed().as_secs_f64());
    if failed == 0 {
        println!("all {} steps passed", results.len());
        Ok(())
    } else {
        Err(format!("{failed} of {} steps failed or were skipped", results.len()))
    }
}

/// Formatting as rustfmt.toml says, over the whole workspace.
fn fmt_check(_: &Ctx) -> Res {
    tools::ensure_component("fmt", "rustfmt")?;
    run(cargo().args(["fmt", "--all", "--check"])).map_err(|e| format!("{e}: run `cargo fmt --all`"))
}

/// Every warning fails the clippy steps; the levels themselves are in Cargo.toml's `[lints]`.
const DENY_WARNINGS: [&str; 3] = ["--", "-D", "warnings"];

/// Clippy over every target of the workspace (lib, CLI, tests, examples, xtask) natively.
fn clippy(_: &Ctx) -> Res {
    tools::ensure_component("clippy", "clippy")?;
    run(cargo().args(["clippy", "--workspace", "--all-targets"]).args(DENY_WARNINGS))
}

/// Clippy over the library for wasm32, the only build that compiles src/web.rs and
/// src/web/. On a fresh machine it checks every dependency again for wasm32 (~4–7 min on
/// 2 cores), so only `cargo xtask lint` runs it.
fn clippy_wasm(_: &Ctx) -> Res {
    tools::ensure_component("clippy", "clippy")?;
    tools::install_wasm_target()?;
    run(cargo().args(["clippy", "--lib", "--target", web::WASM_TARGET, "--no-default-features"]).args(DENY_WARNINGS))
}

/// TypeScript's checks over the page's JS modules (package.json's `checkjs` script).
fn checkjs(_: &Ctx) -> Res {
    let root = workspace_root();
    let manifest = root.join("package.json");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", manifest.display()))?;
    if json["scripts"]["checkjs"].as_str().is_none() {
        return Err("package.json has no `checkjs` script (tsc over web/)".into());
    }
    browser::ensure_node_packages(false)?;
    run(Command::new("npm").args(["run", "--silent", "checkjs"]).current_dir(&root))
}

/// (a) lavapipe, the software Vulkan driver the native GPU tests run on.
fn ensure_lavapipe(_: &Ctx) -> Res {
    tools::ensure_lavapipe()
}

/// (b) the wasm32 target, for the library's wasm build check.
fn ensure_wasm_target(_: &Ctx) -> Res {
    tools::install_wasm_target()
}

/// (b') python3 for tests/eval_code.rs.
fn ensure_python3(_: &Ctx) -> Res {
    tools::ensure_python3()
}

/// (c) the default model in the cache dir (the model tests read it from there).
fn ensure_model(_: &Ctx) -> Res {
    model::fetch_model().map(|_| ())
}

/// tests/model_gemma.rs and the tokenizer tests read it (253 MB, cached like the default).
fn ensure_gemma(_: &Ctx) -> Res {
    model::fetch(&model::GEMMA).map(|_| ())
}

/// (d) every Rust test in the workspace, on lavapipe (or whatever adapter wgpu picks).
/// `--no-fail-fast`: one failing test binary should not hide the results of the others.
fn cargo_test(ctx: &Ctx) -> Res {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"]).args(&ctx.test_args);
    if let Some(dir) = &ctx.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    run(&mut cmd)
}

/// (d') the mutation fuzzer for `fuzz::TEST_SECONDS` from a fresh seed (printed; a failing
/// input is saved under target/fuzz-failures/). The corpus itself ran in `cargo test`.
fn fuzz_step(_: &Ctx) -> Res {
    run(&mut crate::fuzz::command(crate::fuzz::TEST_SECONDS, None))
}

/// (d'') the GPU check a GPU machine runs (gpu-pack.rs), packed from `cargo test`'s debug
/// build and run here on lavapipe in its short form, so the pack and the script keep working.
fn gpu_check(ctx: &Ctx) -> Res {
    let dir = web::target_dir().join("gpu-check");
    crate::gpu_pack::pack(&dir, true)?;
    let mut cmd = std::process::Command::new(dir.join("run.sh"));
    cmd.arg(dir.join("out")).arg("--short");
    if let Some(d) = &ctx.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", d);
    }
    run(&mut cmd)
}

/// (e) the library must build for the browser.
/// The wasm32 release build and its bindings (what the page loads), also when the browser
/// steps are skipped. A separate `cargo check` for wasm32 would compile every dependency a
/// second time (~2.5 min here) for nothing the build does not already check; the web build
/// step after it finds this build fresh.
fn wasm_check(_: &Ctx) -> Res {
    web::build_web()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_steps_have_distinct_names() {
        for steps in [steps(), lint_steps()] {
            let mut names: Vec<_> = steps.iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), steps.len());
        }
    }

    #[test]
    fn checks_come_first_and_are_not_prerequisites() {
        let steps = steps();
        for name in ["cargo fmt --all --check", "cargo clippy -D warnings", "npm run checkjs (tsc over web/)"] {
            let i = steps.iter().position(|s| s.name == name).expect(name);
            assert!(!steps[i].prerequisite, "{name} must not skip the steps after it");
            assert!(steps[..i].iter().all(|s| !s.prerequisite), "{name} must run before any prerequisite");
        }
        assert!(lint_steps().iter().all(|s| !s.prerequisite));
    }
}
