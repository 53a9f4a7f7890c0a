//! `archfn migrate`: rebuilds a Python or Node.js deployment package for another architecture.
//! Each platform-specific wheel or npm platform package is replaced by the target's build of
//! the same version (pip and npm run for the target platform); everything else is carried
//! over byte for byte. What cannot be swapped is listed, not hidden.
//!
//! Owns: unpacking the input into a working tree, the swaps, and zipping the result.
//! Must not: change versions, or write outside the working tree and the output file.
#![warn(missing_docs)]

mod node;
mod python;
mod tree;

use std::path::Path;

use archfn_model::Architecture;

/// Why a migration could not be done.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The input is not a zip or a directory, or holds paths that cannot be carried over.
    #[error("input: {0}")]
    Input(String),
    /// pip or npm could not be started.
    #[error("{0}")]
    Tool(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// The kind of package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Wheels installed in the package (`*.dist-info`).
    Python,
    /// npm packages in `node_modules`.
    Node,
}

/// How to migrate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Python or Node.js.
    pub language: Language,
    /// The architecture to rebuild for.
    pub target: Architecture,
    /// The Python interpreter whose pip fetches wheels.
    pub python: String,
    /// The Python version wheels are fetched for (`3.11`); read from each wheel's tag if unset.
    pub python_version: Option<String>,
    /// Newest glibc the wheels may need (`manylinux_2_<minor>`), as (2, minor).
    pub glibc: (u32, u32),
    /// The npm command.
    pub npm: String,
}

/// What a migration did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Each swap, `old → new`.
    pub swapped: Vec<String>,
    /// What could not be swapped, and why.
    pub left: Vec<String>,
}

/// Migrates `input` (a zip or a directory) into the zip `output`. `progress` hears one line
/// per package as it is fetched.
pub fn migrate(
    input: &Path,
    output: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, MigrateError> {
    let work = tempfile::tempdir().map_err(|e| MigrateError::Io(e.to_string()))?;
    let root = work.path().join("package");
    if input.is_dir() {
        tree::copy_dir(input, &root)?;
    } else {
        let file = std::fs::File::open(input)
            .map_err(|e| MigrateError::Input(format!("{}: {e}", input.display())))?;
        std::fs::create_dir_all(&root).map_err(|e| MigrateError::Io(e.to_string()))?;
        tree::unzip(std::io::BufReader::new(file), &root)?;
    }
    let outcome = match opts.language {
        Language::Python => python::migrate(&root, opts, progress)?,
        Language::Node => node::migrate(&root, opts, progress)?,
    };
    tree::zip_dir(&root, output)?;
    Ok(outcome)
}
