//! The CLI's code runner: each harness program (`eval::code`) runs in its own `python3`
//! process. This runs code a model wrote, so every run gets:
//! - a fresh temporary directory as its working directory, removed afterwards;
//! - a cleared environment (PATH=/usr/bin:/bin, HOME and TMPDIR = that directory), `-I`
//!   (isolated: no user site-packages, no PYTHON* variables, no script directory on the
//!   path) and `-B` (no bytecode files), stdin at end of file;
//! - resource limits set before the sample runs: address space (`RLIMIT_AS`, a
//!   `MemoryError` past it), CPU seconds (`RLIMIT_CPU`, SIGXCPU), file size
//!   (`RLIMIT_FSIZE`), no new processes or threads (`RLIMIT_NPROC` = 0), no core dumps;
//! - a wall-clock limit: past it the process group is killed;
//! - an audit hook (PEP 578) installed before the sample runs that refuses sockets, new
//!   processes, signals to other processes, `ctypes`, and writing, removing or renaming
//!   files outside the temporary directory;
//! - where `unshare -rn` works (unprivileged user namespaces), its own network namespace
//!   with no interfaces but loopback;
//! - stdout and stderr captured up to a cap (stdout keeps its end too, for the status).
//!
//! What it does not prevent: reading any file the user can read, using CPU and memory up
//! to the limits, starting processes as root (the kernel exempts root from
//! `RLIMIT_NPROC`; the audit hook still refuses fork and subprocess), and a determined program getting past the audit hook (it is a guard
//! against accidents, not a security boundary; the rlimits and the namespace are the
//! kernel's). The README says so where it documents the code verifier.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::eval::code::{CodeRunner, Exit, RunFuture, RunOutcome};

/// Limits of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock time, from start to kill.
    pub wall: Duration,
    /// CPU seconds (the process gets SIGXCPU past them).
    pub cpu_secs: u64,
    /// Address space in bytes (Python itself takes ~30 MB of it).
    pub memory_bytes: u64,
    /// The largest file it may write.
    pub file_bytes: u64,
    /// Bytes of stdout and of stderr kept.
    pub output_bytes: usize,
    /// Programs run at once (at least 1).
    pub parallel: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(10),
            cpu_secs: 10,
            memory_bytes: 512 << 20,
            file_bytes: 16 << 20,
            output_bytes: 64 << 10,
            parallel: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Bytes of stdout's end always kept, where the harness writes its status.
const TAIL_BYTES: usize = 4096;

/// A `CodeRunner` on a local python3.
pub struct PyRunner {
    python: PathBuf,
    unshare: Option<PathBuf>,
    limits: Limits,
}

impl PyRunner {
    /// `python3` from PATH, or an error that says the code verifier needs it.
    pub fn new(limits: Limits) -> Result<PyRunner> {
        PyRunner::with_interpreter("python3", limits)
    }

    /// `command` (a name on PATH or a path) as the interpreter. It is asked for its real
    /// executable (a pyenv shim needs the environment the runs do not get), which must be
    /// Python 3.8 or later (audit hooks).
    pub fn with_interpreter(command: &str, limits: Limits) -> Result<PyRunner> {
        let missing = |why: String| {
            Error::Param(format!(
                "the code verifier runs each sample's tests with python3, and {command} {why}; install python3"
            ))
        };
        let out = Command::new(command)
            .args(["-c", "import sys; assert sys.version_info >= (3, 8), 'Python 3.8+'; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| missing(format!("cannot be started ({e})")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(missing(format!("failed: {}", err.trim().lines().last().unwrap_or(""))));
        }
        let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !python.is_absolute() {
            return Err(missing(format!("did not name its executable ({})", python.display())));
        }
        let unshare = Path::new("/usr/bin/unshare").exists().then(|| PathBuf::from("/usr/bin/unshare")).filter(|u| {
            Command::new(u)
                .args(["-rn"])
                .arg(&python)
                .args(["-I", "-c", "pass"])
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let limits = Limits { parallel: limits.parallel.max(1), ..limits };
        Ok(PyRunner { python, unshare, limits })
    }

    /// The interpreter the runs use.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Whether runs get a network namespace of their own (`unshare -rn` works here).
    pub fn network_isolated(&self) -> bool {
        self.unshare.is_some()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `programs`, up to `limits.parallel` at once; one outcome each, in order.
    pub fn run_all(&self, programs: &[String]) -> Result<Vec<RunOutcome>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<RunOutcome>>>> = Mutex::new((0..programs.len()).map(|_| None).collect());
        let workers = self.limits.parallel.min(programs.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = programs.get(i) else { break };
                    let r = self.run_one(p);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                });
            }
        });
        let results = results.into_inner().map_err(|_| Error::Param("code runner: a worker panicked".into()))?;
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Param("code runner: a run is missing".into()))))
            .collect()
    }

    /// Runs one harness program in a fresh temporary directory.
    pub fn run_one(&self, program: &str) -> Result<RunOutcome> {
        let dir = TempDir::new()?;
        let script = dir.0.join("harness.py");
        let text = format!("{}\n{program}", preamble(&self.limits, &dir.0));
        std::fs::write(&script, text)
            .map_err(|e| Error::Param(format!("code runner: cannot write {} ({e})", script.display())))?;
        let mut cmd = match &self.unshare {
            Some(u) => {
                let mut c = Command::new(u);
                c.arg("-rn").arg(&self.python);
                c
            }
            None => Command::new(&self.python),
        };
        cmd.args(["-I", "-B", "harness.py"])
            .current_dir(&dir.0)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &dir.0)
            .env("TMPDIR", &dir.0)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout can kill the whole group.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Param(format!("code runner: cannot start {} ({e})", self.python.display())))?;
        let cap = self.limits.output_bytes;
        let out = child.stdout.take().map(|s| std::thread::spawn(move || capture(s, cap, TAIL_BYTES)));
        let err = child.stderr.take().map(|s| std::thread::spawn(move || capture(s, cap, 0)));
        let exit = wait(&mut child, self.limits.wall)?;
        let join = |h: Option<std::thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        let (stdout, stderr) = (join(out), join(err));
        Ok(RunOutcome { exit, stdout, stderr })
    }
}

