//! The code verifier through the real python3 runner: hand-written samples that pass,
//! fail, loop, allocate without end, crash, or reach for the network or files outside
//! their directory each get their verdict, the endless ones within the limits, and the
//! runs after them go on. Then `run_eval_with` end to end on a tiny synthetic model
//! (lavapipe). These tests need python3 and fail without it (CI's Debian has it).

use std::time::{Duration, Instant};

use samplescope::eval::code::{self, Exit};
use samplescope::eval::{run_eval, run_eval_with, EvalOptions, EvalPlan, Task, Verifier};
use samplescope::native::pyrun::{Limits, PyRunner};
use samplescope::sampling::config::SamplerConfig;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, Gpu, GpuOptions, LoadOptions};

const WALL: Duration = Duration::from_secs(3);

fn runner() -> PyRunner {
    let limits = Limits { wall: WALL, cpu_secs: 2, memory_bytes: 256 << 20, parallel: 2, ..Limits::default() };
    PyRunner::new(limits).expect("python3 is needed for the code verifier's tests")
}

/// HumanEval's shape: the prompt is the signature and docstring, the tests define check.
fn add_task() -> Task {
    Task {
        prompt: "def add(a, b):\n    \"\"\"The sum of a and b.\"\"\"\n".into(),
        tests: Some(
            "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n".into(),
        ),
        entry_point: Some("add".into()),
        ..Task::default()
    }
}

/// Runs each sample of `add_task` and returns (status, outcome, seconds) per sample.
fn run(samples: &[&str]) -> Vec<(String, code::RunOutcome)> {
    let r = runner();
    let task = add_task();
    let programs: Vec<String> = samples.iter().map(|s| code::harness(&task, s)).collect();
    let outcomes = r.run_all(&programs).unwrap();
    assert_eq!(outcomes.len(), samples.len());
    outcomes.into_iter().map(|o| (code::interpret(&o).extracted.unwrap(), o)).collect()
}

#[test]
fn verdicts_for_passing_failing_and_crashing_samples() {
    let cases: &[(&str, &str)] = &[
        ("    return a + b\n", "pass"),
        ("Here it is:\n```python\ndef add(a, b):\n    return b + a\n```\n", "pass"),
        ("    return a - b\n", "AssertionError"),
        ("    return a + b +\n", "SyntaxError"),
        ("    raise RuntimeError('boom')\n", "RuntimeError"),
        ("    return undefined_name\n", "NameError"),
        ("```python\ndef sub(a, b):\n    return a - b\n```", "AssertionError"),
        // A sample that exits before the tests run does not pass.
        ("    return a + b\nimport sys\nsys.exit(0)\n", "SystemExit"),
        // One that prints a fake status line does not either: the harness's comes last.
        ("    print('@@samplescope-status@@ pass')\n    return a - b\n", "AssertionError"),
        // Killed by a signal (os.abort: SIGABRT).
        ("    import os\n    os.abort()\n", "signal 6"),
    ];
    let samples: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for ((sample, want), (got, o)) in cases.iter().zip(run(&samples)) {
        assert_eq!(&got, want, "sample {sample:?}: {o:?}");
    }
}

#[test]
fn endless_loops_and_allocations_fail_within_the_limits_and_the_run_goes_on() {
    let cases: &[(&str, &str)] = &[
        ("    while True:\n        pass\n", "timeout"),
        ("    xs = []\n    while True:\n        xs.append(bytearray(1 << 20))\n", "MemoryError"),
        ("    import time\n    time.sleep(60)\n", "timeout"),
        ("    while True:\n        print('x' * 1000)\n", "timeout"),
        ("    return a + b\n", "pass"),
    ];
    let r = runner();
    let task = add_task();
    for (sample, want) in cases {
        let t0 = Instant::now();
        let o = r.run_one(&code::harness(&task, sample)).unwrap();
        let took = t0.elapsed();
        let got = code::interpret(&o).extracted.unwrap();
        eprintln!("{sample:?}: {got} ({:?}) in {:.2} s", o.exit, took.as_secs_f64());
        assert_eq!(&got, want, "{o:?}");
        assert!(took < WALL + Duration::from_secs(2), "{sample:?} took {took:?}");
        assert!(o.stdout.len() < 80 << 10, "stdout is capped: {} bytes", o.stdout.len());
    }
    // All at once, in parallel: every one gets its verdict and the last still passes.
    let samples: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let got: Vec<String> = run(&samples).into_iter().map(|g| g.0).collect();
    assert_eq!(got, cases.iter().map(|c| c.1).collect::<Vec<_>>());
}

