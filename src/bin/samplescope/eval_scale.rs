//! `samplescope eval-scale`: the import path at the scale of the repeated-sampling studies
//! (500 tasks × 10,000 samples). It writes a plain-JSONL sample file — short answers, each
//! task with its own accuracy, wrong answers near the right one, some outputs with no number
//! — then imports it as `eval --import` does (streamed from disk, the same `import_file`),
//! and reports the time to read and parse, verify, and summarize (pass@k, majority vote,
//! the fit), and peak memory (VmHWM): the file is never held whole, and a verified sample
//! keeps its vote, not its text.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use samplescope::eval::tasks::arithmetic;
use samplescope::eval::{ImportFormat, ImportOptions, Verifier};
use samplescope::{Error, Result};
use serde_json::json;
use web_time::Instant;

use crate::eval::import_file;

#[derive(Args)]
pub struct EvalScaleArgs {
    /// Tasks (arithmetic level 2, at most 10,000).
    #[arg(long, default_value_t = 500)]
    tasks: u32,
    /// Samples per task.
    #[arg(long, default_value_t = 10_000)]
    samples: u32,
    /// Imports of the same file (the table shows each; the JSON all).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Where to write the sample file [default: a temporary file, removed after].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// splitmix64, for the synthetic samples only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One short output and whether it is right: the right answer with probability `p`, else
/// a near miss (or, one time in twenty, no number at all), in one of a few phrasings.
fn output(rng: &mut Rng, answer: i64, p: f64) -> (String, bool) {
    let a = if rng.unit() < p {
        answer
    } else {
        if rng.below(20) == 0 {
            let text = ["I am not sure.", "Let me think step by step", "The answer is unclear"][rng.below(3) as usize];
            return (text.to_string(), false);
        }
        let miss = [1, -1, 2, -2, 10, -10, 3][rng.below(7) as usize];
        (answer + miss).max(0)
    };
    let text = match rng.below(5) {
        0 => format!("{a}"),
        1 => format!("The answer is {a}."),
        2 => format!("= {a}"),
        3 => format!("{a} in all"),
        _ => format!("So the total is {a}"),
    };
    (text, a == answer)
}

fn vm_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("—".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
}

pub fn eval_scale(a: EvalScaleArgs) -> Result<()> {
    let tasks = arithmetic(2, a.tasks, a.seed)?;
    let (path, temporary) = match &a.file {
        Some(p) => (p.clone(), false),
        None => (std::env::temp_dir().join(format!("samplescope-eval-scale-{}.jsonl", std::process::id())), true),
    };
    let cannot = |e: std::io::Error| Error::Param(format!("{}: {e}", path.display()));
    // Written a line at a time: the file is never in memory whole, here or in the import.
    let t0 = Instant::now();
    let mut rng = Rng(a.seed ^ 0x5ca1e);
    let mut w = BufWriter::new(std::fs::File::create(&path).map_err(cannot)?);
    let mut right = 0u64;
    for t in &tasks {
        let answer: i64 = t.answer.parse().map_err(|_| Error::Param(format!("answer {} is not a number", t.answer)))?;
        // Tasks from nearly never to nearly always solved, as in the repeated-sampling studies.
        let p = rng.unit().powi(2) * 0.9;
        let samples: Vec<String> = (0..a.samples)
            .map(|_| {
                let (text, ok) = output(&mut rng, answer, p);
                right += ok as u64;
                text
            })
            .collect();
        let line = json!({"prompt": t.prompt, "samples": samples});
        writeln!(w, "{line}").map_err(cannot)?;
    }
    w.flush().map_err(cannot)?;
    drop(w);
    let bytes = std::fs::metadata(&path).map_err(cannot)?.len();
    let write_s = t0.elapsed().as_secs_f64();
    let hwm_before = vm_kb("VmHWM:");
    let total = a.tasks as u64 * a.samples as u64;
    println!(
        "{} tasks × {} samples = {total} samples, {:.1} MB of JSONL at {} (written in {write_s:.1} s)",
        a.tasks,
        a.samples,
        bytes as f64 / 1e6,
        path.display()
    );
    println!("peak memory before importing: {}", mb(hwm_before));
    println!(
        "\n{:>3} {:>12} {:>9} {:>9} {:>12} {:>8}",
        "run", "read+parse", "verify", "summarize", "total (wall)", "VmHWM"
    );
    let mut runs = Vec::new();
    let mut last = None;
    for r in 0..a.runs.max(1) {
        // The previous run's report goes first, so each run's peak is its own.
        drop(last.take());
        let opts = ImportOptions {
            format: Some(ImportFormat::Plain),
            seed: a.seed,
            ..ImportOptions::new(tasks.clone(), Verifier::Numeric)
        };
        let t0 = Instant::now();
        let imported = import_file(&path, opts)?;
        let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
        let t = imported.import.times;
        // Reading the file is inside the wall time but outside the three parts.
        let read_parse = wall_ms - t.verify_ms - t.summarize_ms;
        let hwm = vm_kb("VmHWM:");
        println!(
            "{:>3} {:>10.0} ms {:>6.0} ms {:>6.0} ms {:>9.0} ms {:>8}",
            r + 1,
            read_parse,
            t.verify_ms,
            t.summarize_ms,
            wall_ms,
            mb(hwm)
        );
        runs.push(json!({
            "read_parse_ms": read_parse, "parse_ms": t.parse_ms, "verify_ms": t.verify_ms,
            "summarize_ms": t.summarize_ms, "wall_ms": wall_ms, "vm_hwm_kb": hwm,
        }));
        last = Some(imported);
    }
    let Some(imported) = last else { return Ok(()) };
    let rep = &imported.report;
    let i = &imported.import;
    let c = &rep.configs[0];
    // The import must find exactly what the generator wrote.
    let correct: u64 = rep.tasks.iter().map(|t| t.configs[0].correct as u64).sum();
    if i.samples != total || correct != right {
        return Err(Error::Param(format!(
            "imported {} samples of {total}, {correct} correct where the generator wrote {right}",
            i.samples
        )));
    }
    let at = |v: &[f64], k: usize| v.get(k - 1).map_or("—".into(), |x| format!("{:.1}%", 100.0 * x));
    println!(
        "\nverified {} distinct outputs of {} samples; pass@1 {} (the generator wrote {:.1}% right), pass@100 {}, \
         pass@{} {}; maj@1 {}, maj@{} {}",
        i.verified,
        i.samples,
        at(&c.pass_at_k, 1),
        100.0 * right as f64 / total as f64,
        at(&c.pass_at_k, 100.min(a.samples as usize)),
        a.samples,
        at(&c.pass_at_k, a.samples as usize),
        at(&c.majority_vote, 1),
        a.samples,
        at(&c.majority_vote, a.samples as usize)
    );
    if let Some(f) = c.fit {
        println!("fit exp(a·k^b): a = {:.3}, b = {:.3}, R² = {:.3}", f.a, f.b, f.r2);
    }
    let rss = vm_kb("VmRSS:");
    println!("memory now (report held): {}", mb(rss));
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    if let Some(out) = &a.json {
        let doc = json!({
            "tasks": a.tasks, "samples_per_task": a.samples, "samples": total, "file_bytes": bytes,
            "distinct_outputs_verified": i.verified, "vm_hwm_before_import_kb": hwm_before, "vm_rss_after_kb": rss,
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "pass_at_1": c.pass_at_k.first(), "pass_at_n": c.pass_at_k.last(),
            "majority_vote_at_n": c.majority_vote.last(), "fit": c.fit, "runs": runs,
        });
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap_or_default())
            .map_err(|e| Error::Param(format!("cannot write {}: {e}", out.display())))?;
        println!("JSON written to {}", out.display());
    }
    Ok(())
}
