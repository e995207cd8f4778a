//! `cargo xtask bench`: the native bench (`samplescope bench`), then the browser bench page
//! (www/bench.html: our engine and wllama in one headless Chromium session), one after the
//! other on the same machine, and one table of both with the ratios ours / wllama and the
//! issue's goals. Everything lands as JSON in results/ (git-ignored).

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::serve::Server;
use crate::test::Ctx;
use crate::util::{capture, cargo, run, workspace_root};
use crate::{browser, model, web, Res, USAGE};

/// What one `cargo xtask bench` measures.
struct Opts {
    runs: u32,
    prompt_tokens: u32,
    tokens: u32,
    lanes: String,
    browser_lanes: String,
    browser_engines: String,
    native: bool,
    browser: bool,
    /// Only print the table of an earlier run's combined JSON.
    report: Option<String>,
    /// The model both engines run (a `fetch-model` name).
    model: &'static model::Known,
}

impl Default for Opts {
    /// Issue 8's figures: a 128-token prompt, 128 greedy tokens, medians of 3 runs.
    fn default() -> Self {
        Opts {
            runs: 3,
            prompt_tokens: 128,
            tokens: 128,
            lanes: "1,4,16,64".into(),
            browser_lanes: "1,3,16".into(),
            browser_engines: "samplescope,wllama".into(),
            native: true,
            browser: true,
            report: None,
            model: &model::KNOWN[0],
        }
    }
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{key} needs a value"));
        match key {
            "--runs" => o.runs = positive(key, &value()?)?,
            "--prompt-tokens" => o.prompt_tokens = positive(key, &value()?)?,
            "--tokens" => o.tokens = positive(key, &value()?)?,
            "--lanes" => o.lanes = lane_list(key, &value()?)?,
            "--browser-lanes" => o.browser_lanes = lane_list(key, &value()?)?,
            "--browser-engines" => o.browser_engines = value()?,
            "--no-native" => o.native = false,
            "--no-browser" => o.browser = false,
            "--report" => o.report = Some(value()?),
            "--model" => o.model = model::known(&value()?)?,
            other => return Err(format!("bench: unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if o.tokens < 2 {
        return Err("--tokens must be at least 2 (a decode rate needs a second token)".into());
    }
    if !o.native && !o.browser {
        return Err("--no-native and --no-browser leave nothing to measure".into());
    }
    Ok(o)
}

fn positive(key: &str, v: &str) -> Res<u32> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{key} {v}: expected a positive whole number")),
    }
}

fn lane_list(key: &str, v: &str) -> Res<String> {
    for part in v.split(',') {
        positive(key, part.trim())?;
    }
    Ok(v.replace(' ', ""))
}

/// `cargo xtask bench [OPTIONS]`.
pub fn bench(args: &[String]) -> Res {
    let o = parse(args)?;
    if let Some(path) = &o.report {
        print!("{}", table(&read_json(Path::new(path))?));
        return Ok(());
    }
    measure(&o, &Ctx::new(&[])?)
}

fn measure(o: &Opts, ctx: &Ctx) -> Res {
    let root = workspace_root();
    println!("==> building what the bench needs");
    if o.browser {
        browser::ensure_tools(ctx)?; // node, npm packages (wllama among them), chromium
    }
    let model_path = model::fetch(o.model)?;
    if o.native {
        run(cargo().args(["build", "--release", "--bin", "samplescope"]))?;
    }
    let site = if o.browser {
        web::build_web()?; // also copies wllama into www/bench-assets
        Some(snapshot_www(&model_path)?)
    } else {
        None
    };
    let results = root.join("results");
    fs::create_dir_all(&results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());

    let load_before = load_average();
    let native = o.native.then(|| {
        println!("\n==> native bench (samplescope bench, wgpu)");
        native_bench(o, ctx, &model_path, &results.join(format!("bench-{stamp}-native.json")))
    });
    let load_between = load_average();
    let browser = site.map(|site| {
        println!("\n==> browser bench (www/bench.html in headless Chromium)");
        browser_bench(o, &site, &results.join(format!("bench-{stamp}-browser.json")))
    });
    let load_after = load_average();

    let part = |r: &Option<Res<Value>>| match r {
        None => Value::Null,
        Some(Ok(v)) => v.clone(),
        Some(Err(e)) => json!({ "error": e }),
    };
    let mut all = json!({
        "unix_time": stamp,
        "machine": machine(),
        "model": o.model.file,
        "load_average": { "before": load_before, "between": load_between, "after": load_after },
        "settings": {
            "runs": o.runs, "prompt_tokens": o.prompt_tokens, "decode_tokens": o.tokens,
            "native_lanes": o.lanes, "browser_lanes": o.browser_lanes,
            "browser_engines": o.browser_engines,
        },
        // "Chromium 156.0.8078.79 built on Debian …": the version is what matters.
        "chromium": capture(Command::new(browser::CHROMIUM).arg("--version"))
            .map(|s| s.split(" built on").next().unwrap_or("").trim().to_string())
            .unwrap_or_default(),
        "native": part(&native),
        "browser": part(&browser),
    });
    all["ratios"] = ratios(&all);
    all["goals"] = goals(&all);
    print!("{}", table(&all));
    let out = results.join(format!("bench-{stamp}.json"));
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    fs::write(&out, text + "\n").map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("\nJSON: {}", out.display());

    let mut errors: Vec<String> = [("native", &native), ("browser", &browser)]
        .into_iter()
        .filter_map(|(name, r)| match r {
            Some(Err(e)) => Some(format!("{name}: {e}")),
            _ => None,
        })
        .collect();
    for e in all["browser"]["errors"].as_array().into_iter().flatten() {
        errors.push(format!("browser, {}: {}", s(&e["engine"]), s(&e["message"])));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("the bench ran with errors:\n  {}", errors.join("\n  ")))
    }
}

