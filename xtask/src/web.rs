//! `cargo xtask build-web` and `cargo xtask demo`: the wasm build of the library and its JS
//! bindings in www/pkg, the page's modules copied from web/ to www/web, the default model
//! linked into www/models beside models/manifest.json, wllama for the bench page in
//! www/bench-assets (all git-ignored), and a local server. `build-web --out DIR` (the
//! publishable site) is site.rs.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::{self, fetch_model};
use crate::site::{WASM_OPT_FEATURES, WASM_OPT_LEVEL};
use crate::util::{capture, cargo, run, which, workspace_root};
use crate::{tools, Res};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The versions of binaryen's wasm-opt that work on wasm-bindgen 0.2.130's output. Debian's
/// wasm-opt 108 breaks it ("WebAssembly.Table.set(): Argument 1 is invalid").
const WASM_OPT_MIN_VERSION: u32 = 116;

/// The vendored chart library: copied from node_modules (package-lock.json pins it) into
/// www/vendor, where it is committed so that the demo needs no node.
pub const VENDORED: &[(&str, &str)] = &[
    ("node_modules/uplot/dist/uPlot.esm.js", "www/vendor/uplot/uPlot.esm.js"),
    ("node_modules/uplot/dist/uPlot.min.css", "www/vendor/uplot/uPlot.min.css"),
    ("node_modules/uplot/LICENSE", "www/vendor/uplot/LICENSE"),
];

/// Builds the library for wasm32 (release) and writes the `--target web` bindings to
/// www/pkg: samplescope.js (the ES module with `init()`) and samplescope_bg.wasm.
pub fn build_web() -> Res {
    let root = workspace_root();
    tools::install_wasm_target()?;
    run(cargo().args(["build", "--lib", "--release", "--target", WASM_TARGET, "--no-default-features"]))?;
    let input = target_dir().join(WASM_TARGET).join("release").join("samplescope.wasm");
    let out = root.join("www").join("pkg");
    println!("wasm-bindgen --target web {} → {}", input.display(), out.display());
    // Build into a fresh directory and swap, so a failed run never leaves a half-written pkg.
    let tmp = root.join("www").join(".pkg-tmp");
    let _ = fs::remove_dir_all(&tmp);
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&input)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e:#}"))?
        .omit_default_module_path(false)
        .typescript(false)
        .generate(&tmp)
        .map_err(|e| format!("wasm-bindgen on {}: {e:#}", input.display()))?;
    wasm_opt(&tmp.join("samplescope_bg.wasm"));
    let _ = fs::remove_dir_all(&out);
    fs::rename(&tmp, &out).map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), out.display()))?;
    let size = fs::metadata(out.join("samplescope_bg.wasm")).map_or(0, |m| m.len());
    println!("www/pkg/samplescope_bg.wasm: {:.1} MB", size as f64 / 1e6);
    refresh_vendored()?;
    copy_bench_assets()?;
    copy_pyodide()?;
    copy_web_modules()?;
    crate::site::write_dev_manifest()
}

/// The page's JS modules live in web/ (next to the Rust core they talk to); the site needs
/// them under www/ so that www/ alone is the deployable static site.
fn copy_web_modules() -> Res {
    let root = workspace_root();
    let (src, dst) = (root.join("web"), root.join("www").join("web"));
    let _ = fs::remove_dir_all(&dst);
    copy_dir(&src, &dst)?;
    println!("copied web/ → www/web/");
    Ok(())
}

