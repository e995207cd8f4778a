//! The decode loop one step ahead (`Pipeline::On`: step t+1 is submitted before step t is
//! read back) gives exactly what the step-by-step loop (`Pipeline::Off`) gives:
//! the same ids, text, stop reasons, events and sampler records (so the same Philox step
//! behind every pick), greedy and sampled, at B = 1 and B = 3, with lanes that stop early on
//! EOG, on a stop string or by cancel. It submits no step past max_tokens, at most one past
//! the last step read back, and none ahead while inspecting.

use samplescope::engine::LaneSpec;
use samplescope::gguf::Gguf;
use samplescope::model::{Model, Picks, Rows};
use samplescope::sampling::config::SamplerConfig;
use samplescope::sampling::LaneParams;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, Error, GenerateOptions, Gpu, GpuOptions, LoadOptions, Pipeline};

fn engine() -> Engine {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: 128, max_rows: 32, ..LoadOptions::default() }))
        .unwrap()
}

fn lane(spec: &str, sample_index: u32) -> LaneSpec {
    LaneSpec { sampler: SamplerConfig::parse(spec).unwrap(), sample_index }
}

/// One event as the callback saw it; the record as its bytes, so equal means bit-identical.
#[derive(Debug, PartialEq)]
struct Ev {
    lane: u32,
    index: u32,
    id: u32,
    text: String,
    record: Vec<u8>,
    stop: Option<&'static str>,
}

#[derive(Debug, PartialEq)]
struct Gen {
    ids: Vec<u32>,
    text: String,
    stop: &'static str,
}

struct Run {
    gens: Vec<Gen>,
    events: Vec<Ev>,
    /// Forward steps submitted (start_lanes' first step included).
    steps: u64,
}

impl Run {
    fn longest(&self) -> u64 {
        self.gens.iter().map(|g| g.ids.len() as u64).max().unwrap_or(0)
    }
}