/// `samplescope bench` (release build); its progress goes to the terminal, its JSON is read.
fn native_bench(o: &Opts, ctx: &Ctx, model: &Path, out: &Path) -> Res<Value> {
    let exe = web::target_dir().join("release").join("samplescope");
    let mut cmd = Command::new(exe);
    cmd.arg("bench")
        .arg("--model")
        .arg(model)
        .args(["--lanes", &o.lanes])
        .args(["--prompt-tokens", &o.prompt_tokens.to_string()])
        .args(["--tokens", &o.tokens.to_string()])
        .args(["--runs", &o.runs.to_string()])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null()); // its own table; ours below has the same figures
    if let Some(dir) = &ctx.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    run(&mut cmd)?;
    read_json(out)
}

/// Serves `site` (the snapshot of www/) and runs the bench page through
/// tests/browser/bench-run.mjs.
fn browser_bench(o: &Opts, site: &Path, out: &Path) -> Res<Value> {
    let root = workspace_root();
    let server = Server::start(site, 0, true)?;
    let query = format!(
        "runs={}&promptTokens={}&tokens={}&lanes={}&engines={}&model={}",
        o.runs, o.prompt_tokens, o.tokens, o.browser_lanes, o.browser_engines, o.model.name
    );
    run(Command::new("node")
        .arg("tests/browser/bench-run.mjs")
        .args(["--url", &server.url(), "--query", &query])
        .arg("--out")
        .arg(out)
        .current_dir(&root)
        .env("SAMPLESCOPE_CHROMIUM", browser::CHROMIUM)
        .env("SAMPLESCOPE_ARTIFACTS", web::target_dir().join("browser-artifacts")))?;
    read_json(out)
}

/// A copy of www/ in target/bench-www, taken right after build-web, for the browser bench to
/// serve: the bench runs for an hour or more, and a `build-web` meanwhile (a rebuild in the
/// same checkout) would swap the engine under it, or remove it mid-copy. The model is
/// linked, not copied.
fn snapshot_www(model: &Path) -> Res<PathBuf> {
    let www = workspace_root().join("www");
    let dst = web::target_dir().join("bench-www");
    let _ = fs::remove_dir_all(&dst);
    fs::create_dir_all(dst.join("models")).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    let entries = fs::read_dir(&www).map_err(|e| format!("cannot list {}: {e}", www.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if entry.file_name() == "models" {
            continue;
        } else if from.is_dir() {
            web::copy_dir(&from, &to)?;
        } else {
            fs::copy(&from, &to).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        }
    }
    let link = dst.join("models").join(model.file_name().ok_or("a model path without a file name")?);
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(model, &link).is_ok();
    #[cfg(not(unix))]
    let linked = false;
    if !linked {
        fs::copy(model, &link).map_err(|e| format!("cannot copy the model: {e}"))?;
    }
    Ok(dst)
}

fn read_json(path: &Path) -> Res<Value> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The 1, 5 and 15 minute load averages (Linux), or "n/a".
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "n/a".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn machine() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or(String::new(), |(_, v)| v.trim().to_string());
    let mem_kb: f64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gb": (mem_kb / 1e6 * 10.0).round() / 10.0,
    })
}

