//! The second half of a scan: the rules that turn what was collected into findings. Metadata
//! names the component each file belongs to; native files are judged against the target
//! architecture and the runtime's glibc; multi-platform packages (npm `prebuilds/`, .NET
//! `runtimes/<rid>/`, JNI libraries in jars) are judged as a whole, so an x86_64 build that
//! sits beside its arm64 twin is not a problem.

use std::collections::{HashMap, HashSet};

use archfn_model::{Architecture, OsFamily};

use crate::collect::{Binary, Collected, Language};
use crate::elf::ElfInfo;
use crate::known;
use crate::report::{Finding, Kind, Severity};

/// The package ecosystem a component comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ecosystem {
    Pypi,
    Npm,
    Maven,
    Nuget,
    /// A Ruby gem (installed under `gems/`, its specification under `specifications/`).
    RubyGems,
    /// A layer, an image layer, or an archive known only by its name.
    Other,
}

/// A package a file belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
}

impl Component {
    pub(crate) fn other(label: &str) -> Component {
        Component {
            ecosystem: Ecosystem::Other,
            name: label.to_string(),
            version: String::new(),
        }
    }

    fn label(&self) -> String {
        match self.ecosystem {
            Ecosystem::Maven => format!("{}:{}", self.name, self.version),
            _ if self.version.is_empty() => self.name.clone(),
            _ => format!("{} {}", self.name, self.version),
        }
    }
}

/// The glibc the code will meet.
#[derive(Debug, Clone)]
pub(crate) struct GlibcLimit {
    /// The runtime named, if any, and its OS's glibc.
    pub runtime: Option<(String, OsFamily)>,
}

impl GlibcLimit {
    fn os_name(os: OsFamily) -> &'static str {
        match os {
            OsFamily::AmazonLinux1 => "Amazon Linux",
            OsFamily::AmazonLinux2 => "Amazon Linux 2",
            OsFamily::AmazonLinux2023 => "Amazon Linux 2023",
        }
    }

    /// The verdict on code that needs glibc `need`: `None` when it loads everywhere it will run.
    fn judge(&self, need: (u32, u32)) -> Option<(Severity, String)> {
        let v = |(a, b): (u32, u32)| format!("{a}.{b}");
        match &self.runtime {
            Some((id, os)) if need > os.glibc() => Some((
                Severity::Incompatible,
                format!(
                    "needs glibc {}; {id} runs {} with glibc {}",
                    v(need),
                    Self::os_name(*os),
                    v(os.glibc())
                ),
            )),
            Some(_) => None,
            None if need > OsFamily::AmazonLinux2023.glibc() => Some((
                Severity::Incompatible,
                format!(
                    "needs glibc {}: newer than any Lambda runtime's (Amazon Linux 2023 has {})",
                    v(need),
                    v(OsFamily::AmazonLinux2023.glibc())
                ),
            )),
            None if need > OsFamily::AmazonLinux2.glibc() => Some((
                Severity::Warning,
                format!(
                    "needs glibc {}: loads on Amazon Linux 2023 runtimes, not on Amazon Linux 2 ones (glibc {})",
                    v(need),
                    v(OsFamily::AmazonLinux2.glibc())
                ),
            )),
            None => None,
        }
    }
}

/// Judges collected files, scope by scope (an archive inside is a scope of its own).
pub(crate) struct Judge {
    pub target: Architecture,
    pub glibc: GlibcLimit,
    pub findings: Vec<Finding>,
    pub natives: u64,
    pub files: u64,
    /// Wheels built from source where they were installed (tag `linux_<cpu>`, not manylinux):
    /// no wheel of the project was used, so advice cannot point at one.
    pub local_builds: HashSet<(String, String)>,
}

/// Architecture names as they appear in paths, longest first so `x86_64` wins over `x86`.
const ARCH_TOKENS: &[&str] = &[
    "loongarch64",
    "ppc64le",
    "riscv64",
    "aarch_64",
    "aarch64",
    "x86_64",
    "x86-64",
    "armv7l",
    "ppc64",
    "s390x",
    "amd64",
    "arm64",
    "armv7",
    "armhf",
    "i386",
    "i686",
    "x64",
    "x86",
    "arm",
];

/// Where in `segment` an architecture name stands as a word of its own.
fn arch_token(segment: &str) -> Option<(usize, &'static str)> {
    let lower = segment.to_ascii_lowercase();
    let b = lower.as_bytes();
    for t in ARCH_TOKENS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(t).map(|i| i + from) {
            let before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            let after = b
                .get(i + t.len())
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if before && after {
                return Some((i, t));
            }
            from = i + 1;
        }
    }
    None
}

