//! Forks (Engine::generate_forced, docs/DESIGN.md "Forks"): a lane that starts with forced
//! tokens decodes exactly as a prompt that already holds them with the lane's step counter
//! at the number of forced tokens; forcing a lane's own first tokens reproduces the lane
//! (the dice continue); lanes with different prefixes run together as each alone; bad
//! forced ids and a fork past the context are clear errors.

use samplescope::engine::{lane_specs, LaneSpec};
use samplescope::model::Rows;
use samplescope::sampling::config::SamplerConfig;
use samplescope::sampling::LaneParams;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, Error, GenerateOptions, Gpu, GpuOptions, LoadOptions};

fn engine() -> Engine {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: 128, max_rows: 32, ..LoadOptions::default() }))
        .unwrap()
}

fn lane(spec: &str, sample_index: u32) -> LaneSpec {
    LaneSpec { sampler: SamplerConfig::parse(spec).unwrap(), sample_index }
}

fn opts(max_tokens: u32) -> GenerateOptions {
    GenerateOptions { max_tokens, stop_at_eog: false, ..GenerateOptions::default() }
}

const SAMPLED: [&str; 3] = [
    "temperature=1.5,top_p=0.95,seed=3",
    "temperature=2,min_p=0.02,seed=11",
    "temperature=1.2,repetition_penalty=1.3,seed=5",
];

/// The model's own primitives, with the rule written out: history = prompt + forced, dice
/// counter starting at forced.len(), the prompt's KV shared by the lane.
fn decode_with_prefix(e: &mut Engine, prompt: &[u32], forced: &[u32], l: &LaneSpec, n: u32) -> Vec<u32> {
    let ids = [prompt, forced].concat();
    let params = LaneParams::new(&l.sampler, l.sample_index).unwrap();
    e.model.set_lanes(&[params], &ids, forced.len() as u32).unwrap();
    pollster::block_on(e.model.start_lanes(&ids, 1, n)).unwrap();
    let mut out = Vec::new();
    for step in 0..n {
        if step > 0 {
            e.model.submit(Rows::Lanes { step, ids: None }).unwrap();
        }
        let picks = pollster::block_on(e.model.collect()).unwrap();
        assert_eq!(
            picks.records[0].step,
            forced.len() as u32 + step,
            "the dice step continues after the forced tokens"
        );
        out.push(picks.ids[0]);
    }
    out
}

#[test]
fn forced_tokens_then_decoding_equal_a_prompt_that_holds_them_with_the_dice_continuing() {
    let mut e = engine();
    let prompt = e.encode_prompt("hello there", false).unwrap();
    let forced = e.encode_prompt(" general kenobi", false).unwrap();
    let mut differs_from_fresh_dice = 0;
    for (k, spec) in SAMPLED.iter().enumerate() {
        let l = lane(spec, k as u32);
        let mut events = Vec::new();
        let g = pollster::block_on(e.generate_forced(&prompt, &forced, std::slice::from_ref(&l), &opts(10), |ev| {
            events.push((ev.index, ev.id, ev.forced, ev.record.step))
        }))
        .unwrap()
        .remove(0);
        assert_eq!(&g.ids[..forced.len()], &forced[..], "{spec}: the lane starts with its forced tokens");
        assert_eq!(g.ids.len(), forced.len() + 10, "{spec}: max_tokens counts the sampled tokens");
        for (i, &(index, id, was_forced, step)) in events.iter().enumerate() {
            assert_eq!((index as usize, id, step as usize), (i, g.ids[i], i), "{spec}: event {i}");
            assert_eq!(was_forced, i < forced.len(), "{spec}: event {i} forced");
        }
        let want = decode_with_prefix(&mut e, &prompt, &forced, &l, 10);
        assert_eq!(
            &g.ids[forced.len()..],
            &want[..],
            "{spec}: equals the prompt + forced decoded from step {}",
            forced.len()
        );
        // A plain run on prompt + forced starts its dice at step 0: not the fork's rule.
        let fresh = pollster::block_on(e.generate(&[prompt.clone(), forced.clone()].concat(), &[l], &opts(10), |_| {}))
            .unwrap()
            .remove(0);
        differs_from_fresh_dice += (fresh.ids != want) as u32;
        let text = e.tokenizer.decode(&g.ids).unwrap();
        assert_eq!(g.text, text, "{spec}: the text holds the forced tokens' text");
    }
    assert!(differs_from_fresh_dice > 0, "the dice step matters for at least one sampled lane");
}