// ---------------------------------------------------------------------------------------------
// the table
// ---------------------------------------------------------------------------------------------

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn median(v: &Value) -> Option<f64> {
    v["median"].as_f64()
}

/// A `{lanes, …}` entry of a list by its lane count.
fn by_lanes(list: &Value, lanes: u64) -> Option<&Value> {
    list.as_array()?.iter().find(|d| d["lanes"].as_u64() == Some(lanes))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    }
}

/// Ours / wllama, in the browser (wllama on its CPU backend, the issue's reference).
fn ratios(all: &Value) -> Value {
    let ours = &all["browser"]["samplescope"];
    let wl = &all["browser"]["wllama"];
    let decode = |b| by_lanes(&ours["decode"], b).and_then(|d| median(&d["decode_tok_s"]));
    json!({
        "decode_b1": ratio(decode(1), median(&wl["decode_tok_s"])),
        "prefill": ratio(median(&ours["prefill_tok_s"]), median(&wl["prefill_tok_s"])),
        "load_time": ratio(median(&ours["load_ms"]), median(&wl["load_ms"])),
        "first_token_after_load": ratio(median(&ours["first_token_ms"]), median(&wl["first_token_ms"])),
        "decode_b16_aggregate_vs_wllama_single": ratio(decode(16), median(&wl["decode_tok_s"])),
    })
}

/// One goal: a measured value that must reach its target (at least) or stay within it (at
/// most). Written to the results JSON and read back from it for the table, so `--report`
/// prints an old run's goals by the same rule.
#[derive(Debug, Clone, PartialEq)]
struct Goal {
    /// The issue that set it.
    issue: u64,
    what: String,
    value: Option<f64>,
    target: f64,
    unit: String,
    at_most: bool,
}

impl Goal {
    fn new(issue: u64, what: impl Into<String>, value: Option<f64>, target: f64, unit: &str, at_most: bool) -> Goal {
        Goal { issue, what: what.into(), value, target, unit: unit.into(), at_most }
    }

    /// None when it was not measured.
    fn met(&self) -> Option<bool> {
        let v = self.value?;
        Some(if self.at_most { v <= self.target } else { v >= self.target })
    }

    /// How far a missed goal is from its target, as a factor above 1: target / value for an
    /// "at least" goal, value / target for an "at most" one. None when met or not measured
    /// (or the factor has no meaning: a value or target of 0).
    fn missed_by(&self) -> Option<f64> {
        let v = self.value?;
        let (num, den) = if self.at_most { (v, self.target) } else { (self.target, v) };
        (self.met() == Some(false) && den > 0.0).then(|| num / den)
    }

    fn to_json(&self) -> Value {
        json!({
            "issue": self.issue, "goal": self.what, "value": self.value, "target": self.target,
            "unit": self.unit, "at_most": self.at_most, "met": self.met(), "missed_by": self.missed_by(),
        })
    }

    /// Results written before issue 21 have neither `issue` nor `at_most`: they hold issue
    /// 8's goals, of which only the sampler's share is an upper bound.
    fn from_json(g: &Value) -> Goal {
        let unit = s(&g["unit"]);
        Goal::new(
            g["issue"].as_u64().unwrap_or(8),
            s(&g["goal"]),
            g["value"].as_f64(),
            g["target"].as_f64().unwrap_or(f64::NAN),
            unit,
            g["at_most"].as_bool().unwrap_or(unit == "share"),
        )
    }

    /// The value as the table shows it.
    fn shown(&self) -> String {
        match (self.value, self.unit.as_str()) {
            (None, _) => "not measured".into(),
            (Some(v), "share") => format!("{:.1}%", v * 100.0),
            (Some(v), "×") => format!("{v:.3}×"),
            (Some(v), "ms") => format!("{v:.0} ms"),
            (Some(v), u) => format!("{v:.2} {u}"),
        }
    }

    /// "met", "missed: 1.50× short" (at least) or "missed: 1.20× over" (at most).
    fn verdict(&self) -> String {
        match (self.met(), self.missed_by()) {
            (None, _) => String::new(),
            (Some(true), _) => "met".into(),
            // Two decimals: a goal missed by 5% read "1.0× short" with one.
            (Some(false), Some(f)) => format!("missed: {f:.2}× {}", if self.at_most { "over" } else { "short" }),
            (Some(false), None) => "missed".into(),
        }
    }
}

