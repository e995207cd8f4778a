//! The browser steps of `cargo xtask test`: node + npm packages + Debian's chromium, the web
//! build, then `node --test tests/browser/` against the page served by serve.rs, with the
//! native CLI's greedy output as the expectation the page must reproduce.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::serve::Server;
use crate::test::Ctx;
use crate::tools::apt_install;
use crate::util::{capture, cargo, run, which, workspace_root};
use crate::{model, web, Res};

/// Debian's chromium; tests never download a browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The lab test's run: the page's three default lanes (temperature 1, applied first) with
/// this prompt, length and seed must reproduce the native CLI's output for the same lane
/// specs (tests/browser/lab.test.mjs checks that the page derives the same specs).
const PROMPT: &str = "The three primary colors are";
const MAX_TOKENS: u32 = 32;
const SEED: u64 = 1234;
const LANE_SPECS: &[&str] = &[
    "greedy",
    "temperature=1,temperature_position=first,top_p=0.9,seed=1234",
    "temperature=1,temperature_position=first,min_p=0.1,seed=1234",
];

/// The Gemma run of tests/browser/gemma.test.mjs: the lab's same three lanes, shorter (Gemma
/// on SwiftShader is some 3× slower a token than SmolLM2).
const GEMMA_PROMPT: &str = "The capital of France is";
const GEMMA_MAX_TOKENS: u32 = 16;

/// The model families of tests/browser/families.test.mjs: `samplescope synth SHAPE --layers
/// 2` writes a released model's full shape (vocabulary, widths, head size, its own tensors
/// such as Qwen 3's q/k norms or Llama 3's rope_freqs) with random weights and two layers,
/// so the page loads the real tables in seconds. Generated, never committed: (shape, the
/// file under www/models, the native reference in browser-artifacts).
const SYNTH_LAYERS: u32 = 2;
const SYNTH_MODELS: &[(&str, &str, &str)] = &[
    ("qwen3-0.6b", "synth-qwen3-0.6b-2l.gguf", "native-lanes-qwen3.json"),
    ("llama-3.2-1b", "synth-llama-3.2-1b-2l.gguf", "native-lanes-llama.json"),
];
/// Short: with random weights the synthetic vocabulary has no merges, so each letter is a
/// prompt token, and SwiftShader is slow at a 128k–152k vocabulary.
const SYNTH_PROMPT: &str = "Hello";
const SYNTH_MAX_TOKENS: u32 = 8;

/// `cargo xtask test-browser [NAME...]`: the browser steps of `cargo xtask test` alone; with
/// names, only the test files they name (`families`, `gemma.test.mjs`, or a path).
pub fn only(names: &[String]) -> Res {
    let ctx = Ctx::new(&[])?;
    let files = names.iter().map(|n| test_file(n)).collect::<Res<Vec<_>>>()?;
    ensure_tools(&ctx).and_then(|()| build(&ctx)).and_then(|()| run_files(&files))
}

/// tests/browser/NAME.test.mjs for `NAME`, `NAME.test.mjs` or a path to it, relative to the
/// workspace root.
fn test_file(name: &str) -> Res<String> {
    let base = Path::new(name).file_name().map_or(name.into(), |f| f.to_string_lossy().into_owned());
    let stem = base.strip_suffix(".mjs").unwrap_or(&base);
    let stem = stem.strip_suffix(".test").unwrap_or(stem);
    let file = format!("tests/browser/{stem}.test.mjs");
    if workspace_root().join(&file).is_file() {
        Ok(file)
    } else {
        Err(format!("no browser test `{name}`: {file} does not exist"))
    }
}

fn skipped() -> bool {
    env::var_os("SAMPLESCOPE_SKIP_BROWSER").is_some_and(|v| !v.is_empty() && v != "0")
}

fn artifacts_dir() -> PathBuf {
    web::target_dir().join("browser-artifacts")
}

/// node and npm, the npm packages (`npm ci` when node_modules is missing or older than
/// package-lock.json), and chromium (Debian packages when missing).
pub fn ensure_tools(_: &Ctx) -> Res {
    if skipped() {
        println!("SAMPLESCOPE_SKIP_BROWSER is set: skipping the browser steps");
        return Ok(());
    }
    let version = ensure_node_packages(true)?;
    println!("{} ({})", capture(Command::new(CHROMIUM).arg("--version"))?.trim(), version.trim());
    Ok(())
}

