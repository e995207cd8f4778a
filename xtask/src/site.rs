//! `cargo xtask build-web --out DIR`: the publishable static site. After the ordinary web
//! build (web.rs, into www/), DIR gets
//! - the pages of www/ (not the bench page, which needs node_modules' wllama), each one
//!   rewritten to name the hashed files;
//! - every script, style sheet, JSON module and the wasm under a name with its content hash
//!   (`app.3f9c0a1b2c4d.js`), references between them rewritten, so a host may cache them
//!   forever; a file's hash covers the hashed names it refers to, so a change reaches every
//!   file that leads to it. The pages, models/manifest.json and web/sampler-compare.js (an
//!   entry point other pages name; a copy of its hashed twin) keep their names;
//! - the wasm run through binaryen's wasm-opt (npm's `binaryen`, which package-lock.json pins);
//! - models/manifest.json (web/models.json with each model's place: a local copy in models/
//!   or a CORS-enabled URL), which the pages read when they load (web/protocol.js);
//! - with `--base-url`, the embedding guide's examples already naming the site (otherwise
//!   the guide fills them in from its own address when it opens).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{run, workspace_root};
use crate::{browser, model, web, Res};

/// wasm-opt's level, chosen by measurement on this module (3.68 MB from wasm-bindgen, Dec
/// 2026; binaryen 132): -O1 gives 3.01 MB, 1.05 MB gzip, 0.70 MB brotli, in 19 s; -O2, -O3,
/// -Os and -Oz give 2.95–2.86 MB but 1.06 MB gzip and 0.72 MB brotli (what readers
/// download), in 41–50 s. The module's work is on the GPU, so its speed is not the measure.
pub const WASM_OPT_LEVEL: &str = "-O1";
/// The wasm features wasm-bindgen's output uses (rustc's wasm32 defaults).
pub const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Files that get a content hash in their name.
const HASHED_EXTENSIONS: &[&str] = &["js", "mjs", "css", "wasm", "json"];
/// Entry points other sites name: kept under their own name too (a copy of the hashed file).
const STABLE_ENTRIES: &[&str] = &["web/sampler-compare.js"];
/// What of www/ the site leaves out: the bench page and its assets (node_modules' wllama),
/// the type declarations for checkjs, the dev server's model links and build leftovers.
const EXCLUDED: &[&str] =
    &["bench.html", "css/bench.css", "web/bench.js", "web/types", "bench-assets", "models", ".pkg-tmp"];

/// `build-web`'s options; `out: None` is the plain build into www/.
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    pub out: Option<PathBuf>,
    /// The site's public address, ending in `/`.
    pub base_url: Option<String>,
    /// Copy each known model that `fetch-model` has cached into DIR/models.
    pub copy_models: bool,
    /// `--model ID=SOURCE`: a file to copy or a URL to point at.
    pub models: Vec<(String, String)>,
}

pub fn parse_args(args: &[String]) -> Res<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| inline.clone().or_else(|| it.next().cloned()).ok_or(format!("{key} needs {what}"));
        match key {
            "--out" => o.out = Some(PathBuf::from(value("a directory")?)),
            "--base-url" => o.base_url = Some(base_url(&value("a URL")?)?),
            "--copy-models" if inline.is_none() => o.copy_models = true,
            "--model" => {
                let v = value("ID=FILE or ID=URL")?;
                let (id, src) = v.split_once('=').ok_or(format!("--model {v}: expected ID=FILE or ID=URL"))?;
                o.models.push((id.to_string(), src.to_string()));
            }
            _ => return Err(format!("build-web: unknown argument `{a}`")),
        }
    }
    if o.out.is_none() && (o.base_url.is_some() || o.copy_models || !o.models.is_empty()) {
        return Err("build-web: --base-url, --copy-models and --model describe a site: they need --out DIR".into());
    }
    Ok(o)
}

/// `https://host/path` as `https://host/path/`; anything but an http(s) URL is an error.
fn base_url(s: &str) -> Res<String> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !s.contains(['"', '\'', '<', '>', '#', '?', ' ', '\\']);
    if !ok {
        return Err(format!(
            "--base-url {s}: expected the site's http(s) address, e.g. https://example.github.io/samplescope/"
        ));
    }
    Ok(if s.ends_with('/') { s.to_string() } else { format!("{s}/") })
}

/// `cargo xtask build-web [--out DIR ...]`.
pub fn build_web(opts: &Options) -> Res {
    web::build_web()?;
    match &opts.out {
        Some(out) => build_site(out, opts),
        None => Ok(()),
    }
}

