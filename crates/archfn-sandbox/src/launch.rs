//! What an execution environment is, before anything runs: [`plan`] turns a function version
//! (its architecture, runtime or image, code, layers, settings) into a [`LaunchPlan`]: the root
//! file system of its (runtime, architecture), the mounts, the command through `env-init` (ISA
//! enforcement and extensions included), the environment variables and the working directory;
//! or into the launch error Lambda reports before a process starts (a bootstrap, entrypoint or
//! extension built for the other ISA, a missing bootstrap).
//!
//! It reads the code's files to judge them and starts nothing: the [`crate::host::Host`] starts
//! the plan. The architecture travels in the plan to the end.

mod image;

use std::path::Path;

use archfn_model::{Architecture, FunctionConfig, ImageLaunch};

use crate::bwrap::EnvironmentSpec;
use crate::rootfs::{RuntimeKind, RuntimeStore};
use crate::{ExecutionMode, SandboxError};

/// The function's code, as it is laid out for an environment.
#[derive(Debug, Clone, Copy)]
pub enum LaunchCode<'a> {
    /// A .zip function: its unpacked code (`/var/task`) and its merged layers (`/opt`).
    Zip {
        /// The unpacked code.
        task_dir: &'a Path,
        /// The merged layers, if any.
        opt_dir: Option<&'a Path>,
    },
    /// A container image: its unpacked root file system and how it starts.
    Image {
        /// The unpacked image.
        root: &'a Path,
        /// ENTRYPOINT, CMD, WORKDIR and ENV with ImageConfig over them.
        launch: &'a ImageLaunch,
    },
}

/// What [`plan`] plans.
#[derive(Debug, Clone, Copy)]
pub struct LaunchRequest<'a> {
    /// The function version: architecture, runtime, handler, memory, variables…
    pub config: &'a FunctionConfig,
    /// Its region (`AWS_REGION`).
    pub region: &'a str,
    /// Its code.
    pub code: LaunchCode<'a>,
    /// archfn's bootstraps, mounted at `/var/runtime`.
    pub runtime_dir: &'a Path,
    /// Where `env-init` and its QEMU copies are (see [`crate::isa::install`]).
    pub isa_dir: &'a Path,
    /// Refuse executables of the other ISA inside the environment.
    pub isa_enforced: bool,
}

/// An environment, planned.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// The function's architecture.
    pub architecture: Architecture,
    /// Native or emulated on this host.
    pub mode: ExecutionMode,
    /// The managed runtime's version (`python3.11.archfn`); `None` for an image.
    pub runtime_version: Option<String>,
    /// External extensions started with the runtime (`/opt/extensions/NAME`), in name order.
    pub extensions: Vec<String>,
    /// Mounts, command, environment, working directory.
    pub spec: EnvironmentSpec,
}

/// A launch error Lambda reports before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `Runtime.InvalidEntrypoint`: a bootstrap or entrypoint that is missing or built for
    /// the other ISA. `image_line` is Lambda's `IMAGE Launch error` log line for an image.
    InvalidEntrypoint {
        /// Lambda's message (`fork/exec /var/task/bootstrap: exec format error …`).
        message: String,
        /// The `IMAGE` log line, for an image.
        image_line: Option<String>,
    },
    /// `Extension.LaunchError`: an external extension built for the other ISA.
    ExtensionLaunch {
        /// The extension's file name.
        name: String,
    },
}

impl Refusal {
    /// Lambda's error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            Refusal::InvalidEntrypoint { .. } => "Runtime.InvalidEntrypoint",
            Refusal::ExtensionLaunch { .. } => "Extension.LaunchError",
        }
    }

    /// Lambda's message.
    pub fn message(&self) -> String {
        match self {
            Refusal::InvalidEntrypoint { message, .. } => message.clone(),
            Refusal::ExtensionLaunch { name } => {
                format!("fork/exec /opt/extensions/{name}: exec format error")
            }
        }
    }
}

/// Why there is no plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Lambda refuses to launch it (a function error, reported to the caller).
    #[error("{}: {}", .0.error_type(), .0.message())]
    Refused(Refusal),
    /// archfn cannot run it (a runtime not installed, unknown…).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A .zip function without a runtime.
    #[error("the function has neither a runtime nor an image")]
    NoRuntime,
}

