//! `cargo xtask gpu-pack DIR [--dev]`: the GPU check in one directory for a machine with a
//! GPU but no Rust toolchain, no network and no model file. It holds the CLI, the test
//! binaries that need no model file, the Vulkan loader (Debian's libvulkan1, unpacked) and
//! xtask/gpu-check/run.sh, which runs them there (see that script). The release pack stays
//! under 60 MiB, so it travels where only 64 MiB may; `--dev` packs the debug build that
//! `cargo test` already made (CI runs that pack on lavapipe with `run.sh --short`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{capture, cargo, run, which, workspace_root};
use crate::Res;

/// The test targets that run against the adapter without a model file: the library's unit
/// tests (run.sh filters them to the kernels and the sampler chain) and these integration
/// tests (the GPU sampler chain and the forward pass against their CPU references, on random
/// inputs and synthetic models). Each binary carries the whole wgpu stack (6–10 MB
/// stripped), so the engine-machinery tests (lanes, pipeline), which check no kernel the
/// others miss, stay out of the 60 MiB.
const TESTS: [&str; 2] = ["sampling", "model_synthetic"];

/// What a pack may weigh: what travels to the GPU machine is 64 MiB, less some room.
const MAX_PACK_BYTES: u64 = 60 << 20;

pub fn gpu_pack(args: &[String]) -> Res {
    let mut dir = None;
    let mut dev = false;
    for a in args {
        match a.as_str() {
            "--dev" => dev = true,
            s if s.starts_with("--") => {
                return Err(format!("gpu-pack: unknown option `{s}` (usage: gpu-pack DIR [--dev])"))
            }
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => return Err(format!("gpu-pack: one directory only (got `{s}` too)")),
        }
    }
    let dir = dir.ok_or("gpu-pack: give the directory to pack into (usage: gpu-pack DIR [--dev])")?;
    pack(&dir, dev)
}

/// Builds (or reuses) the binaries, then fills `dir`: bin/, vulkan/, run.sh.
pub fn pack(dir: &Path, dev: bool) -> Res {
    // The workspace's test build, as `cargo test --workspace` makes it (the same features,
    // so --dev reuses its artifacts instead of compiling the library again).
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-run", "--message-format=json"]);
    if !dev {
        cmd.arg("--release");
    }
    println!("$ cargo test --workspace --no-run{} (JSON to find the binaries)", if dev { "" } else { " --release" });
    let json = capture(cmd.stderr(Stdio::inherit()))?;
    let mut tests: Vec<(String, PathBuf)> = Vec::new();
    for line in json.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        let Some(exe) = msg["executable"].as_str() else { continue };
        let target = &msg["target"];
        let kinds: Vec<&str> = target["kind"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let name = target["name"].as_str().unwrap_or("");
        let is_test = msg["profile"]["test"].as_bool() == Some(true);
        if is_test && kinds.contains(&"rlib") && name == "samplescope" {
            tests.push(("samplescope-lib-test".into(), PathBuf::from(exe)));
        } else if kinds == ["test"] && TESTS.contains(&name) {
            tests.push((format!("{name}-test"), PathBuf::from(exe)));
        }
    }
    if tests.len() != TESTS.len() + 1 {
        let found: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
        return Err(format!("gpu-pack: found the test binaries {found:?}, expected the library's and {TESTS:?}"));
    }
    let cli = crate::web::target_dir().join(if dev { "debug" } else { "release" }).join("samplescope");
    if !cli.is_file() {
        return Err(format!("gpu-pack: {} was not built", cli.display()));
    }

    let _ = fs::remove_dir_all(dir);
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    tests.push(("samplescope".into(), cli));
    for (name, exe) in &tests {
        let to = bin.join(name);
        if dev {
            // Run here only: links to cargo's build, not copies of ~65 MB each.
            link_or_copy(exe, &to)?;
        } else {
            fs::copy(exe, &to).map_err(|e| format!("cannot copy {} to {}: {e}", exe.display(), to.display()))?;
            // Symbols are most of a release test binary; the check prints no backtraces.
            run(Command::new("strip").arg(&to))?;
        }
    }
    vulkan_loader(&dir.join("vulkan"))?;
    let script = dir.join("run.sh");
    fs::copy(workspace_root().join("xtask/gpu-check/run.sh"), &script)
        .map_err(|e| format!("cannot copy run.sh into {}: {e}", dir.display()))?;
    make_executable(&script)?;

    let bytes = dir_bytes(dir)?; // links count as their own size, not their target's
    println!(
        "packed {} ({:.1} MiB): run `{}/run.sh [OUT]` on the GPU machine",
        dir.display(),
        mib(bytes),
        dir.display()
    );
    if !dev && bytes > MAX_PACK_BYTES {
        return Err(format!(
            "the pack is {:.1} MiB, over the {:.0} MiB that may travel",
            mib(bytes),
            mib(MAX_PACK_BYTES)
        ));
    }
    Ok(())
}

/// Debian's Vulkan loader (libvulkan1) unpacked into `to`: the GPU machine has the driver's
/// ICD but may lack the loader that wgpu opens.
fn vulkan_loader(to: &Path) -> Res {
    if which("apt-get").is_none() || which("dpkg-deb").is_none() {
        return Err("gpu-pack: needs apt-get and dpkg-deb (Debian or Ubuntu) to fetch the Vulkan loader".into());
    }
    let tmp = std::env::temp_dir().join(format!("gpu-pack-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let download = || capture(Command::new("apt-get").args(["download", "libvulkan1"]).current_dir(&tmp));
    if download().is_err() {
        // A fresh machine has no package lists yet.
        run(Command::new("apt-get").arg("update"))?;
        download()?;
    }
    let deb = fs::read_dir(&tmp)
        .map_err(|e| format!("cannot list {}: {e}", tmp.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download libvulkan1 left no .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(to))?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> Res {
    #[cfg(unix)]
    if std::os::unix::fs::symlink(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map(|_| ()).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn make_executable(path: &Path) -> Res {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> Res<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let meta = fs::symlink_metadata(entry.path()).map_err(|e| e.to_string())?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}