/// The site from the fresh www/ into `out` (built beside it, then swapped in).
fn build_site(out: &Path, opts: &Options) -> Res {
    let root = workspace_root();
    let www = root.join("www");
    let out = absolute(out)?;
    if root.starts_with(&out) || out.starts_with(&www) || out.starts_with(root.join("web")) {
        return Err(format!(
            "--out {}: choose a directory outside www/ and web/ that does not hold the workspace",
            out.display()
        ));
    }
    if out.exists() && !is_replaceable(&out) {
        return Err(format!(
            "--out {}: exists and is not an earlier site (no index.html and models/manifest.json): remove it or choose another",
            out.display()
        ));
    }
    let models = known_models()?;
    let mut files = stage(&www)?;
    let wasm_path = "pkg/samplescope_bg.wasm";
    let wasm = files.get(wasm_path).ok_or(format!("www/{wasm_path} is missing after build-web"))?;
    let optimized = wasm_opt(wasm)?;
    println!("{wasm_path}: {} → {} (wasm-opt {WASM_OPT_LEVEL})", mb(wasm.len()), mb(optimized.len()));
    files.insert(wasm_path.to_string(), optimized);
    let mut site = hash_names(&files)?;
    if let Some(base) = &opts.base_url {
        let guide = site.get_mut("embed-guide.html").ok_or("www/embed-guide.html is missing")?;
        *guide = fill_site_url(guide, base)?;
    }

    let tmp = out.with_file_name(format!(
        ".{}.partial",
        out.file_name().ok_or(format!("--out {}: needs a directory name", out.display()))?.to_string_lossy()
    ));
    let _ = fs::remove_dir_all(&tmp);
    for (rel, bytes) in &site {
        write(&tmp.join(rel), bytes)?;
    }
    let manifest = place_models(&models, opts, &tmp.join("models"))?;
    write(&tmp.join("models").join("manifest.json"), manifest.as_bytes())?;
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot remove the earlier site {}: {e}", out.display()))?;
    }
    fs::rename(&tmp, &out).map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), out.display()))?;
    println!("site: {} ({} files); serve it with any static server", out.display(), site.len() + 1);
    Ok(())
}

fn absolute(p: &Path) -> Res<PathBuf> {
    let p = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().map_err(|e| e.to_string())?.join(p) };
    // Canonical where it exists (so `..` and links cannot hide www/); else its parent's.
    match (p.canonicalize(), p.parent().and_then(|d| d.canonicalize().ok()), p.file_name()) {
        (Ok(c), _, _) => Ok(c),
        (Err(_), Some(dir), Some(name)) => Ok(dir.join(name)),
        _ => Err(format!("--out {}: its parent directory does not exist", p.display())),
    }
}

fn is_replaceable(dir: &Path) -> bool {
    let empty = fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    empty || (dir.join("index.html").is_file() && dir.join("models").join("manifest.json").is_file())
}

fn mb(n: usize) -> String {
    format!("{:.2} MB", n as f64 / 1e6)
}

fn write(path: &Path, bytes: &[u8]) -> Res {
    fs::create_dir_all(path.parent().expect("site paths have a parent"))
        .map_err(|e| format!("cannot create the directory of {}: {e}", path.display()))?;
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every file of www/ the site serves, by its path relative to www/ (with `/`).
fn stage(www: &Path) -> Res<BTreeMap<String, Vec<u8>>> {
    fn walk(dir: &Path, rel: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Res {
        let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if name.starts_with('.') || EXCLUDED.contains(&path.as_str()) {
                continue;
            }
            let full = entry.path();
            if full.is_dir() {
                walk(&full, &path, files)?;
            } else {
                files.insert(path, fs::read(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))?);
            }
        }
        Ok(())
    }
    let mut files = BTreeMap::new();
    walk(www, "", &mut files)?;
    Ok(files)
}

// ---- wasm-opt -------------------------------------------------------------------------------