#[test]
fn the_sandbox_refuses_network_processes_and_writes_outside_its_directory() {
    let outside = std::env::temp_dir().join(format!("samplescope-escape-{}", std::process::id()));
    let write_outside = format!("    open({:?}, 'w').write('x')\n    return a + b\n", outside.to_str().unwrap());
    let cases: Vec<(String, &str)> = vec![
        ("    import socket\n    socket.create_connection(('127.0.0.1', 9))\n".into(), "PermissionError"),
        ("    import subprocess\n    subprocess.run(['true'])\n".into(), "PermissionError"),
        ("    import os\n    os.fork()\n".into(), "PermissionError"),
        ("    import os\n    os.kill(1, 9)\n".into(), "PermissionError"),
        (write_outside, "PermissionError"),
        ("    import shutil\n    shutil.rmtree('/tmp')\n".into(), "PermissionError"),
        // Its own directory is writable, and it is the working directory.
        ("    open('scratch.txt', 'w').write('x')\n    import os\n    os.makedirs('d', exist_ok=True)\n    return a + b\n".into(), "pass"),
        // input() sees end of file.
        ("    input()\n".into(), "EOFError"),
    ];
    let samples: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    for ((sample, want), (got, o)) in cases.iter().zip(run(&samples)) {
        assert_eq!(&got, want, "sample {sample:?}: {o:?}");
    }
    assert!(!outside.exists(), "a sample wrote {}", outside.display());
    // The environment is cleared and the temporary directory is removed afterwards.
    let probe =
        "    import os, json\n    print('PROBE=' + json.dumps([os.getcwd(), sorted(os.environ)]))\n    return a + b\n";
    let (status, o) = run(&[probe]).remove(0);
    assert_eq!(status, "pass", "{o:?}");
    let line = o.stdout.lines().find_map(|l| l.strip_prefix("PROBE=")).expect("probe output");
    let (cwd, env): (String, Vec<String>) = serde_json::from_str(line).unwrap();
    assert!(cwd.contains("samplescope-py-"), "{cwd}");
    assert!(!std::path::Path::new(&cwd).exists(), "{cwd} was not removed");
    assert_eq!(env, ["HOME", "LANG", "PATH", "TMPDIR"], "only the runner's variables");
    eprintln!("network namespace of its own: {}", runner().network_isolated());
}

#[test]
fn plain_assert_tests_and_the_missing_interpreter() {
    let task = Task {
        prompt: "Write a Python function square(x) that returns x squared.".into(),
        tests: Some("assert square(3) == 9\nassert square(-2) == 4\n".into()),
        entry_point: Some("square".into()),
        ..Task::default()
    };
    let r = runner();
    let outputs = ["```python\ndef square(x):\n    return x * x\n```", "def square(x):\n    return x + x\n", "x = 1"];
    let v = pollster::block_on(code::verify(&r, &task, &outputs)).unwrap();
    let got: Vec<(&str, bool)> = v.iter().map(|v| (v.extracted.as_deref().unwrap(), v.pass)).collect();
    assert_eq!(got, [("pass", true), ("AssertionError", false), ("NameError", false)]);
    let e = PyRunner::with_interpreter("/nonexistent/python3", Limits::default()).err().unwrap().to_string();
    assert!(e.contains("python3") && e.contains("install python3"), "{e}");
    // A harness can also end with an exit code and nothing on stdout.
    let o = r.run_one("import sys\nsys.exit(3)\n").unwrap();
    assert_eq!((o.exit, code::interpret(&o).extracted.as_deref()), (Exit::Code(3), Some("exit 3")));
}

/// The eval loop with code tasks on a synthetic model: its random text fails the tests
/// (mostly as SyntaxError), but every sample gets run and a verdict, and the report counts
/// them. Without a runner the plan is refused.
#[test]
fn eval_runs_code_tasks_end_to_end() {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    let mut engine = pollster::block_on(Engine::load(
        gpu,
        &bytes,
        &LoadOptions { n_ctx: 256, max_rows: 32, ..LoadOptions::default() },
    ))
    .unwrap();
    let always = Task { prompt: "Anything.".into(), tests: Some("assert True\n".into()), ..Task::default() };
    let plan = EvalPlan {
        tasks: vec![add_task(), always],
        configs: vec![SamplerConfig::parse("temperature=1.0").unwrap()],
        sweep: Vec::new(),
        verifier: Verifier::Code,
    };
    let opts = EvalOptions { samples: 4, max_tokens: 6, seed: 5, ..EvalOptions::default() };
    let e = pollster::block_on(run_eval(&mut engine, &plan, &opts, |_| {})).unwrap_err().to_string();
    assert!(e.contains("code runner"), "{e}");
    let r = runner();
    let report = pollster::block_on(run_eval_with(&mut engine, &plan, &opts, Some(&r), |_| {})).unwrap();
    assert_eq!(report.verifier, "code");
    assert_eq!(report.tasks.len(), 2);
    for t in &report.tasks {
        let samples: Vec<_> = t.configs[0].samples.iter().chain(t.greedy.as_ref()).collect();
        assert_eq!(samples.len(), 5);
        for s in samples {
            let status = s.extracted.as_deref().unwrap();
            assert_eq!(s.pass, status == "pass");
            assert!(!status.starts_with("tests:") && status != "exit 0", "{status}: {:?}", s.output);
        }
        eprintln!(
            "task {}: {}",
            t.index,
            t.configs[0].samples.iter().map(|s| s.extracted.clone().unwrap()).collect::<Vec<_>>().join(", ")
        );
    }
    // The random text is not python; `assert True` after a program that fails to compile
    // still fails (the program must run), so nothing passes by accident.
    assert_eq!(report.tasks[0].configs[0].correct, 0);
    // A text verifier refuses tasks that carry tests, naming the task.
    let text = EvalPlan { verifier: Verifier::parse("exact").unwrap(), ..plan };
    let e = pollster::block_on(run_eval(&mut engine, &text, &opts, |_| {})).unwrap_err().to_string();
    assert!(e.contains("task 0") && e.contains("--verifier code"), "{e}");
}

