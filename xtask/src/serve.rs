//! A tiny static file server for `cargo xtask demo` and the browser tests (std::net only).
//!
//! Static-only on purpose: it serves files under one directory and nothing else, so any
//! static host can serve www/ the same way. What it adds over `python3 -m http.server`:
//! the right MIME types (application/wasm for streaming compilation), cross-origin isolation
//! headers (COOP/COEP, for SharedArrayBuffer and precise timers in benchmarks), byte ranges
//! and Content-Length (download progress), and `no-cache` so edits show up on reload.
//! Symbolic links are followed (www/models/ links to the model in the cache dir), but a
//! request path may not climb out of the root with `..`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::Duration;

pub struct Server {
    pub addr: SocketAddr,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0: any free port) and serves `root` on background threads.
    pub fn start(root: &Path, port: u16, quiet: bool) -> Result<Server, String> {
        let root = root.canonicalize().map_err(|e| format!("cannot serve {}: {e}", root.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (try another --port)"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                thread::spawn(move || {
                    let _ = handle(stream, &root, quiet);
                });
            }
        });
        Ok(Server { addr })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
}

/// Serves requests on one connection until the client closes it (HTTP/1.1 keep-alive).
fn handle(stream: TcpStream, root: &Path, quiet: bool) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        let status = respond(&mut out, root, &req)?;
        if !quiet {
            println!("{status} {} {}", req.method, req.path);
        }
        out.flush()?;
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Ok(Some(Request { method, path, range }))
}

/// Writes one response; returns its status code.
fn respond(out: &mut impl Write, root: &Path, req: &Request) -> io::Result<u16> {
    if req.method != "GET" && req.method != "HEAD" {
        return simple(out, 405, "method not allowed\n", "Allow: GET, HEAD\r\n");
    }
    let Some(mut path) = resolve(root, &req.path) else {
        return simple(out, 404, "not found\n", "");
    };
    if path.is_dir() {
        if !req.path.ends_with('/') {
            let loc = format!("Location: {}/\r\n", req.path);
            return simple(out, 301, "", &loc);
        }
        path = path.join("index.html");
    }
    let Ok(mut file) = File::open(&path) else {
        return simple(out, 404, "not found\n", "");
    };
    let len = file.metadata()?.len();
    let (status, start, end) = match req.range.as_deref().map(|r| parse_range(r, len)) {
        None => (200, 0, len),
        Some(Some((s, e))) => (206, s, e),
        Some(None) => {
            let extra = format!("Content-Range: bytes */{len}\r\n");
            return simple(out, 416, "range not satisfiable\n", &extra);
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{}",
        reason(status),
        mime(&path),
        end - start,
        common_headers()
    );
    if status == 206 {
        head += &format!("Content-Range: bytes {start}-{}/{len}\r\n", end - 1);
    }
    head += "\r\n";
    out.write_all(head.as_bytes())?;
    if req.method == "GET" {
        file.seek(SeekFrom::Start(start))?;
        io::copy(&mut file.take(end - start), out)?;
    }
    Ok(status)
}

/// Headers on every response: cross-origin isolation (the page may use SharedArrayBuffer
/// and high-resolution timers), embeddable by other origins (CORP cross-origin, for the
/// blog embeds), and always revalidated so a rebuilt wasm is picked up on reload.
fn common_headers() -> &'static str {
    "Cross-Origin-Opener-Policy: same-origin\r\n\
     Cross-Origin-Embedder-Policy: require-corp\r\n\
     Cross-Origin-Resource-Policy: cross-origin\r\n\
     X-Content-Type-Options: nosniff\r\n\
     Cache-Control: no-cache\r\n"
}

fn simple(out: &mut impl Write, status: u16, body: &str, extra: &str) -> io::Result<u16> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}{extra}\r\n",
        reason(status),
        body.len(),
        common_headers()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    Ok(status)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        _ => "",
    }
}

/// The file a URL path names under `root`, or None when it would leave `root` or is not
/// valid percent-encoded UTF-8.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let mut path = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(path)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains('\0')).then_some(s)
}

/// One `bytes=` range as [start, end) within a file of `len` bytes; None if unsatisfiable.
/// A list of ranges is served as its first range.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { len } else { b.parse::<u64>().ok()?.saturating_add(1).min(len) };
        (start, end)
    };
    (start < end).then_some((start, end))
}

fn mime(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-2", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, "/pkg/a%20b.js"), Some(root.join("pkg/a b.js")));
        assert_eq!(resolve(root, "/"), Some(root.to_path_buf()));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(resolve(root, "/%00"), None);
        assert_eq!(resolve(root, "/%zz"), None);
    }

    #[test]
    fn wasm_is_application_wasm() {
        assert_eq!(mime(Path::new("pkg/x_bg.wasm")), "application/wasm");
        assert!(mime(Path::new("web/worker.js")).starts_with("text/javascript"));
    }

    #[test]
    fn serves_files_with_headers_and_ranges() {
        let dir = std::env::temp_dir().join(format!("xtask-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("m.wasm"), b"0123456789").unwrap();
        let server = Server::start(&dir, 0, true).unwrap();
        let get = |extra: &str| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            write!(s, "GET /m.wasm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            r
        };
        let full = get("");
        assert!(full.starts_with("HTTP/1.1 200"), "{full}");
        assert!(full.contains("Content-Type: application/wasm"));
        assert!(full.contains("Cross-Origin-Embedder-Policy: require-corp"));
        assert!(full.ends_with("\r\n\r\n0123456789"));
        let part = get("Range: bytes=2-4\r\n");
        assert!(part.starts_with("HTTP/1.1 206"), "{part}");
        assert!(part.contains("Content-Range: bytes 2-4/10"));
        assert!(part.ends_with("\r\n\r\n234"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
