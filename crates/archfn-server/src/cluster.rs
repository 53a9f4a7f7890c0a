//! Several nodes: this node's heartbeat, the live workers it knows of, and the forwarding of
//! invocations to them (`archfn_invoke::Forwarder`), over the node-to-node route of
//! `archfn_api::internal`.
//!
//! A function with a `CapacityProviderConfig` runs on a live worker of that provider; one
//! without runs on a live worker of any provider of its architecture; when there is none (or
//! none answers the connection), it runs here, said as `fallback` when a worker was wanted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use archfn_api::internal as h;
use archfn_control::capacity_provider::function_provider;
use archfn_control::cluster::{Cluster, HEARTBEAT_EVERY, NodeRecord, ProviderRef, Role};
use archfn_invoke::placement::ForwardFuture;
use archfn_invoke::{
    Engine, ExecutionMode, Forwarded, Forwarder, InvokeError, InvokeOutcome, InvokeRequest,
    Placement,
};
use archfn_model::Architecture;
use base64::Engine as _;

/// How often the live nodes are read again.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// This node as the heartbeat describes it.
#[derive(Debug, Clone)]
pub struct Me {
    /// Its id.
    pub id: String,
    /// What it does.
    pub role: Role,
    /// Where other nodes reach it.
    pub advertise: String,
    /// The architecture it runs functions of: the host's, or its provider's for a worker of an
    /// emulated pool (`--emulated-pool`).
    pub architecture: Architecture,
    /// The provider it is a worker of.
    pub provider: Option<ProviderRef>,
}

/// Forwards invocations to live workers.
#[derive(Debug)]
pub struct NodeForwarder {
    me: String,
    host: Architecture,
    /// The provider this node is a worker of: its functions run here.
    provider: Option<ProviderRef>,
    secret: Arc<str>,
    client: reqwest::Client,
    /// Live workers other than this node, as last read.
    workers: RwLock<Arc<Vec<NodeRecord>>>,
    next: AtomicUsize,
}

/// Starts the heartbeat and the reading of live nodes; gives the engine its node id and a
/// forwarder. Returns the forwarder (its list of workers is refreshed in the background).
pub fn start(
    cluster: Cluster,
    engine: &Engine,
    me: Me,
    secret: Arc<str>,
) -> anyhow::Result<Arc<NodeForwarder>> {
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()?;
    let forwarder = Arc::new(NodeForwarder {
        me: me.id.clone(),
        host: Architecture::host().unwrap_or(me.architecture),
        provider: me.provider.clone(),
        secret,
        client,
        workers: RwLock::new(Arc::new(Vec::new())),
        next: AtomicUsize::new(0),
    });
    engine.set_node(&me.id);
    engine.set_forwarder(forwarder.clone());
    let (beat_cluster, beat_engine) = (cluster.clone(), engine.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tick.tick().await;
            let record = NodeRecord {
                id: me.id.clone(),
                role: me.role,
                advertise: me.advertise.clone(),
                architecture: me.architecture,
                capacity_provider: me.provider.clone(),
                free_memory_mb: beat_engine.free_memory_mb(),
                heartbeat_ms: 0,
            };
            if let Err(e) = beat_cluster.heartbeat(&record).await {
                tracing::warn!(error = %e, "writing this node's heartbeat");
            }
        }
    });
    let weak = Arc::downgrade(&forwarder);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        loop {
            tick.tick().await;
            let Some(f) = weak.upgrade() else { return };
            match cluster.live_nodes().await {
                Ok(nodes) => {
                    let workers: Vec<NodeRecord> = nodes
                        .into_iter()
                        .filter(|n| n.role == Role::Worker && n.id != f.me)
                        .collect();
                    if let Ok(mut w) = f.workers.write() {
                        *w = Arc::new(workers);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the live nodes"),
            }
        }
    });
    Ok(forwarder)
}

impl NodeForwarder {
    /// The live workers that should run `req`, and whether one was wanted at all.
    fn candidates(&self, req: &InvokeRequest) -> (Vec<NodeRecord>, bool) {
        let config = &req.target.config;
        let workers = self
            .workers
            .read()
            .map(|w| Arc::clone(&w))
            .unwrap_or_default();
        match function_provider(config) {
            // A worker of the function's provider runs it itself.
            Some((region, name))
                if self
                    .provider
                    .as_ref()
                    .is_some_and(|p| p.region == region && p.name == name) =>
            {
                (Vec::new(), false)
            }
            Some((region, name)) => (
                workers
                    .iter()
                    .filter(|w| {
                        w.capacity_provider
                            .as_ref()
                            .is_some_and(|p| p.region == region && p.name == name)
                    })
                    .cloned()
                    .collect(),
                true,
            ),
            None => (
                workers
                    .iter()
                    .filter(|w| w.architecture == config.architecture)
                    .cloned()
                    .collect(),
                config.architecture != self.host,
            ),
        }
    }

