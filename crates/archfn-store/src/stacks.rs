//! The records of archfn's CloudFormation: each stack as one JSON document (its template,
//! parameters, resources, outputs and change sets), and its events in order.

use async_trait::async_trait;

use crate::StoreError;

/// A stack's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRow {
    /// Its id (an ARN).
    pub stack_id: String,
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
    /// The stack, as its owner encodes it.
    pub document: String,
    /// Last written, Unix milliseconds.
    pub updated_ms: i64,
}

/// Stacks and their events. Every method is atomic and durable when it returns.
#[async_trait]
pub trait StackCatalog: Send + Sync + std::fmt::Debug {
    /// Writes a stack (replacing the record of the same id).
    async fn put_stack(&self, row: &StackRow) -> Result<(), StoreError>;
    /// Every stack, of every region, oldest first.
    async fn list_stacks(&self) -> Result<Vec<StackRow>, StoreError>;
    /// Appends an event (its `seq` counts from 1 per stack).
    async fn put_stack_event(
        &self,
        stack_id: &str,
        seq: i64,
        document: &str,
    ) -> Result<(), StoreError>;
    /// A stack's events, oldest first.
    async fn stack_events(&self, stack_id: &str) -> Result<Vec<String>, StoreError>;
}
