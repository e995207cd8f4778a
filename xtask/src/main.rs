//! samplescope's own tooling: `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! Uses std and shells out to standard tools (apt-get, rustup, python3 + pip, sha256sum,
//! npm, node). Its one dependency is wasm-bindgen-cli-support, the wasm-bindgen CLI as a
//! library, for `build-web`.
//!
//! Commands, and the module of each:
//!   fetch-model   put a known model into the cache dir (once; sha256-checked) (model.rs)
//!   build-web     the wasm build + JS bindings + page modules in www/ (web.rs); with
//!                 --out DIR, the publishable site (site.rs)
//!   demo          build-web, link the model into www/models, serve www/ (web.rs, serve.rs)
//!   test          the checks (fmt, clippy, checkjs), then install what the tests need and
//!                 run every test (the CI entry point): the step runner and its steps
//!                 (test.rs), the browser steps last (browser.rs)
//!   test-browser  only the browser steps (browser.rs)
//!   lint          only the checks of `test` (fmt, clippy, checkjs), plus clippy for wasm32
//!                 (test.rs)
//!   bench         the native bench, then the browser bench page (ours and wllama), one
//!                 table with the ratios (bench.rs)
//!   fuzz          the mutation fuzzer of tests/fuzz.rs for N seconds (fuzz.rs)
//!   gpu-pack      the GPU check packed for a machine without Rust or models (gpu_pack.rs,
//!                 gpu-check/run.sh)
//!   lane-params   rewrite web/lane-params.json from src/sampling/config.rs's PARAMS (here)
//!
//! Shared: tools.rs installs what is missing (apt-get, rustup, lavapipe); util.rs runs
//! programs and finds the workspace.

mod bench;
mod browser;
mod fuzz;
mod gpu_pack;
mod model;
mod serve;
mod site;
mod test;
mod tools;
mod util;
mod web;

use std::env;
use std::process::ExitCode;

/// A step's outcome: `Err` carries a one-line reason shown in the summary.
type Res<T = ()> = Result<T, String>;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  fetch-model [NAME]   put a model into the cache dir (once; sha256-checked): smollm2
                       (the default, 93 MB) or gemma (Gemma 3 270M Q4_K_M, 253 MB)
  build-web [--out DIR [--base-url URL] [--copy-models] [--model ID=FILE|URL]...]
                       build the wasm engine (release) and its JS bindings into www/pkg,
                       copy the page's modules from web/ to www/web. With --out, also the
                       publishable static site in DIR: the wasm through wasm-opt (npm's
                       binaryen), content-hashed file names, models/manifest.json (each
                       model's public URL from web/models.json; --copy-models copies the
                       ones fetch-model cached; --model ID=FILE|URL sets one); --base-url:
                       the site's address, written into the embedding guide's examples
  demo [--port N]      build-web, put the default model where the page finds it
                       (www/models/; fetched if need be) with every other model the page
                       offers that fetch-model has cached, serve www/ on
                       http://127.0.0.1:N/ (default 8000)
  test [ARGS...]       check formatting (cargo fmt), lints (cargo clippy -D warnings) and
                       the page's JS types (npm run checkjs); install what the tests need
                       (lavapipe, wasm32 target, model, node packages, chromium), then run
                       `cargo test --workspace [ARGS...]`, the wasm32 release build and the
                       browser tests (headless Chromium, WebGPU on SwiftShader). e.g.
                       `cargo xtask test -- --nocapture`, `cargo xtask test gguf`.
                       SAMPLESCOPE_SKIP_BROWSER=1 skips the browser.
  lint                 only the checks of `test`, plus clippy on the wasm32 build of the
                       library (the only build with src/web.rs)
  test-browser [NAME...]
                       only the browser steps of `test` (tools, build-web, node --test);
                       with names, only those files of tests/browser (e.g. `families`)
  bench [OPTIONS]      build what is needed, then run the native bench and the browser bench
                       page (our engine and wllama in one headless Chromium) one after the
                       other; print one table with the ratios ours / wllama and write JSON
                       to results/bench-*.json. Options (defaults): --runs N (3)
                       --prompt-tokens N (128) --tokens N (128 greedy tokens per lane)
                       --lanes L (native, 1,4,16,64) --browser-lanes L (1,3,16)
                       --browser-engines E (samplescope,wllama; also wllama-webgpu)
                       --model NAME (smollm2; or gemma: both engines on that file)
                       --no-native --no-browser; --report FILE prints the table of an
                       earlier run's results/bench-<time>.json
  gpu-pack DIR [--dev]  the GPU check for a machine without Rust, network or model files:
                       the CLI, the test binaries that need no model and the Vulkan loader
                       in DIR (release, stripped, < 60 MiB; --dev: the debug build), with
                       DIR/run.sh [OUT] [--short] to run there (adapter, kernel, sampler and
                       synthetic-model tests, bench on synthetic models of real shapes)
  fuzz [--seconds N] [--seed S]
                       the mutation fuzzer (GGUF reader, config, tokenizer, chat template,
                       CPU model; tests/fuzz.rs) for N seconds (600) from seed S (default:
                       the clock, printed); failing inputs go to target/fuzz-failures/.
                       `test` runs it for 30 s
  lane-params          rewrite web/lane-params.json (the lane-spec grammar the page reads)
                       from PARAMS in src/sampling/config.rs; tests/lane_params.rs fails
                       while it is stale

cache dir: $SAMPLESCOPE_CACHE, else $XDG_CACHE_HOME/samplescope, else $HOME/.cache/samplescope";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fetch-model") if args.len() <= 2 => model::fetch_named(args.get(1).map(String::as_str)).map(|path| {
            println!("{}", path.display());
        }),
        Some("fetch-model") => Err(format!("fetch-model takes at most one model name\n\n{USAGE}")),
        Some("build-web") => {
            site::parse_args(&args[1..]).map_err(|e| format!("{e}\n\n{USAGE}")).and_then(|opts| site::build_web(&opts))
        }
        Some("demo") => web::demo(&args[1..]),
        Some("test") => test::test(&args[1..]),
        Some("test-browser") => browser::only(&args[1..]),
        Some("lint") if args.len() == 1 => test::lint(),
        Some("lint") => Err(format!("lint takes no arguments\n\n{USAGE}")),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("gpu-pack") => gpu_pack::gpu_pack(&args[1..]),
        Some("lane-params") if args.len() == 1 => util::run(
            util::cargo()
                .args(["test", "--test", "lane_params", "web_lane_params_json_is_current"])
                .env("SAMPLESCOPE_WRITE_LANE_PARAMS", "1"),
        ),
        Some("lane-params") => Err(format!("lane-params takes no arguments\n\n{USAGE}")),
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
