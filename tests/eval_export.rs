//! `samplescope eval --export`: every exported request parses and carries every field with
//! the value written by hand here for each lane (greedy, top-p, min-p, top-k, penalty),
//! custom_ids are unique and decode back to (task, lane), the prompt is the one the run
//! feeds, and what an engine cannot express is an error that names the setting. No GPU:
//! the CLI test reads a synthetic model for its chat template only.

use std::collections::{BTreeMap, HashSet};

use samplescope::eval::export::{chat_prompt_text, custom_id, parse_custom_id, request_seed};
use samplescope::eval::{export, EvalSpec, ExportFormat, LaneRef, TaskSource};
use samplescope::gguf::{Gguf, Value};
use samplescope::gguf_write::GgufWriter;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::tokenizer::Tokenizer;
use serde_json::Value as Json;

const SEED: u64 = 7;
const SAMPLES: u32 = 4;
const MAX_TOKENS: u32 = 32;

/// The lanes of the study, and what each must export as, written out by hand:
/// (n, temperature, top_p, vLLM/SGLang top_k, min_p, repetition_penalty, lane spec). The
/// run's own greedy sample is the greedy lane (vLLM takes no n > 1 at temperature 0).
const LANES: [&str; 4] =
    ["top_p=0.9", "min_p=0.1,temperature=1.5", "top_k=40", "top_p=0.95,repetition_penalty=1.2,penalty_last_n=32"];
struct Want {
    n: u64,
    temperature: f64,
    top_p: f64,
    top_k: i64,
    min_p: f64,
    penalty: f64,
    spec: &'static str,
}
fn want(lane: LaneRef) -> Want {
    let w = |n, temperature, top_p, top_k, min_p, penalty, spec| Want {
        n,
        temperature,
        top_p,
        top_k,
        min_p,
        penalty,
        spec,
    };
    match lane {
        LaneRef::Greedy => w(1, 0.0, 1.0, -1, 0.0, 1.0, "greedy"),
        LaneRef::Config(0) => w(4, 1.0, 0.9, -1, 0.0, 1.0, "top_p=0.9"),
        LaneRef::Config(1) => w(4, 1.5, 1.0, -1, 0.1, 1.0, "temperature=1.5,min_p=0.1"),
        LaneRef::Config(2) => w(4, 1.0, 1.0, 40, 0.0, 1.0, "top_k=40"),
        LaneRef::Config(3) => w(4, 1.0, 0.95, -1, 0.0, 1.2, "top_p=0.95,repetition_penalty=1.2,penalty_last_n=32"),
        LaneRef::Config(i) => panic!("no lane {i}"),
    }
}

fn spec(lanes: &[&str]) -> EvalSpec {
    EvalSpec {
        lanes: lanes.iter().map(|s| s.to_string()).collect(),
        seed: SEED,
        samples: SAMPLES,
        max_tokens: MAX_TOKENS,
        stop: vec!["\n\n".into(), "Question:".into()],
        ..EvalSpec::new(TaskSource::Generated("arithmetic:1:3".into()))
    }
}

fn prompts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("<|user|>problem {i}\n<|assistant|>")).collect()
}

fn run(s: &EvalSpec, format: ExportFormat) -> samplescope::Result<samplescope::eval::export::Export> {
    let (plan, opts) = s.plan()?;
    export(&plan, &opts, &prompts(plan.tasks.len()), format, "org/model-8b", "study.jsonl")
}

/// Every (task, lane) the study has, in the order the export writes them.
fn all_ids() -> Vec<(usize, LaneRef)> {
    (0..3)
        .flat_map(|t| std::iter::once((t, LaneRef::Greedy)).chain((0..4).map(move |c| (t, LaneRef::Config(c)))))
        .collect()
}

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn check_ids(ids: &[String]) -> Vec<(usize, LaneRef)> {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "custom_ids repeat: {ids:?}");
    let decoded: Vec<(usize, LaneRef)> =
        ids.iter().map(|id| parse_custom_id(id).unwrap_or_else(|| panic!("{id} does not decode"))).collect();
    assert_eq!(decoded, all_ids());
    decoded
}

