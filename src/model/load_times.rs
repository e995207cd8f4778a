//! Where a load's time goes, phase by phase: the lab's model facts, `generate --json` and the
//! benches show it.

use web_time::Instant;

/// Milliseconds per phase of `Engine::load`. Each phase is timed on the CPU clock around its
/// own work and the phases follow one another, so they sum to at most `total` (the rest is
/// glue: dropping buffers, small allocations). On the web the browser does GPU work (shader
/// compiles, copies) in its GPU process in the background; the load meets it in `gpu`,
/// where it waits for the device to report the load's work done.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadTimes {
    /// The file's bytes: waiting for them to arrive (the page streams them from the cache,
    /// the network or a file) and copying them into wasm memory, wherever the load waited
    /// (those waits are not counted in the other phases); 0 natively, where the file is
    /// read before the load.
    pub copy: f64,
    /// The GGUF header, metadata and tensor table.
    pub parse: f64,
    /// The model config, and the load plan checked against the adapter's limits.
    pub plan: f64,
    /// Every shader module, and the compute pipelines of the first token, made before the
    /// weights (on the web the browser compiles them meanwhile); the others are made on
    /// first use.
    pub pipelines: f64,
    /// Repacking the weights into their GPU formats and creating their buffers and textures.
    pub weights: f64,
    /// Bind groups, activation buffers, the KV cache and the readback ring.
    pub bind: f64,
    /// The tokenizer (vocabulary, merges, chat template), built while the GPU works.
    pub tokenizer: f64,
    /// Waiting for the GPU to report the load's work done.
    pub gpu: f64,
    /// Everything, from the bytes to a ready engine.
    pub total: f64,
}

impl LoadTimes {
    /// The phases in the order they run, named as the page and the CLI show them.
    pub fn phases(&self) -> [(&'static str, f64); 8] {
        [
            ("copy", self.copy),
            ("parse", self.parse),
            ("plan", self.plan),
            ("pipelines", self.pipelines),
            ("weights", self.weights),
            ("bind", self.bind),
            ("tokenizer", self.tokenizer),
            ("gpu", self.gpu),
        ]
    }

    /// "load 3.7 s: parse 0.0 · weights 1.2 · …" with the phases over 5 ms.
    pub fn summary(&self) -> String {
        let parts: Vec<String> =
            self.phases().iter().filter(|(_, ms)| *ms >= 5.0).map(|(n, ms)| format!("{n} {:.2}", ms / 1e3)).collect();
        format!("load {:.2} s: {}", self.total / 1e3, parts.join(" · "))
    }
}

/// Times consecutive phases: `lap` returns the milliseconds since the previous lap.
pub struct Laps(Instant);

impl Laps {
    pub fn start() -> Laps {
        Laps(Instant::now())
    }

    pub fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let ms = now.duration_since(self.0).as_secs_f64() * 1e3;
        self.0 = now;
        ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_phases_that_took_time() {
        let t = LoadTimes { weights: 1200.0, pipelines: 300.0, parse: 1.0, total: 1600.0, ..Default::default() };
        assert_eq!(t.summary(), "load 1.60 s: pipelines 0.30 · weights 1.20");
    }

    #[test]
    fn laps_follow_one_another() {
        let t0 = Instant::now();
        let mut l = Laps::start();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let a = l.lap();
        let b = l.lap();
        assert!(a >= 3.0 && b >= 0.0 && a + b <= t0.elapsed().as_secs_f64() * 1e3 + 1e-6, "{a} {b}");
    }
}