/// `Engine::generate` with `pipeline` on or off; `cancel_at` sets the cancel flag from the
/// callback when lane 0's token of that index arrives.
fn run(
    e: &mut Engine,
    prompt: &[u32],
    lanes: &[LaneSpec],
    opts: &GenerateOptions,
    pipeline: bool,
    cancel_at: Option<u32>,
) -> Run {
    let cancel = samplescope::engine::CancelFlag::default();
    let pipeline = if pipeline { Pipeline::On } else { Pipeline::Off };
    let opts = GenerateOptions { pipeline, cancel: Some(cancel.clone()), ..opts.clone() };
    let before = e.model.steps_submitted();
    let mut events = Vec::new();
    let gens = pollster::block_on(e.generate(prompt, lanes, &opts, |ev| {
        if ev.lane == 0 && Some(ev.index) == cancel_at {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        events.push(Ev {
            lane: ev.lane,
            index: ev.index,
            id: ev.id,
            text: ev.text.to_string(),
            record: bytemuck::bytes_of(&ev.record).to_vec(),
            stop: ev.stop,
        });
    }))
    .unwrap();
    assert_eq!(e.model.in_flight(), 0, "a step was left in flight");
    let gens = gens.into_iter().map(|g| Gen { ids: g.ids, text: g.text, stop: g.stop }).collect();
    Run { gens, events, steps: e.model.steps_submitted() - before }
}

/// Runs both ways and checks that they agree and what each submitted.
fn both(
    e: &mut Engine,
    what: &str,
    prompt: &[u32],
    lanes: &[LaneSpec],
    opts: &GenerateOptions,
    cancel_at: Option<u32>,
) -> Run {
    let sync = run(e, prompt, lanes, opts, false, cancel_at);
    let piped = run(e, prompt, lanes, opts, true, cancel_at);
    assert_eq!(piped.gens, sync.gens, "{what}: generations differ with pipelining");
    assert_eq!(piped.events, sync.events, "{what}: events (ids, text, records, stops) differ with pipelining");
    let longest = sync.longest();
    assert_eq!(sync.steps, longest, "{what}: step by step runs exactly the steps read");
    // One step ahead, but never past max_tokens (the KV slots of a lane end there).
    assert_eq!(piped.steps, (longest + 1).min(opts.max_tokens as u64), "{what}: steps submitted with pipelining");
    sync
}

const MAX: u32 = 40;

/// A high-temperature lane that ends on an end-of-generation token after a few tokens: the
/// first of 32 sample indices that does (deterministic, found step by step).
fn eog_lane(e: &mut Engine, prompt: &[u32]) -> (LaneSpec, usize) {
    let spec = "temperature=3.0,seed=11";
    let cands: Vec<LaneSpec> = (0..32).map(|i| lane(spec, i)).collect();
    let opts = GenerateOptions { max_tokens: MAX, ..GenerateOptions::default() };
    let r = run(e, prompt, &cands, &opts, false, None);
    let (i, g) =
        r.gens.iter().enumerate().find(|(_, g)| g.stop == "eog" && g.ids.len() >= 3).expect("a lane that ends on EOG");
    (cands[i].clone(), g.ids.len())
}

#[test]
fn pipelined_lanes_equal_step_by_step() {
    let mut e = engine();
    let prompt = e.encode_prompt("once upon", false).unwrap();
    let plain = GenerateOptions { max_tokens: MAX, ..GenerateOptions::default() };

    // B = 1, a lane that stops on EOG: one step past it runs and is discarded.
    let (eog, eog_len) = eog_lane(&mut e, &prompt);
    assert!(eog_len < MAX as usize);
    let r = both(&mut e, "B=1 EOG", &prompt, std::slice::from_ref(&eog), &plain, None);
    assert_eq!(r.gens[0].stop, "eog");

    // B = 1, a lane that stops on a stop string: two characters from the middle of its text.
    let top_p = lane("top_p=0.9,temperature=1.5,seed=3", 1);
    let free = run(
        &mut e,
        &prompt,
        std::slice::from_ref(&top_p),
        &GenerateOptions { stop_at_eog: false, ..plain.clone() },
        false,
        None,
    );
    let text = &free.gens[0].text;
    let stop: String = text.chars().skip(text.chars().count() / 3).take(2).collect();
    assert_eq!(stop.chars().count(), 2, "text {text:?} too short for a stop string");
    let stopping = GenerateOptions { stop_at_eog: false, stop_strings: vec![stop.clone()], ..plain.clone() };
    let r = both(&mut e, "B=1 stop string", &prompt, std::slice::from_ref(&top_p), &stopping, None);
    assert_eq!(r.gens[0].stop, "stop_string", "stop {stop:?} in {text:?}");
    assert!(r.gens[0].ids.len() < MAX as usize);

    // B = 1 to max_tokens: no step past the last.
    let greedy = lane("greedy", 0);
    let to_max = GenerateOptions { stop_at_eog: false, ..plain.clone() };
    let r = both(&mut e, "B=1 greedy to max_tokens", &prompt, std::slice::from_ref(&greedy), &to_max, None);
    assert_eq!(r.gens[0].stop, "max_tokens");
    assert_eq!(r.steps, MAX as u64);

    // B = 3, mixed samplers: one lane ends on EOG, one on the stop string, the third runs
    // on; the batch runs until the last lane stops.
    let mixed = [lane("min_p=0.1,temperature=1.5,repetition_penalty=1.2,seed=5", 2), top_p.clone(), eog.clone()];
    let opts = GenerateOptions { stop_strings: vec![stop.clone()], ..plain.clone() };
    let r = both(&mut e, "B=3 mixed", &prompt, &mixed, &opts, None);
    assert_eq!(r.gens[2].stop, "eog");
    assert_eq!(r.gens[2].ids.len(), eog_len, "the EOG lane stops where it stopped alone");
    assert_eq!(r.gens[1].stop, "stop_string");

    // B = 3 with every lane stopping early: the batch ends before max_tokens, one step past.
    let early = [eog.clone(), top_p.clone(), eog.clone()];
    let r = both(&mut e, "B=3 all stop early", &prompt, &early, &opts, None);
    assert!(r.longest() < MAX as u64);

    // B = 3 cancelled from the callback at lane 0's fifth token: every lane stops there.
    let r = both(&mut e, "B=3 cancel", &prompt, &mixed, &to_max, Some(4));
    assert!(r.gens.iter().all(|g| g.stop == "cancelled" && g.ids.len() == 6), "{:?}", r.gens);

    // B = 3 to max_tokens: exactly max_tokens steps either way.
    let three = [mixed[0].clone(), top_p.clone(), greedy.clone()];
    let r = both(&mut e, "B=3 to max_tokens", &prompt, &three, &to_max, None);
    assert_eq!(r.steps, MAX as u64);
}

#[test]
fn inspecting_runs_step_by_step() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let lanes = [lane("greedy", 0), lane("top_k=3,seed=4", 1)];
    let opts = GenerateOptions {
        max_tokens: 6,
        stop_at_eog: false,
        inspect_top: 4,
        stop_strings: vec![],
        ..GenerateOptions::default()
    };
    let mut seen = Vec::new();
    let before = e.model.steps_submitted();
    pollster::block_on(e.generate(&prompt, &lanes, &GenerateOptions { pipeline: Pipeline::On, ..opts }, |ev| {
        let ins = ev.inspection.as_ref().expect("an inspection per token");
        assert_eq!(ins.record.token, ev.id, "the inspection is of this token's step");
        seen.push((ev.lane, ev.id));
    }))
    .unwrap();
    assert_eq!(seen.len(), 12);
    assert_eq!(e.model.steps_submitted() - before, 6);
}

