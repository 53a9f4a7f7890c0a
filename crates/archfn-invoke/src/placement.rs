//! Where an invocation runs when there are several nodes: the engine asks its [`Forwarder`]
//! (the binary's, which knows the live workers and how to reach them) before running an
//! invocation itself. The engine knows nothing of nodes, addresses or HTTP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{InvokeError, InvokeOutcome, InvokeRequest};

/// How the node that answered came to run an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Here, as nothing asked for another node.
    #[default]
    Local,
    /// On a worker the invocation was forwarded to.
    Forwarded,
    /// Here, because no worker of the function's capacity provider (or architecture) was
    /// alive or reachable.
    Fallback,
}

impl Placement {
    /// Its name in the `x-archfn-placement` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Local => "local",
            Placement::Forwarded => "forwarded",
            Placement::Fallback => "fallback",
        }
    }
}

/// What a [`Forwarder`] did with an invocation.
#[derive(Debug)]
pub enum Forwarded {
    /// Run it here, placed as said.
    Here(Placement),
    /// Another node ran it (or tried to, and failed after it may have run).
    Ran(Result<InvokeOutcome, InvokeError>),
}

/// A boxed future of a [`Forwarder`].
pub type ForwardFuture<'a> = Pin<Box<dyn Future<Output = Forwarded> + Send + 'a>>;

/// Sends invocations to the nodes that should run them.
pub trait Forwarder: Send + Sync + std::fmt::Debug {
    /// Runs `req` (request id `request_id`) on another node, or says to run it here.
    fn forward<'a>(&'a self, req: &'a InvokeRequest, request_id: &'a str) -> ForwardFuture<'a>;
}

/// A shared [`Forwarder`].
pub type SharedForwarder = Arc<dyn Forwarder>;