/// The module through node_modules' wasm-opt at WASM_OPT_LEVEL, kept in
/// target/wasm-opt/ by the input's sha256 (the same input gives the same output, and a run
/// takes some 20 s).
fn wasm_opt(wasm: &[u8]) -> Res<Vec<u8>> {
    let root = workspace_root();
    let bin = root.join("node_modules").join(".bin").join("wasm-opt");
    if !bin.is_file() {
        browser::ensure_node_packages(false)?;
    }
    if !bin.is_file() {
        return Err(format!("{} is missing: `npm ci` installs binaryen (package.json)", bin.display()));
    }
    let dir = web::target_dir().join("wasm-opt");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key = sha256_bytes(wasm)?;
    let cached = dir.join(format!("{key}{WASM_OPT_LEVEL}.wasm"));
    if let Ok(bytes) = fs::read(&cached) {
        println!("wasm-opt {WASM_OPT_LEVEL}: {} (cached)", cached.display());
        return Ok(bytes);
    }
    let input = dir.join(format!("{key}.in.wasm"));
    let tmp = dir.join(format!("{key}{WASM_OPT_LEVEL}.tmp.wasm"));
    write(&input, wasm)?;
    let r = run(Command::new(&bin).arg(&input).arg("-o").arg(&tmp).arg(WASM_OPT_LEVEL).args(WASM_OPT_FEATURES));
    let _ = fs::remove_file(&input);
    r?;
    fs::rename(&tmp, &cached).map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), cached.display()))?;
    fs::read(&cached).map_err(|e| format!("cannot read {}: {e}", cached.display()))
}

/// sha256 of `bytes` in hex, by coreutils' sha256sum (as model.rs checks models).
fn sha256_bytes(bytes: &[u8]) -> Res<String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`sha256sum`: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written on its own thread: sha256sum's output is one line, so it never blocks us.
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(|e| format!("`sha256sum`: {e}"))?;
    writer.join().map_err(|_| "sha256sum's writer panicked")?.map_err(|e| format!("`sha256sum`: {e}"))?;
    let hex = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string();
    if out.status.success() && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!("sha256sum failed ({})", out.status))
    }
}

// ---- hashed names ---------------------------------------------------------------------------

/// A reference from one file to another: the byte range of the path inside its quotes (or
/// `url(...)`) and the file it names.
#[derive(Debug, PartialEq)]
struct Ref {
    start: usize,
    end: usize,
    target: String,
}

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Pyodide's files (www/pyodide) keep their names and bytes: its loader builds their
/// names itself, so a rewritten reference would break it.
fn is_verbatim(path: &str) -> bool {
    path.strip_prefix(web::PYODIDE_DIR).is_some_and(|rest| rest.starts_with('/'))
}

fn is_hashed(path: &str) -> bool {
    HASHED_EXTENSIONS.contains(&extension(path)) && !is_verbatim(path)
}

fn is_text(path: &str) -> bool {
    matches!(extension(path), "html" | "js" | "mjs" | "css" | "json") && !is_verbatim(path)
}

/// `spec` (a relative path such as `./share.js` or `../pkg/x.wasm`) from the file `from`,
/// as a path from the site's root; None when it is not relative or leaves the root.
fn resolve(from: &str, spec: &str) -> Option<String> {
    if spec.is_empty() || spec.starts_with('/') || spec.contains("//") || spec.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop(); // the file's own name
    for seg in spec.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// What looks like a path to a site file: path characters only, with an extension.
fn looks_like_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 300
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && s.contains('.')
}