#[test]
fn vllm_batch_lines_carry_every_field() {
    let out = run(&spec(&LANES), ExportFormat::Vllm).unwrap();
    let lines: Vec<Json> = out.text.lines().map(|l| serde_json::from_str(l).expect("a line parses as JSON")).collect();
    assert_eq!(lines.len(), 3 * 5);
    assert_eq!(out.requests, 15);
    assert!(out.text.ends_with('\n'));
    let ids: Vec<String> = lines.iter().map(|l| l["custom_id"].as_str().unwrap().to_string()).collect();
    let decoded = check_ids(&ids);
    for (line, (task, lane)) in lines.iter().zip(decoded) {
        let w = want(lane);
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], "/v1/completions");
        let b = &line["body"];
        assert_eq!(b["model"], "org/model-8b");
        assert_eq!(b["prompt"], prompts(3)[task].as_str());
        assert_eq!(b["n"].as_u64(), Some(w.n), "{lane:?}");
        assert_eq!(f(&b["temperature"]), w.temperature, "{lane:?}");
        assert_eq!(f(&b["top_p"]), w.top_p, "{lane:?}");
        assert_eq!(b["top_k"].as_i64(), Some(w.top_k), "{lane:?}");
        assert_eq!(f(&b["min_p"]), w.min_p, "{lane:?}");
        assert_eq!(f(&b["repetition_penalty"]), w.penalty, "{lane:?}");
        assert_eq!(b["seed"].as_u64(), Some(request_seed(SEED, 0, task)));
        assert!(b["seed"].as_u64().unwrap() < 1 << 31);
        assert_eq!(b["max_tokens"].as_u64(), Some(MAX_TOKENS as u64));
        assert_eq!(b["stop"], serde_json::json!(["\n\n", "Question:"]));
        let x = &b["vllm_xargs"];
        assert_eq!(x["samplescope_lane"], w.spec);
        assert_eq!(x["samplescope_temperature_position"], "first");
        assert_eq!(f(&x["samplescope_top_n_sigma"]), -1.0);
        assert_eq!(x["samplescope_same_dice"], "0");
        assert!(x["samplescope_philox_seed"].as_str().unwrap().parse::<u64>().is_ok());
        // vllm_xargs takes only strings and numbers.
        assert!(x.as_object().unwrap().values().all(|v| v.is_string() || v.is_number()), "{x}");
        let known = ["model", "prompt", "n", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "seed"];
        let more = ["max_tokens", "stop", "vllm_xargs"];
        let keys: HashSet<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, known.iter().chain(&more).copied().collect(), "no field left out, none invented");
    }
    assert_eq!(out.run, "vllm run-batch -i study.jsonl -o results.jsonl --model org/model-8b");
    let notes = out.notes.join("\n");
    assert!(notes.contains("Philox") && notes.contains("seed + i"), "{notes}");
    assert!(notes.contains("penalty_last_n"), "the penalty lane's window differs: {notes}");
}

#[test]
fn seeds_are_shared_by_lanes_that_share_dice_and_differ_between_tasks() {
    let out = run(&spec(&["top_p=0.9", "min_p=0.1", "top_k=20,seed=5"]), ExportFormat::Vllm).unwrap();
    let seeds: BTreeMap<String, u64> = out
        .text
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .map(|l| (l["custom_id"].as_str().unwrap().to_string(), l["body"]["seed"].as_u64().unwrap()))
        .collect();
    assert_eq!(seeds["t0-c0"], seeds["t0-c1"], "same lane seed: same dice in samplescope, same seed there");
    assert_ne!(seeds["t0-c0"], seeds["t0-c2"], "seed=5 draws other dice");
    assert_ne!(seeds["t0-c0"], seeds["t1-c0"], "tasks draw unrelated dice");
    assert_eq!(seeds["t2-c2"], request_seed(SEED, 5, 2));
}