/// Plans the environment of `req`, its root file system from `runtimes`.
pub fn plan(req: &LaunchRequest<'_>, runtimes: &RuntimeStore) -> Result<LaunchPlan, PlanError> {
    let c = req.config;
    let arch = c.architecture;
    let (runtime, kind, interpreter) = match (&c.runtime, req.code) {
        (Some(runtime), _) => {
            let recipe = crate::rootfs::recipe(runtime)?;
            (runtime.clone(), recipe.kind, recipe.interpreter)
        }
        // A container image brings its own runtime: it starts as an OS-only runtime would.
        (None, LaunchCode::Image { .. }) => ("image".to_string(), RuntimeKind::Provided, ""),
        (None, LaunchCode::Zip { .. }) => return Err(PlanError::NoRuntime),
    };
    let (rootfs, task_dir, opt) = match req.code {
        // The image is the root file system; its /opt may hold extensions.
        LaunchCode::Image { root, .. } => (
            root.to_path_buf(),
            root.join("var/task"),
            Some(root.join("opt")).filter(|o| o.is_dir()),
        ),
        LaunchCode::Zip { task_dir, opt_dir } => (
            runtimes.rootfs(&runtime, arch)?,
            task_dir.to_path_buf(),
            opt_dir.map(Path::to_path_buf),
        ),
    };
    let argv = runtime_argv(kind, interpreter, req, opt.as_deref()).map_err(PlanError::Refused)?;
    let extensions = opt.as_deref().map(external_extensions).unwrap_or_default();
    // An extension built for the other ISA cannot be launched: init fails at once with
    // Extension.LaunchError, as on Lambda, instead of waiting for it to register.
    if let Some(name) = opt
        .as_deref()
        .and_then(|o| foreign_extension(o, &extensions, arch))
    {
        return Err(PlanError::Refused(Refusal::ExtensionLaunch {
            name: name.to_string(),
        }));
    }
    // env-init first: the environment's identity, limits and seccomp filter, and (enforced)
    // its refusal of the other ISA's executables; it also starts the layers' external
    // extensions before the runtime.
    let paths: Vec<String> = extensions
        .iter()
        .map(|n| format!("/opt/extensions/{n}"))
        .collect();
    let mut full = crate::isa::init_argv(arch, req.isa_dir, req.isa_enforced, &paths);
    full.extend(argv);
    let working_dir = match req.code {
        LaunchCode::Image { launch, .. } => launch.working_dir.clone(),
        LaunchCode::Zip { .. } => "/var/task".to_string(),
    };
    Ok(LaunchPlan {
        architecture: arch,
        mode: ExecutionMode::for_arch(arch),
        runtime_version: match req.code {
            // Lambda names a runtime version for managed runtimes only.
            LaunchCode::Image { .. } => None,
            LaunchCode::Zip { .. } => Some(format!("{runtime}.archfn")),
        },
        spec: EnvironmentSpec {
            rootfs,
            task_dir,
            opt_dir: opt,
            runtime_dir: req.runtime_dir.to_path_buf(),
            tmp_size_mb: c.ephemeral_storage_mb,
            tmp_dir: None,
            env: environment_variables(req, &runtime, kind),
            argv: full,
            working_dir,
        },
        extensions,
    })
}

/// The runtime's command: the interpreter and archfn's bootstrap (through the function's
/// wrapper script when it names one), the function's `bootstrap`, or the image's command.
fn runtime_argv(
    kind: RuntimeKind,
    interpreter: &str,
    req: &LaunchRequest<'_>,
    opt: Option<&Path>,
) -> Result<Vec<String>, Refusal> {
    let config = req.config;
    let task_dir = match req.code {
        LaunchCode::Image { root, launch } => {
            return image::image_argv(launch, root, config.architecture).map_err(|(_, message)| {
                Refusal::InvalidEntrypoint {
                    image_line: Some(image::image_launch_error_line(launch, &message)),
                    message,
                }
            });
        }
        LaunchCode::Zip { task_dir, .. } => task_dir,
    };
    // A managed runtime is started through the function's wrapper script when it names one:
    // the script gets the interpreter and its arguments (OS-only runtimes ignore it, as on
    // Lambda).
    let wrapper = config
        .environment
        .as_ref()
        .and_then(|vars| vars.get("AWS_LAMBDA_EXEC_WRAPPER"))
        .filter(|w| !w.is_empty());
    let wrapped = |argv: Vec<String>| match wrapper {
        Some(w) => std::iter::once(w.clone()).chain(argv).collect(),
        None => argv,
    };
    match kind {
        RuntimeKind::Python => Ok(wrapped(vec![
            interpreter.into(),
            "-u".into(),
            "/var/runtime/python.py".into(),
        ])),
        RuntimeKind::Node => Ok(wrapped(vec![
            interpreter.into(),
            "/var/runtime/node.js".into(),
        ])),
        RuntimeKind::Java => {
            // Lambda's JVM flags: tiered compilation stopped at level 1 (fast start), the serial
            // collector, class-data sharing; the heap sized to the function's memory.
            let heap_mb = u64::from(config.memory_mb) * 85 / 100;
            Ok(wrapped(vec![
                interpreter.into(),
                "-XX:+TieredCompilation".into(),
                "-XX:TieredStopAtLevel=1".into(),
                "-XX:+UseSerialGC".into(),
                "-Xshare:auto".into(),
                format!("-XX:MaxHeapSize={heap_mb}m"),
                "-cp".into(),
                crate::rootfs::JAVA_CLIENT_CLASSPATH.into(),
                "archfn.Bootstrap".into(),
            ]))
        }
        RuntimeKind::Ruby => Ok(wrapped(vec![
            interpreter.into(),
            "/var/runtime/ruby.rb".into(),
        ])),
        RuntimeKind::Provided => {
            let candidates = [
                (task_dir.join("bootstrap"), "/var/task/bootstrap"),
                (
                    opt.map(|o| o.join("bootstrap")).unwrap_or_default(),
                    "/opt/bootstrap",
                ),
            ];
            for (host, inside) in candidates {
                if host.as_os_str().is_empty() || !host.is_file() {
                    continue;
                }
                let mut head = [0u8; 20];
                let n = std::fs::File::open(&host)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .unwrap_or(0);
                if let Some(found) = archfn_model::elf::machine(&head[..n])
                    && found != config.architecture
                {
                    return Err(Refusal::InvalidEntrypoint {
                        message: format!(
                            "fork/exec {inside}: exec format error (the bootstrap is a {found} executable; the function is {})",
                            config.architecture
                        ),
                        image_line: None,
                    });
                }
                return Ok(vec![inside.to_string()]);
            }
            Err(Refusal::InvalidEntrypoint {
                message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
                    .into(),
                image_line: None,
            })
        }
    }
}