impl CodeRunner for PyRunner {
    fn run<'a>(&'a self, programs: &'a [String]) -> RunFuture<'a> {
        // Blocking: the CLI drives its futures with pollster, and the runs are what it waits on.
        Box::pin(std::future::ready(self.run_all(programs)))
    }
}

/// Waits for `child` until `limit`, then kills its process group.
fn wait(child: &mut Child, limit: Duration) -> Result<Exit> {
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s.code().map_or_else(|| Exit::Signal(s.signal().unwrap_or(0)), Exit::Code)),
            Ok(None) if t0.elapsed() >= limit => {
                kill_group(child);
                let _ = child.wait();
                return Ok(Exit::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill_group(child);
                return Err(Error::Param(format!("code runner: cannot wait for python3 ({e})")));
            }
        }
    }
}

/// SIGKILL to the child's process group (its id, as `process_group(0)` made it), through
/// kill(1) since std has no killpg; then to the child itself in case that failed. With
/// RLIMIT_NPROC at 0 and the audit hook refusing fork the sample should have started no
/// others, so this is a second guard.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

/// Reads `r` to its end, keeping the first `cap` bytes and the last `tail` bytes (with a
/// note of what was cut between them), as text.
fn capture(mut r: impl Read, cap: usize, tail: usize) -> String {
    let mut head = Vec::new();
    let mut end: Vec<u8> = Vec::new();
    let mut cut = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if head.len() < cap {
            let take = chunk.len().min(cap - head.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        if !chunk.is_empty() {
            end.extend_from_slice(chunk);
            if end.len() > tail {
                let drop = end.len() - tail;
                cut += drop as u64;
                end.drain(..drop);
            }
        }
    }
    let mut s = String::from_utf8_lossy(&head).into_owned();
    if cut > 0 {
        s.push_str(&format!("\n[… {cut} bytes not kept …]\n"));
    }
    s.push_str(&String::from_utf8_lossy(&end));
    s
}

/// The sandbox setup that runs before the harness (see the module docs).
fn preamble(l: &Limits, dir: &Path) -> String {
    format!(
        "{PREAMBLE}_ss_setup({}, {}, {}, {})\ndel _ss_setup\n",
        l.memory_bytes,
        l.cpu_secs.max(1),
        l.file_bytes,
        serde_json::to_string(&dir.to_string_lossy()).unwrap_or_else(|_| "'.'".into()),
    )
}

const PREAMBLE: &str = r#"def _ss_setup(memory, cpu, fsize, root):
    import os, resource, sys

    def limit(which, n):
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            n = min(n, hard)
        resource.setrlimit(which, (n, n))

    limit(resource.RLIMIT_AS, memory)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit(resource.RLIMIT_FSIZE, fsize)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NPROC, 0)

    root = os.path.realpath(root)
    realpath, fsdecode, sep = os.path.realpath, os.fsdecode, os.sep
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    denied = ("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
              "os.forkpty", "os.system", "os.kill", "os.killpg", "os.startfile", "ctypes.",
              "pty.", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.", "shutil.chown")
    paths = {"os.remove": 1, "os.rename": 2, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1,
             "os.chown": 1, "os.truncate": 1, "os.link": 2, "os.symlink": 2, "os.utime": 1,
             "os.chflags": 1, "os.setxattr": 1, "os.removexattr": 1, "shutil.rmtree": 1,
             "shutil.move": 2, "shutil.copyfile": 2, "os.mkfifo": 1, "os.mknod": 1}

    def inside(p):
        if isinstance(p, int):
            return True
        try:
            p = realpath(fsdecode(p))
        except Exception:
            return False
        return p == root or p.startswith(root + sep)

    def refuse(event):
        raise PermissionError("samplescope sandbox: " + event + " is not allowed")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & writing
            ):
                if not inside(path):
                    refuse("writing " + repr(path))
        elif event.startswith(denied):
            refuse(event)
        elif event in paths:
            for p in args[: paths[event]]:
                if not inside(p):
                    refuse(event + " " + repr(p))

    sys.addaudithook(hook)


"#;

/// A fresh directory under the system's temporary directory, removed on drop (after
/// making whatever the sample left in it writable again).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let dir = base.join(format!(
                "samplescope-py-{}-{}-{nanos}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Param(format!(
                        "code runner: cannot create a directory in {} ({e})",
                        base.display()
                    )))
                }
            }
        }
        Err(Error::Param(format!("code runner: no fresh directory name in {}", base.display())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.0).is_err() {
            make_writable(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_head_and_tail() {
        let text: Vec<u8> = (0..50_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let s = capture(&text[..], 100, 20);
        assert!(s.starts_with("0\n1\n2\n"));
        assert!(s.ends_with("49998\n49999\n"), "{}", &s[s.len() - 40..]);
        assert!(s.contains("bytes not kept"));
        assert_eq!(capture(&b"short"[..], 100, 20), "short");
    }

    #[test]
    fn a_missing_interpreter_is_a_clear_error() {
        let e = PyRunner::with_interpreter("samplescope-no-such-python3", Limits::default()).err().unwrap();
        assert!(e.to_string().contains("install python3"), "{e}");
    }
}