#[test]
fn sglang_requests_carry_every_field() {
    let out = run(&spec(&LANES), ExportFormat::Sglang).unwrap();
    let list: Vec<Json> = serde_json::from_str(&out.text).expect("the export is one JSON list");
    assert_eq!((list.len(), out.requests), (15, 15));
    let ids: Vec<String> = list.iter().map(|r| r["custom_id"].as_str().unwrap().to_string()).collect();
    for (r, (task, lane)) in list.iter().zip(check_ids(&ids)) {
        let w = want(lane);
        assert_eq!(r["body"]["text"], prompts(3)[task].as_str());
        let p = &r["body"]["sampling_params"];
        assert_eq!(p["n"].as_u64(), Some(w.n));
        assert_eq!(f(&p["temperature"]), w.temperature, "{lane:?}");
        assert_eq!(f(&p["top_p"]), w.top_p, "{lane:?}");
        assert_eq!(p["top_k"].as_i64(), Some(w.top_k), "{lane:?}");
        assert_eq!(f(&p["min_p"]), w.min_p, "{lane:?}");
        assert_eq!(f(&p["repetition_penalty"]), w.penalty, "{lane:?}");
        assert_eq!(p["max_new_tokens"].as_u64(), Some(MAX_TOKENS as u64));
        assert_eq!(p["stop"], serde_json::json!(["\n\n", "Question:"]));
        assert_eq!(p["sampling_seed"].as_u64(), Some(request_seed(SEED, 0, task)));
        assert_eq!(p["custom_params"]["samplescope_lane"], w.spec);
        assert_eq!(p["custom_params"]["samplescope_temperature_position"], "first");
        assert_eq!(p.as_object().unwrap().len(), 10, "{p}");
    }
    assert!(out.run.contains("--enable-deterministic-inference") && out.run.contains("/generate"), "{}", out.run);
    assert!(out.notes.join("\n").contains("deterministic"));
}

/// `--flag value` pairs of one llama.cpp line, single quotes read as a shell reads them.
fn flags(line: &str) -> BTreeMap<&str, &str> {
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words.len() % 2, 0, "{line}");
    words
        .chunks(2)
        .map(|p| (p[0], p[1].strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(p[1])))
        .collect()
}

#[test]
fn llamacpp_lines_give_every_sampler_in_samplescope_order() {
    let lanes = [
        "greedy",
        "top_p=0.9",
        "min_p=0.1,temperature=1.5",
        "top_k=40,top_n_sigma=1.5,temperature=0.7,temperature_position=last",
        "repetition_penalty=1.2,penalty_last_n=32",
    ];
    let out = run(&spec(&lanes), ExportFormat::Llamacpp).unwrap();
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.len(), 6, "the greedy sample and five lanes");
    let s = |c: u64| request_seed(SEED, c, 0).to_string();
    // (samplers, temp, top-k, top-p, min-p, top-nsigma, repeat-penalty, repeat-last-n)
    let want = [
        ("temperature", "0", "0", "1", "0", "-1", "1", "0"),
        ("temperature", "0", "0", "1", "0", "-1", "1", "0"),
        ("temperature;top_p", "1", "0", "0.9", "0", "-1", "1", "0"),
        ("temperature;min_p", "1.5", "0", "1", "0.1", "-1", "1", "0"),
        ("top_n_sigma;top_k;temperature", "0.7", "40", "1", "0", "1.5", "1", "0"),
        ("penalties;temperature", "1", "0", "1", "0", "-1", "1.2", "32"),
    ];
    for (line, w) in lines.iter().zip(want) {
        let m = flags(line);
        let got = (
            m["--samplers"],
            m["--temp"],
            m["--top-k"],
            m["--top-p"],
            m["--min-p"],
            m["--top-nsigma"],
            m["--repeat-penalty"],
            m["--repeat-last-n"],
        );
        assert_eq!(got, w, "{line}");
        assert_eq!(m["--seed"], s(0));
        assert_eq!(m["-n"], MAX_TOKENS.to_string());
        assert_eq!(m.len(), 10, "{line}");
        assert!(line.starts_with(&format!("--samplers '{}' ", w.0)), "quoted for the shell: {line}");
    }
    let legend = out.notes.iter().find(|n| n.starts_with("line by line")).expect("a legend");
    assert!(legend.contains("1: the greedy sample; 2: lane 1 (greedy); 3: lane 2 (top_p=0.9)"), "{legend}");
    assert!(out.notes.join("\n").contains("stop strings"), "llama-cli drops them: {:?}", out.notes);
}