    /// Forgets a worker that did not take a connection, until its next heartbeat is read.
    fn forget(&self, id: &str) {
        if let Ok(mut w) = self.workers.write() {
            let rest: Vec<NodeRecord> = w.iter().filter(|n| n.id != id).cloned().collect();
            *w = Arc::new(rest);
        }
    }

    async fn send(
        &self,
        worker: &NodeRecord,
        req: &InvokeRequest,
        request_id: &str,
    ) -> Result<Forwarded, reqwest::Error> {
        let c = &req.target.config;
        let mut call = self
            .client
            .post(format!(
                "{}{}",
                worker.advertise.trim_end_matches('/'),
                h::PATH
            ))
            .bearer_auth(&self.secret)
            .header(h::REGION, &req.target.region)
            .header(h::FUNCTION, &c.name)
            .header(h::VERSION, &c.version)
            .header(h::REVISION, &c.revision_id)
            .header(h::INVOKED_ARN, &req.invoked_arn)
            .header(h::REQUEST_ID, request_id)
            .timeout(Duration::from_secs(u64::from(c.timeout_s) + 60))
            .body(req.payload.clone());
        if let Some(alias) = &req.alias {
            call = call.header(h::ALIAS, alias);
        }
        if let Some(cc) = &req.client_context {
            call = call.header(
                h::CLIENT_CONTEXT,
                base64::engine::general_purpose::STANDARD.encode(cc),
            );
        }
        let resp = call.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if status == reqwest::StatusCode::OK {
            let log_len = get(h::LOG_LENGTH)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(body.len());
            let log = String::from_utf8_lossy(&body[..log_len]).into_owned();
            let figures = get(h::FIGURES)
                .and_then(h::Figures::decode)
                .unwrap_or_default();
            let outcome = InvokeOutcome {
                request_id: request_id.to_string(),
                payload: body.slice(log_len..),
                function_error: get(h::FUNCTION_ERROR).map(str::to_string),
                log,
                mode: match get(h::EXECUTION) {
                    Some("emulated") => ExecutionMode::Emulated,
                    _ => ExecutionMode::Native,
                },
                figures: archfn_invoke::InvocationFigures {
                    duration_ms: figures.duration_ms,
                    billed_ms: figures.billed_ms,
                    max_memory_used_mb: figures.max_memory_used_mb,
                    init_ms: figures.init_ms,
                    cold: figures.cold,
                    error_type: figures.error_type,
                },
                streamed: false,
                node: Some(Arc::from(get(h::NODE).unwrap_or(&worker.id))),
                placement: Placement::Forwarded,
            };
            return Ok(Forwarded::Ran(Ok(outcome)));
        }
        let message = String::from_utf8_lossy(&body).into_owned();
        match get(h::ERROR_KIND)
            .and_then(h::InvokeErrorKind::parse)
            .and_then(|k| k.error(message.clone()))
        {
            Some(e) => Ok(Forwarded::Ran(Err(e))),
            None => {
                tracing::warn!(worker = %worker.id, %status, %message, "a worker did not run a forwarded invocation: running it here");
                Ok(Forwarded::Here(Placement::Fallback))
            }
        }
    }
}

impl Forwarder for NodeForwarder {
    fn forward<'a>(&'a self, req: &'a InvokeRequest, request_id: &'a str) -> ForwardFuture<'a> {
        Box::pin(async move {
            let (mut candidates, wanted) = self.candidates(req);
            if candidates.is_empty() {
                return Forwarded::Here(if wanted {
                    Placement::Fallback
                } else {
                    Placement::Local
                });
            }
            let start = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
            candidates.rotate_left(start);
            for worker in &candidates {
                match self.send(worker, req, request_id).await {
                    Ok(done) => return done,
                    Err(e) if e.is_connect() => {
                        tracing::warn!(worker = %worker.id, error = %e, "a worker is unreachable");
                        self.forget(&worker.id);
                    }
                    Err(e) => {
                        return Forwarded::Ran(Err(InvokeError::Internal(format!(
                            "the invocation forwarded to node {} failed: {e}",
                            worker.id
                        ))));
                    }
                }
            }
            Forwarded::Here(Placement::Fallback)
        })
    }
}
