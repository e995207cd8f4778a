//! The repeated-sampling lab (docs/DESIGN.md, "Repeated sampling"): task sets with answers,
//! verifiers, an async runner that draws N samples per task and sampler as lanes of one
//! prompt, and the metrics: pass@k, majority vote, the exponentiated power-law fit of a
//! coverage curve, and pass@1 against temperature.
//!
//! Everything here is platform-neutral (no files, no threads, no blocking), so the CLI and
//! the page run the same code and get the same numbers for the same seed.

pub mod code;
pub mod code_replay;
pub mod export;
pub mod import;
pub mod metrics;
pub mod presets;
pub mod report;
mod rng;
pub mod run;
pub mod spec;
pub mod survivors;
pub mod tasks;
pub mod verify;

pub use code::{CodeRunner, RunOutcome};
pub use export::{export, ExportFormat, LaneRef};
pub use import::{import, ImportFormat, ImportOptions, Imported, Importer};
pub use metrics::{pass_at_k, pass_at_k_curve, power_law_fit, PowerLawFit};
pub use presets::{preset, Preset, Size};
pub use report::{ConfigSummary, EvalReport, Sample, SweepSeries, TaskResult};
pub use run::{run_eval, run_eval_with, sweep_configs, validate, EvalOptions, EvalPlan, Progress};
pub use spec::{lane_configs, EvalSpec, TaskSource};
pub use survivors::{survivor_curve, SurvivorCurve, SurvivorSpec};
pub use tasks::{arithmetic, arithmetic_task, parse_jsonl, ArithmeticSpec, Task};
pub use verify::{Verdict, Verifier};