/// Every quoted string (or CSS `url(...)`) in `text` that names a file of `files` relative
/// to `from`. Comments are scanned too: a path in one is rewritten like any other, which
/// costs nothing and keeps the scanner simple.
fn references(from: &str, text: &str, files: &BTreeSet<&str>) -> Vec<Ref> {
    let b = text.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (start, close) = match b[i] {
            q @ (b'\'' | b'"' | b'`') => (i + 1, q),
            b'(' if i >= 3 && &b[i - 3..i] == b"url" && b.get(i + 1).is_some_and(|c| !b"'\"".contains(c)) => {
                (i + 1, b')')
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let end = b[start..].iter().position(|&c| c == close || c == b'\n').map(|p| start + p);
        if let Some(end) = end.filter(|&e| b[e] == close) {
            let s = &text[start..end];
            if let Some(target) =
                looks_like_path(s).then(|| resolve(from, s)).flatten().filter(|t| files.contains(t.as_str()))
            {
                refs.push(Ref { start, end, target });
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    refs
}

/// `dir/name.ext` as `dir/name.HASH.ext`.
fn hashed_name(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{}.{ext}", &hash[..12]),
        None => format!("{path}.{}", &hash[..12]),
    }
}

/// `text` with each reference's last path segment replaced by its target's new name
/// (files keep their folders, so the rest of the path stays right).
fn rewrite(text: &str, refs: &[Ref], names: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len() + refs.len() * 13);
    let mut at = 0;
    for r in refs {
        let Some(new) = names.get(&r.target) else { continue };
        let spec = &text[r.start..r.end];
        let dir_len = spec.rfind('/').map_or(0, |i| i + 1);
        out.push_str(&text[at..r.start + dir_len]);
        out.push_str(new.rsplit('/').next().unwrap_or(new));
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The site's files under their published names: hashed files renamed (their hash taken
/// after their own references are rewritten, dependencies first), the pages and the other
/// files rewritten in place, STABLE_ENTRIES also under their own names.
fn hash_names(files: &BTreeMap<String, Vec<u8>>) -> Res<BTreeMap<String, Vec<u8>>> {
    let hashed: BTreeSet<&str> = files.keys().map(String::as_str).filter(|p| is_hashed(p)).collect();
    let mut texts: BTreeMap<&str, (&str, Vec<Ref>)> = BTreeMap::new();
    for (path, bytes) in files {
        if is_text(path) {
            let text = std::str::from_utf8(bytes).map_err(|_| format!("www/{path} is not UTF-8"))?;
            texts.insert(path, (text, references(path, text, &hashed)));
        }
    }
    let deps = |p: &str| -> Vec<String> {
        texts.get(p).map_or(Vec::new(), |(_, refs)| refs.iter().map(|r| r.target.clone()).collect())
    };

    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut site: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for scc in sccs(&hashed, &deps) {
        // References leaving the group point at files named already (sccs() gives
        // dependencies first); a group of files that refer to each other shares one hash.
        let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
        for p in &scc {
            let bytes = match texts.get(p.as_str()) {
                Some((text, refs)) => rewrite(text, refs, &names).into_bytes(),
                None => files[p].clone(),
            };
            contents.push((p.clone(), bytes));
        }
        let group = if scc.len() == 1 {
            sha256_bytes(&contents[0].1)?
        } else {
            let mut all = Vec::new();
            for (p, c) in &contents {
                all.extend_from_slice(p.as_bytes());
                all.push(0);
                all.extend_from_slice(c);
                all.push(0);
            }
            sha256_bytes(&all)?
        };
        for p in &scc {
            let h = if scc.len() == 1 { group.clone() } else { sha256_bytes(format!("{group}{p}").as_bytes())? };
            names.insert(p.clone(), hashed_name(p, &h));
        }
        for (p, bytes) in contents {
            let bytes = match (scc.len() > 1, texts.get(p.as_str())) {
                (true, Some((text, refs))) => rewrite(text, refs, &names).into_bytes(),
                _ => bytes,
            };
            if STABLE_ENTRIES.contains(&p.as_str()) {
                site.insert(p.clone(), bytes.clone());
            }
            site.insert(names[&p].clone(), bytes);
        }
    }
    for (path, bytes) in files {
        if !hashed.contains(path.as_str()) {
            let bytes = match texts.get(path.as_str()) {
                Some((text, refs)) => rewrite(text, refs, &names).into_bytes(),
                None => bytes.clone(),
            };
            site.insert(path.clone(), bytes);
        }
    }
    Ok(site)
}

/// The strongly connected components of the reference graph on `nodes` (Tarjan), each
/// after every component it refers to.
fn sccs(nodes: &BTreeSet<&str>, deps: &dyn Fn(&str) -> Vec<String>) -> Vec<Vec<String>> {
    struct State<'a> {
        deps: &'a dyn Fn(&str) -> Vec<String>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        out: Vec<Vec<String>>,
    }
    fn visit(s: &mut State, v: &str) {
        let i = s.index.len();
        s.index.insert(v.to_string(), i);
        s.low.insert(v.to_string(), i);
        s.stack.push(v.to_string());
        s.on_stack.insert(v.to_string());
        for w in (s.deps)(v) {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let lw = s.low[&w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(&w) {
                let iw = s.index[&w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(&w);
                let done = w == v;
                scc.push(w);
                if done {
                    break;
                }
            }
            scc.sort();
            s.out.push(scc);
        }
    }
    let mut s = State {
        deps,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in nodes {
        if !s.index.contains_key(*v) {
            visit(&mut s, v);
        }
    }
    s.out
}

// ---- the embedding guide ----------------------------------------------------------------

/// The guide's `<span data-site-url></span>` placeholders filled with `base` (HTML-escaped),
/// for readers without scripts; web/guide.js fills the empty ones from the page's address.
fn fill_site_url(html: &[u8], base: &str) -> Res<Vec<u8>> {
    let html = std::str::from_utf8(html).map_err(|_| "www/embed-guide.html is not UTF-8")?;
    const EMPTY: &str = "<span data-site-url></span>";
    if !html.contains(EMPTY) {
        return Err(format!("www/embed-guide.html has no {EMPTY} to fill with --base-url"));
    }
    let escaped = base.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    Ok(html.replace(EMPTY, &format!("<span data-site-url>{escaped}</span>")).into_bytes())
}

// ---- models ---------------------------------------------------------------------------------

/// A model of web/models.json.
#[derive(Debug, Clone)]
pub struct KnownModel {
    pub id: String,
    pub name: String,
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub url: Option<String>,
}

/// web/models.json, the one list of the models the pages offer (web/protocol.js reads it).
pub fn known_models() -> Res<Vec<KnownModel>> {
    let path = workspace_root().join("web").join("models.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_models(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_models(text: &str) -> Res<Vec<KnownModel>> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = json["models"].as_array().filter(|l| !l.is_empty()).ok_or("models: expected a non-empty list")?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let s = |k: &str| {
                m[k].as_str()
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or(format!("models[{i}].{k}: expected a string"))
            };
            let url = match &m["url"] {
                serde_json::Value::Null => None,
                v => Some(
                    v.as_str()
                        .filter(|u| u.starts_with("https://"))
                        .ok_or(format!("models[{i}].url: expected an https URL or null"))?
                        .to_string(),
                ),
            };
            let sha256 = s("sha256")?;
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err(format!("models[{i}].sha256: expected 64 lowercase hex digits"));
            }
            let file = s("file")?;
            if !looks_like_path(&file) || file.contains('/') {
                return Err(format!("models[{i}].file: expected a file name, got {file:?}"));
            }
            Ok(KnownModel {
                id: s("id")?,
                name: s("name")?,
                file,
                bytes: m["bytes"]
                    .as_u64()
                    .filter(|&n| n > 0)
                    .ok_or(format!("models[{i}].bytes: expected a positive integer"))?,
                sha256,
                url,
            })
        })
        .collect()
}

/// Where a model of the site comes from.
#[derive(Debug, PartialEq)]
enum Source {
    Copy(PathBuf),
    Url(String),
}

/// Each model's source: `--model ID=…`, else with `--copy-models` the cached copy, else its
/// public URL; a model with none is left out (the default model may not be).
fn sources(
    models: &[KnownModel],
    opts: &Options,
    cached: &dyn Fn(&KnownModel) -> Option<PathBuf>,
) -> Res<Vec<Option<Source>>> {
    for (id, _) in &opts.models {
        if !models.iter().any(|m| &m.id == id) {
            let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
            return Err(format!("--model {id}=…: unknown model `{id}` (web/models.json has {})", ids.join(", ")));
        }
    }
    let mut out = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let given = opts.models.iter().rev().find(|(id, _)| id == &m.id).map(|(_, s)| s);
        let source = match given {
            Some(s) if s.starts_with("https://") || s.starts_with("http://") => Some(Source::Url(s.clone())),
            Some(s) => Some(Source::Copy(PathBuf::from(s))),
            None => opts
                .copy_models
                .then(|| cached(m))
                .flatten()
                .map(Source::Copy)
                .or_else(|| m.url.clone().map(Source::Url)),
        };
        if source.is_none() {
            if i == 0 {
                return Err(format!(
                    "{}, the default model, has no place on the site: `cargo xtask fetch-model {}` then --copy-models, or --model {}=URL",
                    m.id, m.id, m.id
                ));
            }
            println!(
                "{}: left out of the site (no public URL in web/models.json; --copy-models after `cargo xtask fetch-model {}`, or --model {}=URL)",
                m.id, m.id, m.id
            );
        }
        out.push(source);
    }
    Ok(out)
}

/// Copies or points at each model; returns models/manifest.json's text.
fn place_models(models: &[KnownModel], opts: &Options, dir: &Path) -> Res<String> {
    let cached = |m: &KnownModel| model::KNOWN.iter().find(|k| k.name == m.id).and_then(model::cached);
    let mut entries = Vec::new();
    for (m, source) in models.iter().zip(sources(models, opts, &cached)?) {
        let url = match source {
            None => continue,
            Some(Source::Url(u)) => {
                println!("{}: {u}", m.id);
                u
            }
            Some(Source::Copy(from)) => {
                let got = model::sha256(&from)?;
                if got != m.sha256 {
                    return Err(format!(
                        "{}: {} has sha256 {got}, web/models.json says {}",
                        m.id,
                        from.display(),
                        m.sha256
                    ));
                }
                fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let to = dir.join(&m.file);
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to)
                        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
                }
                println!("{}: copied to models/{}", m.id, m.file);
                m.file.clone()
            }
        };
        entries.push(manifest_entry(m, &url));
    }
    Ok(manifest(entries))
}

