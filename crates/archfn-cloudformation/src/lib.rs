//! CloudFormation's query API on archfn's endpoint: templates read (JSON and YAML), stacks and
//! change sets run in dependency order over archfn's control plane, kept in its store.
//!
//! Owns: the template language (`template`, `yaml`, `intrinsic`), the dependency graph
//! (`graph`), the stack engine and its states (`engine`), one provider per resource type
//! (`resources`), and the query protocol's wire (`wire`).
//! Must not: speak SQL (the store's `StackCatalog` keeps its records) or bypass the control
//! plane's rules (resources are made through `Control`'s use cases).

pub mod engine;
pub mod error;
pub mod graph;
pub mod intrinsic;
pub mod resources;
pub mod shift;
pub mod template;
pub mod wire;
pub mod yaml;

pub use error::CfnError;
pub use shift::{AliasShift, AliasShifts};
pub use wire::{CloudFormation, is_cloudformation_form};
