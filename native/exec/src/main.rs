//! agentos-exec: start one program with fewer inherited descriptors, resource limits, a Landlock
//! ruleset and a seccomp filter, then exec it in place (no fork, no shell). On the host it
//! replaces `bash -c 'exec N>&-; exec "$0" "$@"' prlimit ... bwrap`; inside the sandbox it applies
//! Landlock before the agent's command. Whatever was asked and cannot be applied stops it before
//! the exec: the program never runs with less than was asked.
//!
//! Steps, in order: read the --landlock-fd / --seccomp-fd inputs (closing them), close every
//! descriptor not in --keep-fds, set the rlimits (soft = hard), apply Landlock, load the seccomp
//! filter (last, so it need not allow the calls before it), exec PROGRAM with a PATH lookup.
//!
//! With --seccomp-notify-fd N (N: an inherited unix socket) the filter is loaded with
//! SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener it returns is sent over N (SCM_RIGHTS)
//! before the exec; then both are closed. The filter applies to the helper from that moment, so
//! after loading it only calls sendmsg, close and execve (the caller's filter must allow them;
//! everything else, argv and the signal disposition, is prepared before). If the hand-over
//! fails, the listener is closed first (a denied call then answers ENOSYS instead of waiting for
//! a listener nobody holds) and the helper exits 125 without executing anything.
//!
//! Exit statuses, only when nothing was executed: 125 the setup failed (usage, descriptors,
//! rlimits, Landlock, seccomp); 126 PROGRAM exists but could not be executed; 127 not found.

#[cfg(not(target_os = "linux"))]
compile_error!("agentos-exec is Linux-only");

mod landlock;

use std::ffi::{CString, OsString};
use std::fmt::Display;
use std::fs::File;
use std::io::{Error, Read};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStringExt;
use std::process::exit;

const EXIT_SETUP: i32 = 125;
const EXIT_CANNOT_EXEC: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;

const USAGE: &str = "usage: agentos-exec [--keep-fds N,N,...] [--rlimit NAME=VALUE]... [--landlock SPEC | --landlock-fd N] \
[--landlock-optional] [--seccomp-fd N [--seccomp-notify-fd N]] -- PROGRAM [ARGS...]\n       agentos-exec --probe-abi";

const RLIMITS: &[(&str, libc::c_int)] = &[
    ("as", libc::RLIMIT_AS as libc::c_int),
    ("core", libc::RLIMIT_CORE as libc::c_int),
    ("cpu", libc::RLIMIT_CPU as libc::c_int),
    ("data", libc::RLIMIT_DATA as libc::c_int),
    ("fsize", libc::RLIMIT_FSIZE as libc::c_int),
    ("locks", libc::RLIMIT_LOCKS as libc::c_int),
    ("memlock", libc::RLIMIT_MEMLOCK as libc::c_int),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as libc::c_int),
    ("nice", libc::RLIMIT_NICE as libc::c_int),
    ("nofile", libc::RLIMIT_NOFILE as libc::c_int),
    ("nproc", libc::RLIMIT_NPROC as libc::c_int),
    ("rss", libc::RLIMIT_RSS as libc::c_int),
    ("rtprio", libc::RLIMIT_RTPRIO as libc::c_int),
    ("rttime", libc::RLIMIT_RTTIME as libc::c_int),
    ("sigpending", libc::RLIMIT_SIGPENDING as libc::c_int),
    ("stack", libc::RLIMIT_STACK as libc::c_int),
];

fn die(code: i32, msg: impl Display) -> ! {
    eprintln!("agentos-exec: {msg}");
    exit(code)
}

fn usage(msg: impl Display) -> ! {
    die(EXIT_SETUP, format!("{msg}\n{USAGE}"))
}

enum LandlockFrom {
    Text(String),
    Fd(i32),
}

