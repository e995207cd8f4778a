//! The lab's pure parts against hand-computed values: pass@k, majority vote and its tie
//! rule, the power-law fit, the verifiers on tricky outputs, the arithmetic generator (its
//! answers recomputed from the prompt text) and JSONL validation.

use samplescope::eval::metrics::{majority_vote, majority_vote_curve, pass_at_k, pass_at_k_curve, power_law_fit};
use samplescope::eval::tasks::{arithmetic, parse_jsonl, LEVELS};
use samplescope::eval::verify::{numbers, Verifier};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// ln C(n, k) by summing logs: an independent route to the estimator for large n.
fn ln_binomial(n: u32, k: u32) -> f64 {
    (1..=k).map(|i| ((n - k + i) as f64).ln() - (i as f64).ln()).sum()
}

#[test]
fn pass_at_k_matches_hand_computed_values() {
    let p = |n, c, k| pass_at_k(n, c, k).unwrap();
    assert!(close(p(5, 2, 2), 0.7, 1e-12), "1 − C(3,2)/C(5,2) = 1 − 3/10");
    assert!(close(p(4, 1, 2), 0.5, 1e-12), "1 − C(3,2)/C(4,2) = 1 − 3/6");
    assert!(close(p(10, 2, 5), 1.0 - 56.0 / 252.0, 1e-12), "1 − C(8,5)/C(10,5)");
    assert!(close(p(10, 3, 1), 0.3, 1e-12), "pass@1 is c/n");
    // c = 0: never; c = n: always; k = n: 1 as soon as one sample is right.
    for k in 1..=6 {
        assert_eq!(p(6, 0, k), 0.0);
        assert_eq!(p(6, 6, k), 1.0);
    }
    assert_eq!(p(6, 1, 6), 1.0);
    assert_eq!(p(6, 0, 6), 0.0);
    assert_eq!(p(5, 4, 2), 1.0, "n − c < k: every pair holds a correct sample");
    // Outside the domain.
    assert_eq!(pass_at_k(5, 2, 0), None);
    assert_eq!(pass_at_k(5, 2, 6), None);
    assert_eq!(pass_at_k(5, 6, 1), None);
    // Large n, where the binomials overflow any integer: stable, and equal to the log route.
    for (n, c, k) in [(200, 50, 100), (10_000, 1, 1), (1000, 10, 300)] {
        let want = 1.0 - (ln_binomial(n - c, k) - ln_binomial(n, k)).exp();
        assert!(close(p(n, c, k), want, 1e-9), "n={n} c={c} k={k}: {} vs {want}", p(n, c, k));
    }
}

#[test]
fn pass_at_k_curve_averages_tasks_for_every_k() {
    let curve = pass_at_k_curve(&[(5, 2), (5, 0), (5, 5)]);
    assert_eq!(curve.len(), 5);
    assert!(close(curve[0], (0.4 + 0.0 + 1.0) / 3.0, 1e-12));
    assert!(close(curve[1], (0.7 + 0.0 + 1.0) / 3.0, 1e-12));
    assert!(close(curve[4], 2.0 / 3.0, 1e-12));
    assert!(curve.windows(2).all(|w| w[0] <= w[1]), "pass@k never falls with k");
    assert!(pass_at_k_curve(&[]).is_empty());
}

#[test]
fn majority_vote_breaks_ties_by_first_seen() {
    let v = |a: &[Option<&str>]| majority_vote(a.iter().copied());
    assert_eq!(v(&[Some("5"), Some("6"), Some("6")]), Some(1), "the most votes win");
    assert_eq!(v(&[Some("7"), Some("8"), Some("8"), Some("7")]), Some(0), "2–2: 7 was seen first");
    assert_eq!(v(&[Some("8"), Some("7"), Some("7"), Some("8")]), Some(0), "2–2: 8 was seen first");
    assert_eq!(v(&[None, Some("3"), Some("4")]), Some(1), "no extraction does not vote");
    assert_eq!(v(&[None, None, Some("4"), Some("3"), None]), Some(2));
    assert_eq!(v(&[None, None]), None);
    assert_eq!(v(&[]), None);
}

