//! Each execution environment's own network namespace.
//!
//! Inside it, as on Lambda: loopback, and the environment's Runtime API at `127.0.0.1:9001`. The
//! namespace is made by the server (a thread that calls `unshare(CLONE_NEWNET)`), which binds the
//! Runtime API's listener in it before anything of the function runs, so the listener is the
//! server's socket, served by the server, yet reachable only from inside. The namespace belongs
//! to the host's user namespace: the function, in a user namespace of its own, holds no
//! capability over it and cannot change its interfaces, addresses or routes.
//!
//! With [`FunctionNetwork::Outbound`], `pasta` (from the passt package) gives the namespace a
//! user-mode link to the outside, as Lambda gives a function outside a VPC. Routes in the
//! namespace make the host's loopback, the host's own addresses and private, shared and
//! link-local ranges unreachable, and pasta forwards no port of the host's loopback into it.
//! Starting pasta takes about 0.1 s, so [`NetworkPool`] keeps namespaces ready ahead of the cold
//! starts that take them.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

/// Where every environment's Runtime API is, inside its namespace (`AWS_LAMBDA_RUNTIME_API`).
pub const RUNTIME_API: &str = "127.0.0.1:9001";

/// What a function's network reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionNetwork {
    /// The internet, as for a Lambda function outside a VPC (through pasta); the host and
    /// private ranges stay unreachable.
    Outbound,
    /// Loopback only.
    None,
}

impl std::str::FromStr for FunctionNetwork {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outbound" => Ok(FunctionNetwork::Outbound),
            "none" => Ok(FunctionNetwork::None),
            other => Err(format!("{other:?}: expected outbound or none")),
        }
    }
}

/// IPv4 ranges a function never reaches: this network (0/8), private (RFC 1918), shared
/// address space (RFC 6598), loopback, link-local (cloud metadata services live there), and the
/// IETF protocol assignments.
const UNREACHABLE_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// One environment's network namespace.
#[derive(Debug)]
pub struct NetworkNamespace {
    ns: File,
}

/// A namespace ready for an environment: the Runtime API's listener bound inside it, and the
/// pasta process that links it to the outside (killed when this is dropped).
#[derive(Debug)]
pub struct PreparedNetwork {
    /// The namespace.
    pub namespace: Arc<NetworkNamespace>,
    /// Listening at [`RUNTIME_API`] inside the namespace (non-blocking).
    pub listener: std::net::TcpListener,
    link: Option<std::process::Child>,
    /// Where the namespace is bound for pasta to open (in the server's own mount namespace).
    bound_at: Option<std::path::PathBuf>,
    /// pasta's pid file.
    pid_file: Option<std::path::PathBuf>,
}

impl Drop for PreparedNetwork {
    fn drop(&mut self) {
        if let Some(mut pasta) = self.link.take() {
            let _ = pasta.kill();
            if let Some(pid_file) = &self.pid_file {
                let _ = std::fs::remove_file(pid_file);
            }
            // Reaped off the caller's thread: a kill is quick, but not instant.
            std::thread::spawn(move || pasta.wait());
        }
        if let Some(path) = self.bound_at.take() {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Binds the namespace of `ns` to a file of the server's own, which pasta can open (pasta
/// refuses `/proc/PID/fd/N` paths once it has isolated itself).
fn bind_namespace(ns: &NetworkNamespace) -> io::Result<std::path::PathBuf> {
    use std::os::fd::AsRawFd;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = crate::view::private_dir("netns").ok_or_else(|| {
        io::Error::other("an outbound network needs the server's own mount namespace")
    })?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("net-{n}"));
    File::create(&path)?;
    let source = format!("/proc/self/fd/{}", ns.ns.as_raw_fd());
    nix::mount::mount(
        Some(source.as_str()),
        &path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(nix_io)?;
    Ok(path)
}

/// Runs `f` on a fresh thread (namespace changes are per thread) and returns its result.
fn on_own_thread<T: Send>(f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("network namespace thread panicked")))
    })
}

fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl NetworkNamespace {
    /// A new namespace with loopback up and the Runtime API's listener in it. Needs root.
    pub fn create() -> io::Result<(NetworkNamespace, std::net::TcpListener)> {
        on_own_thread(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(nix_io)?;
            netlink::set_loopback_up()?;
            let listener = std::net::TcpListener::bind(RUNTIME_API)?;
            listener.set_nonblocking(true)?;
            let ns = File::open("/proc/thread-self/ns/net")?;
            Ok((NetworkNamespace { ns }, listener))
        })
    }

    /// The namespace's file descriptor (what `setns` joins).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ns.as_fd()
    }

    /// Runs `f` on a thread inside the namespace: sockets it creates belong to the namespace.
    pub fn run_inside<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        on_own_thread(|| {
            nix::sched::setns(self.ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(nix_io)?;
            f()
        })
    }

    /// Connects to `addr` from inside the namespace (to an extension's telemetry listener at
    /// `sandbox.localdomain`, say): what the connection reaches is what the function reaches.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        let socket = self.run_inside(|| match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        })?;
        socket.connect(addr).await
    }

    /// Makes `ranges` unreachable from inside the namespace.
    fn add_unreachable(&self, ranges: &[(Ipv4Addr, u8)]) -> io::Result<()> {
        self.run_inside(|| {
            for &(addr, len) in ranges {
                netlink::add_unreachable_route(addr, len)?;
            }
            Ok(())
        })
    }

    /// Whether the namespace has an IPv4 address on an interface other than loopback (pasta
    /// has configured its link).
    fn has_outside_address(&self) -> io::Result<bool> {
        self.run_inside(|| {
            let addrs = nix::ifaddrs::getifaddrs().map_err(nix_io)?;
            Ok(addrs.into_iter().any(|a| {
                a.interface_name != "lo"
                    && a.address
                        .as_ref()
                        .and_then(|s| s.as_sockaddr_in())
                        .is_some()
            }))
        })
    }
}

