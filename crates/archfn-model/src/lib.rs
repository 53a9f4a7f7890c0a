//! Domain types and validation rules of archfn.
//!
//! Owns: function names and ARNs, qualifiers, the `Architecture` enum (and which one an ELF
//! header names), invocation types, the runtime catalogue (which runtime is offered on which
//! architecture, and until when), Lambda's limits, and the stored shape of a function, version,
//! alias and layer version.
//! Must not: do IO, know the Lambda wire format, or depend on tokio/axum/sqlx.
#![warn(missing_docs)]

pub mod architecture;
pub mod arn;
pub mod deployment;
pub mod elf;
pub mod function;
pub mod invocation;
pub mod layer;
pub mod limits;
pub mod log_events;
pub mod logging;
pub mod metrics;
pub mod runtime;
pub mod time;
pub mod url_host;
pub mod validation;

pub use architecture::Architecture;
pub use arn::{FunctionRef, Qualifier, Scope};
pub use function::{
    AliasRecord, Code, CodeLocation, FunctionConfig, FunctionRecord, ImageLaunch, LastUpdateStatus,
    LayerAttachment, PackageType, State,
};
pub use invocation::InvocationType;
pub use layer::LayerVersionRecord;
pub use logging::{EffectiveLogging, LogFormat, LogLevel, LoggingConfig};
pub use runtime::{OsFamily, RuntimeInfo};
pub use validation::ValidationErrors;