#[derive(Default)]
struct Options {
    keep_fds: Option<Vec<u32>>,
    rlimits: Vec<(&'static str, libc::c_int, u64)>,
    landlock: Option<LandlockFrom>,
    landlock_optional: bool,
    seccomp_fd: Option<i32>,
    seccomp_notify_fd: Option<i32>,
    program: Vec<OsString>,
}

fn fd_number(flag: &str, s: &str) -> i32 {
    s.parse::<i32>().ok().filter(|n| *n >= 0).unwrap_or_else(|| usage(format!("{flag}: {s:?} is not a descriptor number")))
}

fn parse_args() -> Options {
    let mut o = Options::default();
    let mut args = std::env::args_os().skip(1);
    let text = |flag: &str, v: Option<OsString>| v.and_then(|v| v.into_string().ok()).unwrap_or_else(|| usage(format!("{flag} needs a (UTF-8) value")));
    while let Some(arg) = args.next() {
        match arg.to_str().unwrap_or("") {
            "--" => {
                o.program = args.collect();
                break;
            }
            "--probe-abi" => {
                // The ABI on stdout (0: none), why on stderr; always exit 0 so callers can read it.
                match landlock::abi() {
                    Ok(v) => println!("{v}"),
                    Err(e) => {
                        println!("0");
                        eprintln!("agentos-exec: {}", landlock::unavailable(&e));
                    }
                }
                exit(0);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                exit(0);
            }
            "--keep-fds" => {
                let v = text("--keep-fds", args.next());
                o.keep_fds = Some(v.split(',').filter(|s| !s.is_empty()).map(|s| fd_number("--keep-fds", s) as u32).collect());
            }
            "--rlimit" => {
                let v = text("--rlimit", args.next());
                let (name, value) = v.split_once('=').unwrap_or_else(|| usage(format!("--rlimit {v:?}: expected NAME=VALUE")));
                let &(name, res) = RLIMITS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| usage(format!("--rlimit: unknown resource {name:?}")));
                let value = if value == "unlimited" { libc::RLIM_INFINITY } else { value.parse().unwrap_or_else(|_| usage(format!("--rlimit {name}: {value:?} is not a number"))) };
                o.rlimits.push((name, res, value));
            }
            "--landlock" | "--landlock-fd" if o.landlock.is_some() => usage("give --landlock or --landlock-fd once"),
            "--landlock" => o.landlock = Some(LandlockFrom::Text(text("--landlock", args.next()))),
            "--landlock-fd" => o.landlock = Some(LandlockFrom::Fd(fd_number("--landlock-fd", &text("--landlock-fd", args.next())))),
            "--landlock-optional" => o.landlock_optional = true,
            "--seccomp-fd" => o.seccomp_fd = Some(fd_number("--seccomp-fd", &text("--seccomp-fd", args.next()))),
            "--seccomp-notify-fd" => o.seccomp_notify_fd = Some(fd_number("--seccomp-notify-fd", &text("--seccomp-notify-fd", args.next()))),
            _ => usage(format!("unknown argument {arg:?}")),
        }
    }
    if o.program.is_empty() {
        usage("no program after --");
    }
    if o.seccomp_notify_fd.is_some() && o.seccomp_fd.is_none() {
        usage("--seccomp-notify-fd needs --seccomp-fd (the filter whose listener it sends)");
    }
    if let (Some(n), Some(keep)) = (o.seccomp_notify_fd, &o.keep_fds) {
        if !keep.contains(&(n as u32)) {
            usage(format!("--seccomp-notify-fd {n} must be in --keep-fds"));
        }
    }
    o
}

/// Everything the descriptor holds, then it is closed.
fn read_fd(fd: i32, what: &str) -> Vec<u8> {
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        die(EXIT_SETUP, format!("{what}: descriptor {fd} is not open"));
    }
    let mut f = unsafe { File::from_raw_fd(fd) };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).unwrap_or_else(|e| die(EXIT_SETUP, format!("{what}: reading descriptor {fd}: {e}")));
    bytes
}

/// Close every descriptor but `keep`: close_range over the gaps, else a walk of /proc/self/fd.
fn close_fds(keep: &[u32]) -> Result<(), String> {
    let mut keep = keep.to_vec();
    keep.sort_unstable();
    keep.dedup();
    let mut gaps = Vec::new();
    let mut from = 0u32;
    for &k in &keep {
        if k > from {
            gaps.push((from, k - 1));
        }
        from = k + 1; // k <= i32::MAX
    }
    gaps.push((from, u32::MAX));
    let mut fallback = false;
    for &(a, b) in &gaps {
        if unsafe { libc::syscall(libc::SYS_close_range, a, b, 0u32) } < 0 {
            fallback = true; // ENOSYS before Linux 5.9, or refused by a filter
            break;
        }
    }
    if !fallback {
        return Ok(());
    }
    let open: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot close inherited descriptors: close_range failed and /proc/self/fd cannot be read ({e})"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if !keep.contains(&fd) {
            unsafe { libc::close(fd as libc::c_int) };
        }
    }
    Ok(())
}

fn set_rlimit(name: &str, res: libc::c_int, value: u64) -> Result<(), String> {
    let rl = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
    if unsafe { libc::setrlimit(res as _, &rl) } < 0 {
        return Err(format!("cannot set rlimit {name} to {value}: {}", Error::last_os_error()));
    }
    Ok(())
}

/// SECCOMP_FILTER_FLAG_NEW_LISTENER (linux/seccomp.h, Linux 5.0): seccomp(2) returns a listener fd.
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;

/// The descriptor is an open unix socket (checked before the filter is loaded).
fn check_socket(fd: i32) -> Result<(), String> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(format!("--seccomp-notify-fd: descriptor {fd} is not open: {}", Error::last_os_error()));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(format!("--seccomp-notify-fd: descriptor {fd} is not a socket"));
    }
    Ok(())
}

