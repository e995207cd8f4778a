//! What an eval run produced: every sample with its verdict, per-configuration summaries
//! (pass@k, majority vote, power-law fit), the temperature sweep, and their JSON, CSV and
//! text-table forms. The summaries are recomputed from the samples by `summarize`, so a
//! cancelled run or a re-verified one summarizes the same way.

use std::borrow::Cow;
use std::fmt::Write;

use serde::{Serialize, Serializer};

use super::metrics::{
    encode_votes, fit_curve, majority_vote_curve_coded, pass_at_k_curve, PowerLawFit, Vote, VoteCode,
};
use crate::sampling::config::SamplerConfig;

/// One generated output and what the verifier made of it.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// The Philox sample index of its lane (0 for greedy).
    pub sample_index: u32,
    pub output: String,
    pub extracted: Option<String>,
    pub pass: bool,
    pub tokens: u32,
    /// "eog", "max_tokens" or "stop_string".
    pub stop: String,
}

/// The samples of one task under one configuration, in sample-index order. A local run
/// keeps every sample whole in `samples` and leaves `votes` empty; an import keeps every
/// sample's vote in `votes` and only the first few whole (`import::ImportOptions::keep_texts`),
/// so that 10,000 samples a task cost 4 bytes each, not their text.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TaskConfig {
    pub samples: Vec<Sample>,
    pub correct: u32,
    #[serde(skip_serializing_if = "Votes::is_empty")]
    pub votes: Votes,
}

impl TaskConfig {
    /// How many samples there are (kept whole or not).
    pub fn count(&self) -> usize {
        if self.votes.is_empty() {
            self.samples.len()
        } else {
            self.votes.codes.len()
        }
    }

    /// Every sample's vote, in sample order.
    pub fn codes(&self) -> Cow<'_, [VoteCode]> {
        if self.votes.is_empty() {
            let votes: Vec<Vote> = self.samples.iter().map(|s| (s.extracted.as_deref(), s.pass)).collect();
            Cow::Owned(encode_votes(&votes))
        } else {
            Cow::Borrowed(&self.votes.codes)
        }
    }

    /// Every sample's extracted answer, in sample order.
    pub fn extracted(&self) -> Vec<Option<&str>> {
        if self.votes.is_empty() {
            self.samples.iter().map(|s| s.extracted.as_deref()).collect()
        } else {
            self.votes.codes.iter().map(|&c| self.votes.answer(c)).collect()
        }
    }
}

/// Every sample's vote of one task and configuration in 4 bytes (see `metrics::VoteCode`),
/// with the distinct answers once. Serialized as a tally: `{"samples": n, "tally":
/// [{"answer", "pass", "count"}, …]}`, most frequent first.
#[derive(Clone, Debug, Default)]
pub struct Votes {
    /// The distinct extracted answers, in order of first appearance.
    pub answers: Vec<String>,
    /// Every sample's vote, in sample order.
    pub codes: Vec<VoteCode>,
}

impl Votes {
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The answer a code stands for (None: nothing extracted).
    pub fn answer(&self, code: VoteCode) -> Option<&str> {
        let id = (code >> 1) as usize;
        (id > 0).then(|| self.answers.get(id - 1).map(String::as_str)).flatten()
    }

    /// (answer, pass, count) for each distinct (answer, pass), most frequent first, ties in
    /// order of first appearance.
    pub fn tally(&self) -> Vec<(Option<&str>, bool, u32)> {
        let mut count: Vec<(VoteCode, u32)> = Vec::new();
        let mut slot = vec![usize::MAX; 2 * (self.answers.len() + 1)];
        for &c in &self.codes {
            if slot.len() <= c as usize {
                // A code past the answers (Votes built by hand): counted, shown as its own.
                slot.resize(c as usize + 1, usize::MAX);
            }
            let i = &mut slot[c as usize];
            if *i == usize::MAX {
                *i = count.len();
                count.push((c, 0));
            }
            count[*i].1 += 1;
        }
        count.sort_by_key(|t| std::cmp::Reverse(t.1));
        count.into_iter().map(|(c, n)| (self.answer(c), c & 1 == 1, n)).collect()
    }
}

impl Serialize for Votes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            answer: Option<&'a str>,
            pass: bool,
            count: u32,
        }
        #[derive(Serialize)]
        struct Tally<'a> {
            samples: usize,
            tally: Vec<Entry<'a>>,
        }
        let tally = self.tally().into_iter().map(|(answer, pass, count)| Entry { answer, pass, count }).collect();
        Tally { samples: self.codes.len(), tally }.serialize(s)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TaskResult {
    pub index: usize,
    pub prompt: String,
    pub answer: String,
    pub greedy: Option<Sample>,
    /// One entry per configuration of the run, in the run's order.
    pub configs: Vec<TaskConfig>,
    /// Every sample of every configuration (and the greedy one, if asked for) finished.
    /// Only complete tasks count in the summaries, so that after a cancel every
    /// configuration and greedy are still compared on the same tasks.
    pub complete: bool,
}

