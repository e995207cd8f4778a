//! `eval --import`: each format from fixtures written here to the engines' documented
//! schemas (vLLM's `BatchRequestOutput`, OpenAI's completion object, SGLang's /generate
//! result, the plain JSONL), pass@k against the combinatorial formula worked by hand, a
//! round trip export → fake engine output → import by custom_id, and bad input. No GPU.

use samplescope::eval::import::{import, ImportOptions, MAX_SAMPLES_PER_TASK};
use samplescope::eval::{export, parse_jsonl, EvalSpec, ExportFormat, Imported, Task, TaskSource, Verifier};
use samplescope::sampling::config::SamplerConfig;
use serde_json::{json, Value};

/// Two tasks: "2+3" (answer 5) and "4+4" (answer 8).
fn tasks() -> Vec<Task> {
    parse_jsonl("{\"prompt\": \"What is 2+3?\", \"answer\": 5}\n{\"prompt\": \"What is 4+4?\", \"answer\": 8}\n")
        .unwrap()
}

/// Task 0: 2 right of 5; task 1: 1 right of 5 (and one output with no number).
fn outputs(task: usize) -> Vec<&'static str> {
    match task {
        0 => vec!["The answer is 5.", "6", "= 5", "4", "It is 7"],
        _ => vec!["8", "9", "I am not sure", "7", "10"],
    }
}

/// pass@k by hand from 1 − C(n−c, k)/C(n, k), n = 5:
/// task 0 (c = 2): 2/5, 1 − 3/10, 1 − 1/10, 1, 1; task 1 (c = 1): 1/5, 1 − 6/10, 1 − 4/10, 1 − 1/5, 1.
const PASS_AT_K: [f64; 5] = [(0.4 + 0.2) / 2.0, (0.7 + 0.4) / 2.0, (0.9 + 0.6) / 2.0, (1.0 + 0.8) / 2.0, 1.0];

fn opts() -> ImportOptions {
    ImportOptions::new(tasks(), Verifier::Numeric)
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-12, "pass@{}: {g} vs {w}", k + 1);
    }
}

fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A vLLM `/v1/completions` response body with one choice per output.
fn completion(texts: &[&str], first_index: usize) -> Value {
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"index": first_index + i, "text": t, "logprobs": null, "finish_reason": "stop",
                   "stop_reason": null, "prompt_logprobs": null})
        })
        .collect();
    json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": choices,
           "usage": {"prompt_tokens": 9, "total_tokens": 9 + 3 * texts.len(), "completion_tokens": 3 * texts.len()}})
}

fn vllm_line(custom_id: &str, body: Value) -> Value {
    json!({"id": format!("vllm-{custom_id}"), "custom_id": custom_id,
           "response": {"status_code": 200, "request_id": format!("vllm-batch-{custom_id}"), "body": body},
           "error": null})
}

fn check_two_tasks(r: &Imported) {
    let c = &r.report.configs[0];
    close(&c.pass_at_k, &PASS_AT_K);
    assert_eq!(c.tasks, 2);
    assert_eq!(r.report.samples, 5);
    assert_eq!(r.report.tasks[0].configs[0].correct, 2);
    assert_eq!(r.report.tasks[1].configs[0].correct, 1);
    // maj@5: task 0 votes 5 (2 votes) — right; task 1: all different, the first (8) — right.
    assert_eq!(c.majority_vote[4], 1.0);
    assert_eq!(c.majority_vote[0], PASS_AT_K[0], "maj@1 is pass@1");
}

#[test]
fn vllm_batch_output_matches_by_custom_id() {
    let text = jsonl(&[
        vllm_line("t1-c0", completion(&outputs(1), 0)),
        vllm_line("t0-c0", completion(&outputs(0), 0)),
        vllm_line("t0-greedy", completion(&["5"], 0)),
        vllm_line("t1-greedy", completion(&["9"], 0)),
    ]);
    let o = ImportOptions { lanes: vec![SamplerConfig::parse("top_p=0.9").unwrap()], ..opts() };
    let r = import(&text, o).unwrap();
    check_two_tasks(&r);
    assert_eq!(r.report.configs[0].spec, "top_p=0.9");
    assert_eq!(r.report.greedy_accuracy, Some(0.5));
    assert_eq!(r.report.tokens, 3 * 12);
    assert_eq!(r.import.format.name(), "vllm");
    assert_eq!((r.import.records, r.import.samples), (4, 12));
    // Without lanes the configuration is named by its index, its settings unknown.
    let r = import(&text, opts()).unwrap();
    assert_eq!(r.report.configs[0].spec, "imported c0");
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(json["configs"][0]["config"].is_null());
    assert_eq!(json["import"]["format"], "vllm");
    assert!(r.summary().contains("--lane"), "{}", r.summary());
}