/// The issues' goals for this kind of machine (SwiftShader in the browser, lavapipe
/// natively), from one run: issue 8's (kept as history), then issue 21's.
fn goals(all: &Value) -> Value {
    let ours = &all["browser"]["samplescope"];
    let native = &all["native"]["report"];
    let browser_b1 = by_lanes(&ours["decode"], 1);
    let browser_decode = |b| by_lanes(&ours["decode"], b).and_then(|d| median(&d["decode_tok_s"]));
    let native_decode = |b| by_lanes(&native["decode"], b).and_then(|d| median(&d["aggregate_tok_s"]));
    let r = &all["ratios"];
    let chain = by_lanes(&native["sampler_share"], 1).and_then(|x| x["share"].as_f64());
    let (at_least, at_most) = (false, true);
    // The page's time to first token (web/bench.js `ttft_ms`, B = 1): on a warm engine (the
    // first request after the load is a warm-up), from posting the request to the first
    // token, the prompt's prefill included.
    let prompt = ours["prompt_tokens"].as_u64().or_else(|| all["settings"]["prompt_tokens"].as_u64());
    let ttft = format!(
        "browser time to first token ≤ 1.5 s (warm: request → first token{})",
        prompt.map_or(String::new(), |n| format!(", {n}-token prompt"))
    );
    let list = [
        Goal::new(8, "browser decode B = 1 ≥ 3 tok/s", browser_decode(1), 3.0, "tok/s", at_least),
        Goal::new(8, "browser decode B = 1 ≥ 0.5× wllama", r["decode_b1"].as_f64(), 0.5, "×", at_least),
        Goal::new(
            8,
            "browser decode B = 16 aggregate ≥ 2× wllama",
            r["decode_b16_aggregate_vs_wllama_single"].as_f64(),
            2.0,
            "×",
            at_least,
        ),
        Goal::new(
            8,
            "native decode B = 1 ≥ 9.4 tok/s (10× llama.cpp Vulkan on lavapipe)",
            native_decode(1),
            9.4,
            "tok/s",
            at_least,
        ),
        Goal::new(
            8,
            "native decode B = 16 aggregate ≥ 8× B = 1",
            ratio(native_decode(16), native_decode(1)).as_f64(),
            8.0,
            "×",
            at_least,
        ),
        Goal::new(8, "sampler chain < 5% of a B = 1 step", chain, 0.05, "share", at_most),
        Goal::new(21, "browser decode B = 1 ≥ 1.0× wllama", r["decode_b1"].as_f64(), 1.0, "×", at_least),
        Goal::new(21, "browser load ≤ 1.0× wllama's load", r["load_time"].as_f64(), 1.0, "×", at_most),
        Goal::new(21, ttft, browser_b1.and_then(|d| median(&d["ttft_ms"])), 1500.0, "ms", at_most),
        Goal::new(21, "native decode B = 1 ≥ 30 tok/s (lavapipe)", native_decode(1), 30.0, "tok/s", at_least),
    ];
    Value::Array(list.iter().map(Goal::to_json).collect())
}

/// "12.34 tok/s   10.20 – 13.00   (3)"
fn stat_cells(v: &Value, unit: &str, digits: usize) -> String {
    let f = |k: &str| v[k].as_f64().map_or("—".into(), |x| format!("{x:.digits$}"));
    if v.is_null() {
        return "not measured".into();
    }
    format!("{:>9} {unit:<6} {:>9} – {:<9} ({})", f("median"), f("min"), f("max"), v["runs"].as_u64().unwrap_or(0))
}

/// A load's phases (`[{phase, median, …}]`, in the order they ran) as "wasm 310 · read 402 · …"
/// (medians, ms).
fn phase_cells(phases: &Value) -> String {
    match phases.as_array() {
        Some(p) if !p.is_empty() => p
            .iter()
            .map(|st| format!("{} {}", s(&st["phase"]), median(st).map_or("—".into(), |m| format!("{m:.0}"))))
            .collect::<Vec<_>>()
            .join(" · "),
        _ => "not measured".into(),
    }
}