/// Lambda's environment variables for the function: the image's ENV, then the function's
/// variables, then Lambda's own (a later one wins), and the defaults an image does not set.
fn environment_variables(
    req: &LaunchRequest<'_>,
    runtime: &str,
    kind: RuntimeKind,
) -> Vec<(String, String)> {
    let c = req.config;
    let image = match req.code {
        LaunchCode::Image { launch, .. } => Some(launch),
        LaunchCode::Zip { .. } => None,
    };
    let today = archfn_model::time::format_last_modified(archfn_model::time::now_ms());
    let stream = format!(
        "{}/[{}]{}",
        today.get(..10).unwrap_or("1970-01-01").replace('-', "/"),
        c.version,
        uuid::Uuid::new_v4().simple()
    );
    let mut env: Vec<(String, String)> = Vec::new();
    let image_env = image.map(|i| &i.env[..]).unwrap_or_default();
    env.extend(image_env.iter().cloned());
    if let Some(vars) = &c.environment {
        env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    // Where the image sets these for its own programs, its values stand.
    let from_image = |k: &str| image_env.iter().any(|(name, _)| name == k);
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    let handler = match image {
        Some(image) => image.command.first().cloned(),
        None => c.handler.clone(),
    };
    set("_HANDLER", handler.unwrap_or_default());
    set("AWS_REGION", req.region.to_string());
    set("AWS_DEFAULT_REGION", req.region.to_string());
    if kind != RuntimeKind::Provided && image.is_none() {
        set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{runtime}"));
    }
    set("AWS_LAMBDA_FUNCTION_NAME", c.name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", c.version.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
    let logging = c.effective_logging();
    set("AWS_LAMBDA_LOG_GROUP_NAME", logging.log_group.clone());
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream);
    // Set, as on Lambda, only when the function's logs are JSON: the runtimes' loggers read
    // them to write JSON records and to filter by the application level.
    if let Some(level) = logging.application_level {
        set("AWS_LAMBDA_LOG_FORMAT", logging.format.as_str().into());
        set("AWS_LAMBDA_LOG_LEVEL", level.as_str().into());
    }
    set("LAMBDA_TASK_ROOT", "/var/task".into());
    set("LAMBDA_RUNTIME_DIR", "/var/runtime".into());
    let defaults = [
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        (
            "PATH",
            "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        ),
        (
            "LD_LIBRARY_PATH",
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        ),
    ];
    for (k, v) in defaults {
        if !from_image(k) {
            set(k, v.into());
        }
    }
    if kind == RuntimeKind::Ruby {
        // Gems of the package (`bundle config set path vendor/bundle`) and of layers
        // (`ruby/gems/X.Y.0`), and layers' `ruby/lib`, where Lambda's Ruby runtime looks.
        let abi = format!("{}.0", runtime.trim_start_matches("ruby"));
        set(
            "GEM_PATH",
            format!("/var/task/vendor/bundle/ruby/{abi}:/opt/ruby/gems/{abi}"),
        );
        set("RUBYLIB", "/var/task:/opt/ruby/lib".into());
    }
    if kind == RuntimeKind::Node {
        let major = runtime.trim_start_matches("nodejs").trim_end_matches(".x");
        set(
            "NODE_PATH",
            format!(
                "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
            ),
        );
    }
    env
}

/// The external extensions of merged layers: the names of the executable files in
/// `<opt>/extensions/` (`/opt/extensions/NAME` inside the environment), in name order.
fn external_extensions(opt: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(opt.join("extensions")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The first of the external `extensions` (names in `<opt>/extensions/`) that is an ELF program
/// of another ISA than `arch`.
fn foreign_extension<'a>(
    opt: &Path,
    extensions: &'a [String],
    arch: Architecture,
) -> Option<&'a str> {
    extensions.iter().map(String::as_str).find(|name| {
        let mut head = [0u8; 20];
        std::fs::File::open(opt.join("extensions").join(name))
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .is_ok_and(|n| {
                archfn_model::elf::machine(&head[..n]).is_some_and(|found| found != arch)
            })
    })
}
