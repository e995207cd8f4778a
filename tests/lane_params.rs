//! The lane language: `web/lane-params.json` is `PARAMS` (the page reads it, so a stale copy
//! fails here), and property tests of the lane-spec parser: `to_spec ∘ parse` round-trips
//! on random valid configurations, and random strings never panic.
//!
//! Regenerate the JSON: `cargo xtask lane-params` (which runs this test with
//! SAMPLESCOPE_WRITE_LANE_PARAMS=1).

use proptest::prelude::*;
use samplescope::sampling::config::{lane_params_json, SamplerConfig, TemperaturePosition, PARAMS};

const JSON_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web/lane-params.json");

#[test]
fn web_lane_params_json_is_current() {
    let want = lane_params_json();
    if std::env::var_os("SAMPLESCOPE_WRITE_LANE_PARAMS").is_some() {
        std::fs::write(JSON_PATH, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(JSON_PATH).unwrap_or_default();
    assert!(
        have == want,
        "web/lane-params.json is stale (or missing): it must equal PARAMS in src/sampling/config.rs. \
         Regenerate it with `cargo xtask lane-params` and commit it."
    );
}

#[test]
fn the_json_lists_every_param_with_its_default() {
    let v: serde_json::Value = serde_json::from_str(&lane_params_json()).unwrap();
    let params = v["params"].as_array().unwrap();
    assert_eq!(params.len(), PARAMS.len());
    let by_name = |n: &str| params.iter().find(|p| p["name"] == n).unwrap().clone();
    assert_eq!(by_name("top_k")["off"], 0);
    assert_eq!(by_name("top_k")["max"], 4294967295u64);
    assert_eq!(by_name("top_p")["min_inclusive"], false);
    assert_eq!(by_name("top_n_sigma")["default"], serde_json::Value::Null);
    assert_eq!(by_name("seed")["max"], "18446744073709551615");
    assert_eq!(by_name("temperature_position")["values"], serde_json::json!(["first", "last"]));
    // Every default, written as a spec, is the default config.
    let spec: Vec<String> =
        PARAMS.iter().filter(|p| p.default != "off").map(|p| format!("{}={}", p.name, p.default)).collect();
    assert_eq!(SamplerConfig::parse(&spec.join(",")).unwrap(), SamplerConfig::default());
}

#[test]
fn top_k_zero_is_off_in_the_one_grammar() {
    // The CLI took top_k=0 (off, as llama.cpp and vLLM), the page's share links did not.
    let c = SamplerConfig::parse("top_k=0,top_p=0.9").unwrap();
    assert_eq!(c.top_k, 0);
    assert_eq!(c.to_spec(), "top_p=0.9");
    assert_eq!(SamplerConfig::parse("top_n_sigma=off").unwrap().top_n_sigma, None);
    assert_eq!(SamplerConfig::parse(" temperature = 0.5 , top-k = 3 ").unwrap().to_spec(), "temperature=0.5,top_k=3");
    assert_eq!(TemperaturePosition::parse("last").unwrap(), TemperaturePosition::Last);
    assert!(TemperaturePosition::parse("middle").unwrap_err().to_string().contains("first or last"));
    let e = SamplerConfig::parse("top_k=4294967296").unwrap_err().to_string();
    assert!(e.contains("top_k=4294967296 is too large"), "{e}");
    let e = SamplerConfig::parse("penalty_last_n=2000").unwrap_err().to_string();
    assert!(e.contains("penalty_last_n = 2000: must be an integer in 0..=1024"), "{e}");
}

/// Random valid configurations: each setting its default or a value from its range.
fn config() -> impl Strategy<Value = SamplerConfig> {
    (
        prop_oneof![Just(0.0f32), Just(1.0), 0.0f32..10.0],
        any::<bool>(),
        prop_oneof![Just(0u32), any::<u32>()],
        prop_oneof![Just(1.0f32), 0.0001f32..=1.0],
        prop_oneof![Just(0.0f32), 0.0f32..=1.0],
        prop_oneof![Just(None), (0.0001f32..100.0).prop_map(Some)],
        prop_oneof![Just(1.0f32), 0.0001f32..10.0],
        0u32..=1024,
        any::<u64>(),
    )
        .prop_map(|(t, last, top_k, top_p, min_p, sigma, rep, n, seed)| SamplerConfig {
            temperature: t,
            temperature_position: if last { TemperaturePosition::Last } else { TemperaturePosition::First },
            top_k,
            top_p,
            min_p,
            top_n_sigma: sigma,
            repetition_penalty: rep,
            penalty_last_n: n,
            seed,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn to_spec_then_parse_is_the_identity(c in config()) {
        prop_assert!(c.validate().is_ok(), "{c:?}");
        let spec = c.to_spec();
        let back = SamplerConfig::parse(&spec).map_err(|e| TestCaseError::fail(format!("{spec}: {e}")))?;
        // Greedy forgets nothing else: every other setting is written after `greedy`.
        prop_assert_eq!(&back, &c, "{}", spec);
        prop_assert_eq!(back.to_spec(), spec);
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,64}") {
        let _ = SamplerConfig::parse(&s);
    }

    #[test]
    fn spec_like_strings_never_panic_and_errors_stay_short(
        items in proptest::collection::vec(
            (
                prop_oneof![
                    proptest::sample::select(PARAMS.iter().map(|p| p.name).collect::<Vec<_>>()).prop_map(String::from),
                    "[a-z_-]{0,12}",
                ],
                prop_oneof![Just(String::new()), "[ ]{0,2}", "=", " = "],
                prop_oneof!["-?[0-9]{0,25}(\\.[0-9]{0,8})?(e-?[0-9]{1,3})?", "first|last|off|nan|inf|-inf|greedy", ".{0,300}"],
            ),
            0..6,
        )
    ) {
        let spec: Vec<String> = items.iter().map(|(k, eq, v)| format!("{k}{eq}{v}")).collect();
        let spec = spec.join(",");
        match SamplerConfig::parse(&spec) {
            Ok(c) => {
                prop_assert!(c.validate().is_ok());
                prop_assert_eq!(SamplerConfig::parse(&c.to_spec()).unwrap(), c);
            }
            Err(e) => prop_assert!(e.to_string().chars().count() < 400, "{}", e),
        }
    }
}