#[test]
fn what_an_engine_cannot_express_is_an_error_naming_the_setting() {
    let err = |lanes: &[&str], format| run(&spec(lanes), format).unwrap_err().to_string();
    for format in [ExportFormat::Vllm, ExportFormat::Sglang] {
        let e = err(&["top_p=0.9", "top_n_sigma=1"], format);
        assert!(e.contains("lane 2 (top_n_sigma=1)") && e.contains("top_n_sigma=1: ") && e.contains("top-nσ"), "{e}");
        let e = err(&["top_p=0.9,temperature=0.7,temperature_position=last"], format);
        assert!(e.contains("lane 1") && e.contains("temperature_position=last"), "{e}");
    }
    // vLLM rejects n > 1 at temperature 0; SGLang and llama.cpp take it.
    let e = err(&["top_p=0.9", "greedy"], ExportFormat::Vllm);
    assert!(e.contains("lane 2 (greedy): temperature=0 with 4 samples"), "{e}");
    run(&spec(&["greedy"]), ExportFormat::Sglang).unwrap();
    // Temperature last changes nothing where no truncation depends on it: exported as is.
    for ok in ["top_k=40,temperature=0.7,temperature_position=last", "top_p=0.9,temperature_position=last"] {
        let out = run(&spec(&[ok]), ExportFormat::Vllm).unwrap();
        assert!(out.text.contains("\"samplescope_temperature_position\":\"last\""), "{ok}");
    }
    // vLLM runs min-p before top-p; SGLang, like samplescope, after.
    let e = err(&["min_p=0.05,top_p=0.9"], ExportFormat::Vllm);
    assert!(e.contains("top_p=0.9 with min_p=0.05") && e.contains("min_p before top_p"), "{e}");
    run(&spec(&["min_p=0.05,top_p=0.9"]), ExportFormat::Sglang).unwrap();
    // llama.cpp has all of them.
    run(
        &spec(&["top_n_sigma=1", "min_p=0.05,top_p=0.9,temperature=2,temperature_position=last"]),
        ExportFormat::Llamacpp,
    )
    .unwrap();
    // The spec's own checks still apply, and prompts must match tasks.
    let e = err(&["top_p=1.5"], ExportFormat::Vllm);
    assert!(e.contains("top_p"), "{e}");
    let (plan, opts) = spec(&["top_p=0.9"]).plan().unwrap();
    let e = export(&plan, &opts, &prompts(2), ExportFormat::Vllm, "m", "p").unwrap_err().to_string();
    assert!(e.contains("2 prompts for 3 tasks"), "{e}");
    let e = ExportFormat::parse("tgi").unwrap_err().to_string();
    assert!(e.contains("tgi") && e.contains("vllm, sglang, llamacpp"), "{e}");
}

#[test]
fn a_sweep_exports_every_lane_at_every_temperature() {
    let mut s = spec(&["top_p=0.9", "min_p=0.1"]);
    s.sweep = vec![0.5, 1.0, 2.0];
    s.greedy = false;
    let out = run(&s, ExportFormat::Sglang).unwrap();
    let list: Vec<Json> = serde_json::from_str(&out.text).unwrap();
    assert_eq!(list.len(), 3 * 6);
    let t0: Vec<(String, f64, f64)> = list[..6]
        .iter()
        .map(|r| {
            let p = &r["body"]["sampling_params"];
            (r["custom_id"].as_str().unwrap().into(), f(&p["temperature"]), f(&p["top_p"]))
        })
        .collect();
    let want: Vec<(String, f64, f64)> = [(0.5, 0.9), (1.0, 0.9), (2.0, 0.9), (0.5, 1.0), (1.0, 1.0), (2.0, 1.0)]
        .iter()
        .enumerate()
        .map(|(i, &(t, p))| (custom_id(0, LaneRef::Config(i)), t, p))
        .collect();
    assert_eq!(t0, want, "base-major, as the report's sweep table");
}

