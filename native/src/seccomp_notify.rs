//! The host side of a native agent's seccomp notifications (`SECCOMP_RET_USER_NOTIF`): the
//! exec helper inside the sandbox loads the filter with a listener and sends that listener over
//! a unix socket; here a thread receives it, answers every notification EPERM (exactly what
//! the EPERM filter answers) and reports each call to JavaScript, so every denied call of the
//! agent lands in the audit chain.
//!
//! ```js
//! const watch = addon.watchSeccomp(fd, (n) => { ... }, { maxEvents: 100 });
//! // n: { kind: 'call', pid, nr, arch, args } … then exactly one { kind: 'end', reason, total, dropped, counts }
//! watch.stop(); // ends the thread (also when the filter's processes are gone)
//! ```
//!
//! Bounds: at most `maxEvents` `call` notices are sent (after that calls are only counted, by
//! number), through a threadsafe function whose queue holds 64: a notice that finds the queue
//! full is dropped and counted. The thread never waits on JavaScript except for the one `end`
//! notice, and never leaves a notification unanswered: the agent's call returns EPERM whether or
//! not its notice reached JavaScript. It ends when every process of the filter is gone (the
//! listener polls POLLHUP), when `stop()` is called (or the watch is collected), or when the
//! socket closes before a listener arrived; it closes the socket, the listener and its eventfd.

use std::collections::HashMap;
use std::io::Error;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

/// `struct seccomp_data` (linux/seccomp.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'!' as u64) << 8) | nr
}
const fn iow(nr: u64, size: usize) -> u64 {
    (1 << 30) | ((size as u64) << 16) | ((b'!' as u64) << 8) | nr
}
/// SECCOMP_IOCTL_NOTIF_RECV / _SEND / _ID_VALID.
const NOTIF_RECV: u64 = iowr(0, std::mem::size_of::<SeccompNotif>());
const NOTIF_SEND: u64 = iowr(1, std::mem::size_of::<SeccompNotifResp>());
const NOTIF_ID_VALID: u64 = iow(2, std::mem::size_of::<u64>());

/// How many notices wait for the JS thread at most; more are dropped (and counted).
const QUEUE: usize = 64;
/// Distinct call numbers counted for the `end` notice (the filter notifies known numbers only).
const MAX_COUNTED: usize = 1024;

/// One notice to JavaScript.
#[napi(object)]
#[derive(Default)]
pub struct SeccompNotice {
    /// `call`: one denied call; `end`: the watch is over (always the last notice, exactly once).
    pub kind: String,
    /// The calling thread's id in the host's pid namespace (0 if not visible there).
    pub pid: Option<u32>,
    /// The system call number (`seccomp_data.nr`).
    pub nr: Option<i32>,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: Option<u32>,
    /// The six arguments as hex strings (`0x…`: they are 64-bit).
    pub args: Option<Vec<String>>,
    /// `end`: `exited` (every process of the filter is gone), `stopped`, `closed` (the socket
    /// closed before a listener arrived), or `error` (see `message`).
    pub reason: Option<String>,
    pub message: Option<String>,
    /// `end`: calls answered in all.
    pub total: Option<f64>,
    /// `end`: `call` notices dropped because the queue was full.
    pub dropped: Option<f64>,
    /// `end`: calls answered, by number (`arch` of the first call of that number).
    pub counts: Option<Vec<SyscallCount>>,
}

/// Calls of one number.
#[napi(object)]
pub struct SyscallCount {
    pub nr: i32,
    pub arch: u32,
    pub count: f64,
}

/// Options of `watchSeccomp`.
#[napi(object)]
pub struct WatchSeccompOptions {
    /// `call` notices to send at most (later calls are answered and counted only). Default 100.
    pub max_events: Option<u32>,
}

type Tsfn = ThreadsafeFunction<SeccompNotice, (), SeccompNotice, Status, false, false, QUEUE>;

/// A running watch (see the module's doc).
#[napi]
pub struct SeccompWatch {
    /// The thread's stop eventfd; released here by `stop()` once the thread has ended.
    stop: std::sync::Mutex<Option<Arc<OwnedFd>>>,
    done: Arc<AtomicBool>,
}