/// One configuration over the complete tasks (a cancelled run leaves the rest out of these
/// numbers, though their samples stay in `tasks`).
#[derive(Clone, Debug)]
pub struct ConfigSummary {
    pub spec: String,
    /// The sampler. Only meaningful when `settings_known`: an imported configuration whose
    /// settings the file does not give has the defaults here, `null` in the JSON, and a
    /// spec that says "imported".
    pub config: SamplerConfig,
    pub settings_known: bool,
    /// Tasks counted (the complete ones).
    pub tasks: usize,
    /// pass@1: the mean accuracy of one sample.
    pub mean_accuracy: Option<f64>,
    /// pass@k for k = 1..=samples (index k − 1).
    pub pass_at_k: Vec<f64>,
    /// Majority-vote accuracy for k = 1..=samples (see `metrics::majority_vote_curve`).
    pub majority_vote: Vec<f64>,
    /// exp(a·k^b) fitted to `pass_at_k`; None where the curve gives too few usable points.
    pub fit: Option<PowerLawFit>,
}

impl Serialize for ConfigSummary {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            spec: &'a str,
            config: Option<&'a SamplerConfig>,
            tasks: usize,
            mean_accuracy: Option<f64>,
            pass_at_k: &'a [f64],
            majority_vote: &'a [f64],
            fit: Option<PowerLawFit>,
        }
        Json {
            spec: &self.spec,
            config: self.settings_known.then_some(&self.config),
            tasks: self.tasks,
            mean_accuracy: self.mean_accuracy,
            pass_at_k: &self.pass_at_k,
            majority_vote: &self.majority_vote,
            fit: self.fit,
        }
        .serialize(s)
    }
}

/// pass@1 against temperature for one base configuration.
#[derive(Clone, Debug, Serialize)]
pub struct SweepSeries {
    pub spec: String,
    pub temperatures: Vec<f32>,
    pub pass_at_1: Vec<Option<f64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub verifier: String,
    pub samples: u32,
    pub max_tokens: u32,
    pub seed: u64,
    /// True when the run was cancelled: only finished tasks count in the summaries.
    pub cancelled: bool,
    pub elapsed_ms: f64,
    /// Tokens generated over all lanes.
    pub tokens: u64,
    /// Greedy accuracy over the complete tasks.
    pub greedy_accuracy: Option<f64>,
    pub greedy_tasks: usize,
    pub configs: Vec<ConfigSummary>,
    /// Empty unless the run was a temperature sweep; then `configs` holds every
    /// (base, temperature) pair, base-major.
    pub sweep: Vec<SweepSeries>,
    pub tasks: Vec<TaskResult>,
}

/// Summaries of the complete `tasks` for `configs` (each task's own sample count is its n;
/// `_samples`, the count a run asked for, is no longer needed).
pub fn summarize(
    tasks: &[TaskResult],
    configs: &[SamplerConfig],
    _samples: u32,
    vote_subsets: u32,
    seed: u64,
) -> Vec<ConfigSummary> {
    let labels: Vec<(String, Option<SamplerConfig>)> = configs.iter().map(|c| (c.to_spec(), Some(c.clone()))).collect();
    summarize_labeled(tasks, &labels, vote_subsets, seed)
}

/// `summarize` for configurations given as (spec, settings if known): an import's may be
/// known only by a label. pass@k uses each task's own n (tasks may differ in their counts;
/// the curves go to the smallest n), majority vote every sample's vote.
pub fn summarize_labeled(
    tasks: &[TaskResult],
    configs: &[(String, Option<SamplerConfig>)],
    vote_subsets: u32,
    seed: u64,
) -> Vec<ConfigSummary> {
    configs
        .iter()
        .enumerate()
        .map(|(ci, (spec, config))| {
            let done: Vec<&TaskConfig> =
                tasks.iter().filter(|t| t.complete).filter_map(|t| t.configs.get(ci)).collect();
            let counts: Vec<(u32, u32)> = done.iter().map(|tc| (tc.count() as u32, tc.correct)).collect();
            let codes: Vec<Cow<[VoteCode]>> = done.iter().map(|tc| tc.codes()).collect();
            let refs: Vec<&[VoteCode]> = codes.iter().map(|c| c.as_ref()).collect();
            let pass_at_k = pass_at_k_curve(&counts);
            // The vote seed also depends on the configuration, so that configurations do not
            // share subsets by accident (they share dice only where the user asked).
            let majority_vote =
                majority_vote_curve_coded(&refs, vote_subsets, seed ^ (ci as u64).wrapping_mul(0x9e37_79b9));
            ConfigSummary {
                spec: spec.clone(),
                config: config.clone().unwrap_or_default(),
                settings_known: config.is_some(),
                tasks: done.len(),
                mean_accuracy: pass_at_k.first().copied(),
                fit: fit_curve(&pass_at_k),
                pass_at_k,
                majority_vote,
            }
        })
        .collect()
}