/// For a file of a multi-platform package: (the directory its platform variants share, the path
/// with the architecture replaced by `{arch}`). Only when the architecture is in a directory
/// below some root, or in a file name under one.
fn variant_key(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        if let Some((at, token)) = arch_token(seg) {
            if i == 0 {
                return None;
            }
            let root = segments[..i].join("/") + "/";
            let mut key_parts: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
            key_parts[i] = format!("{}{{arch}}{}", &seg[..at], &seg[at + token.len()..]);
            return Some((root, key_parts.join("/")));
        }
    }
    None
}

/// `numpy-2.2.6.dist-info/RECORD` → ("numpy", "2.2.6", base directory of the install).
fn dist_info(path: &str) -> Option<(String, String, String)> {
    let idx = path.find(".dist-info/")?;
    let dir_start = path[..idx].rfind('/').map_or(0, |i| i + 1);
    let stem = &path[dir_start..idx];
    let (name, version) = stem.rsplit_once('-')?;
    Some((
        name.to_string(),
        version.to_string(),
        path[..dir_start].to_string(),
    ))
}

/// An installed gem, from its directory or specification name: `NAME-VERSION[-PLATFORM]`
/// (a name may hold `-`; the version is the first part that starts with a digit).
struct GemName<'a> {
    dir: &'a str,
    name: &'a str,
    version: &'a str,
    platform: Option<&'a str>,
}

fn gem_name(dir: &str) -> Option<GemName<'_>> {
    let mut start: usize = 0;
    for (i, part) in dir.split('-').enumerate() {
        if i > 0 && part.starts_with(|c: char| c.is_ascii_digit()) {
            let name = dir.get(..start.checked_sub(1)?)?;
            let rest = dir.get(start..)?;
            let (version, platform) = match rest.split_once('-') {
                Some((v, p)) => (v, Some(p)),
                None => (rest, None),
            };
            return Some(GemName {
                dir,
                name,
                version,
                platform,
            });
        }
        start += part.len() + 1;
    }
    None
}

/// Whether `path` is inside installed gem `dir`: its files (`gems/DIR/`) or its compiled
/// extensions (`extensions/PLATFORM/ABI/DIR/`).
fn in_gem_dir(path: &str, dir: &str) -> bool {
    path.contains(&format!("gems/{dir}/"))
        || (path.contains("extensions/") && path.contains(&format!("/{dir}/")))
}

/// The CPU of a gem platform (`x86_64-linux`, `aarch64-linux-gnu`, `arm64-darwin`), when it is
/// a Linux one.
fn gem_platform_arch(platform: &str) -> Option<Architecture> {
    let (cpu, os) = platform.split_once('-')?;
    if !os.starts_with("linux") {
        return None;
    }
    match cpu {
        "x86_64" | "amd64" => Some(Architecture::X86_64),
        "aarch64" | "arm64" => Some(Architecture::Arm64),
        _ => None,
    }
}