#[test]
fn openai_completion_with_n_choices_one_document_or_jsonl() {
    // One request with both prompts and n = 5: choice i·5 + j is sample j of task i.
    let all: Vec<&str> = outputs(0).into_iter().chain(outputs(1)).collect();
    let doc = serde_json::to_string_pretty(&completion(&all, 0)).unwrap();
    let r = import(&doc, opts()).unwrap();
    assert_eq!(r.import.format.name(), "openai");
    check_two_tasks(&r);
    // JSONL, a response per task in task order.
    let text = jsonl(&[completion(&outputs(0), 0), completion(&outputs(1), 0)]);
    check_two_tasks(&import(&text, opts()).unwrap());
    // In an envelope that names the task by prompt; chat completions' message.content too.
    let chat = |t: usize| {
        let choices: Vec<Value> = outputs(t)
            .iter()
            .enumerate()
            .map(|(i, o)| json!({"index": i, "message": {"role": "assistant", "content": o}, "finish_reason": "stop"}))
            .collect();
        json!({"prompt": tasks()[t].prompt, "response": {"object": "chat.completion", "choices": choices}})
    };
    check_two_tasks(&import(&jsonl(&[chat(1), chat(0)]), opts()).unwrap());
}

/// SGLang's /generate result for one sample (io_struct.py; finish_reason type/matched).
fn sglang_result(text: &str) -> Value {
    json!({"text": text, "meta_info": {"id": "r", "finish_reason": {"type": "stop", "matched": 2},
           "prompt_tokens": 9, "completion_tokens": 3, "cached_tokens": 0}})
}

#[test]
fn sglang_responses_as_the_export_run_line_writes_them_and_bare() {
    // The export's run line prints {"custom_id", "response"}; with n > 1 a list of results.
    let line = |t: usize| {
        let results: Vec<Value> = outputs(t).iter().map(|o| sglang_result(o)).collect();
        json!({"custom_id": format!("t{t}-c0"), "response": results})
    };
    let r = import(&jsonl(&[line(0), line(1)]), opts()).unwrap();
    assert_eq!(r.import.format.name(), "sglang");
    check_two_tasks(&r);
    assert_eq!(r.report.tasks[0].configs[0].samples[0].stop, "eog");
    assert_eq!(r.report.tasks[0].configs[0].samples[0].tokens, 3);
    // A batch of both prompts with n = 5: one list, prompt-major.
    let all: Vec<Value> = outputs(0).into_iter().chain(outputs(1)).map(sglang_result).collect();
    check_two_tasks(&import(&serde_json::to_string(&all).unwrap(), opts()).unwrap());
}

#[test]
fn plain_jsonl_defines_tasks_and_keeps_each_tasks_own_n() {
    // No task set: the file gives prompts and answers. Task 0 has 5 samples, task 1 only 3
    // (c = 1): its pass@k is 1/3, 1 − C(2,2)/C(3,2) = 2/3, 1; the curve ends at k = 3.
    let text = jsonl(&[
        json!({"prompt": "What is 2+3?", "answer": 5, "samples": outputs(0)}),
        json!({"prompt": "What is 4+4?", "answer": "8", "samples": ["8", "9", "7"]}),
    ]);
    let r = import(&text, ImportOptions::new(Vec::new(), Verifier::Numeric)).unwrap();
    assert_eq!(r.report.tasks.len(), 2);
    close(&r.report.configs[0].pass_at_k, &[(0.4 + 1.0 / 3.0) / 2.0, (0.7 + 2.0 / 3.0) / 2.0, (0.9 + 1.0) / 2.0]);
    assert_eq!(r.report.samples, 3);
    assert!(r.import.notes.iter().any(|n| n.contains("3 to 5 samples")), "{:?}", r.import.notes);
    // With the task set: by task index, a named configuration, and texts kept for 2 only.
    let text = jsonl(&[
        json!({"task": 1, "config": "min_p=0.1", "samples": outputs(1)}),
        json!({"task": 0, "config": "min_p=0.1", "samples": outputs(0), "greedy": "5"}),
        json!({"task": 1, "config": "min_p=0.1", "greedy": "8", "samples": []}),
    ]);
    let r = import(&text, ImportOptions { keep_texts: 2, ..opts() }).unwrap();
    check_two_tasks(&r);
    assert_eq!(r.report.configs[0].spec, "min_p=0.1");
    let tc = &r.report.tasks[0].configs[0];
    assert_eq!((tc.samples.len(), tc.count()), (2, 5), "2 texts kept, every vote");
    assert_eq!(r.report.greedy_accuracy, Some(1.0));
}

