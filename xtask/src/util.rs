//! Running other programs and small file-system helpers shared by every command.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Res;

/// `$CARGO` (the cargo running us), in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// The path of an executable on PATH, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|d| d.join(name)).find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file() || p.with_extension("exe").is_file()
}

/// Runs a command with inherited stdio; `Err` unless it exits 0.
pub fn run(cmd: &mut Command) -> Res {
    let shown = show(cmd);
    let status = cmd.status().map_err(|e| spawn_error(&shown, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Runs a command and returns its stdout; `Err` (with its stderr) unless it exits 0.
pub fn capture(cmd: &mut Command) -> Res<String> {
    let shown = show(cmd);
    let out = cmd.output().map_err(|e| spawn_error(&shown, e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{shown}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn spawn_error(shown: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("`{shown}`: command not found")
    } else {
        format!("`{shown}`: {e}")
    }
}

fn show(cmd: &Command) -> String {
    let prog = Path::new(cmd.get_program());
    let prog = prog.file_name().unwrap_or(prog.as_os_str()).to_string_lossy();
    std::iter::once(prog.into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A fresh directory only we can read (Mesa wants XDG_RUNTIME_DIR to be 0700).
pub fn make_private_temp_dir(prefix: &str) -> Res<PathBuf> {
    let base = env::temp_dir();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let path = base.join(format!("{prefix}-{}-{nanos}-{attempt}", std::process::id()));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Err(format!("cannot create a temporary directory in {}", base.display()))
}
