//! Arm64 readiness: reads a built artifact (a zip, a wheel, a jar, a directory) and says, file by
//! file, what will not run on the target architecture and what to do about it.
//!
//! Owns: the ELF reader, the archive walk (nested archives to a bounded depth), the rules that
//! turn evidence into findings, and the report.
//! Must not: do IO beyond the reader it is given, or panic on any input.
#![warn(missing_docs)]

pub mod elf;
pub mod report;
mod walk;

pub use report::{Finding, Kind, Report, Severity};
pub use walk::{ScanError, Source, scan_function, scan_source, scan_zip};