#[test]
fn round_trip_export_fake_engine_import() {
    let spec = EvalSpec {
        lanes: vec!["top_p=0.9".into(), "min_p=0.1".into()],
        samples: 4,
        ..EvalSpec::new(TaskSource::Generated("arithmetic:1:3".into()))
    };
    let (plan, eopts) = spec.plan().unwrap();
    let prompts: Vec<String> = plan.tasks.iter().map(|t| format!("<|user|>{}<|assistant|>", t.prompt)).collect();
    let out = export(&plan, &eopts, &prompts, ExportFormat::Vllm, "m", "study.jsonl").unwrap();
    // A fake engine: every request answered with n outputs; config 1 always right, config
    // 0 right in its first sample only, greedy wrong.
    let answers: Vec<String> = plan.tasks.iter().map(|t| t.answer.clone()).collect();
    let lines: Vec<Value> = out
        .text
        .lines()
        .map(|l| {
            let req: Value = serde_json::from_str(l).unwrap();
            let id = req["custom_id"].as_str().unwrap();
            let (task, lane) = samplescope::eval::export::parse_custom_id(id).unwrap();
            let n = req["body"]["n"].as_u64().unwrap() as usize;
            let right = answers[task].as_str();
            let texts: Vec<String> = (0..n)
                .map(|j| match lane {
                    samplescope::eval::LaneRef::Config(1) => right.to_string(),
                    samplescope::eval::LaneRef::Config(_) if j == 0 => format!("It is {right}"),
                    _ => "0 and 1000001".to_string(),
                })
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            vllm_line(id, completion(&refs, 0))
        })
        .collect();
    let o = ImportOptions {
        lanes: plan.configs.clone(),
        rendered_prompts: prompts.clone(),
        ..ImportOptions::new(plan.tasks.clone(), Verifier::Numeric)
    };
    let r = import(&jsonl(&lines), o).unwrap();
    let specs: Vec<&str> = r.report.configs.iter().map(|c| c.spec.as_str()).collect();
    assert_eq!(specs, ["top_p=0.9", "min_p=0.1"]);
    // Config 0: c = 1 of n = 4 on every task: pass@k = k/4.
    close(&r.report.configs[0].pass_at_k, &[0.25, 0.5, 0.75, 1.0]);
    close(&r.report.configs[1].pass_at_k, &[1.0; 4]);
    assert_eq!(r.report.greedy_accuracy, Some(0.0));
    assert_eq!(r.import.samples, 3 * (4 + 4 + 1));
    // The same samples named by the rendered prompt (as the export sent it) match too.
    let by_prompt: Vec<Value> =
        (0..3).map(|t| json!({"prompt": prompts[t], "config": "min_p=0.1", "samples": [answers[t].clone()]})).collect();
    let o = ImportOptions {
        lanes: plan.configs.clone(),
        rendered_prompts: prompts,
        ..ImportOptions::new(plan.tasks.clone(), Verifier::Numeric)
    };
    let r = import(&jsonl(&by_prompt), o).unwrap();
    assert_eq!(r.import.unknown.records, 0);
    assert!(r.import.notes.iter().any(|n| n.contains("top_p=0.9") && n.contains("no samples")), "{:?}", r.import.notes);
    assert_eq!(r.report.configs.len(), 1);
}

