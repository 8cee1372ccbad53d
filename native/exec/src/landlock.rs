//! Landlock: a second file-system (and TCP, and scope) layer inside the sandbox, on top of the
//! mounts. The ruleset handles every right the running kernel's ABI knows (up to ABI 7), so
//! anything no rule grants is denied; rules only ever add rights below a path.
//!
//! Spec, one rule per line (empty lines and `#` comments ignored):
//!   ro PATH      read files, list directories
//!   rx PATH      ro + execute
//!   rw PATH      every right the ABI has (create, remove, rename, truncate, ...)
//!   dev PATH     ro + write files, truncate, device ioctls (for /dev's nodes)
//!   connect PORT allow TCP connect to PORT (ABI >= 4; otherwise TCP is not handled)
//!   bind PORT    allow TCP bind to PORT (same)
//!   abi N        the kernel must offer at least ABI N, or nothing runs
//! PATH is the rest of the line (spaces kept), absolute, and must exist.

use std::ffi::CString;
use std::io::Error;

const CREATE_RULESET_VERSION: u32 = 1 << 0;
const RULE_PATH_BENEATH: libc::c_int = 1;
const RULE_NET_PORT: libc::c_int = 2;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5
/// The rights a rule on a file (not a directory) may carry; anything else is EINVAL there.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// File-system rights the kernel handles at `abi`: ABI 1 has 13, REFER (2), TRUNCATE (3),
/// IOCTL_DEV (5) follow; ABI 4, 6 and 7 added network, scopes and audit flags only.
pub fn handled_fs(abi: u32) -> u64 {
    match abi {
        0 => 0,
        1 => (1 << 13) - 1,
        2 => (1 << 14) - 1,
        3 | 4 => (1 << 15) - 1,
        _ => (1 << 16) - 1,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Access {
    Ro,
    Rx,
    Rw,
    Dev,
}

impl Access {
    fn rights(self, handled: u64) -> u64 {
        let r = match self {
            Access::Ro => READ_FILE | READ_DIR,
            Access::Rx => READ_FILE | READ_DIR | EXECUTE,
            Access::Rw => u64::MAX,
            Access::Dev => READ_FILE | READ_DIR | WRITE_FILE | TRUNCATE | IOCTL_DEV,
        };
        r & handled
    }
}

#[derive(Default, Debug)]
pub struct Spec {
    pub paths: Vec<(Access, String)>,
    pub connect: Vec<u16>,
    pub bind: Vec<u16>,
    pub min_abi: u32,
}

pub fn parse(text: &str) -> Result<Spec, String> {
    let mut spec = Spec { min_abi: 1, ..Spec::default() };
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("landlock spec line {}: {why}: {line:?}", i + 1);
        let (word, rest) = line.split_once(' ').ok_or_else(|| bad("expected `ro|rx|rw|dev PATH`, `connect PORT`, `bind PORT` or `abi N`"))?;
        let access = match word {
            "ro" => Some(Access::Ro),
            "rx" => Some(Access::Rx),
            "rw" => Some(Access::Rw),
            "dev" => Some(Access::Dev),
            _ => None,
        };
        if let Some(access) = access {
            if !rest.starts_with('/') {
                return Err(bad("the path must be absolute"));
            }
            spec.paths.push((access, rest.to_string()));
            continue;
        }
        match word {
            "connect" | "bind" => {
                let port: u16 = rest.parse().map_err(|_| bad("a port is 0-65535"))?;
                if word == "connect" { &mut spec.connect } else { &mut spec.bind }.push(port);
            }
            "abi" => spec.min_abi = rest.parse().ok().filter(|n| *n >= 1).ok_or_else(|| bad("the ABI is a number >= 1"))?,
            _ => return Err(bad("unknown rule")),
        }
    }
    Ok(spec)
}

/// The kernel's Landlock ABI version, or why there is none (ENOSYS: not built, EOPNOTSUPP: disabled).
pub fn abi() -> Result<u32, Error> {
    let r = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, CREATE_RULESET_VERSION) };
    if r < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(r as u32)
    }
}