/// The example task file (README) parses, and each task's `canonical_solution` passes its
/// tests while an empty answer does not.
#[test]
fn the_example_task_file_is_sound() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/code_tasks.jsonl")).unwrap();
    let tasks = samplescope::eval::parse_jsonl(&text).unwrap();
    assert_eq!(tasks.len(), 3);
    let r = runner();
    for (line, t) in text.lines().zip(&tasks) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let solution = v["canonical_solution"].as_str().unwrap();
        let got = pollster::block_on(code::verify(&r, t, &[solution, "    pass\n"])).unwrap();
        assert!(got[0].pass, "{}: {:?}", v["task_id"], got[0]);
        assert!(!got[1].pass, "{}: {:?}", v["task_id"], got[1]);
    }
}

/// Imported samples of code tasks (here the plain JSONL format) are verified by running
/// their tests, a record's distinct outputs as one batch; without a runner the import is
/// refused.
#[test]
fn imported_code_samples_are_verified() {
    use samplescope::eval::code::SharedRunner;
    use samplescope::eval::import::{import, ImportOptions};
    let samples = ["    return a + b\n", "    return a - b\n", "    while True:\n        pass\n", "    return a + b\n"];
    let line = serde_json::json!({"task": 0, "samples": samples, "greedy": "    return b + a\n"}).to_string();
    let opts = ImportOptions::new(vec![add_task()], Verifier::Code);
    let e = import(&line, opts.clone()).err().unwrap().to_string();
    assert!(e.contains("code runner"), "{e}");
    let opts = ImportOptions { code_runner: Some(SharedRunner(std::rc::Rc::new(runner()))), ..opts };
    let imported = import(&line, opts).unwrap();
    let t = &imported.report.tasks[0];
    let got: Vec<&str> = t.configs[0].samples.iter().map(|s| s.extracted.as_deref().unwrap()).collect();
    assert_eq!(got, ["pass", "AssertionError", "timeout", "pass"]);
    assert_eq!(t.configs[0].correct, 2);
    assert!(t.greedy.as_ref().unwrap().pass);
    assert_eq!(imported.report.verifier, "code");
    assert_eq!(imported.import.verified, 3 + 1, "identical outputs run once");
}

/// The page's two-pass import of code samples (`eval::code_replay`): the programs recorded
/// in the first pass, run here by python3 and replayed into the second, give the report a
/// direct import gives.
#[test]
fn a_replayed_import_equals_the_direct_one() {
    use samplescope::eval::code::SharedRunner;
    use samplescope::eval::code_replay::{ProgramRecorder, ReplayRunner};
    use samplescope::eval::import::{import, ImportOptions};
    use std::rc::Rc;
    let samples = ["    return a + b\n", "    return a - b\n", "    raise ValueError\n", "    return a + b\n"];
    let line = serde_json::json!({"task": 0, "samples": samples, "greedy": "    return b + a\n"}).to_string();
    let opts = ImportOptions::new(vec![add_task()], Verifier::Code);
    let py = Rc::new(runner());
    let with = |r: SharedRunner| import(&line, ImportOptions { code_runner: Some(r), ..opts.clone() }).unwrap();
    let direct = with(SharedRunner(py.clone()));
    let recorder = Rc::new(ProgramRecorder::default());
    with(SharedRunner(recorder.clone()));
    let programs = recorder.take();
    assert_eq!(programs.len(), 4, "the distinct outputs of each record, greedy's too");
    let outcomes = py.run_all(&programs).unwrap();
    let replayed = with(SharedRunner(Rc::new(ReplayRunner::new(programs, outcomes).unwrap())));
    let tasks = |i: &samplescope::eval::Imported| serde_json::to_value(&i.report.tasks).unwrap();
    assert_eq!(tasks(&replayed), tasks(&direct));
    assert_eq!(replayed.report.tasks[0].configs[0].correct, 2);
}
