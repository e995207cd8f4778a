//! Shared by the probes in examples/ (`mod common;`).

/// CPU time of every thread of this process so far, in ns (Linux; 0 elsewhere). On a
/// software adapter the "GPU" is this process's threads, so CPU time is what a busy machine
/// distorts least.
pub fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