#[test]
fn bad_lines_are_named_and_the_rest_is_kept() {
    let text = [
        jsonl(&[json!({"task": 0, "samples": outputs(0)})]),
        "{\"task\": 1, \"samples\": [\"8\"\n".to_string(),
        jsonl(&[json!({"task": 1, "samples": "8"})]),
        "\n".to_string(),
        jsonl(&[
            json!({"task": 7, "samples": ["1", "2"]}),
            json!({"prompt": "What is 9+9?", "samples": ["18"]}),
            json!({"task": 1, "samples": outputs(1)}),
        ]),
    ]
    .concat();
    let r = import(&text, opts()).unwrap();
    check_two_tasks(&r);
    let skipped = r.import.skipped.examples.join("\n");
    assert!(skipped.contains("line 2: not a plain record"), "{skipped}");
    assert!(skipped.contains("line 3"), "{skipped}");
    assert_eq!(r.import.skipped.records, 2);
    assert_eq!((r.import.unknown.records, r.import.unknown.samples), (2, 3));
    let unknown = r.import.unknown.examples.join("\n");
    assert!(unknown.contains("line 5: task 7") && unknown.contains("line 6: prompt \"What is 9+9?\""), "{unknown}");
    assert!(r.summary().contains("line 2"), "{}", r.summary());
}

#[test]
fn error_responses_are_reported() {
    let text = jsonl(&[
        vllm_line("t0-c0", completion(&outputs(0), 0)),
        vllm_line("t1-c0", completion(&outputs(1), 0)),
        json!({"id": "x", "custom_id": "t1-c0", "response": {"status_code": 400, "request_id": "r",
               "body": {"object": "error", "message": "n must be 1 when using greedy sampling", "type": "BadRequestError",
                        "param": null, "code": 400}}, "error": null}),
        json!({"id": "y", "custom_id": "t0-c0", "response": null, "error": "engine died"}),
        vllm_line("t5-c0", completion(&["1"], 0)),
        vllm_line("bogus", completion(&["1"], 0)),
    ]);
    let r = import(&text, opts()).unwrap();
    check_two_tasks(&r);
    let errors = r.import.errors.examples.join("\n");
    assert_eq!(r.import.errors.records, 2);
    assert!(errors.contains("line 3") && errors.contains("status 400: n must be 1"), "{errors}");
    assert!(errors.contains("line 4") && errors.contains("engine died"), "{errors}");
    let unknown = r.import.unknown.examples.join("\n");
    assert!(unknown.contains("t5-c0") && unknown.contains("\"bogus\""), "{unknown}");
}

#[test]
fn nothing_usable_and_too_many_samples_are_errors() {
    let e = import("{\"task\": 9, \"samples\": [\"1\"]}\nnot json\n", opts()).unwrap_err().to_string();
    assert!(e.contains("no usable samples in 2 records") && e.contains("line"), "{e}");
    let e = import("", opts()).unwrap_err().to_string();
    assert!(e.contains("no usable samples"), "{e}");
    let e = import("[1, 2]", opts()).unwrap_err().to_string();
    assert!(e.contains("--import-format"), "{e}");
    // vLLM output carries no answers: without a task set it is refused.
    let e = import(&jsonl(&[vllm_line("t0-c0", completion(&["5"], 0))]), ImportOptions::new(vec![], Verifier::Numeric))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--tasks"), "{e}");
    let many = vec!["5"; MAX_SAMPLES_PER_TASK + 1];
    let e = import(&jsonl(&[json!({"task": 0, "samples": many})]), opts()).unwrap_err().to_string();
    assert!(e.contains(&format!("more than {MAX_SAMPLES_PER_TASK} samples")) && e.contains("line 1"), "{e}");
    // Unnamed samples with two lanes given cannot be placed.
    let o = ImportOptions {
        lanes: vec![SamplerConfig::parse("top_p=0.9").unwrap(), SamplerConfig::parse("min_p=0.1").unwrap()],
        ..opts()
    };
    let e = import(&jsonl(&[json!({"task": 0, "samples": ["5"]})]), o).unwrap_err().to_string();
    assert!(e.contains("name no configuration"), "{e}");
}