#[test]
fn majority_vote_curve_is_exact_where_subsets_are_few() {
    // Right answer "1" once, wrong "2" twice. k=1: 1/3 of single samples are right.
    // k=2: {0,1} and {0,2} tie 1–1 and "1" came first (right); {1,2} votes "2" (wrong).
    // k=3: "2" wins 2–1.
    let task = vec![(Some("1"), true), (Some("2"), false), (Some("2"), false)];
    let curve = majority_vote_curve(std::slice::from_ref(&task), 100, 0);
    assert_eq!(curve.len(), 3);
    assert!(close(curve[0], 1.0 / 3.0, 1e-12) && close(curve[1], 2.0 / 3.0, 1e-12) && curve[2] == 0.0, "{curve:?}");
    // A task where nothing is extracted never votes right.
    let mute = vec![(None, false), (None, false), (None, false)];
    let both = majority_vote_curve(&[task, mute], 100, 0);
    assert!(close(both[1], 1.0 / 3.0, 1e-12), "{both:?}");
}

#[test]
fn majority_vote_curve_samples_subsets_reproducibly() {
    // 32 samples: 12 right ("4"), 14 spread over wrong answers, 6 with nothing.
    let answers: Vec<Option<&str>> = (0..32)
        .map(|i| match i % 8 {
            0 | 3 | 5 => Some("4"),
            1 | 6 => Some("5"),
            2 => Some("6"),
            4 => None,
            _ => Some("7"),
        })
        .collect();
    let task: Vec<(Option<&str>, bool)> = answers.iter().map(|&a| (a, a == Some("4"))).collect();
    let a = majority_vote_curve(std::slice::from_ref(&task), 50, 9);
    assert_eq!(a, majority_vote_curve(std::slice::from_ref(&task), 50, 9), "same seed, same curve");
    let right = task.iter().filter(|t| t.1).count() as f64 / 32.0;
    assert!(close(a[0], right, 1e-12), "k = 1 is enumerated exactly: {} vs {right}", a[0]);
    assert_eq!(a[31], 1.0, "all 32: \"4\" has the most votes");
    // With a plurality for the right answer the vote gets better with k.
    assert!(a[15] > a[0] + 0.2, "{a:?}");
}

/// Deterministic noise in [−1, 1] without a RNG dependency.
fn wobble(i: usize) -> f64 {
    ((i as f64 * 12.9898).sin() * 43758.5453).fract()
}

#[test]
fn power_law_fit_recovers_known_parameters() {
    for (a, b) in [(-1.5, -0.4), (-0.3, -0.8), (-3.0, -0.25)] {
        let pts: Vec<(f64, f64)> = (1..=64).map(|k| (k as f64, (a * (k as f64).powf(b)).exp())).collect();
        let f = power_law_fit(&pts).expect("fit");
        assert!(close(f.a, a, 1e-9) && close(f.b, b, 1e-9), "exact data: {f:?} vs a={a} b={b}");
        assert!(f.r2 > 1.0 - 1e-12 && f.points == 64);
        assert!(close(f.predict(10.0), pts[9].1, 1e-9));
        // 1% multiplicative noise on c: a within 5%, b within 0.03. R² is only loosely
        // bounded: where c nears 1, log(−log c) magnifies the noise (−log c ≈ 0.01 at k = 64
        // for a = −0.3, b = −0.8), so the transformed points scatter even as (a, b) hold.
        let noisy: Vec<(f64, f64)> =
            pts.iter().enumerate().map(|(i, &(k, c))| (k, (c * (1.0 + 0.01 * wobble(i))).min(0.999))).collect();
        let g = power_law_fit(&noisy).expect("fit");
        assert!(
            (g.a - a).abs() <= 0.05 * a.abs() && (g.b - b).abs() <= 0.03 && g.r2 > 0.7,
            "noisy data: {g:?} vs a={a} b={b}"
        );
    }
}