#[test]
fn forcing_a_lanes_own_first_tokens_reproduces_the_lane() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    for (k, spec) in SAMPLED.iter().enumerate() {
        let l = lane(spec, 2 + k as u32);
        let whole =
            pollster::block_on(e.generate(&prompt, std::slice::from_ref(&l), &opts(12), |_| {})).unwrap()[0].clone();
        for s in [1usize, 5, 11] {
            let g = pollster::block_on(e.generate_forced(
                &prompt,
                &whole.ids[..s],
                std::slice::from_ref(&l),
                &opts(12 - s as u32),
                |_| {},
            ))
            .unwrap()
            .remove(0);
            assert_eq!(g.ids, whole.ids, "{spec}: forcing its first {s} tokens");
            assert_eq!(g.text, whole.text, "{spec}: text after forcing {s}");
        }
    }
}

#[test]
fn lanes_with_different_prefixes_run_together_as_each_alone() {
    let mut e = engine();
    let prompt = e.encode_prompt("once", false).unwrap();
    let lanes = lane_specs(&SAMPLED.map(|s| SamplerConfig::parse(s).unwrap()), false);
    let lanes = [lanes.clone(), vec![lanes[0].clone(), lanes[1].clone()]].concat();
    let forced: Vec<Vec<u32>> = vec![vec![], vec![7, 8], vec![], vec![7, 8], vec![9]];
    let mut seen = vec![Vec::new(); lanes.len()];
    let gens = pollster::block_on(
        e.generate_forks(&prompt, &lanes, &forced, &opts(6), |ev| seen[ev.lane as usize].push(ev.id)),
    )
    .unwrap();
    for (i, l) in lanes.iter().enumerate() {
        let alone =
            pollster::block_on(e.generate_forced(&prompt, &forced[i], std::slice::from_ref(l), &opts(6), |_| {}))
                .unwrap()
                .remove(0);
        assert_eq!(gens[i].ids, alone.ids, "lane {i}");
        assert_eq!(seen[i], alone.ids, "lane {i}: events under the caller's lane number");
    }
}

#[test]
fn bad_forced_ids_and_a_fork_past_the_context_are_errors() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let vocab = e.model.cfg.vocab;
    let l = [lane("temperature=1,seed=1", 0)];
    let err = pollster::block_on(e.generate_forced(&prompt, &[1, vocab], &l, &opts(4), |_| {})).unwrap_err();
    assert!(matches!(err, Error::Param(_)), "{err}");
    assert!(err.to_string().contains(&format!("forced token 2 of 2 is id {vocab}, outside the vocabulary")), "{err}");
    let long = vec![5u32; 128 - prompt.len() - 3];
    let err = pollster::block_on(e.generate_forced(&prompt, &long, &l, &opts(4), |_| {})).unwrap_err();
    assert!(matches!(err, Error::Context(_)), "{err}");
    assert!(err.to_string().contains("exceed the context of 128"), "{err}");
    let err = pollster::block_on(e.generate_forks(
        &prompt,
        &[l[0].clone(), l[0].clone()],
        &[vec![], vec![vocab + 5]],
        &opts(4),
        |_| {},
    ))
    .unwrap_err();
    assert!(err.to_string().contains("lane 2: forced token 1 of 1"), "{err}");
    // The engine still works after the refusals.
    let ok = pollster::block_on(e.generate_forced(&prompt, &long[..4], &l, &opts(4), |_| {})).unwrap();
    assert_eq!(ok[0].ids.len(), 8);
}