/// The host's own IPv4 addresses (each made unreachable from functions).
fn host_addresses() -> Vec<Ipv4Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<Ipv4Addr> = addrs
        .filter_map(|a| {
            a.address
                .and_then(|s| s.as_sockaddr_in().map(|sin| sin.ip()))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Where `pasta` is, if installed.
fn pasta_path() -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .chain([
            std::path::PathBuf::from("/usr/bin"),
            std::path::PathBuf::from("/usr/sbin"),
        ])
        .map(|d| d.join("pasta"))
        .find(|p| p.is_file())
}

/// Prepares one namespace for `mode`.
/// Prepares one namespace for `mode`; pasta (for `Outbound`) writes its pid into `pid_dir`, so
/// that a later server can end what a killed one left running ([`end_stale_links`]).
pub fn prepare(mode: FunctionNetwork, pid_dir: &std::path::Path) -> io::Result<PreparedNetwork> {
    let (namespace, listener) = NetworkNamespace::create()?;
    let namespace = Arc::new(namespace);
    if mode == FunctionNetwork::None {
        return Ok(PreparedNetwork {
            namespace,
            listener,
            link: None,
            bound_at: None,
            pid_file: None,
        });
    }
    let mut unreachable: Vec<(Ipv4Addr, u8)> = UNREACHABLE_V4.to_vec();
    // The host's own addresses: pasta gives the namespace the address of the host's outbound
    // interface (so that address is the namespace itself), and any other is refused.
    unreachable.extend(host_addresses().into_iter().map(|a| (a, 32)));
    let pasta = pasta_path().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "pasta is not installed (Debian package passt): install it, or serve with --function-network none",
        )
    })?;
    let mut prepared = PreparedNetwork {
        namespace,
        listener,
        link: None,
        bound_at: None,
        pid_file: None,
    };
    let ns_path = bind_namespace(&prepared.namespace)?;
    prepared.bound_at = Some(ns_path.clone());
    let pid_file = pid_dir.join(format!(
        "{}.pid",
        ns_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("net")
    ));
    prepared.pid_file = Some(pid_file.clone());
    let child = std::process::Command::new(pasta)
        .args([
            "--quiet",
            "--foreground",
            // pasta must stay root to join a namespace owned by the host's user namespace; it
            // isolates itself (its own namespaces, seccomp) once it has.
            "--runas",
            "0:0",
            "--config-net",
            "--ipv4-only",
            // The gateway address stays the gateway's, never the host's loopback.
            "--no-map-gw",
            // No port is forwarded either way: nothing of the host's loopback reaches in.
            "--tcp-ports",
            "none",
            "--udp-ports",
            "none",
            "--tcp-ns",
            "none",
            "--udp-ns",
            "none",
            "--no-dhcpv6",
            "--no-ndp",
            "--no-ra",
            "--pid",
        ])
        .arg(&pid_file)
        .arg("--netns")
        .arg(&ns_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // pasta carries the function's traffic for as long as the environment lives: it runs at
    // the ordinary priority, not at that of the thread that prepared it.
    let _ = crate::ready::set_nice(child.id(), 0);
    prepared.link = Some(child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !prepared.namespace.has_outside_address()? {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "pasta did not configure the namespace's link within 5 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    prepared.namespace.add_unreachable(&unreachable)?;
    Ok(prepared)
}

/// Ends the pasta processes whose pid files are in `pid_dir` (left by a server that was killed:
/// pasta outlives it otherwise) and empties the directory; returns how many it ended.
pub fn end_stale_links(pid_dir: &std::path::Path) -> usize {
    let _ = std::fs::create_dir_all(pid_dir);
    let Ok(entries) = std::fs::read_dir(pid_dir) else {
        return 0;
    };
    let mut ended = 0;
    for e in entries.flatten() {
        let pid = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|p| *p > 1) {
            // Only if that pid is still a pasta (whose process is named passt, passt.avx2 or
            // pasta): pids are reused.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if (comm.starts_with("passt") || comm.starts_with("pasta"))
                && nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .is_ok()
            {
                ended += 1;
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
    ended
}

/// Namespaces prepared ahead of the cold starts that take them.
#[derive(Debug)]
pub struct NetworkPool {
    mode: FunctionNetwork,
    pid_dir: std::path::PathBuf,
    ready: crate::ready::Ready<PreparedNetwork>,
}

impl NetworkPool {
    /// A pool that keeps `target` namespaces of `mode` ready (none are prepared until
    /// [`NetworkPool::refill`] runs); pasta's pid files go to `pid_dir`.
    pub fn new(mode: FunctionNetwork, target: usize, pid_dir: &std::path::Path) -> NetworkPool {
        NetworkPool {
            mode,
            pid_dir: pid_dir.to_path_buf(),
            ready: crate::ready::Ready::new(target),
        }
    }

    /// What the pool's namespaces reach.
    pub fn mode(&self) -> FunctionNetwork {
        self.mode
    }

    /// A prepared namespace: one from the pool, or a new one. Blocking.
    pub fn take(&self) -> io::Result<PreparedNetwork> {
        match self.ready.take() {
            Some(p) => Ok(p),
            None => prepare(self.mode, &self.pid_dir),
        }
    }

    /// Ends every prepared namespace (and its pasta): the server is stopping.
    pub fn clear(&self) {
        drop(self.ready.clear());
    }

    /// Prepares namespaces until the pool holds its target. Blocking; returns how many it made.
    pub fn refill(&self) -> io::Result<usize> {
        self.ready.refill(|| prepare(self.mode, &self.pid_dir))
    }
}

/// The few rtnetlink requests archfn makes: bring loopback up, add an unreachable route. Each
/// is sent on a socket of the calling thread's namespace and waits for the kernel's answer.
mod netlink {
    use std::io;
    use std::net::Ipv4Addr;

    use nix::sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
        socket,
    };

    const RTM_NEWLINK: u16 = 16;
    const RTM_NEWROUTE: u16 = 24;
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_ACK: u16 = 0x4;
    const NLM_F_EXCL: u16 = 0x200;
    const NLM_F_CREATE: u16 = 0x400;
    const IFF_UP: u32 = 0x1;
    const LOOPBACK_INDEX: i32 = 1;
    const RT_TABLE_MAIN: u8 = 254;
    const RTPROT_STATIC: u8 = 4;
    const RTN_UNREACHABLE: u8 = 7;
    const RTA_DST: u16 = 1;
    const AF_INET: u8 = 2;

    fn header(len: usize, kind: u16, flags: u16) -> Vec<u8> {
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        m.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
        m
    }

    /// Sends one request and reads the kernel's acknowledgement.
    fn request(message: &[u8]) -> io::Result<()> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(super::nix_io)?;
        use std::os::fd::AsRawFd;
        sendto(
            fd.as_raw_fd(),
            message,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(super::nix_io)?;
        let mut answer = [0u8; 512];
        let n = recv(fd.as_raw_fd(), &mut answer, MsgFlags::empty()).map_err(super::nix_io)?;
        // nlmsghdr (16 bytes), then for NLMSG_ERROR an i32 error (0 is the acknowledgement).
        if n >= 20 && u16::from_ne_bytes([answer[4], answer[5]]) == NLMSG_ERROR {
            let error = i32::from_ne_bytes([answer[16], answer[17], answer[18], answer[19]]);
            if error != 0 {
                return Err(io::Error::from_raw_os_error(-error));
            }
        }
        Ok(())
    }

    /// `ip link set lo up`.
    pub(super) fn set_loopback_up() -> io::Result<()> {
        let mut m = header(32, RTM_NEWLINK, 0);
        m.extend_from_slice(&[0, 0]); // family, padding
        m.extend_from_slice(&0u16.to_ne_bytes()); // device type
        m.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes());
        m.extend_from_slice(&IFF_UP.to_ne_bytes()); // flags
        m.extend_from_slice(&IFF_UP.to_ne_bytes()); // change mask
        request(&m)
    }

    /// `ip route add unreachable ADDR/LEN`.
    pub(super) fn add_unreachable_route(addr: Ipv4Addr, len: u8) -> io::Result<()> {
        let mut m = header(36, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.extend_from_slice(&[
            AF_INET,
            len,
            0, // source length
            0, // tos
            RT_TABLE_MAIN,
            RTPROT_STATIC,
            0, // scope: universe
            RTN_UNREACHABLE,
        ]);
        m.extend_from_slice(&0u32.to_ne_bytes()); // flags
        m.extend_from_slice(&8u16.to_ne_bytes()); // attribute length
        m.extend_from_slice(&RTA_DST.to_ne_bytes());
        m.extend_from_slice(&addr.octets());
        match request(&m) {
            // The same route twice (a host address inside a listed range) is fine.
            Err(e) if e.raw_os_error() == Some(17) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn the_runtime_api_listener_is_reachable_only_inside_its_namespace() -> io::Result<()> {
        if !is_root() {
            return Ok(());
        }
        let (ns, listener) = NetworkNamespace::create()?;
        // Inside: loopback is up and the listener answers at 127.0.0.1:9001.
        let inside = ns.run_inside(|| std::net::TcpStream::connect(RUNTIME_API))?;
        listener.set_nonblocking(false)?;
        let (accepted, _) = listener.accept()?;
        assert_eq!(accepted.peer_addr()?, inside.local_addr()?);
        // From the host's namespace, 127.0.0.1:9001 is not this listener.
        listener.set_nonblocking(true)?;
        let _ = std::net::TcpStream::connect_timeout(
            &RUNTIME_API.parse().map_err(io::Error::other)?,
            Duration::from_millis(200),
        );
        assert!(
            listener.accept().is_err(),
            "a connection from the host reached it"
        );
        Ok(())
    }

    #[test]
    fn unreachable_routes_refuse_connections() -> io::Result<()> {
        if !is_root() {
            return Ok(());
        }
        let (ns, _listener) = NetworkNamespace::create()?;
        ns.add_unreachable(&[(Ipv4Addr::new(10, 0, 0, 0), 8)])?;
        let err = ns.run_inside(|| {
            Ok(std::net::TcpStream::connect_timeout(
                &"10.1.2.3:80".parse().map_err(io::Error::other)?,
                Duration::from_millis(500),
            ))
        })?;
        let code = err.err().and_then(|e| e.raw_os_error());
        // EHOSTUNREACH from the route (ENETUNREACH would mean no route at all).
        assert_eq!(code, Some(113), "{code:?}");
        Ok(())
    }
}