/// Why there is no ABI, in words: not built, disabled, or refused (a seccomp filter answers EPERM).
pub fn unavailable(e: &Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no Landlock".into(),
        Some(libc::EOPNOTSUPP) => "Landlock is disabled on this kernel (not in its lsm= list)".into(),
        _ => format!("landlock_create_ruleset failed: {e} (refused by a seccomp filter?)"),
    }
}

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// A descriptor closed on drop (the ruleset, each rule's path).
struct Fd(libc::c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

fn add_rule<T>(ruleset: &Fd, kind: libc::c_int, attr: &T) -> Result<(), Error> {
    let r = unsafe { libc::syscall(libc::SYS_landlock_add_rule, ruleset.0, kind, attr as *const T, 0u32) };
    if r < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Restrict this process (and what it execs) to `spec`, with the rights of `abi`.
pub fn apply(spec: &Spec, abi: u32) -> Result<(), String> {
    let fs = handled_fs(abi);
    let attr = RulesetAttr {
        handled_access_fs: fs,
        handled_access_net: if abi >= 4 { NET_BIND_TCP | NET_CONNECT_TCP } else { 0 },
        scoped: if abi >= 6 { SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL } else { 0 },
    };
    // An older kernel refuses a larger struct only when the extra fields are non-zero; give it
    // the size of its own ABI anyway.
    let size: usize = match abi {
        0..=3 => 8,
        4 | 5 => 16,
        _ => 24,
    };
    let r = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, size, 0u32) };
    if r < 0 {
        return Err(format!("landlock_create_ruleset: {}", Error::last_os_error()));
    }
    let ruleset = Fd(r as libc::c_int);
    for (access, path) in &spec.paths {
        let c = CString::new(path.as_bytes()).map_err(|_| format!("landlock rule path {path:?} holds a NUL byte"))?;
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("landlock rule path {path} cannot be opened: {}", Error::last_os_error()));
        }
        let fd = Fd(fd);
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd.0, &mut st) } < 0 {
            return Err(format!("landlock rule path {path}: fstat: {}", Error::last_os_error()));
        }
        let mut allowed = access.rights(fs);
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            allowed &= FILE_RIGHTS;
        }
        let rule = PathBeneathAttr { allowed_access: allowed, parent_fd: fd.0 };
        add_rule(&ruleset, RULE_PATH_BENEATH, &rule).map_err(|e| format!("landlock rule {access:?} {path}: {e}"))?;
    }
    if abi >= 4 {
        let ports = spec.connect.iter().map(|p| (NET_CONNECT_TCP, p)).chain(spec.bind.iter().map(|p| (NET_BIND_TCP, p)));
        for (right, port) in ports {
            add_rule(&ruleset, RULE_NET_PORT, &NetPortAttr { allowed_access: right, port: u64::from(*port) }).map_err(|e| format!("landlock port rule {port}: {e}"))?;
        }
    }
    // bwrap has set no_new_privs already (and a seccomp filter may refuse prctl): only the
    // restrict call below decides whether this worked.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.0, 0u32) } < 0 {
        return Err(format!("landlock_restrict_self: {}", Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let s = parse("# base\nrx /usr\nro /etc\n\ndev /dev\nrw /my dir\nconnect 3128\nabi 4\n").unwrap();
        assert_eq!(s.paths, vec![(Access::Rx, "/usr".into()), (Access::Ro, "/etc".into()), (Access::Dev, "/dev".into()), (Access::Rw, "/my dir".into())]);
        assert_eq!((s.connect, s.min_abi), (vec![3128], 4));
        assert!(parse("rw tmp").is_err());
        assert!(parse("connect 70000").is_err());
        assert!(parse("write /tmp").is_err());
    }

    #[test]
    fn masks_by_abi() {
        assert_eq!(Access::Rw.rights(handled_fs(1)), 0x1fff);
        assert_eq!(Access::Dev.rights(handled_fs(2)), READ_FILE | READ_DIR | WRITE_FILE);
        assert_eq!(Access::Dev.rights(handled_fs(7)) & IOCTL_DEV, IOCTL_DEV);
    }
}