/// pass@1 against temperature per base configuration, from the summaries of a sweep's
/// configurations (base-major, as `run::sweep_configs` orders them).
pub fn sweep_series(bases: &[SamplerConfig], temperatures: &[f32], summaries: &[ConfigSummary]) -> Vec<SweepSeries> {
    if temperatures.is_empty() {
        return Vec::new();
    }
    bases
        .iter()
        .enumerate()
        .map(|(bi, base)| SweepSeries {
            spec: SamplerConfig { temperature: 1.0, ..base.clone() }.to_spec(),
            temperatures: temperatures.to_vec(),
            pass_at_1: (0..temperatures.len())
                .map(|ti| summaries.get(bi * temperatures.len() + ti).and_then(|s| s.mean_accuracy))
                .collect(),
        })
        .collect()
}

/// The k columns of the text tables: 1, 2, 4, … up to n, and n itself.
pub fn table_ks(n: usize) -> Vec<usize> {
    let mut ks: Vec<usize> = std::iter::successors(Some(1usize), |k| Some(k * 2)).take_while(|&k| k <= n).collect();
    if n > 0 && ks.last() != Some(&n) {
        ks.push(n);
    }
    ks
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1}%", 100.0 * v))
}

impl EvalReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The summary tables the CLI prints: greedy, pass@k and majority vote at a few k, the
    /// fit, and the sweep.
    pub fn tables(&self) -> String {
        let mut s = String::new();
        let n_tasks = self.tasks.len();
        let greedy_correct =
            self.tasks.iter().filter(|t| t.complete && t.greedy.as_ref().is_some_and(|g| g.pass)).count();
        let cancelled = if self.cancelled { "   [cancelled: finished tasks only]" } else { "" };
        if self.tasks.iter().any(|t| t.greedy.is_some()) {
            let _ = writeln!(
                s,
                "greedy: {greedy_correct}/{} correct ({}){cancelled}",
                self.greedy_tasks,
                pct(self.greedy_accuracy)
            );
        } else {
            let _ = writeln!(s, "greedy: not run{cancelled}");
        }
        if !self.configs.is_empty() {
            self.config_table(&mut s);
        }
        if !self.sweep.is_empty() {
            let temps = &self.sweep[0].temperatures;
            let width = self.sweep.iter().map(|w| w.spec.len()).max().unwrap_or(6).max(12);
            let _ = write!(s, "\npass@1 by temperature\n{:<width$}", "config");
            for t in temps {
                let _ = write!(s, " {:>7}", format!("T={t}"));
            }
            let _ = writeln!(s);
            for w in &self.sweep {
                let _ = write!(s, "{:<width$}", w.spec);
                for v in &w.pass_at_1 {
                    let _ = write!(s, " {:>7}", pct(*v));
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(
            s,
            "\n{n_tasks} tasks, {} samples each, {} tokens in {:.1} s",
            self.samples,
            self.tokens,
            self.elapsed_ms / 1e3
        );
        s
    }

    /// pass@k and maj@k at a few k, and the fit, one row per configuration.
    fn config_table(&self, s: &mut String) {
        let ks = table_ks(self.samples as usize);
        let width = self.configs.iter().map(|c| c.spec.len()).max().unwrap_or(6).max(6);
        let _ = write!(s, "\n{:<width$} {:>5}", "config", "tasks");
        for k in &ks {
            let _ = write!(s, " {:>7}", format!("pass@{k}"));
        }
        for k in &ks {
            let _ = write!(s, " {:>7}", format!("maj@{k}"));
        }
        let _ = writeln!(s, " {:>8} {:>7} {:>6}", "fit a", "b", "R²");
        for c in &self.configs {
            let _ = write!(s, "{:<width$} {:>5}", c.spec, c.tasks);
            for k in &ks {
                let _ = write!(s, " {:>7}", pct(c.pass_at_k.get(k - 1).copied()));
            }
            for k in &ks {
                let _ = write!(s, " {:>7}", pct(c.majority_vote.get(k - 1).copied()));
            }
            match &c.fit {
                Some(f) => {
                    let _ = writeln!(s, " {:>8.3} {:>7.3} {:>6.3}", f.a, f.b, f.r2);
                }
                None => {
                    let _ = writeln!(s, " {:>8} {:>7} {:>6}", "—", "—", "—");
                }
            }
        }
    }

    /// Per task: the answer, the greedy answer, and per configuration correct/samples and
    /// the most frequent extracted answers.
    pub fn task_table(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{:>4} {:>8} {:>10}", "task", "answer", "greedy");
        for ci in 0..self.configs.len() {
            let _ = write!(s, " | {:<28}", format!("config {} correct: answers", ci + 1));
        }
        let _ = writeln!(s);
        for t in &self.tasks {
            let g = t.greedy.as_ref().map_or("—".to_string(), |g| {
                format!("{}{}", g.extracted.as_deref().unwrap_or("∅"), if g.pass { " ✓" } else { " ✗" })
            });
            let _ = write!(s, "{:>4} {:>8} {:>10}", t.index, t.answer, g);
            for tc in &t.configs {
                let _ = write!(
                    s,
                    " | {:<28}",
                    format!("{}/{}: {}", tc.correct, tc.count(), top_answers(&tc.extracted(), 3))
                );
            }
            let _ = writeln!(s);
        }
        s
    }

    /// `config,k,pass_at_k,majority_vote,power_law_fit,greedy`: the curves to plot.
    pub fn curves_csv(&self) -> String {
        let mut s = String::from("config,k,pass_at_k,majority_vote,power_law_fit,greedy\n");
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for c in &self.configs {
            for (i, p) in c.pass_at_k.iter().enumerate() {
                let k = i + 1;
                let fit = c.fit.map(|f| f.predict(k as f64));
                let maj = c.majority_vote.get(i).copied();
                let _ = writeln!(
                    s,
                    "{},{k},{p},{},{},{}",
                    csv_field(&c.spec),
                    opt(maj),
                    opt(fit),
                    opt(self.greedy_accuracy)
                );
            }
        }
        s
    }

    /// `task,config,samples,correct,answer,greedy_answer,greedy_pass,extracted`: one row
    /// per task and configuration; `extracted` lists the samples' answers joined by `|`.
    pub fn tasks_csv(&self) -> String {
        let mut s = String::from("task,config,samples,correct,answer,greedy_answer,greedy_pass,extracted\n");
        for t in &self.tasks {
            let (ga, gp) = t.greedy.as_ref().map_or((String::new(), String::new()), |g| {
                (g.extracted.clone().unwrap_or_default(), g.pass.to_string())
            });
            for (ci, tc) in t.configs.iter().enumerate() {
                let spec = self.configs.get(ci).map_or("", |c| c.spec.as_str());
                let ex: Vec<&str> = tc.extracted().into_iter().map(|x| x.unwrap_or("")).collect();
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{gp},{}",
                    t.index,
                    csv_field(spec),
                    tc.count(),
                    tc.correct,
                    csv_field(&t.answer),
                    csv_field(&ga),
                    csv_field(&ex.join("|"))
                );
            }
        }
        s
    }

    /// `config,temperature,pass_at_1` (empty but for the header without a sweep).
    pub fn sweep_csv(&self) -> String {
        let mut s = String::from("config,temperature,pass_at_1\n");
        for w in &self.sweep {
            for (t, v) in w.temperatures.iter().zip(&w.pass_at_1) {
                let _ = writeln!(s, "{},{t},{}", csv_field(&w.spec), v.map_or(String::new(), |v| v.to_string()));
            }
        }
        s
    }
}

/// The `n` most frequent extracted answers as "15×3 12×2 ∅×1" (∅: nothing extracted).
fn top_answers(extracted: &[Option<&str>], n: usize) -> String {
    let mut tally: Vec<(&str, u32)> = Vec::new();
    for x in extracted {
        let a = x.unwrap_or("∅");
        match tally.iter_mut().find(|t| t.0 == a) {
            Some(t) => t.1 += 1,
            None => tally.push((a, 1)),
        }
    }
    // Stable sort: equal counts keep the order of first appearance.
    tally.sort_by_key(|t| std::cmp::Reverse(t.1));
    tally.iter().take(n).map(|(a, c)| format!("{}×{c}", shorten(a, 10))).collect::<Vec<_>>().join(" ")
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// RFC 4180: quote a field that holds a comma, quote or line break; double its quotes.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