fn manifest_entry(m: &KnownModel, url: &str) -> serde_json::Value {
    serde_json::json!({"id": m.id, "name": m.name, "file": m.file, "bytes": m.bytes, "sha256": m.sha256, "url": url})
}

fn manifest(entries: Vec<serde_json::Value>) -> String {
    let json = serde_json::json!({"version": 1, "models": entries});
    serde_json::to_string_pretty(&json).expect("JSON values serialize") + "\n"
}

/// www/models/manifest.json for the dev server: every known model at models/FILE, where
/// `cargo xtask demo` links the cached ones.
pub fn write_dev_manifest() -> Res {
    let entries = known_models()?.iter().map(|m| manifest_entry(m, &m.file)).collect();
    write(&workspace_root().join("www").join("models").join("manifest.json"), manifest(entries).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let o = parse_args(&args(
            "--out site --base-url=https://a.example/x --copy-models --model gemma=https://m.example/g.gguf",
        ))
        .unwrap();
        assert_eq!(o.out, Some(PathBuf::from("site")));
        assert_eq!(o.base_url.as_deref(), Some("https://a.example/x/"));
        assert!(o.copy_models);
        assert_eq!(o.models, vec![("gemma".to_string(), "https://m.example/g.gguf".to_string())]);
        for bad in [
            "--base-url https://a.example/",
            "--model x=y",
            "--out",
            "--outs x",
            "--out x --base-url ftp://h/",
            "--out x --model gemma",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad}");
        }
        assert!(parse_args(&args("--out x --base-url https://a.example/\"onload=")).is_err());
    }

    #[test]
    fn resolves_relative_specs_only() {
        assert_eq!(resolve("web/ui/a.js", "../share.js").as_deref(), Some("web/share.js"));
        assert_eq!(resolve("web/a.js", "./b.js").as_deref(), Some("web/b.js"));
        assert_eq!(resolve("pkg/s.js", "s_bg.wasm").as_deref(), Some("pkg/s_bg.wasm"));
        assert_eq!(resolve("index.html", "css/lab.css").as_deref(), Some("css/lab.css"));
        assert_eq!(resolve("web/a.js", "../../x.js"), None, "above the root");
        for spec in ["/web/a.js", "https://h/a.js", "//h/a.js", ""] {
            assert_eq!(resolve("web/a.js", spec), None, "{spec}");
        }
    }

    fn site(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect()
    }

    fn text(site: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
        String::from_utf8(site[path].clone()).unwrap()
    }

    /// The one file in `site` whose name is `prefix` + a 12-digit hash + `suffix`.
    fn find(site: &BTreeMap<String, Vec<u8>>, prefix: &str, suffix: &str) -> String {
        let hits: Vec<&String> = site
            .keys()
            .filter(|k| {
                k.strip_prefix(prefix).and_then(|r| r.strip_suffix(suffix)).is_some_and(|h| {
                    h.len() == 13 && h.starts_with('.') && h[1..].bytes().all(|b| b.is_ascii_hexdigit())
                })
            })
            .collect();
        assert_eq!(hits.len(), 1, "{prefix}*{suffix} in {:?}", site.keys().collect::<Vec<_>>());
        hits[0].clone()
    }

    #[test]
    fn hashed_names_are_rewritten_everywhere() {
        let files = site(&[
            ("index.html", r#"<link href="css/lab.css"><script type="module" src="web/app.js"></script> <a href="embed.html">"#),
            ("css/lab.css", "body { background: url(../img/x.png) }"),
            ("web/app.js", "import { a } from './a.js';\nconst w = new Worker(new URL('./worker.js', import.meta.url));\nconst i = () => import(\"./ui/i.js\"); // it's 'not.js'"),
            ("web/a.js", "import T from './t.json' with { type: 'json' };"),
            ("web/t.json", "{\"x\": \"report.json\"}"),
            ("web/worker.js", "import init from '../pkg/s.js';"),
            ("web/ui/i.js", "import { a } from '../a.js';"),
            ("web/sampler-compare.js", "import { a } from './a.js'; const S = ['../css/lab.css'];"),
            ("pkg/s.js", "const u = new URL('s_bg.wasm', import.meta.url); imports['./s_bg.js'] = {};"),
            ("pkg/s_bg.wasm", "\0asm"),
            ("vendor/LICENSE", "MIT"),
            ("embed.html", r#"<script type="module" src="web/sampler-compare.js"></script>"#),
        ]);
        let out = hash_names(&files).unwrap();
        let (css, app, a, t, worker, i, s, wasm) = (
            find(&out, "css/lab", ".css"),
            find(&out, "web/app", ".js"),
            find(&out, "web/a", ".js"),
            find(&out, "web/t", ".json"),
            find(&out, "web/worker", ".js"),
            find(&out, "web/ui/i", ".js"),
            find(&out, "pkg/s", ".js"),
            find(&out, "pkg/s_bg", ".wasm"),
        );
        let sc = find(&out, "web/sampler-compare", ".js");
        let name = |p: &str| p.rsplit('/').next().unwrap().to_string();
        let index = text(&out, "index.html");
        assert!(index.contains(&format!("href=\"{css}\"")) && index.contains(&format!("src=\"{app}\"")), "{index}");
        assert!(index.contains("href=\"embed.html\""), "pages keep their names");
        let app_text = text(&out, &app);
        assert!(app_text.contains(&format!("'./{}'", name(&a))), "{app_text}");
        assert!(app_text.contains(&format!("'./{}'", name(&worker))), "the worker: {app_text}");
        assert!(app_text.contains(&format!("\"./ui/{}\"", name(&i))), "a dynamic import: {app_text}");
        assert!(app_text.contains("'not.js'"), "a string naming no file stays");
        assert!(text(&out, &a).contains(&format!("'./{}'", name(&t))), "a JSON module");
        assert!(text(&out, &i).contains(&format!("'../{}'", name(&a))));
        assert!(text(&out, &worker).contains(&format!("'../pkg/{}'", name(&s))));
        let s_text = text(&out, &s);
        assert!(s_text.contains(&format!("'{}'", name(&wasm))) && s_text.contains("'./s_bg.js'"), "{s_text}");
        assert_eq!(out[&wasm], files["pkg/s_bg.wasm"]);
        assert_eq!(text(&out, &css), "body { background: url(../img/x.png) }", "a missing file is left alone");
        assert_eq!(out["web/sampler-compare.js"], out[&sc], "the stable entry is a copy of its hashed twin");
        assert!(text(&out, &sc).contains(&format!("'../css/{}'", name(&css))));
        assert!(text(&out, "embed.html").contains(&sc));
        assert_eq!(text(&out, "vendor/LICENSE"), "MIT");
        assert_eq!(out.len(), files.len() + 1);

        // A change in a leaf renames it and every file that leads to it, and nothing else.
        let mut changed = files.clone();
        changed.insert("pkg/s_bg.wasm".into(), b"\0asm\x01".to_vec());
        let out2 = hash_names(&changed).unwrap();
        for (prefix, suffix, renamed) in [
            ("pkg/s_bg", ".wasm", true),
            ("pkg/s", ".js", true),
            ("web/worker", ".js", true),
            ("web/app", ".js", true),
            ("web/a", ".js", false),
            ("css/lab", ".css", false),
        ] {
            assert_eq!(find(&out, prefix, suffix) != find(&out2, prefix, suffix), renamed, "{prefix}{suffix}");
        }
    }

    #[test]
    fn pyodide_keeps_its_names_and_bytes() {
        let files = site(&[
            ("web/code-worker.js", "import { loadPyodide } from '../pyodide/pyodide.mjs';"),
            ("pyodide/pyodide.mjs", "const a = 'pyodide.asm.mjs'; const l = 'pyodide-lock.json';"),
            ("pyodide/pyodide.asm.mjs", "x"),
            ("pyodide/pyodide-lock.json", "{}"),
            ("pyodide/pyodide.asm.wasm", "\0asm"),
        ]);
        let out = hash_names(&files).unwrap();
        for p in
            ["pyodide/pyodide.mjs", "pyodide/pyodide.asm.mjs", "pyodide/pyodide-lock.json", "pyodide/pyodide.asm.wasm"]
        {
            assert_eq!(out[p], files[p], "{p}");
        }
        let worker = find(&out, "web/code-worker", ".js");
        assert!(text(&out, &worker).contains("'../pyodide/pyodide.mjs'"));
        assert!(!is_verbatim("pyodidex/a.js") && is_verbatim("pyodide/a.js"));
    }

    #[test]
    fn files_that_import_each_other_share_a_hash_and_still_change() {
        let files = site(&[
            ("web/a.js", "import './b.js'; import './c.js';"),
            ("web/b.js", "import './a.js';"),
            ("web/c.js", "export const c = 1;"),
        ]);
        let out = hash_names(&files).unwrap();
        let (a, b, c) = (find(&out, "web/a", ".js"), find(&out, "web/b", ".js"), find(&out, "web/c", ".js"));
        let name = |p: &str| p.rsplit('/').next().unwrap().to_string();
        assert!(text(&out, &a).contains(&name(&b)) && text(&out, &a).contains(&name(&c)));
        assert!(text(&out, &b).contains(&name(&a)));
        let mut changed = files.clone();
        changed.insert("web/c.js".into(), b"export const c = 2;".to_vec());
        let out2 = hash_names(&changed).unwrap();
        assert_ne!(find(&out2, "web/a", ".js"), a);
        assert_ne!(find(&out2, "web/b", ".js"), b, "b reaches c through a");
    }

    #[test]
    fn the_guide_gets_the_base_url() {
        let html = b"<code>&lt;iframe src=\"<span data-site-url></span>embed.html#v=1\"</code>";
        let out = String::from_utf8(fill_site_url(html, "https://a.example/s/").unwrap()).unwrap();
        assert_eq!(
            out,
            "<code>&lt;iframe src=\"<span data-site-url>https://a.example/s/</span>embed.html#v=1\"</code>"
        );
        assert!(fill_site_url(b"<p>no placeholder</p>", "https://a.example/").is_err());
    }

    #[test]
    fn models_json_agrees_with_fetch_model() {
        let models = known_models().unwrap();
        assert_eq!(models.len(), model::KNOWN.len());
        for (m, k) in models.iter().zip(model::KNOWN) {
            assert_eq!((m.id.as_str(), m.file.as_str(), m.sha256.as_str()), (k.name, k.file, k.sha256));
        }
    }

    #[test]
    fn bad_models_json_is_refused_by_field() {
        let good = r#"{"id": "x", "name": "X", "file": "x.gguf", "bytes": 3, "sha256": "SHA", "url": null}"#
            .replace("SHA", &"a".repeat(64));
        assert_eq!(parse_models(&format!(r#"{{"models": [{good}]}}"#)).unwrap().len(), 1);
        for (from, to, field) in [
            ("\"bytes\": 3", "\"bytes\": 0", "models[0].bytes"),
            ("\"x.gguf\"", "\"../x.gguf\"", "models[0].file"),
            ("\"url\": null", "\"url\": \"http://h/x\"", "models[0].url"),
            ("\"name\": \"X\"", "\"name\": 1", "models[0].name"),
        ] {
            let e = parse_models(&format!(r#"{{"models": [{}]}}"#, good.replace(from, to))).unwrap_err();
            assert!(e.starts_with(field), "{e}");
        }
        assert!(parse_models(r#"{"models": []}"#).is_err());
    }

    #[test]
    fn model_sources() {
        let models = parse_models(
            &r#"{"models": [
                {"id": "a", "name": "A", "file": "a.gguf", "bytes": 1, "sha256": "SHA", "url": "https://m.example/a.gguf"},
                {"id": "b", "name": "B", "file": "b.gguf", "bytes": 1, "sha256": "SHA", "url": null}]}"#
                .replace("SHA", &"0".repeat(64)),
        )
        .unwrap();
        let none = |_: &KnownModel| None;
        let cache = |m: &KnownModel| Some(PathBuf::from(format!("/cache/{}", m.file)));
        let o = |s: &str| parse_args(&args(&format!("--out x {s}"))).unwrap();
        assert_eq!(
            sources(&models, &o(""), &none).unwrap(),
            vec![Some(Source::Url("https://m.example/a.gguf".into())), None]
        );
        assert_eq!(
            sources(&models, &o("--copy-models"), &cache).unwrap(),
            vec![Some(Source::Copy("/cache/a.gguf".into())), Some(Source::Copy("/cache/b.gguf".into()))]
        );
        assert_eq!(
            sources(&models, &o("--model b=http://127.0.0.1:9/b.gguf --model a=/f/a.gguf"), &none).unwrap(),
            vec![Some(Source::Copy("/f/a.gguf".into())), Some(Source::Url("http://127.0.0.1:9/b.gguf".into()))]
        );
        assert!(sources(&models, &o("--model c=/x"), &none).unwrap_err().contains("unknown model `c`"));
        let no_default: Vec<KnownModel> = models.iter().rev().cloned().collect();
        assert!(sources(&no_default, &o(""), &none).unwrap_err().contains("the default model"));
    }
}