/// node and npm (and chromium when `with_chromium`: Debian packages, when missing, in one
/// apt-get run) and the npm packages (`npm ci` when node_modules is missing or older than
/// package-lock.json). Returns `node --version`. Also for the JS type check (no browser).
pub fn ensure_node_packages(with_chromium: bool) -> Res<String> {
    let mut missing = Vec::new();
    if which("node").is_none() {
        missing.push("nodejs");
    }
    if which("npm").is_none() {
        missing.push("npm");
    }
    if with_chromium && !PathBuf::from(CHROMIUM).is_file() {
        missing.push("chromium");
    }
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    let version = capture(Command::new("node").arg("--version"))?;
    if node_version()? < (18, 19) {
        return Err(format!("node {} is too old for `node --test` and playwright-core; need 18.19+", version.trim()));
    }
    let root = workspace_root();
    let stamp = root.join("node_modules").join(".package-lock.json");
    let lock = root.join("package-lock.json");
    let mtime = |p: &PathBuf| fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&stamp).is_none() || mtime(&stamp) < mtime(&lock) {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&root))?;
    } else {
        println!("node_modules is up to date with package-lock.json");
    }
    Ok(version)
}

/// build-web, the models under www/models, and the native CLI's output for each lane of
/// the lab test (target/browser-artifacts/native-lanes.json: one `generate --json` object
/// per lane spec, in order), of the Gemma test and of the families test (SYNTH_MODELS).
pub fn build(ctx: &Ctx) -> Res {
    if skipped() {
        return Ok(());
    }
    check_vendored()?; // before build-web, which would refresh the copy
    web::build_web()?;
    // Both models the page offers: the lab test loads Gemma as well as the default.
    let gemma = model::fetch(&model::GEMMA)?;
    web::link_models(&[model::fetch_model()?, gemma.clone()])?;
    // The CLI as `cargo test --workspace` builds it (same features, dev-dependencies
    // included): a plain `cargo build --bin` would unify features differently and compile
    // the library and seven dependencies again (2.4 min on CI).
    run(cargo().args(["test", "--workspace", "--no-run"]))?;
    let exe = web::target_dir().join("debug").join("samplescope");
    let dir = artifacts_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    native_lanes(ctx, &exe, None, PROMPT, MAX_TOKENS, &dir.join("native-lanes.json"))?;
    native_lanes(ctx, &exe, Some(&gemma), GEMMA_PROMPT, GEMMA_MAX_TOKENS, &dir.join("native-lanes-gemma.json"))?;
    synth_models(ctx, &exe, &dir)
}

/// The SYNTH_MODELS, written by the CLI into browser-artifacts/models and linked into
/// www/models, and the native CLI's lanes on each. Both are kept while newer than the CLI
/// (and the reference newer than this xtask, whose constants it follows): the CLI writes
/// the same bytes and decodes the same tokens until it changes.
fn synth_models(ctx: &Ctx, exe: &Path, dir: &Path) -> Res {
    let models = dir.join("models");
    fs::create_dir_all(&models).map_err(|e| format!("cannot create {}: {e}", models.display()))?;
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let xtask = env::current_exe().ok().and_then(|p| mtime(&p));
    let mut paths = Vec::new();
    for (shape, file, json) in SYNTH_MODELS {
        let path = models.join(file);
        if mtime(&path).is_none() || mtime(&path) < mtime(exe) {
            // Into a temporary name first: an interrupted run leaves no fresh-looking file.
            let tmp = models.join(format!("{file}.tmp"));
            run(Command::new(exe).arg("synth").arg(shape).arg(&tmp).args(["--layers", &SYNTH_LAYERS.to_string()]))?;
            fs::rename(&tmp, &path)
                .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
        } else {
            println!("{} is newer than the CLI: kept", path.display());
        }
        let out = dir.join(json);
        if mtime(&out).is_none() || mtime(&out) < mtime(&path) || mtime(&out) < xtask {
            native_lanes_batched(ctx, exe, &path, SYNTH_PROMPT, SYNTH_MAX_TOKENS, &out)?;
        } else {
            println!("{} is newer than its model and xtask: kept", out.display());
        }
        paths.push(path);
    }
    web::link_models(&paths)
}

/// As `native_lanes`, from one `compare --json` run (one model load for the three lanes: a
/// load takes the debug CLI half a minute at these vocabularies). `compare` shares the dice
/// between lanes as the page does by default, so each lane is also what `generate` gives.
fn native_lanes_batched(ctx: &Ctx, exe: &Path, model: &Path, prompt: &str, max_tokens: u32, out: &Path) -> Res {
    let mut cmd = Command::new(exe);
    cmd.args(["compare", "--json", "--prompt", prompt])
        .arg("--max-tokens")
        .arg(max_tokens.to_string())
        .arg("--model")
        .arg(model);
    for spec in LANE_SPECS {
        cmd.args(["--lane", spec]);
    }
    if let Some(dir) = &ctx.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    let text = capture(&mut cmd)?;
    let lanes: Vec<&str> = text.lines().map(str::trim).filter(|l| l.starts_with('{')).collect();
    if lanes.len() != LANE_SPECS.len() {
        return Err(format!("`samplescope compare` printed {} lanes, not {}: {text}", lanes.len(), LANE_SPECS.len()));
    }
    write_lanes(
        model.file_name().map_or("".into(), |n| n.to_string_lossy().into_owned()),
        prompt,
        max_tokens,
        &lanes,
        out,
    )
}

