//! Invocations: each runs in an execution environment of the function's architecture (natively,
//! or under QEMU when the host's ISA differs), which serves the Lambda Runtime API.
//!
//! Owns: the Runtime API of each environment, starting environments (cold starts), keeping them
//! warm per function version, one invocation at a time per environment, timeouts, crashes, out of
//! memory, and the platform log lines (START/END/REPORT, each REPORT saying native or emulated).
//! Must not: resolve names, versions or aliases (the control plane does), or speak the Lambda
//! REST API.

pub mod aggregate;
mod budget;
mod ending;
mod engine;
mod environment;
mod logs;
mod metrics;
pub mod placement;
pub mod runtime_api;
mod telemetry;

pub use aggregate::WatchedVersion;
pub use archfn_sandbox::ExecutionMode;
pub use engine::{
    AliasWatch, Engine, EngineConfig, Initialization, InvocationFigures, InvokeError,
    InvokeOutcome, InvokeRequest, ProvisionStatus, Target,
};
pub use placement::{Forwarded, Forwarder, Placement};
pub use runtime_api::ResponsePart;