#[test]
fn power_law_fit_degenerate_cases() {
    // c = 0 and c = 1 carry no information; fewer than two usable points: no fit.
    assert!(power_law_fit(&[(1.0, 0.0), (2.0, 0.0), (4.0, 0.0)]).is_none());
    assert!(power_law_fit(&[(1.0, 1.0), (2.0, 1.0)]).is_none());
    assert!(power_law_fit(&[(1.0, 0.3), (2.0, 1.0), (4.0, 1.0)]).is_none());
    assert!(power_law_fit(&[(2.0, 0.3), (2.0, 0.5)]).is_none(), "one k only");
    assert!(power_law_fit(&[]).is_none());
    // Points at 0 and 1 are skipped, the rest fit.
    let f = power_law_fit(&[(1.0, 0.0), (2.0, (-2.0f64).exp()), (4.0, (-1.0f64).exp()), (8.0, 1.0)]).unwrap();
    assert_eq!(f.points, 2);
    assert!(close(f.b, -1.0, 1e-12) && close(f.a, -4.0, 1e-12), "{f:?}");
    // A flat curve: b = 0, a = ln c, and a perfect (if uninformative) fit.
    let f = power_law_fit(&[(1.0, 0.5), (2.0, 0.5), (4.0, 0.5)]).unwrap();
    assert!(close(f.b, 0.0, 1e-12) && close(f.a, 0.5f64.ln(), 1e-12) && f.r2 == 1.0, "{f:?}");
}

#[test]
fn numeric_verifier_on_tricky_outputs() {
    let v = Verifier::Numeric;
    // (output, answer, extracted, pass)
    let table: &[(&str, &str, Option<&str>, bool)] = &[
        ("The answer is 1,234.", "1234", Some("1234"), true),
        ("-3", "-3", Some("-3"), true),
        ("3.50", "3.5", Some("3.5"), true),
        ("no number", "0", None, false),
        ("12 apples, wait, 15", "15", Some("15"), true),
        ("12 apples, wait, 15", "12", Some("15"), false),
        ("**42**", "42", Some("42"), true),
        ("$1,000,000", "1000000", Some("1000000"), true),
        ("Sam has 7 + 5 = 12 apples.", "12", Some("12"), true),
        ("5-3=2", "2", Some("2"), true),
        ("x = -7.", "-7", Some("-7"), true),
        ("It is 0.", "0", Some("0"), true),
        ("-0", "0", Some("0"), true),
        ("007", "7", Some("7"), true),
        ("1,2,3", "3", Some("3"), true),
        ("12,34", "34", Some("34"), true),
        ("The total is 1,234,567 coins", "1,234,567", Some("1234567"), true),
        ("about 2.5 or 2.50", "2.5", Some("2.5"), true),
        ("Answer: 18\n", "18.0", Some("18"), true),
        ("The answer is 19", "18", Some("19"), false),
    ];
    for &(out, ans, ext, pass) in table {
        let got = v.check(out, ans);
        assert_eq!(got.extracted.as_deref(), ext, "extracted from {out:?}");
        assert_eq!(got.pass, pass, "{out:?} against {ans:?}");
    }
    assert_eq!(numbers("from -2 to 3, then −4"), ["-2", "3", "-4"]);
    assert!(v.check_answer("twelve").is_err());
    assert!(v.check_answer("1 or 2").is_err());
    assert!(v.check_answer("1,234").is_ok());
}

#[test]
fn exact_contains_and_regex_verifiers() {
    let exact = Verifier::parse("exact").unwrap();
    assert!(exact.check("  Paris \n", "Paris").pass);
    assert!(!exact.check("paris", "Paris").pass);
    assert_eq!(exact.check("  ", "x").extracted, None);
    let contains = Verifier::parse("contains").unwrap();
    let v = contains.check("I think it is Paris.", "Paris");
    assert_eq!((v.extracted.as_deref(), v.pass), (Some("Paris"), true));
    assert_eq!(contains.check("London", "Paris").extracted, None);
    let re = Verifier::parse(r"regex:answer is (\w+)").unwrap();
    let v = re.check("the answer is B, no wait, the answer is C", "C");
    assert_eq!((v.extracted.as_deref(), v.pass), (Some("C"), true), "the last match's group");
    let whole = Verifier::parse(r"regex:(?i)[A-D]\b").unwrap();
    assert_eq!(whole.check("I pick b", "b").extracted.as_deref(), Some("b"));
    assert_eq!(re.to_spec(), r"regex:answer is (\w+)");
    assert!(Verifier::parse("regex:(").unwrap_err().to_string().contains("verifier regex"));
    assert!(Verifier::parse("fuzzy").unwrap_err().to_string().contains("expected numeric"));
}

