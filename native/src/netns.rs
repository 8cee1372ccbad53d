//! A listening socket inside another process's network namespace, for the native sandbox's
//! egress: the host serves it, so nothing extra runs inside the sandbox.
//!
//! A thread joins the target network namespace (`setns` with `CLONE_NEWNET`, which a thread
//! of a multi-threaded process may do), creates a TCP socket there, binds it to
//! `127.0.0.1:port` and listens; the socket stays in that namespace after the thread ends.
//! Node then serves the returned descriptor (`net.Server.listen({ fd })`).

use std::fs::File;
use std::os::fd::AsRawFd;

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Listen on 127.0.0.1:`port` inside the network namespace of process `pid`; returns the fd.
pub fn listen_in_netns(pid: u32, port: u16) -> Result<i32, String> {
    let ns = File::open(format!("/proc/{pid}/ns/net")).map_err(|e| format!("open /proc/{pid}/ns/net: {e}"))?;
    let worker = std::thread::spawn(move || -> Result<i32, String> {
        // SAFETY: plain system calls on descriptors this thread owns; every result is checked.
        unsafe {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(last_error("setns"));
            }
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(last_error("socket"));
            }
            let one: libc::c_int = 1;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as libc::socklen_t);
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
                sin_zero: [0; 8],
            };
            if libc::bind(fd, &addr as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t) != 0 {
                let e = last_error("bind");
                libc::close(fd);
                return Err(e);
            }
            if libc::listen(fd, 64) != 0 {
                let e = last_error("listen");
                libc::close(fd);
                return Err(e);
            }
            Ok(fd)
        }
    });
    worker.join().map_err(|_| "the namespace thread panicked".to_string())?
}