#[test]
fn a_file_cut_anywhere_never_panics() {
    // Every prefix of a file mixing formats' shapes: an import or an error, never a panic.
    let text = [
        jsonl(&[vllm_line("t0-c0", completion(&outputs(0), 0)), vllm_line("t1-greedy", completion(&["8"], 0))]),
        jsonl(&[json!({"custom_id": "t1-c0", "response": [sglang_result("8"), sglang_result("é\u{0}\"")]})]),
        jsonl(&[json!({"task": 1, "samples": ["8", "\\u0000"]}), completion(&["5", "8"], 0)]),
    ]
    .concat();
    let mut ok = 0;
    for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        for lanes in [Vec::new(), vec![SamplerConfig::parse("top_p=0.9").unwrap()]] {
            ok += import(&text[..cut], ImportOptions { lanes, ..opts() }).is_ok() as usize;
        }
    }
    assert!(ok > 0);
}

/// The JSON without what depends on the clock.
fn timeless(json: &str) -> Value {
    let mut v: Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_ms");
    v["import"].as_object_mut().unwrap().remove("times");
    v
}

#[test]
fn the_cli_streaming_a_file_and_the_page_path_give_the_same_report() {
    let dir = std::env::temp_dir().join(format!("samplescope-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tasks_path = dir.join("tasks.jsonl");
    std::fs::write(
        &tasks_path,
        "{\"prompt\": \"What is 2+3?\", \"answer\": 5}\n{\"prompt\": \"What is 4+4?\", \"answer\": 8}\n",
    )
    .unwrap();
    let text = [
        jsonl(&[vllm_line("t0-c0", completion(&outputs(0), 0)), vllm_line("t1-c0", completion(&outputs(1), 0))]),
        "not json\n".into(),
        jsonl(&[vllm_line("t0-greedy", completion(&["5"], 0)), vllm_line("t1-greedy", completion(&["7"], 0))]),
    ]
    .concat();
    let samples_path = dir.join("results.jsonl");
    std::fs::write(&samples_path, &text).unwrap();
    let json_path = dir.join("report.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samplescope"))
        .args(["eval", "--tasks", tasks_path.to_str().unwrap(), "--lane", "top_p=0.9", "--seed", "3", "--import"])
        .arg(&samples_path)
        .arg("--json")
        .arg(&json_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("line 3: not valid JSON") && stdout.contains("pass@5"), "{stdout}");
    // The page's path: the spec's JSON, ImportOptions::from_spec, import of the whole text.
    let spec = EvalSpec::from_json(
        &json!({"tasks": {"jsonl": {"text": std::fs::read_to_string(&tasks_path).unwrap()}},
                "lanes": ["top_p=0.9"], "seed": 3})
        .to_string(),
    )
    .unwrap();
    let page = import(&text, ImportOptions::from_spec(&spec).unwrap()).unwrap();
    let cli = std::fs::read_to_string(&json_path).unwrap();
    assert_eq!(timeless(&cli), timeless(&page.to_json()));
    check_two_tasks(&page);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_joined_with_its_request_names_its_configuration() {
    // Without --lane, a line that carries its request (joined by custom_id) is named by it:
    // samplescope's own lane spec from vllm_xargs, or another tool's sampling fields.
    let mut ours = vllm_line("t0-c0", completion(&outputs(0), 0));
    ours["body"] = json!({"temperature": 0.7, "vllm_xargs": {"samplescope_lane": "temperature=0.7,min_p=0.1"}});
    let mut theirs = vllm_line("t0-c1", completion(&outputs(0), 0));
    theirs["body"] = json!({"temperature": 1.2, "top_p": 0.95, "top_k": -1, "n": 5});
    let rest = [vllm_line("t1-c0", completion(&outputs(1), 0)), vllm_line("t1-c1", completion(&outputs(1), 0))];
    let r = import(&jsonl(&[ours, theirs, rest[0].clone(), rest[1].clone()]), opts()).unwrap();
    let specs: Vec<&str> = r.report.configs.iter().map(|c| c.spec.as_str()).collect();
    assert_eq!(specs, ["temperature=0.7,min_p=0.1", "temperature=1.2,top_p=0.95"]);
    assert!(r.report.configs.iter().all(|c| c.settings_known));
    close(&r.report.configs[1].pass_at_k, &PASS_AT_K);
}