#[napi]
impl SeccompWatch {
    /// Ask the thread to end (returns at once; the `end` notice follows). Denied calls of any
    /// process still running then answer ENOSYS (the listener is closed): still denied. Once
    /// the thread has ended (after the `end` notice), this also closes the watch's last
    /// descriptor at once rather than at garbage collection.
    #[napi]
    pub fn stop(&self) {
        let mut g = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(efd) = g.as_ref() {
            signal(efd);
        }
        if self.done.load(Ordering::SeqCst) {
            g.take();
        }
    }

    /// The thread has ended.
    #[napi(getter)]
    pub fn ended(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

impl Drop for SeccompWatch {
    fn drop(&mut self) {
        if let Some(efd) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            signal(&efd);
        }
    }
}

fn signal(efd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: an 8-byte write to an eventfd we own; a full counter (never here) would only EAGAIN.
    unsafe { libc::write(efd.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", Error::last_os_error())
}

/// Watch the seccomp listener that arrives on the unix socket `socketFd` (duplicated here: the
/// caller may close its own descriptor right after this returns) and report each denied call.
#[napi]
pub fn watch_seccomp(socket_fd: i32, callback: Function<SeccompNotice, ()>, options: Option<WatchSeccompOptions>) -> napi::Result<SeccompWatch> {
    if socket_fd < 0 {
        return Err(napi::Error::from_reason(format!("{socket_fd} is not a descriptor")));
    }
    let max_events = options.and_then(|o| o.max_events).unwrap_or(100) as u64;
    // SAFETY: plain descriptor calls; each result is checked and owned at once.
    let sock = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(socket_fd, &mut st) < 0 {
            return Err(napi::Error::from_reason(os_error(&format!("descriptor {socket_fd}"))));
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(napi::Error::from_reason(format!("descriptor {socket_fd} is not a socket")));
        }
        let fd = libc::fcntl(socket_fd, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(napi::Error::from_reason(os_error("dup")));
        }
        OwnedFd::from_raw_fd(fd)
    };
    let stop = unsafe {
        let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        if fd < 0 {
            return Err(napi::Error::from_reason(os_error("eventfd")));
        }
        Arc::new(OwnedFd::from_raw_fd(fd))
    };
    let tsfn: Tsfn = callback.build_threadsafe_function().callee_handled::<false>().max_queue_size::<QUEUE>().build()?;
    let done = Arc::new(AtomicBool::new(false));
    let (stop2, done2) = (stop.clone(), done.clone());
    std::thread::Builder::new()
        .name("agentos-seccomp".into())
        .spawn(move || {
            let end = watch(sock, &stop2, &tsfn, max_events);
            drop(stop2);
            done2.store(true, Ordering::SeqCst);
            // The one notice that must arrive: wait for room in the queue (the JS thread drains
            // it; it never waits for this thread). Closing: the environment is going away.
            tsfn.call(end, ThreadsafeFunctionCallMode::Blocking);
        })
        .map_err(|e| napi::Error::from_reason(format!("cannot start the seccomp thread: {e}")))?;
    Ok(SeccompWatch { stop: std::sync::Mutex::new(Some(stop)), done })
}

enum Wait {
    Ready(libc::c_short),
    Stopped,
}

/// Poll `fd` with the stop eventfd; EINTR is retried.
fn wait(fd: RawFd, stop: &OwnedFd) -> Result<Wait, String> {
    loop {
        let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }, libc::pollfd { fd: stop.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(os_error("poll"));
        }
        if fds[1].revents != 0 {
            return Ok(Wait::Stopped);
        }
        if fds[0].revents != 0 {
            return Ok(Wait::Ready(fds[0].revents));
        }
    }
}

/// The listener sent over `sock`; None when stopped first. Err when the socket closes without one.
fn receive_listener(sock: &OwnedFd, stop: &OwnedFd) -> Result<Option<OwnedFd>, String> {
    loop {
        if let Wait::Stopped = wait(sock.as_raw_fd(), stop)? {
            return Ok(None);
        }
        const SPACE: usize = unsafe { libc::CMSG_SPACE((4 * std::mem::size_of::<libc::c_int>()) as u32) } as usize;
        #[repr(C, align(8))]
        struct Control([u8; SPACE]);
        let mut control = Control([0u8; SPACE]);
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = SPACE as _;
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = Error::last_os_error();
            if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN)) {
                continue;
            }
            return Err(format!("recvmsg: {e}"));
        }
        if n == 0 {
            return Err("the channel closed before a seccomp listener arrived".into());
        }
        // Take every descriptor that came (closing all but the first), then check the first.
        let mut got: Vec<OwnedFd> = Vec::new();
        // SAFETY: walking the control buffer recvmsg filled, with the kernel's lengths.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg) as *const libc::c_int;
                    let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<libc::c_int>();
                    for i in 0..count {
                        got.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err("the message carried more descriptors than a seccomp listener".into());
        }
        let Some(listener) = got.into_iter().next() else {
            return Err("a message without a descriptor arrived instead of the seccomp listener".into());
        };
        // A listener answers ID_VALID for an unknown id with ENOENT; anything else is not one.
        let id: u64 = 0;
        let r = unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_ID_VALID as _, &id) };
        if r == 0 || Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
            return Err("the descriptor that arrived is not a seccomp listener".into());
        }
        return Ok(Some(listener));
    }
}