/// The two floors a B = 1 step cannot beat (src/bench.rs `Floors`), and the step against them.
fn floor_rows(t: &mut String, f: &Value) {
    let (Some(bw), Some(disp)) = (f["bandwidth_floor_ms"].as_f64(), f["dispatch_floor_ms"].as_f64()) else {
        return;
    };
    let counted = f["counted"].as_bool().unwrap_or(false);
    let n = if counted { &f["dispatches"] } else { &f["ops"] };
    let _ = writeln!(t, "  floors of a decode step at B = 1 (it can beat neither):");
    let _ = writeln!(
        t,
        "    {:<30} {bw:>9.2} ms ({:.1} MB at {:.1} GB/s)",
        "bandwidth floor",
        f["step_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
        f["copy_gb_s"].as_f64().unwrap_or(f64::NAN)
    );
    let _ = writeln!(
        t,
        "    {:<30} {disp:>9.2} ms ({} {} × {:.2} µs)",
        "dispatch floor",
        n,
        if counted { "dispatches" } else { "ops, a lower bound" },
        f["dispatch_cost"]["us"].as_f64().unwrap_or(f64::NAN)
    );
    for (label, key) in [("step, wall clock", "decode_step_ms"), ("step, GPU time", "gpu_step_ms")] {
        if let Some(ms) = f[key].as_f64() {
            let _ = writeln!(t, "    {label:<30} {ms:>9.2} ms = {:.1}× bandwidth, {:.1}× dispatch", ms / bw, ms / disp);
        }
    }
}

fn table(all: &Value) -> String {
    let mut t = String::new();
    let set = &all["settings"];
    let m = &all["machine"];
    let la = &all["load_average"];
    let _ = writeln!(t, "\n==> samplescope bench: native and browser, one after the other, on this machine");
    let _ = writeln!(
        t,
        "machine: {} cores ({}), {} GB; load average (1, 5, 15 min) {} → {} → {} (before, \
         between the halves, after; a busy machine is slower and noisier)",
        m["cores"],
        s(&m["cpu"]),
        m["memory_gb"],
        s(&la["before"]),
        s(&la["between"]),
        s(&la["after"])
    );
    let _ = writeln!(
        t,
        "model {}; prompt {} tokens, {} greedy tokens per lane; each figure: median, min – max (runs)",
        s(&all["model"]),
        set["prompt_tokens"],
        set["decode_tokens"]
    );
    let row = |t: &mut String, label: &str, cells: String| {
        let _ = writeln!(t, "  {label:<40} {cells}");
    };

    let n = &all["native"];
    if let Some(e) = n["error"].as_str() {
        let _ = writeln!(t, "\nnative: FAILED: {e}");
    } else if !n.is_null() {
        let a = &n["adapter"];
        let rep = &n["report"];
        let _ = writeln!(
            t,
            "\nnative samplescope — {} ({}, {}), {} kernels",
            s(&a["name"]),
            s(&a["backend"]),
            s(&a["type"]),
            s(&n["variant"])
        );
        row(&mut t, "load", stat_cells(&n["load"], "ms", 0));
        row(&mut t, &format!("prefill {} tokens", rep["prompt_tokens"]), stat_cells(&rep["prefill_tok_s"], "tok/s", 2));
        row(&mut t, "time to first token", stat_cells(&rep["time_to_first_token_ms"], "ms", 0));
        let b1 = by_lanes(&rep["decode"], 1).and_then(|d| median(&d["aggregate_tok_s"]));
        for d in rep["decode"].as_array().into_iter().flatten() {
            let lanes = d["lanes"].as_u64().unwrap_or(0);
            let mut cells = stat_cells(&d["aggregate_tok_s"], "tok/s", 2);
            if let (true, Some(b1), Some(x)) = (lanes > 1, b1, median(&d["aggregate_tok_s"])) {
                cells += &format!("  {:.1}× B = 1", x / b1);
            }
            let label = if lanes > 1 { format!("decode B = {lanes} (aggregate)") } else { "decode B = 1".into() };
            row(&mut t, &label, cells);
        }
        for sh in rep["sampler_share"].as_array().into_iter().flatten() {
            row(
                &mut t,
                &format!("sampler chain, B = {}", sh["lanes"]),
                format!(
                    "{:>8.1}% of a step ({:.2} of {:.1} ms, timestamp queries)",
                    sh["share"].as_f64().unwrap_or(f64::NAN) * 100.0,
                    sh["chain_ms"].as_f64().unwrap_or(f64::NAN),
                    sh["step_ms"].as_f64().unwrap_or(f64::NAN)
                ),
            );
        }
        let bw = &rep["bandwidth"];
        if let (Some(bytes), Some(ms), Some(copy), Some(frac)) =
            (bw["step_bytes"].as_f64(), bw["step_ms"].as_f64(), bw["copy_gb_s"].as_f64(), bw["fraction"].as_f64())
        {
            row(
                &mut t,
                "bytes per decode step, B = 1",
                format!(
                    "{:>8.1} MB in {ms:.1} ms: {:.1}% of the copy bandwidth ({copy:.1} GB/s)",
                    bytes / 1e6,
                    frac * 100.0
                ),
            );
        }
        floor_rows(&mut t, &rep["floors"]);
        let kernels = rep["kernels"].as_array().cloned().unwrap_or_default();
        if !kernels.is_empty() {
            let total: f64 = kernels.iter().filter_map(|k| k["ms"].as_f64()).sum();
            let _ = writeln!(t, "  GPU time per kernel family, one decode step at B = 1 ({total:.1} ms):");
            for k in &kernels {
                let _ = writeln!(
                    t,
                    "    {:<30} {:>4} calls {:>9.2} ms {:>6.1}%",
                    s(&k["kernel"]),
                    k["calls"].as_u64().unwrap_or(0),
                    k["ms"].as_f64().unwrap_or(f64::NAN),
                    k["share"].as_f64().unwrap_or(f64::NAN) * 100.0
                );
            }
        }
    }

    let b = &all["browser"];
    if let Some(e) = b["error"].as_str() {
        let _ = writeln!(t, "\nbrowser: FAILED: {e}");
    } else if !b.is_null() {
        let ours = &b["samplescope"];
        if !ours.is_null() {
            let a = &ours["adapter"];
            let _ = writeln!(
                t,
                "\nbrowser samplescope — {}, WebGPU adapter {} ({}, {} kernels)",
                s(&all["chromium"]),
                s(&a["label"]),
                s(&a["deviceType"]),
                s(&a["variant"])
            );
            row(&mut t, "load", stat_cells(&ours["load_ms"], "ms", 0));
            row(&mut t, "  phases (medians, ms)", phase_cells(&ours["load_phases"]));
            row(&mut t, "first token after load", stat_cells(&ours["first_token_ms"], "ms", 0));
            row(
                &mut t,
                &format!("prefill {} tokens", ours["prompt_tokens"]),
                stat_cells(&ours["prefill_tok_s"], "tok/s", 2),
            );
            row(&mut t, "time to first token", stat_cells(&ours["ttft_ms"], "ms", 0));
            for d in ours["decode"].as_array().into_iter().flatten() {
                let lanes = d["lanes"].as_u64().unwrap_or(0);
                let label = if lanes > 1 { format!("decode B = {lanes} (aggregate)") } else { "decode B = 1".into() };
                let mut cells = stat_cells(&d["decode_tok_s"], "tok/s", 2);
                if d["min_tokens"].as_u64().is_some_and(|n| n < ours["decode_tokens"].as_u64().unwrap_or(0)) {
                    cells += &format!("  (a lane stopped early, after {} tokens)", d["min_tokens"]);
                }
                row(&mut t, &label, cells);
            }
        }
        for key in ["wllama", "wllama_webgpu"] {
            let w = &b[key];
            if w.is_null() {
                continue;
            }
            let _ = writeln!(
                t,
                "\nbrowser wllama {} (llama.cpp {}) — {}, {} threads, cross-origin isolated: {}",
                s(&w["version"]),
                s(&w["llama_cpp"]),
                s(&w["backend"]),
                w["threads"],
                b["browser"]["crossOriginIsolated"]
            );
            row(&mut t, "load", stat_cells(&w["load_ms"], "ms", 0));
            row(&mut t, "  phases (medians, ms)", phase_cells(&w["load_phases"]));
            row(&mut t, "first token after load", stat_cells(&w["first_token_ms"], "ms", 0));
            row(&mut t, &format!("prefill {} tokens", w["prompt_tokens"]), stat_cells(&w["prefill_tok_s"], "tok/s", 2));
            row(&mut t, "decode B = 1", stat_cells(&w["decode_tok_s"], "tok/s", 2));
        }
        for e in b["errors"].as_array().into_iter().flatten() {
            let _ = writeln!(t, "\nbrowser {}: FAILED: {}", s(&e["engine"]), s(&e["message"]));
        }
    }

    let r = &all["ratios"];
    let x = |v: &Value| v.as_f64().map_or("—".into(), |x| format!("{x:.3}×"));
    let _ = writeln!(t, "\nours / wllama (browser, medians)");
    row(&mut t, "decode tok/s, B = 1", x(&r["decode_b1"]));
    row(&mut t, "prefill tok/s", x(&r["prefill"]));
    row(&mut t, "load time (below 1: ours loads faster)", x(&r["load_time"]));
    row(&mut t, "first token after load (below 1: ours sooner)", x(&r["first_token_after_load"]));
    row(&mut t, "decode B = 16 aggregate / wllama", x(&r["decode_b16_aggregate_vs_wllama_single"]));

    let goals: Vec<Goal> = all["goals"].as_array().into_iter().flatten().map(Goal::from_json).collect();
    let mut issues: Vec<u64> = goals.iter().map(|g| g.issue).collect();
    issues.dedup();
    let width = goals.iter().map(|g| g.what.chars().count()).max().unwrap_or(0);
    for issue in issues {
        let _ = writeln!(t, "\ngoals (issue {issue})");
        for g in goals.iter().filter(|g| g.issue == issue) {
            let _ = writeln!(t, "  {:<width$} {:>12}  {}", g.what, g.shown(), g.verdict());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.runs, o.prompt_tokens, o.tokens), (3, 128, 128));
        assert_eq!(o.lanes, "1,4,16,64");
        let o = parse(&args(&["--runs", "1", "--tokens=8", "--browser-lanes", "1, 3", "--no-native"])).unwrap();
        assert_eq!((o.runs, o.tokens, o.browser_lanes.as_str(), o.native), (1, 8, "1,3", false));
        assert!(parse(&args(&["--runs", "0"])).is_err());
        assert!(parse(&args(&["--lanes", "1,x"])).is_err());
        assert!(parse(&args(&["--tokens", "1"])).is_err());
        assert!(parse(&args(&["--no-native", "--no-browser"])).is_err());
        assert!(parse(&args(&["--frobnicate"])).is_err());
        assert!(parse(&args(&["--runs"])).is_err());
    }

    #[test]
    fn ratios_and_goals_from_results() {
        let stat = |m: f64| json!({ "median": m, "min": m, "max": m, "runs": 3 });
        let mut all = json!({
            "native": { "report": {
                "decode": [
                    { "lanes": 1, "aggregate_tok_s": stat(5.0) },
                    { "lanes": 16, "aggregate_tok_s": stat(50.0) },
                ],
                "sampler_share": [{ "lanes": 1, "share": 0.04 }],
                "bandwidth": { "step_bytes": 1.0e8, "step_ms": 50.0, "copy_gb_s": 10.0, "fraction": 0.2 },
                "floors": {
                    "step_bytes": 1.0e8, "copy_gb_s": 10.0, "bandwidth_floor_ms": 10.0, "dispatches": 200,
                    "ops": 40, "counted": true, "dispatch_cost": { "us": 25.0 }, "dispatch_floor_ms": 5.0,
                    "decode_step_ms": 200.0, "gpu_step_ms": null,
                },
            } },
            "browser": {
                "samplescope": {
                    "load_ms": stat(3000.0), "prefill_tok_s": stat(7.0), "first_token_ms": stat(4000.0),
                    "prompt_tokens": 128,
                    "load_phases": [
                        { "phase": "wasm", "median": 310.4, "min": 300.0, "max": 320.0, "runs": 3 },
                        { "phase": "weights", "median": 1200.0, "min": 1100.0, "max": 1300.0, "runs": 3 },
                    ],
                    "decode": [
                        { "lanes": 1, "decode_tok_s": stat(2.0), "ttft_ms": stat(1800.0) },
                        { "lanes": 16, "decode_tok_s": stat(30.0) },
                    ],
                },
                "wllama": {
                    "load_ms": stat(2000.0), "prefill_tok_s": stat(14.0), "decode_tok_s": stat(10.0),
                    "first_token_ms": stat(2000.0),
                },
            },
        });
        all["ratios"] = ratios(&all);
        assert_eq!(all["ratios"]["decode_b1"], json!(0.2));
        assert_eq!(all["ratios"]["prefill"], json!(0.5));
        assert_eq!(all["ratios"]["load_time"], json!(1.5));
        assert_eq!(all["ratios"]["decode_b16_aggregate_vs_wllama_single"], json!(3.0));
        assert_eq!(all["ratios"]["first_token_after_load"], json!(2.0));
        all["goals"] = goals(&all);
        let goals = all["goals"].as_array().unwrap();
        let of = |issue| goals.iter().filter(move |g| g["issue"] == json!(issue));
        let met: Vec<_> = of(8).map(|g| g["met"].as_bool()).collect();
        // 2 tok/s < 3; 0.2× < 0.5×; 3× ≥ 2×; 5 < 9.4; 10× ≥ 8×; 4% < 5%.
        assert_eq!(met, [Some(false), Some(false), Some(true), Some(false), Some(true), Some(true)]);
        // Issue 21: decode 0.2× of wllama (5× short of 1×), load 1.5× wllama's (1.5× over
        // 1×), first token 1800 ms (1.2× over 1500 ms), native 5 tok/s (6× short of 30).
        let by: Vec<_> = of(21).map(|g| (g["value"].as_f64(), g["met"].as_bool(), g["missed_by"].as_f64())).collect();
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert_eq!(by.len(), 4);
        for ((value, met, missed_by), (want_value, want_by)) in
            by.into_iter().zip([(0.2, 5.0), (1.5, 1.5), (1800.0, 1.2), (5.0, 6.0)])
        {
            assert!(
                close(value, want_value) && met == Some(false) && close(missed_by, want_by),
                "{value:?} {missed_by:?}"
            );
        }
        let text = table(&all);
        assert!(text.contains("missed: 1.50× short"), "{text}");
        assert!(text.contains("\ngoals (issue 8)\n") && text.contains("\ngoals (issue 21)\n"), "{text}");
        let row = |label: &str| text.lines().find(|l| l.contains(label)).unwrap_or("").to_string();
        assert!(row("≤ 1.0× wllama's load").ends_with(" 1.500×  missed: 1.50× over"), "{text}");
        assert!(
            row("≤ 1.5 s (warm: request → first token, 128-token prompt)").ends_with(" 1800 ms  missed: 1.20× over"),
            "{text}"
        );
        assert!(row("≥ 30 tok/s (lavapipe)").ends_with(" 5.00 tok/s  missed: 6.00× short"), "{text}");
        assert!(text.contains("100.0 MB in 50.0 ms: 20.0% of the copy bandwidth"), "{text}");
        assert!(text.contains("10.00 ms (100.0 MB at 10.0 GB/s)"), "{text}");
        assert!(text.contains("5.00 ms (200 dispatches × 25.00 µs)"), "{text}");
        assert!(text.contains("200.00 ms = 20.0× bandwidth, 40.0× dispatch"), "{text}");
        assert!(!text.contains("step, GPU time"), "{text}");
        assert!(text.contains("phases (medians, ms)                   wasm 310 · weights 1200\n"), "{text}");
        assert!(text.contains("first token after load (below 1: ours sooner)"), "{text}");
    }

    #[test]
    fn goal_met_or_missed_and_by_how_much() {
        let g = |value, at_most| Goal::new(21, "g", value, 2.0, "×", at_most);
        // At least 2: 1 is 2× short, 2 and 3 are met.
        assert_eq!((g(Some(1.0), false).met(), g(Some(1.0), false).missed_by()), (Some(false), Some(2.0)));
        assert_eq!((g(Some(2.0), false).met(), g(Some(2.0), false).missed_by()), (Some(true), None));
        assert_eq!(g(Some(3.0), false).met(), Some(true));
        // At most 2: 3 is 1.5× over, 2 and 1 are met.
        assert_eq!((g(Some(3.0), true).met(), g(Some(3.0), true).missed_by()), (Some(false), Some(1.5)));
        assert_eq!((g(Some(2.0), true).met(), g(Some(1.0), true).met()), (Some(true), Some(true)));
        // Not measured; a zero rate is missed by no finite factor.
        assert_eq!(
            (g(None, false).met(), g(None, false).missed_by(), g(None, false).verdict()),
            (None, None, String::new())
        );
        assert_eq!((g(Some(0.0), false).missed_by(), g(Some(0.0), false).verdict()), (None, "missed".into()));
        assert_eq!(g(Some(1.0), false).verdict(), "missed: 2.00× short");
        assert_eq!(g(Some(3.0), true).verdict(), "missed: 1.50× over");
        // What the JSON holds reads back as the same goal.
        let back = Goal::from_json(&g(Some(3.0), true).to_json());
        assert_eq!(back, g(Some(3.0), true));
        assert_eq!(g(Some(3.0), true).to_json()["missed_by"], json!(1.5));
        // A report from before issue 21: issue 8's goals, the share an upper bound.
        let old = Goal::from_json(&json!({ "goal": "sampler chain < 5% of a B = 1 step", "value": 0.06,
                                           "target": 0.05, "unit": "share", "met": false }));
        assert_eq!((old.issue, old.at_most, old.met(), old.shown()), (8, true, Some(false), "6.0%".into()));
    }

    #[test]
    fn missing_parts_are_not_measured() {
        let mut all = json!({ "native": Value::Null, "browser": { "error": "chromium crashed" } });
        all["ratios"] = ratios(&all);
        all["goals"] = goals(&all);
        assert!(all["ratios"]["decode_b1"].is_null());
        assert!(all["goals"][0]["met"].is_null());
        let text = table(&all);
        assert!(text.contains("browser: FAILED: chromium crashed"), "{text}");
        assert!(text.contains("not measured"), "{text}");
        assert!(text.contains("browser time to first token ≤ 1.5 s (warm: request → first token) "), "{text}");
    }
}