/// An independent reading of a generated problem: numbers left to right, where a number
/// before a container word is a count of groups, one before "… in each" is the group size,
/// one after "gives" is taken away, and any other adds (the first one starts the total).
fn solve(prompt: &str) -> i64 {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let (mut total, mut groups): (Option<i64>, Option<i64>) = (None, None);
    for (i, w) in words.iter().enumerate() {
        let Ok(n) = w.parse::<i64>() else { continue };
        let next = words.get(i + 1).copied().unwrap_or("");
        let prev = if i > 0 { words[i - 1] } else { "" };
        if ["bags", "boxes", "packs", "baskets"].contains(&next) {
            groups = Some(n);
        } else if words.get(i + 3).is_some_and(|w| w.starts_with("each")) {
            let product = groups.take().expect("a group size after a group count") * n;
            total = Some(total.unwrap_or(0) + product);
        } else if prev == "gives" {
            total = Some(total.expect("something to give") - n);
        } else {
            total = Some(total.unwrap_or(0) + n);
        }
    }
    total.expect("a number in the problem")
}

#[test]
fn arithmetic_tasks_are_deterministic_and_right() {
    for level in LEVELS {
        let a = arithmetic(level, 100, 7).unwrap();
        assert_eq!(a, arithmetic(level, 100, 7).unwrap(), "level {level}: same seed, same tasks");
        assert_ne!(a, arithmetic(level, 100, 8).unwrap(), "level {level}: the seed matters");
        assert_eq!(a[..5], arithmetic(level, 5, 7).unwrap()[..], "task i does not depend on the count");
        let distinct: std::collections::HashSet<&str> = a.iter().map(|t| t.prompt.as_str()).collect();
        assert!(distinct.len() > 90, "level {level}: only {} distinct problems of 100", distinct.len());
        for t in &a {
            assert_eq!(t.answer, solve(&t.prompt).to_string(), "level {level}: {}", t.prompt);
            assert!(t.answer.parse::<u32>().is_ok());
            assert!(Verifier::Numeric.check_answer(&t.answer).is_ok());
        }
    }
    let t = &arithmetic(1, 1, 0).unwrap()[0];
    eprintln!("level 1, task 0: {} → {}", t.prompt, t.answer);
    assert!(arithmetic(0, 1, 0).is_err() && arithmetic(99, 1, 0).is_err());
}

#[test]
fn jsonl_task_sets_and_their_errors() {
    let ok = "{\"prompt\": \"2+2?\", \"answer\": 4}\n\n{\"prompt\": \"Capital of France?\", \"answer\": \"Paris\", \"id\": 7}\r\n{\"prompt\":\"half\",\"answer\":0.5}";
    let tasks = parse_jsonl(ok).unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!((tasks[0].answer.as_str(), tasks[1].answer.as_str(), tasks[2].answer.as_str()), ("4", "Paris", "0.5"));
    let err = |text: &str| parse_jsonl(text).unwrap_err().to_string();
    let good = "{\"prompt\": \"p\", \"answer\": 1}";
    let cases = [
        ("{\"prompt\": \"p\", \"answer\": ", "line 2: not valid JSON"),
        ("{\"answer\": 1}", "line 2: missing field \"prompt\""),
        ("{\"prompt\": \"p\"}", "line 2: missing field \"answer\""),
        ("{\"prompt\": 5, \"answer\": 1}", "line 2: \"prompt\" must be a string, got a number"),
        ("{\"prompt\": \"p\", \"answer\": [1]}", "line 2: \"answer\" must be a number or a string, got an array"),
        ("{\"prompt\": \"p\", \"answer\": null}", "line 2: \"answer\" must be a number or a string, got null"),
        ("{\"prompt\": \"  \", \"answer\": 1}", "line 2: \"prompt\" is empty"),
        ("{\"prompt\": \"p\", \"answer\": \"\"}", "line 2: \"answer\" is empty"),
        ("[\"p\", 1]", "line 2: expected an object"),
    ];
    for (bad, want) in cases {
        let e = err(&format!("{good}\n{bad}\n{good}"));
        assert!(e.contains(want), "{bad:?}: {e}");
    }
    // Every bad line is named, counting blank lines.
    let e = err("{}\n\n{\"prompt\": \"p\", \"answer\": 1}\nnope");
    assert!(e.contains("line 1:") && e.contains("line 4:") && !e.contains("line 3:"), "{e}");
    assert!(err("\n  \n").contains("no tasks"));
}