/// The CPython minor version of an extension module's file name (`x.cpython-311-x86_64-linux-gnu.so`
/// is 11); `None` for other files and abi3 modules.
fn cpython_minor(name: &str) -> Option<u32> {
    let rest = name.split(".cpython-3").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The Node.js ABI (NODE_MODULE_VERSION) a prebuilt addon's file name names
/// (`node.abi115.node`); `None` for N-API addons and names that do not say.
fn node_abi(name: &str) -> Option<u32> {
    if !name.ends_with(".node") || name.contains("napi") {
        return None;
    }
    let rest = name.split("abi").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// NODE_MODULE_VERSION of a Node.js major version Lambda offers.
fn node_abi_of_major(major: u32) -> Option<u32> {
    match major {
        16 => Some(93),
        18 => Some(108),
        20 => Some(115),
        22 => Some(127),
        24 => Some(137),
        _ => None,
    }
}

/// The directory of the npm package a package.json belongs to, with a trailing `/` (or "").
fn package_dir(path: &str) -> String {
    path.rsplit_once('/')
        .map_or(String::new(), |(d, _)| format!("{d}/"))
}

/// The glibc a manylinux platform tag promises, or `None` for musllinux and others.
fn manylinux_glibc(platform: &str) -> Option<(u32, u32)> {
    if platform.starts_with("manylinux1_") {
        return Some((2, 5));
    }
    if platform.starts_with("manylinux2010_") {
        return Some((2, 12));
    }
    if platform.starts_with("manylinux2014_") {
        return Some((2, 17));
    }
    let rest = platform.strip_prefix("manylinux_")?;
    let mut parts = rest.split('_');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// What the metadata of one scope says.
#[derive(Default)]
struct Components {
    by_path: HashMap<String, Component>,
    /// npm platform packages whose target counterpart is in the package too.
    superseded: HashSet<String>,
    npm_dirs: Vec<(String, Component)>,
    maven: Vec<Component>,
    /// Installed gems: the directory name (`NAME-VERSION[-PLATFORM]`) and the gem.
    gems: Vec<(String, Component)>,
}

impl Components {
    fn of(&self, path: &str, fallback: Option<&Component>) -> Option<Component> {
        self.by_path
            .get(path)
            .or_else(|| {
                self.npm_dirs
                    .iter()
                    .find(|(d, _)| path.starts_with(d.as_str()))
                    .map(|(_, c)| c)
            })
            .or_else(|| {
                self.gems
                    .iter()
                    .find(|(dir, _)| in_gem_dir(path, dir))
                    .map(|(_, c)| c)
            })
            .or(if self.maven.len() == 1 {
                self.maven.first()
            } else {
                None
            })
            .or(fallback)
            .cloned()
    }
}

impl Judge {
    fn push(
        &mut self,
        path: String,
        component: Option<&Component>,
        kind: Kind,
        severity: Severity,
        message: String,
    ) -> &mut Finding {
        self.findings.push(Finding {
            path,
            component: component.map(Component::label),
            kind,
            architecture: None,
            severity,
            message,
            advice: None,
        });
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    /// Judges one scope: `prefix` is shown before its paths, `fallback` names the component of
    /// files no metadata claims (a layer, a jar known by name).
    pub(crate) fn scope(&mut self, c: &Collected, prefix: &str, fallback: Option<&Component>) {
        self.files += c.files;
        let comps = self.metadata(c, prefix);
        let mut binaries: Vec<&(String, Binary)> = c.binaries.iter().collect();
        binaries.sort_by(|a, b| a.0.cmp(&b.0));
        // Multi-platform packages: the variant keys and roots that have a target build.
        let mut target_keys = HashSet::new();
        let mut target_roots = HashSet::new();
        for (path, b) in &binaries {
            if let Binary::Elf(info, _) = b
                && info.architecture() == Some(self.target)
                && let Some((root, key)) = variant_key(path)
            {
                target_keys.insert(key);
                target_roots.insert(root);
            }
        }
        let mut native_npm_dirs = HashSet::new();
        for (path, b) in binaries {
            let component = comps.of(path, fallback);
            if let Some((d, _)) = comps
                .npm_dirs
                .iter()
                .find(|(d, _)| path.starts_with(d.as_str()))
            {
                native_npm_dirs.insert(d.clone());
            }
            let full = format!("{prefix}{path}");
            match b {
                Binary::Elf(info, language) => {
                    self.natives += 1;
                    let variant = variant_key(path);
                    let twin = variant.as_ref().is_some_and(|(root, key)| {
                        target_keys.contains(key) || target_roots.contains(root)
                    }) || comps
                        .superseded
                        .iter()
                        .any(|d| path.starts_with(d.as_str()));
                    self.elf(
                        &full,
                        path,
                        component.as_ref(),
                        info,
                        language.as_ref(),
                        twin,
                    );
                }
                Binary::MachO | Binary::Pe => {
                    let what = if matches!(b, Binary::MachO) {
                        "macOS (Mach-O)"
                    } else {
                        "Windows (PE)"
                    };
                    if let Some(role) = role(path) {
                        let target = self.target;
                        self.push(
                            full,
                            component.as_ref(),
                            Kind::ForeignBinary,
                            Severity::Incompatible,
                            format!("{what} {role}: Lambda runs Linux"),
                        )
                        .advise(format!("build the {role} for linux/{target}"));
                    } else {
                        self.push(
                            full,
                            component.as_ref(),
                            Kind::ForeignBinary,
                            Severity::Ok,
                            format!("{what} binary: never loaded on Lambda"),
                        )
                        .advise("remove it from the package to save space");
                    }
                }
            }
        }
        // npm packages with no native code and no cpu restriction run anywhere: say so.
        for (dir, comp) in &comps.npm_dirs {
            if dir.contains("node_modules/") && !native_npm_dirs.contains(dir) {
                let already = self
                    .findings
                    .iter()
                    .any(|f| f.path == format!("{prefix}{dir}package.json"));
                if !already {
                    self.push(
                        format!("{prefix}{dir}package.json"),
                        Some(comp),
                        Kind::NpmPackage,
                        Severity::Ok,
                        "no native code: runs on any architecture".into(),
                    )
                    .found("any");
                }
            }
        }
        for (path, inner) in &c.nested {
            let full = format!("{prefix}{path}");
            let comp = comps.of(path, fallback);
            match inner {
                Ok(inner) => {
                    let name = path.rsplit('/').next().unwrap_or(path);
                    let own = Component::other(name);
                    let fb = comp.as_ref().unwrap_or(&own);
                    self.scope(inner, &format!("{full}!/"), Some(fb));
                }
                Err(why) => {
                    self.push(
                        full,
                        comp.as_ref(),
                        Kind::NestedArchive,
                        Severity::Warning,
                        why.clone(),
                    );
                }
            }
        }
        for (path, why) in &c.errors {
            let comp = comps.of(path, fallback);
            self.push(
                format!("{prefix}{path}"),
                comp.as_ref(),
                Kind::Unreadable,
                Severity::Warning,
                format!("could not be read: {why}"),
            );
        }
    }

    /// Reads the scope's metadata: wheels, npm packages, Maven coordinates, .NET assets.
    fn metadata(&mut self, c: &Collected, prefix: &str) -> Components {
        let mut comps = Components::default();
        let mut metadata: Vec<&(String, Vec<u8>)> = c.metadata.iter().collect();
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        let npm_names: HashSet<String> = metadata
            .iter()
            .filter(|(p, _)| p.ends_with("package.json"))
            .filter_map(|(_, raw)| {
                let doc = serde_json::from_slice::<serde_json::Value>(raw).ok()?;
                doc.get("name")?.as_str().map(str::to_string)
            })
            .collect();
        for (path, raw) in metadata {
            let name = path.rsplit('/').next().unwrap_or(path);
            let text = String::from_utf8_lossy(raw);
            if name == "RECORD" {
                let Some((dist, version, base)) = dist_info(path) else {
                    continue;
                };
                let comp = Component {
                    ecosystem: Ecosystem::Pypi,
                    name: dist,
                    version,
                };
                for line in text.lines() {
                    let file = line.split(',').next().unwrap_or("").trim_matches('"');
                    if !file.is_empty() {
                        comps.by_path.insert(format!("{base}{file}"), comp.clone());
                    }
                }
            } else if name == "WHEEL" {
                if let Some((dist, version, _)) = dist_info(path) {
                    let comp = Component {
                        ecosystem: Ecosystem::Pypi,
                        name: dist,
                        version,
                    };
                    self.wheel_tags(format!("{prefix}{path}"), &comp, &text);
                }
            } else if name == "package.json" {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(raw) else {
                    continue;
                };
                let field = |k: &str| {
                    doc.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                        .to_string()
                };
                let comp = Component {
                    ecosystem: Ecosystem::Npm,
                    name: field("name"),
                    version: field("version"),
                };
                if self.npm_fields(format!("{prefix}{path}"), &comp, &doc, &npm_names) {
                    comps.superseded.insert(package_dir(path));
                }
                comps.npm_dirs.push((package_dir(path), comp));
            } else if name == "pom.properties" {
                let mut props = HashMap::new();
                for line in text.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        props.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
                if let (Some(g), Some(a)) = (props.get("groupId"), props.get("artifactId")) {
                    comps.maven.push(Component {
                        ecosystem: Ecosystem::Maven,
                        name: format!("{g}:{a}"),
                        version: props.get("version").cloned().unwrap_or_default(),
                    });
                }
            } else if name.ends_with(".deps.json") {
                self.deps_json(path, raw, &mut comps);
            } else if let Some(gem) = name.strip_suffix(".gemspec").and_then(gem_name) {
                let comp = Component {
                    ecosystem: Ecosystem::RubyGems,
                    name: gem.name.to_string(),
                    version: gem.version.to_string(),
                };
                if let Some(platform) = gem.platform {
                    self.gem_platform(format!("{prefix}{path}"), &comp, platform);
                }
                comps.gems.push((gem.dir.to_string(), comp));
            }
        }
        comps
            .npm_dirs
            .sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
        comps
    }

    /// .NET: `*.deps.json` names the NuGet package of every runtime-specific asset.
    fn deps_json(&mut self, path: &str, raw: &[u8], comps: &mut Components) {
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(raw) else {
            return;
        };
        let base = package_dir(path);
        let Some(targets) = doc.get("targets").and_then(|t| t.as_object()) else {
            return;
        };
        for libs in targets.values().filter_map(|v| v.as_object()) {
            for (lib, body) in libs {
                let (name, version) = lib.split_once('/').unwrap_or((lib, ""));
                let comp = Component {
                    ecosystem: Ecosystem::Nuget,
                    name: name.to_string(),
                    version: version.to_string(),
                };
                for key in ["runtimeTargets", "native", "runtime"] {
                    if let Some(files) = body.get(key).and_then(|v| v.as_object()) {
                        for file in files.keys() {
                            comps.by_path.insert(format!("{base}{file}"), comp.clone());
                        }
                    }
                }
            }
        }
    }

    fn elf(
        &mut self,
        full: &str,
        path: &str,
        component: Option<&Component>,
        info: &ElfInfo,
        language: Option<&Language>,
        twin: bool,
    ) {
        let target = self.target;
        let found = info.machine_name();
        let role = role(path);
        let what = match (language, role) {
            (Some(Language::Go(Some(v))), _) => format!("Go program ({v})"),
            (Some(Language::Go(None)), _) => "Go program".to_string(),
            (Some(Language::Rust), _) => "Rust program".to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) if info.elf_type == 3 && !info.is_program() => "shared object".into(),
            (None, None) => "executable".into(),
        };
        if info.architecture() == Some(target) {
            if let Some((message, advice)) = self.interpreter_abi(path, component) {
                self.push(
                    full.to_string(),
                    component,
                    Kind::Elf,
                    Severity::Incompatible,
                    message,
                )
                .found(found)
                .advise(advice);
                return;
            }
            if info
                .interpreter
                .as_deref()
                .is_some_and(|i| i.contains("musl"))
            {
                self.push(
                    full.to_string(),
                    component,
                    Kind::Elf,
                    Severity::Warning,
                    format!("musl-linked {what}: Lambda's OS is glibc, so it needs its own loader"),
                )
                .found(found)
                .advise("link it statically, or against glibc");
                return;
            }
            if let Some(need) = info.glibc
                && let Some((severity, message)) = self.glibc.judge(need)
            {
                self.push(
                    full.to_string(),
                    component,
                    Kind::Glibc,
                    severity,
                    format!("{what}: {message}"),
                ).found(found).advise("build it against an older glibc (a manylinux2014 or Amazon Linux 2 build image), or use a runtime on Amazon Linux 2023");
            }
            return;
        }
        if twin {
            self.push(
                full.to_string(),
                component,
                Kind::Elf,
                Severity::Ok,
                format!("{found} build of a multi-platform package: its {target} build is in the package too, and is the one loaded"),
            ).found(found);
            return;
        }
        let linkage = if info.dynamic { "" } else { "static " };
        let consequence = match role {
            Some("bootstrap") => {
                "Lambda cannot start the runtime (Runtime.InvalidEntrypoint, exec format error)"
            }
            Some("extension") => "the extension will not start, and the function's init fails",
            _ if info.is_program() => "will not run",
            _ => "will not load",
        };
        let advice = self.advice(component, path, language);
        self.push(
            full.to_string(),
            component,
            Kind::Elf,
            Severity::Incompatible,
            format!("{found} {linkage}{what}: {consequence} on {target}"),
        )
        .found(found)
        .advise(advice);
    }

    /// The runtime the code will run on, when one was named.
    fn runtime_id(&self) -> Option<&str> {
        self.glibc.runtime.as_ref().map(|(id, _)| id.as_str())
    }

    /// An extension built for another interpreter than the runtime's: a CPython module of
    /// another minor version (abi3 modules load on any later one), or a Node.js addon of
    /// another ABI where its file name says which (N-API addons load on any).
    fn interpreter_abi(
        &self,
        path: &str,
        component: Option<&Component>,
    ) -> Option<(String, String)> {
        let runtime = self.runtime_id()?;
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(minor) = runtime
            .strip_prefix("python3.")
            .and_then(|m| m.parse::<u32>().ok())
        {
            let built = cpython_minor(name)?;
            if built == minor {
                return None;
            }
            let pkg = component
                .filter(|c| c.ecosystem == Ecosystem::Pypi)
                .map_or_else(
                    || "the package".to_string(),
                    |c| format!("{}=={}", c.name, c.version),
                );
            return Some((
                format!(
                    "CPython 3.{built} extension module: {runtime} cannot import it (it loads only in Python 3.{built})"
                ),
                format!(
                    "install the build for Python 3.{minor}: pip install --python-version 3.{minor} --platform manylinux2014_{} --only-binary=:all: --target . {pkg}",
                    self.target.machine()
                ),
            ));
        }
        if let Some(major) = runtime
            .strip_prefix("nodejs")
            .and_then(|m| m.trim_end_matches(".x").parse::<u32>().ok())
        {
            let built = node_abi(name)?;
            let wanted = node_abi_of_major(major)?;
            if built == wanted {
                return None;
            }
            return Some((
                format!("Node.js addon for ABI {built}: {runtime} loads ABI {wanted} addons (or N-API ones)"),
                "install the package's build for the runtime's Node.js version (npm rebuild on that version), or a version that ships N-API prebuilds".into(),
            ));
        }
        None
    }

    fn advice(
        &self,
        component: Option<&Component>,
        path: &str,
        language: Option<&Language>,
    ) -> String {
        let target = self.target;
        let (py, node) = (target.machine(), target.node_arch());
        let packaged = component.is_some_and(|c| c.ecosystem != Ecosystem::Other);
        match language.filter(|_| !packaged) {
            Some(Language::Go(_)) => {
                return format!(
                    "rebuild it: GOOS=linux GOARCH={} go build -tags lambda.norpc -o bootstrap",
                    target.go_arch()
                );
            }
            Some(Language::Rust) => {
                let flag = if target == Architecture::Arm64 {
                    "--arm64"
                } else {
                    "--x86-64"
                };
                return format!(
                    "rebuild it: cargo lambda build --release {flag} (or cargo build --target {py}-unknown-linux-gnu)"
                );
            }
            None => {}
        }
        let Some(c) = component else {
            return match role(path) {
                Some("bootstrap") => format!(
                    "rebuild the bootstrap for {target} (cargo lambda build --{}, GOARCH={}, or an {py} cross compiler)",
                    if target == Architecture::Arm64 {
                        "arm64"
                    } else {
                        "x86-64"
                    },
                    target.go_arch(),
                ),
                _ if target == Architecture::Arm64 => {
                    format!("rebuild this file for {target} ({py})")
                }
                _ => format!("rebuild this file for {target}"),
            };
        };
        match c.ecosystem {
            Ecosystem::Pypi
                if self
                    .local_builds
                    .contains(&(c.name.clone(), c.version.clone())) =>
            {
                format!(
                    "{} {} was built from source where it was installed (its wheel is tagged linux_*, not a published manylinux wheel): build it again on linux/{py} (pip install {}=={} on Graviton or in an {py} container), or move to a version that publishes manylinux {py} wheels",
                    c.name, c.version, c.name, c.version
                )
            }
            Ecosystem::Pypi => {
                let fetch = |v: &str| {
                    format!(
                        "pip download --platform manylinux2014_{py} --only-binary=:all: {}=={v}",
                        c.name
                    )
                };
                match known::pypi(&c.name).filter(|_| target == Architecture::Arm64) {
                    Some(k) if known::compare_versions(&c.version, &k.min_version).is_lt() => {
                        format!(
                            "{} {} has no {py} wheel (the first is {}, per {}): upgrade to {}>={}, then {}",
                            c.name,
                            c.version,
                            k.min_version,
                            k.source,
                            c.name,
                            k.min_version,
                            fetch(&k.min_version)
                        )
                    }
                    _ => format!("use the {py} wheel: {}", fetch(&c.version)),
                }
            }
            Ecosystem::Npm => {
                let other = target.other().node_arch();
                if c.name.contains(other) {
                    let replacement = c.name.replace(other, node);
                    let mut a = format!(
                        "install {replacement} instead (npm install --os=linux --cpu={node})"
                    );
                    if let Some(k) = known::npm_platform(&replacement)
                        && known::compare_versions(&c.version, &k.min_version).is_lt()
                    {
                        a.push_str(&format!(
                            "; {replacement} exists from {} on (per {}): upgrade {} to >={}",
                            k.min_version, k.source, k.name, k.min_version
                        ));
                    }
                    a
                } else if path.contains("/prebuilds/") {
                    format!(
                        "{} {} ships no prebuilds/linux-{node}: use a version that does, or build it on linux/{node} (npm rebuild {})",
                        c.name, c.version, c.name
                    )
                } else {
                    format!(
                        "reinstall {}@{} for linux-{node}: npm install --os=linux --cpu={node} (a package compiled at install time must be installed on linux/{node})",
                        c.name, c.version
                    )
                }
            }
            Ecosystem::Maven => format!(
                "use a build of {} that carries linux {py} native libraries (a newer version, or its linux-{py} classifier)",
                c.name
            ),
            Ecosystem::RubyGems => format!(
                "reinstall {} {} for {py}-linux: bundle lock --add-platform {py}-linux && bundle install on linux/{py} (a gem with a C extension is compiled when installed), or use its {py}-linux platform gem where one is published",
                c.name, c.version
            ),
            Ecosystem::Nuget => format!(
                "publish for linux-{node} (dotnet publish -r linux-{node}); {} {} must ship runtimes/linux-{node}",
                c.name, c.version
            ),
            Ecosystem::Other if c.name.starts_with("arn:") => format!(
                "republish the layer with {target} builds and CompatibleArchitectures [\"{target}\"]: {}",
                c.name
            ),
            Ecosystem::Other => format!("rebuild {} for {target} ({py})", c.name),
        }
    }

    /// A platform gem (`nokogiri-1.16.0-x86_64-linux`): a build for one CPU and OS.
    fn gem_platform(&mut self, path: String, comp: &Component, platform: &str) {
        let target = self.target;
        let gem_cpu = target.machine();
        let advice = format!(
            "add the {gem_cpu}-linux platform and reinstall: bundle lock --add-platform {gem_cpu}-linux && bundle install (or gem install {} -v {} --platform {gem_cpu}-linux)",
            comp.name, comp.version
        );
        match gem_platform_arch(platform) {
            Some(arch) if arch == target => {
                self.push(
                    path,
                    Some(comp),
                    Kind::Gem,
                    Severity::Ok,
                    format!("platform gem for {platform}"),
                )
                .found(arch.machine());
            }
            Some(arch) => {
                self.push(
                    path,
                    Some(comp),
                    Kind::Gem,
                    Severity::Incompatible,
                    format!("platform gem built for {platform}: its native code will not load on {target}"),
                )
                .found(arch.machine())
                .advise(advice);
            }
            None if platform.contains("darwin") || platform.contains("mingw") => {
                self.push(
                    path,
                    Some(comp),
                    Kind::Gem,
                    Severity::Incompatible,
                    format!("platform gem for {platform}: Lambda runs Linux"),
                )
                .advise(advice);
            }
            None => {}
        }
    }

    fn wheel_tags(&mut self, path: String, comp: &Component, text: &str) {
        let platforms: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Tag:"))
            .filter_map(|t| t.trim().rsplit('-').next())
            .flat_map(|p| p.split('.'))
            .collect();
        if platforms.is_empty() {
            return;
        }
        if platforms.iter().all(|p| *p == "any") {
            self.push(
                path,
                Some(comp),
                Kind::Wheel,
                Severity::Ok,
                "pure-Python wheel: runs on any architecture".into(),
            )
            .found("any");
            return;
        }
        let want = self.target.machine();
        if platforms.iter().all(|p| p.starts_with("linux_")) {
            self.local_builds
                .insert((comp.name.clone(), comp.version.clone()));
        }
        let matching: Vec<&str> = platforms
            .iter()
            .copied()
            .filter(|p| p.ends_with(want))
            .collect();
        let found = platforms.join(", ");
        if matching.is_empty() {
            let advice = self.advice(Some(comp), &path, None);
            let target = self.target;
            self.push(
                path,
                Some(comp),
                Kind::Wheel,
                Severity::Incompatible,
                format!("platform wheel built for {found}: its compiled modules will not load on {target}"),
            ).found(found).advise(advice);
            return;
        }
        if matching.iter().all(|p| p.starts_with("musllinux")) {
            self.push(
                path,
                Some(comp),
                Kind::Wheel,
                Severity::Incompatible,
                format!("musllinux wheel ({found}): Lambda's OS uses glibc, not musl"),
            ).found(found).advise(format!(
                "use the manylinux wheel: pip download --platform manylinux2014_{want} --only-binary=:all: {}=={}",
                comp.name, comp.version
            ));
            return;
        }
        if let Some(need) = matching.iter().filter_map(|p| manylinux_glibc(p)).min()
            && let Some((severity, message)) = self.glibc.judge(need)
        {
            self.push(
                path,
                Some(comp),
                Kind::Glibc,
                severity,
                format!("wheel {found}: {message}"),
            ).found(found).advise(format!(
                "pick a wheel with an older manylinux tag: pip download --platform manylinux2014_{want} --only-binary=:all: {}=={}",
                comp.name, comp.version
            ));
        }
    }

    /// Judges an npm package's `cpu`; true when it is a platform package whose target
    /// counterpart is in the package too (so it is never loaded).
    fn npm_fields(
        &mut self,
        path: String,
        comp: &Component,
        doc: &serde_json::Value,
        present: &HashSet<String>,
    ) -> bool {
        let list = |k: &str| -> Option<Vec<String>> {
            doc.get(k)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        if let Some(os) = list("os") {
            let linux = os
                .iter()
                .any(|o| o == "linux" || (o.starts_with('!') && o != "!linux"));
            let excluded = os.iter().any(|o| o == "!linux");
            if !linux || excluded {
                let oses = os.join(", ");
                let want = self.target.node_arch();
                let counterpart = os
                    .iter()
                    .find(|o| !o.starts_with('!') && comp.name.contains(o.as_str()))
                    .map(|o| {
                        comp.name
                            .replace(o.as_str(), "linux")
                            .replace(self.target.other().node_arch(), want)
                    });
                if let Some(c) = counterpart.filter(|c| present.contains(c)) {
                    self.push(
                        path,
                        Some(comp),
                        Kind::NpmPackage,
                        Severity::Ok,
                        format!("npm package for os [{oses}], unused on Lambda: {c} is in the package too"),
                    )
                    .found(oses);
                    return true;
                }
                self.push(
                    path,
                    Some(comp),
                    Kind::NpmPackage,
                    Severity::Incompatible,
                    format!("npm package for os [{oses}]: Lambda runs Linux, so it never loads"),
                )
                .found(oses)
                .advise(format!(
                    "install the package's Linux build for {want}: npm install --os=linux --cpu={want}"
                ));
                return false;
            }
        }
        let Some(cpu) = list("cpu") else {
            return false;
        };
        let want = self.target.node_arch();
        let allowed = cpu
            .iter()
            .any(|c| c == want || (c.starts_with('!') && &c[1..] != want));
        let excluded = cpu.iter().any(|c| c.strip_prefix('!') == Some(want));
        let cpus = cpu.join(", ");
        let counterpart = comp.name.replace(self.target.other().node_arch(), want);
        if (!allowed || excluded) && counterpart != comp.name && present.contains(&counterpart) {
            self.push(
                path,
                Some(comp),
                Kind::NpmPackage,
                Severity::Ok,
                format!("npm package for cpu [{cpus}], unused on {}: {counterpart} is in the package too", self.target),
            ).found(cpus);
            return true;
        }
        if !allowed || excluded {
            let advice = self.advice(Some(comp), &path, None);
            let target = self.target;
            self.push(
                path,
                Some(comp),
                Kind::NpmPackage,
                Severity::Incompatible,
                format!("npm package for cpu [{cpus}]: will not run on {target}"),
            )
            .found(cpus)
            .advise(advice);
        } else {
            self.push(
                path,
                Some(comp),
                Kind::NpmPackage,
                Severity::Ok,
                format!(
                    "npm platform package for cpu [{cpus}]: the {} build",
                    self.target
                ),
            )
            .found(cpus);
        }
        false
    }

    /// The function's runtime: offered on the target? deprecated at `today`?
    pub(crate) fn runtime(&mut self, id: &str, today: &str) {
        let target = self.target;
        let Some(info) = archfn_model::runtime::lookup(id) else {
            self.push(
                id.to_string(),
                None,
                Kind::Runtime,
                Severity::Warning,
                format!("runtime {id} is not one archfn knows"),
            );
            return;
        };
        if !info.supports(target) {
            self.push(
                id.to_string(),
                None,
                Kind::Runtime,
                Severity::Incompatible,
                format!("runtime {id} is not offered on {target}"),
            )
            .advise(match info.os {
                OsFamily::AmazonLinux1 => {
                    "move to provided.al2023 (Go, custom runtimes) or a current language runtime"
                }
                _ => "move to a current runtime of the same language",
            });
        } else if info.deprecated(today) {
            self.push(
                id.to_string(),
                None,
                Kind::Runtime,
                Severity::Warning,
                format!(
                    "runtime {id} is deprecated (since {})",
                    info.deprecation.unwrap_or("?")
                ),
            ).advise("upgrade the runtime while migrating: creates and updates on it are or will be blocked");
        }
    }
}

/// `bootstrap` (a custom runtime's entry point, in the code or a layer) or `extension`
/// (`extensions/*` of a layer, mounted at /opt/extensions).
fn role(path: &str) -> Option<&'static str> {
    if path == "bootstrap" {
        Some("bootstrap")
    } else if path
        .strip_prefix("extensions/")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
    {
        Some("extension")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_architecture_words_in_paths() {
        assert_eq!(
            variant_key("node_modules/x/prebuilds/linux-x64/node.napi.node"),
            Some((
                "node_modules/x/prebuilds/".into(),
                "node_modules/x/prebuilds/linux-{arch}/node.napi.node".into()
            ))
        );
        assert_eq!(
            variant_key("META-INF/native/libnetty_transport_native_epoll_aarch_64.so")
                .map(|(_, k)| k),
            Some("META-INF/native/libnetty_transport_native_epoll_{arch}.so".into())
        );
        assert_eq!(
            variant_key("META-INF/native/libnetty_transport_native_epoll_x86_64.so")
                .map(|(_, k)| k),
            Some("META-INF/native/libnetty_transport_native_epoll_{arch}.so".into())
        );
        assert_eq!(variant_key("lib/libfoo.so"), None);
        assert_eq!(variant_key("x86_64/libfoo.so"), None);
        assert_eq!(arch_token("sharp-linux-arm64v8.node"), None);
        assert_eq!(arch_token("libarm.so"), None);
    }

    #[test]
    fn reads_manylinux_tags() {
        assert_eq!(manylinux_glibc("manylinux2014_aarch64"), Some((2, 17)));
        assert_eq!(manylinux_glibc("manylinux_2_28_x86_64"), Some((2, 28)));
        assert_eq!(manylinux_glibc("musllinux_1_2_x86_64"), None);
    }
}