/// The Model API underneath: two steps in flight read back in order, each with its own
/// picks and records (the staging buffers are double-buffered); the bounds hold.
#[test]
fn submitted_steps_collect_in_order() {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 128, ..SynthSpec::default() }).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    let mut m =
        pollster::block_on(Model::load(gpu, &g, &LoadOptions { n_ctx: 64, max_rows: 32, ..LoadOptions::default() }))
            .unwrap();
    let prompt = [7u32, 100, 42, 42, 250, 3];
    let (b, n) = (3u32, 8u32);
    let lanes: Vec<LaneParams> =
        ["temperature=1.5,seed=1", "top_p=0.9,temperature=2.0,seed=2", "min_p=0.05,temperature=1.5,seed=3"]
            .iter()
            .enumerate()
            .map(|(i, s)| LaneParams::new(&SamplerConfig::parse(s).unwrap(), i as u32).unwrap())
            .collect();
    let bytes_of = |p: Picks| (p.ids, p.records.iter().map(|r| bytemuck::bytes_of(r).to_vec()).collect::<Vec<_>>());
    let collect = |m: &mut Model| bytes_of(pollster::block_on(m.collect()).unwrap());
    let start = |m: &mut Model| {
        m.set_lanes(&lanes, &prompt, 0).unwrap();
        pollster::block_on(m.start_lanes(&prompt, b, n)).unwrap();
    };
    let lanes_step = |step| Rows::Lanes { step, ids: None };
    start(&mut m);
    let mut want = vec![collect(&mut m)];
    for step in 1..n {
        m.submit(lanes_step(step)).unwrap();
        want.push(collect(&mut m));
    }
    let distinct: std::collections::HashSet<&Vec<u32>> = want.iter().map(|w| &w.0).collect();
    assert!(distinct.len() > n as usize / 2, "the steps' picks should differ: {want:?}");

    start(&mut m);
    m.submit(lanes_step(1)).unwrap();
    assert!(matches!(m.submit(lanes_step(2)), Err(Error::Param(_))), "a third step in flight");
    let mut got = vec![collect(&mut m)];
    for step in 2..n {
        m.submit(lanes_step(step)).unwrap();
        got.push(collect(&mut m));
    }
    got.push(collect(&mut m));
    assert_eq!(got, want);
    assert!(matches!(pollster::block_on(m.collect()), Err(Error::Param(_))), "nothing left to collect");
    // Past the lanes' own KV slots (lane_tokens + 1 of them): refused, not written.
    assert!(matches!(m.submit(lanes_step(n + 1)), Err(Error::Param(_))));
    // Forced ids must be one per lane.
    assert!(matches!(m.submit(Rows::Lanes { step: 1, ids: Some(&[1, 2]) }), Err(Error::Param(_))));
    // A step discarded unread leaves the model usable, and a new start gives the same.
    m.submit(lanes_step(1)).unwrap();
    m.discard();
    assert_eq!(m.in_flight(), 0);
    start(&mut m);
    assert_eq!(collect(&mut m), want[0]);
}

/// `Pipeline::Auto` runs one step ahead except natively on a software adapter, where a submit
/// waits for the step before it anyway (see `Pipeline`).
#[test]
fn auto_follows_the_adapter() {
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    assert_eq!(Pipeline::Auto.one_ahead(&gpu), !gpu.facts.software);
    assert!(Pipeline::On.one_ahead(&gpu) && !Pipeline::Off.one_ahead(&gpu));
    assert_eq!(Pipeline::parse("auto").unwrap(), Pipeline::Auto);
    assert!(Pipeline::parse("yes").is_err());
}
