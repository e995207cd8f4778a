//! Installing what the commands need, only when it is missing: Debian packages (apt-get),
//! rustup targets and components, Mesa lavapipe.

use std::ffi::OsStr;
use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::{capture, cargo, run, which};
use crate::Res;

/// Installs Debian packages: `apt-get update` (once per xtask run), then `apt-get install -y`.
/// As root directly; otherwise through sudo (non-interactive when there is no terminal).
pub fn apt_install(packages: &[&str]) -> Res {
    static UPDATED: AtomicBool = AtomicBool::new(false);
    let list = packages.join(" ");
    if which("apt-get").is_none() {
        return Err(format!("apt-get not found: install {list} (or your distribution's equivalent) yourself"));
    }
    let is_root = capture(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0");
    let sudo_prefix: Vec<&str> = if is_root {
        vec![]
    } else if which("sudo").is_some() {
        if std::io::stdin().is_terminal() {
            vec!["sudo"]
        } else {
            vec!["sudo", "-n"]
        }
    } else {
        return Err(format!(
            "need root to install {list}, and sudo is not available: \
                            run `apt-get update && apt-get install -y {list}` as root"
        ));
    };
    let apt = |args: &[&str]| {
        let mut argv: Vec<&str> = sudo_prefix.clone();
        argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        argv.extend(args);
        println!("$ {}", argv.join(" "));
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        run(&mut cmd)
    };
    if !UPDATED.load(Ordering::Relaxed) {
        apt(&["update"])?;
        UPDATED.store(true, Ordering::Relaxed);
    }
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(packages);
    apt(&args)
}

/// lavapipe, the software Vulkan driver the native GPU tests run on (Linux only).
pub fn ensure_lavapipe() -> Res {
    if !cfg!(target_os = "linux") {
        println!("not Linux: wgpu uses this platform's own GPU driver; nothing to install");
        return Ok(());
    }
    if let Some(icd) = find_lavapipe_icd() {
        println!("already installed: {}", icd.display());
        return Ok(());
    }
    apt_install(&["mesa-vulkan-drivers"])?;
    match find_lavapipe_icd() {
        Some(icd) => {
            println!("installed: {}", icd.display());
            Ok(())
        }
        None => Err("mesa-vulkan-drivers is installed, but /usr/share/vulkan/icd.d has no lvp_icd*.json".into()),
    }
}

/// python3, which the code verifier's tests run model-written samples with (tests/eval_code.rs
/// fails, not skips, without it).
pub fn ensure_python3() -> Res {
    if let Some(p) = which("python3") {
        println!("already installed: {}", p.display());
        return Ok(());
    }
    apt_install(&["python3"])?;
    which("python3").map(|_| ()).ok_or_else(|| "apt-get installed python3, but it is not on PATH".into())
}

fn find_lavapipe_icd() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/share/vulkan/icd.d")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_lavapipe_icd_name(p.file_name().and_then(OsStr::to_str).unwrap_or("")))
        .collect();
    found.sort();
    found.into_iter().next()
}

fn is_lavapipe_icd_name(name: &str) -> bool {
    name.starts_with("lvp_icd") && name.ends_with(".json")
}

/// `rustup target add wasm32-unknown-unknown` unless it is installed (for the wasm build
/// step and build-web).
pub fn install_wasm_target() -> Res {
    const TARGET: &str = "wasm32-unknown-unknown";
    // `cargo` exports RUSTUP_TOOLCHAIN to us, so rustup acts on the toolchain in use.
    let installed = capture(Command::new("rustup").args(["target", "list", "--installed"])).map_err(|e| {
        format!("{e}\n(without rustup, install the {TARGET} standard library for your toolchain yourself)")
    })?;
    if installed.lines().any(|l| l.trim() == TARGET) {
        println!("already installed: {TARGET}");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// `rustup component add <component>` unless `cargo <subcommand>` already runs. A toolchain
/// installed with `--profile minimal` (as .ci/run does) has neither rustfmt nor clippy.
pub fn ensure_component(subcommand: &str, component: &str) -> Res {
    if capture(cargo().args([subcommand, "--version"])).is_ok() {
        return Ok(());
    }
    println!("`cargo {subcommand}` is missing: adding the {component} component");
    run(Command::new("rustup").args(["component", "add", component]))
        .map_err(|e| format!("{e}\n(without rustup, install {component} for your toolchain yourself)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lavapipe_icd_names() {
        assert!(is_lavapipe_icd_name("lvp_icd.x86_64.json"));
        assert!(is_lavapipe_icd_name("lvp_icd.aarch64.json"));
        assert!(!is_lavapipe_icd_name("radeon_icd.x86_64.json"));
        assert!(!is_lavapipe_icd_name("lvp_icd.x86_64.json.bak"));
    }
}