fn watch(sock: OwnedFd, stop: &OwnedFd, tsfn: &Tsfn, max_events: u64) -> SeccompNotice {
    let mut total: u64 = 0;
    let mut sent: u64 = 0;
    let mut dropped: u64 = 0;
    let mut counts: HashMap<i32, (u32, u64)> = HashMap::new();
    let end = |reason: &str, message: Option<String>, total: u64, dropped: u64, counts: &HashMap<i32, (u32, u64)>| {
        let mut list: Vec<SyscallCount> = counts.iter().map(|(&nr, &(arch, count))| SyscallCount { nr, arch, count: count as f64 }).collect();
        list.sort_by_key(|c| c.nr);
        SeccompNotice { kind: "end".into(), reason: Some(reason.into()), message, total: Some(total as f64), dropped: Some(dropped as f64), counts: Some(list), ..Default::default() }
    };
    let listener = match receive_listener(&sock, stop) {
        Ok(Some(l)) => l,
        Ok(None) => return end("stopped", None, 0, 0, &counts),
        Err(e) => return end(if e.contains("closed before") { "closed" } else { "error" }, Some(e), 0, 0, &counts),
    };
    drop(sock);
    loop {
        let revents = match wait(listener.as_raw_fd(), stop) {
            Ok(Wait::Ready(r)) => r,
            Ok(Wait::Stopped) => return end("stopped", None, total, dropped, &counts),
            Err(e) => return end("error", Some(e), total, dropped, &counts),
        };
        if revents & libc::POLLIN == 0 {
            // POLLHUP: no process uses the filter any more. POLLERR/POLLNVAL: nothing to wait for.
            return if revents & libc::POLLHUP != 0 { end("exited", None, total, dropped, &counts) } else { end("error", Some(format!("the listener reported poll events 0x{revents:x}")), total, dropped, &counts) };
        }
        let mut n = SeccompNotif::default(); // the kernel wants it zeroed
        if unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_RECV as _, &mut n as *mut SeccompNotif) } < 0 {
            match Error::last_os_error().raw_os_error() {
                // The caller died before we took it (or a signal): poll again.
                Some(libc::ENOENT) | Some(libc::EINTR) => continue,
                _ => return end("error", Some(os_error("SECCOMP_IOCTL_NOTIF_RECV")), total, dropped, &counts),
            }
        }
        let resp = SeccompNotifResp { id: n.id, val: 0, error: -libc::EPERM, flags: 0 };
        // ENOENT: the caller died (or was interrupted) meanwhile; nothing waits for the answer.
        unsafe { libc::ioctl(listener.as_raw_fd(), NOTIF_SEND as _, &resp as *const SeccompNotifResp) };
        total += 1;
        if let Some(c) = counts.get_mut(&n.data.nr) {
            c.1 += 1;
        } else if counts.len() < MAX_COUNTED {
            counts.insert(n.data.nr, (n.data.arch, 1));
        }
        if sent < max_events {
            let notice = SeccompNotice {
                kind: "call".into(),
                pid: Some(n.pid),
                nr: Some(n.data.nr),
                arch: Some(n.data.arch),
                args: Some(n.data.args.iter().map(|a| format!("0x{a:x}")).collect()),
                ..Default::default()
            };
            match tsfn.call(notice, ThreadsafeFunctionCallMode::NonBlocking) {
                Status::Ok => sent += 1,
                Status::Closing => return end("error", Some("the JavaScript environment is closing".into()), total, dropped, &counts),
                _ => dropped += 1, // QueueFull
            }
        }
    }
}