pub fn copy_dir(src: &Path, dst: &Path) -> Res {
    fs::create_dir_all(dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    let entries = fs::read_dir(src).map_err(|e| format!("cannot list {}: {e}", src.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            fs::copy(&from, &to).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        }
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR`, else the workspace's target/.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Optimizes the bindgen output in place with wasm-opt when a working one is on PATH;
/// otherwise says why it skipped (the unoptimized module works, it is only larger). The
/// published site always optimizes, with node_modules' binaryen (site.rs).
fn wasm_opt(wasm: &Path) {
    let Some(bin) = which("wasm-opt") else {
        println!("wasm-opt not found: skipping the optional size optimization");
        return;
    };
    let version = capture(Command::new(&bin).arg("--version")).unwrap_or_default();
    // "wasm-opt version 116 (version_116)"
    let n: u32 = version.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(0);
    if n < WASM_OPT_MIN_VERSION {
        println!(
            "skipping wasm-opt: `{}` is older than {WASM_OPT_MIN_VERSION} and breaks wasm-bindgen output",
            version.trim()
        );
        return;
    }
    let opt = wasm.with_extension("opt.wasm");
    let r = run(Command::new(&bin).arg(wasm).arg("-o").arg(&opt).arg(WASM_OPT_LEVEL).args(WASM_OPT_FEATURES));
    match r.and_then(|()| fs::rename(&opt, wasm).map_err(|e| e.to_string())) {
        Ok(()) => println!("wasm-opt {WASM_OPT_LEVEL}: done"),
        Err(e) => {
            let _ = fs::remove_file(&opt);
            println!("wasm-opt failed ({e}); keeping the unoptimized module");
        }
    }
}

/// Copies the chart library from node_modules into www/vendor when npm has installed it
/// (the copy is committed, so a machine without node still serves a complete site).
fn refresh_vendored() -> Res {
    let root = workspace_root();
    for (from, to) in VENDORED {
        let (from, to) = (root.join(from), root.join(to));
        if !from.is_file() {
            continue; // no `npm ci` here: keep the committed copy
        }
        let same = fs::read(&from).ok() == fs::read(&to).ok();
        if !same {
            fs::create_dir_all(to.parent().expect("vendored paths have a parent"))
                .map_err(|e| format!("cannot create the directory of {}: {e}", to.display()))?;
            fs::copy(&from, &to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
            println!("vendored {}", to.display());
        }
    }
    Ok(())
}

/// wllama, the peer the benchmark page (www/bench.html) measures us against: its ES module,
/// wasm and package.json (for the version), copied from node_modules (package-lock.json pins
/// it) into the git-ignored www/bench-assets/wllama. Without `npm ci` the page still
/// measures our engine and reports wllama as missing.
const WLLAMA_ASSETS: &[(&str, &str)] = &[
    ("node_modules/@wllama/wllama/esm/index.js", "index.js"),
    ("node_modules/@wllama/wllama/esm/wasm/wllama.wasm", "wllama.wasm"),
    ("node_modules/@wllama/wllama/package.json", "package.json"),
    ("node_modules/@wllama/wllama/LICENCE", "LICENCE"),
];

fn copy_bench_assets() -> Res {
    let root = workspace_root();
    let dst = root.join("www").join("bench-assets").join("wllama");
    if let Some((missing, _)) = WLLAMA_ASSETS.iter().find(|(from, _)| !root.join(from).is_file()) {
        println!("{missing} not found (no `npm ci` here): the bench page cannot run wllama");
        return Ok(());
    }
    let _ = fs::remove_dir_all(&dst);
    fs::create_dir_all(&dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    for (from, to) in WLLAMA_ASSETS {
        fs::copy(root.join(from), dst.join(to)).map_err(|e| format!("cannot copy {from} to {}: {e}", dst.display()))?;
    }
    println!("copied wllama into www/bench-assets/wllama/");
    Ok(())
}

/// Pyodide, the eval page's Python for code tasks (web/code-worker.js): the files it loads
/// at start, copied from node_modules (package-lock.json pins it) into the git-ignored
/// www/pyodide, which the published site serves as they are (site.rs). Some 13 MB, fetched
/// by a reader only when a code import runs. Without `npm ci` a code import in the page
/// fails, saying that Pyodide could not load.
pub const PYODIDE_DIR: &str = "pyodide";
const PYODIDE_FILES: &[&str] =
    &["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json", "package.json"];

fn copy_pyodide() -> Res {
    let root = workspace_root();
    let src = root.join("node_modules").join("pyodide");
    let dst = root.join("www").join(PYODIDE_DIR);
    if let Some(missing) = PYODIDE_FILES.iter().find(|f| !src.join(f).is_file()) {
        println!(
            "node_modules/pyodide/{missing} not found (no `npm ci` here): the eval page cannot run code tasks' tests"
        );
        return Ok(());
    }
    fs::create_dir_all(&dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    for f in PYODIDE_FILES {
        let (from, to) = (src.join(f), dst.join(f));
        if fs::metadata(&from).map(|m| m.len()).ok() == fs::metadata(&to).map(|m| m.len()).ok()
            && fs::read(&from).ok() == fs::read(&to).ok()
        {
            continue;
        }
        fs::copy(&from, &to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    }
    println!("copied pyodide into www/{PYODIDE_DIR}/");
    Ok(())
}

/// Makes `models` reachable by the page as models/<file> (web/protocol.js's MODELS): a
/// symbolic link from www/models (git-ignored) to each file in the cache dir, or a copy
/// where links are unavailable.
pub fn link_models(models: &[PathBuf]) -> Res {
    let dir = workspace_root().join("www").join("models");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for model in models {
        let link = dir.join(model.file_name().ok_or("a model path without a file name")?);
        if fs::canonicalize(&link).ok() == fs::canonicalize(model).ok() {
            continue;
        }
        let _ = fs::remove_file(&link);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(model, &link).is_ok();
        #[cfg(not(unix))]
        let linked = false;
        if !linked {
            fs::copy(model, &link).map_err(|e| format!("cannot copy the model to {}: {e}", link.display()))?;
        }
    }
    Ok(())
}

/// `cargo xtask demo [--port N]`.
pub fn demo(args: &[String]) -> Res {
    let mut port: u16 = 8000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                let v = it.next().ok_or("--port needs a number")?;
                port = v.parse().map_err(|_| format!("--port {v}: not a port number"))?;
            }
            other => {
                if let Some(v) = other.strip_prefix("--port=") {
                    port = v.parse().map_err(|_| format!("--port {v}: not a port number"))?;
                } else {
                    return Err(format!("demo: unknown argument `{other}` (usage: cargo xtask demo [--port N])"));
                }
            }
        }
    }
    build_web()?;
    // The default model, fetched if need be, and any other the page offers that
    // `cargo xtask fetch-model NAME` has put in the cache.
    let mut models = vec![fetch_model()?];
    models.extend(model::KNOWN[1..].iter().filter_map(model::cached));
    link_models(&models)?;
    for k in &model::KNOWN[1..] {
        if model::cached(k).is_none() {
            println!("({} is not in the cache: `cargo xtask fetch-model {}` adds it to the page)", k.file, k.name);
        }
    }
    let server = crate::serve::Server::start(&workspace_root().join("www"), port, false)?;
    println!("\nsamplescope is running at {}", server.url());
    println!("open it in Chrome or Edge 113+ (WebGPU); Ctrl+C stops the server\n");
    loop {
        std::thread::park();
    }
}