/// Send `listener` over the unix socket `sock` (one byte of data, the fd as SCM_RIGHTS). Only
/// sendmsg runs here: the buffers live on the stack.
fn send_listener(sock: i32, listener: i32) -> Result<(), Error> {
    const SPACE: usize = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    #[repr(C, align(8))]
    struct Control([u8; SPACE]);
    let mut control = Control([0u8; SPACE]);
    let mut byte = [b'L'];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = SPACE as _;
    // SAFETY: msg points at a control buffer of CMSG_SPACE(sizeof(int)) bytes, aligned for cmsghdr.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, listener);
    }
    loop {
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n == 1 {
            return Ok(());
        }
        let e = Error::last_os_error();
        if n < 0 && e.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(if n < 0 { e } else { Error::other("short write") });
    }
}

/// Load a classic-BPF seccomp program (an array of `struct sock_filter`, native byte order).
/// With `notify`, load it with a listener and hand that to the host over the socket `notify`.
fn load_seccomp(bytes: &[u8], notify: Option<i32>) -> Result<(), String> {
    let chunks = bytes.chunks_exact(8);
    if bytes.is_empty() || !chunks.remainder().is_empty() || chunks.len() > 4096 {
        return Err(format!("the seccomp program is {} bytes; expected 1 to 4096 filters of 8 bytes", bytes.len()));
    }
    let filters: Vec<libc::sock_filter> =
        chunks.map(|c| libc::sock_filter { code: u16::from_ne_bytes([c[0], c[1]]), jt: c[2], jf: c[3], k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]) }).collect();
    let prog = libc::sock_fprog { len: filters.len() as u16, filter: filters.as_ptr() as *mut libc::sock_filter };
    if let Some(sock) = notify {
        check_socket(sock)?;
    }
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    let flags = if notify.is_some() { SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog) };
    if r < 0 {
        return Err(format!("cannot load the seccomp filter{}: {}", if notify.is_some() { " with a listener" } else { "" }, Error::last_os_error()));
    }
    if let Some(sock) = notify {
        // From here on the filter applies to this process: sendmsg, close, then execve.
        let listener = r as i32;
        let sent = send_listener(sock, listener);
        unsafe {
            libc::close(listener);
            libc::close(sock);
        }
        // The listener is closed before any message is written: a denied write now answers
        // ENOSYS at once rather than waiting on a listener that nobody holds.
        sent.map_err(|e| format!("cannot send the seccomp listener over descriptor {sock}: {e}"))?;
    }
    Ok(())
}

fn main() {
    let o = parse_args();
    let spec_text = match &o.landlock {
        Some(LandlockFrom::Text(t)) => Some(t.clone()),
        Some(LandlockFrom::Fd(fd)) => Some(String::from_utf8(read_fd(*fd, "--landlock-fd")).unwrap_or_else(|_| die(EXIT_SETUP, "the landlock spec is not UTF-8"))),
        None => None,
    };
    let spec = spec_text.map(|t| landlock::parse(&t).unwrap_or_else(|e| die(EXIT_SETUP, e)));
    let seccomp = o.seccomp_fd.map(|fd| read_fd(fd, "--seccomp-fd"));

    if let Some(keep) = &o.keep_fds {
        close_fds(keep).unwrap_or_else(|e| die(EXIT_SETUP, e));
    }
    for &(name, res, value) in &o.rlimits {
        set_rlimit(name, res, value).unwrap_or_else(|e| die(EXIT_SETUP, e));
    }
    if let Some(spec) = &spec {
        let (abi, have) = match landlock::abi() {
            Ok(v) => (v, format!("this kernel has ABI {v}")),
            Err(e) => (0, landlock::unavailable(&e)),
        };
        if abi >= spec.min_abi {
            landlock::apply(spec, abi).unwrap_or_else(|e| die(EXIT_SETUP, e));
        } else if !o.landlock_optional {
            die(EXIT_SETUP, format!("Landlock ABI {} is required and {have}; --landlock-optional runs without it", spec.min_abi));
        }
    }
    // Everything the exec needs is made before the filter: after it, only sendmsg, close and
    // execve run (a policy's allowlist may lack rt_sigaction, brk or mmap).
    // Rust's runtime ignores SIGPIPE; an ignored signal would stay ignored in the program.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let argv: Vec<CString> = o.program.iter().map(|a| CString::new(a.clone().into_vec()).expect("argv strings hold no NUL")).collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    if let Some(bytes) = &seccomp {
        load_seccomp(bytes, o.seccomp_notify_fd).unwrap_or_else(|e| die(EXIT_SETUP, e));
    }
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let e = Error::last_os_error();
    let name = o.program[0].to_string_lossy();
    if e.raw_os_error() == Some(libc::ENOENT) {
        die(EXIT_NOT_FOUND, format!("{name}: not found"));
    }
    die(EXIT_CANNOT_EXEC, format!("{name}: cannot execute: {e}"));
}