/// The native CLI's output for each of LANE_SPECS on `prompt` (`model`: the default when
/// None), as `{model, prompt, maxTokens, lanes: [one `generate --json` object a lane]}`.
fn native_lanes(ctx: &Ctx, exe: &Path, model: Option<&Path>, prompt: &str, max_tokens: u32, out: &Path) -> Res {
    let mut lanes = Vec::new();
    for spec in LANE_SPECS {
        let mut cmd = Command::new(exe);
        cmd.args(["generate", "--json", "--prompt", prompt, "--sampler", spec])
            .arg("--max-tokens")
            .arg(max_tokens.to_string());
        if let Some(m) = model {
            cmd.arg("--model").arg(m);
        }
        if let Some(dir) = &ctx.runtime_dir {
            cmd.env("XDG_RUNTIME_DIR", dir);
        }
        lanes.push(capture(&mut cmd)?.trim().to_string());
    }
    let name = model.and_then(|m| m.file_name()).map_or("default".into(), |n| n.to_string_lossy().into_owned());
    write_lanes(name, prompt, max_tokens, &lanes, out)
}

/// `{model, prompt, maxTokens, lanes: [one JSON object a lane]}` to `out`.
fn write_lanes(name: String, prompt: &str, max_tokens: u32, lanes: &[impl AsRef<str>], out: &Path) -> Res {
    let lanes: Vec<&str> = lanes.iter().map(AsRef::as_ref).collect();
    let text = format!(
        "{{\"model\": {name:?}, \"prompt\": {prompt:?}, \"maxTokens\": {max_tokens}, \"lanes\": [\n{}\n]}}\n",
        lanes.join(",\n")
    );
    fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("native reference for {} lanes: {}", LANE_SPECS.len(), out.display());
    Ok(())
}

/// The committed copy of the chart library must be the one package-lock.json pins.
fn check_vendored() -> Res {
    let root = workspace_root();
    for (from, to) in web::VENDORED {
        if fs::read(root.join(from)).ok() != fs::read(root.join(to)).ok() {
            return Err(format!("{to} differs from {from}: run `cargo xtask build-web` and commit it"));
        }
    }
    Ok(())
}

/// Serves www/ on a free port and runs every test file in tests/browser/ with node's test
/// runner (one file at a time: SwiftShader is slow, parallel browsers only fight for CPU).
pub fn run_tests(_: &Ctx) -> Res {
    run_files(&[])
}

/// `run_tests` on `files` (paths from the workspace root), or on every file when empty.
fn run_files(files: &[String]) -> Res {
    if skipped() {
        return Ok(());
    }
    let root = workspace_root();
    let server = Server::start(&root.join("www"), 0, true)?;
    println!("serving www/ at {}", server.url());
    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-reporter=spec"]);
    if node_version()? >= (20, 10) {
        // Older nodes run test files one at a time on two cores anyway, and lack the flag.
        cmd.arg("--test-concurrency=1");
    }
    if files.is_empty() {
        cmd.arg("tests/browser/");
    } else {
        cmd.args(files);
    }
    run(cmd
        .current_dir(&root)
        .env("SAMPLESCOPE_URL", server.url())
        .env("SAMPLESCOPE_CHROMIUM", CHROMIUM)
        .env("SAMPLESCOPE_ARTIFACTS", artifacts_dir())
        .env("SAMPLESCOPE_PROMPT", PROMPT)
        .env("SAMPLESCOPE_MAX_TOKENS", MAX_TOKENS.to_string())
        .env("SAMPLESCOPE_SEED", SEED.to_string())
        .env("SAMPLESCOPE_LANE_SPECS", LANE_SPECS.join("\n"))
        // The native CLI that build() made, for tests that compare the page with it.
        .env("SAMPLESCOPE_CLI", web::target_dir().join("debug").join("samplescope")))
}

/// (major, minor) of the node on PATH.
fn node_version() -> Res<(u32, u32)> {
    let v = capture(Command::new("node").arg("--version"))?;
    let mut parts = v.trim().trim_start_matches('v').split('.').map(|p| p.parse().unwrap_or(0));
    Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}