fn synthetic_tokenizer(template: Option<&str>) -> (Vec<u8>, Tokenizer) {
    let mut bytes = synthetic_model(&SynthSpec::default()).unwrap();
    if let Some(t) = template {
        let g = Gguf::parse(&bytes).unwrap();
        // BOS becomes <|endoftext|> (id 0), added by the tokenizer: the synthetic BOS,
        // <|im_start|>, is also the template's turn marker, which would hide a doubled BOS.
        bytes = GgufWriter::from_gguf(&g)
            .set("tokenizer.chat_template", Some(Value::String(t.into())))
            .set("tokenizer.ggml.bos_token_id", Some(Value::U32(0)))
            .set("tokenizer.ggml.add_bos_token", Some(Value::Bool(true)))
            .to_bytes();
    }
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    (bytes, tok)
}

#[test]
fn the_exported_prompt_is_the_one_the_run_feeds() {
    let user = "Sam has 3 apples and gets 4 more. How many?\nReply with only the number, no words.";
    let (_, tok) = synthetic_tokenizer(None);
    let text = chat_prompt_text(&tok, user).unwrap();
    assert_eq!(text, format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"));
    assert_eq!(tok.encode(&text).unwrap(), tok.encode_chat_prompt(user).unwrap());
    // A template that writes BOS itself: the text leaves it to the engine's tokenizer, which
    // adds one, as samplescope's does — one BOS, not two.
    let (_, tok) = synthetic_tokenizer(Some(
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}\
         {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    ));
    assert_eq!((tok.bos_id(), tok.add_bos()), (Some(0), true));
    let bos = tok.token_raw(0).unwrap().to_string();
    let text = chat_prompt_text(&tok, user).unwrap();
    assert_eq!(tok.chat_prompt(user).unwrap(), format!("{bos}{text}"));
    assert!(!text.starts_with(&bos), "{text}");
    let ids = tok.encode(&text).unwrap();
    assert_eq!(ids, tok.encode_chat_prompt(user).unwrap());
    assert_eq!(ids.iter().filter(|&&i| i == 0).count(), 1, "{ids:?}");
    assert_eq!(ids[0], 0);
}

#[test]
fn the_cli_writes_the_study_without_a_gpu() {
    let dir = std::env::temp_dir().join(format!("samplescope-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.gguf");
    std::fs::write(&model, synthetic_tokenizer(None).0).unwrap();
    let out_path = dir.join("out/batch.jsonl");
    let cli = |extra: &[&str]| {
        let mut args = vec!["eval", "--model", model.to_str().unwrap(), "--tasks", "arithmetic:2:4", "--samples", "5"];
        args.extend_from_slice(&["--lane", "top_p=0.9", "--lane", "top_k=40", "--seed", "3", "--stop", "\n"]);
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_samplescope")).args(&args).output().unwrap()
    };
    let o = cli(&["--export", "vllm", out_path.to_str().unwrap(), "--served-model", "org/m"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains(&format!("vllm run-batch -i {} -o results.jsonl --model org/m", out_path.display())));
    assert!(stdout.contains("Philox"), "{stdout}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4 * 3);
    let tasks = samplescope::eval::arithmetic(2, 4, 3).unwrap();
    let (_, tok) = synthetic_tokenizer(None);
    for l in &lines {
        let (task, _) = parse_custom_id(l["custom_id"].as_str().unwrap()).unwrap();
        assert_eq!(l["body"]["prompt"], chat_prompt_text(&tok, &tasks[task].prompt).unwrap().as_str());
        assert_eq!(l["body"]["stop"], serde_json::json!(["\n"]));
        assert_eq!(l["body"]["seed"].as_u64(), Some(request_seed(3, 0, task)));
    }
    // Errors name what is missing or inexpressible, and write nothing.
    let bad = dir.join("bad.jsonl");
    let o = cli(&["--export", "vllm", bad.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--served-model"));
    let o = cli(&["--export", "sglang", bad.to_str().unwrap(), "--served-model", "m", "--lane", "top_n_sigma=1"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("lane 3 (top_n_sigma=1)"), "{e}");
    assert!(!bad.exists());
    let o = cli(&["--export", "llamacpp", bad.to_str().unwrap(), "--lane", "top_n_sigma=1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&bad).unwrap().lines().count(), 4, "greedy and three lanes");
    std::fs::remove_dir_all(&dir).unwrap();
}
