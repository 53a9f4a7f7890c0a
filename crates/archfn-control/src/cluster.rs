//! Several nodes on one metadata store: the node registry (each node's heartbeat, a settings
//! document of kind `Node`) and leases (one `Lease` document per name, taken and renewed with
//! etag-conditional writes), so that work one node at a time must drive (a traffic shift) has
//! one driver, and is taken over when that driver stops renewing.
//!
//! Must not: cache. Every read goes to the store it was given, which must be the store itself,
//! not a per-process read cache: other nodes write these documents.

use std::sync::Arc;
use std::time::Duration;

use archfn_model::Architecture;
use archfn_store::{MetadataStore, SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A node whose heartbeat is older than this is dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(6);

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves the API and runs invocations (the default).
    All,
    /// Runs the invocations other nodes forward to it, for one capacity provider.
    Worker,
}

impl Role {
    /// Its name on the command line and in the heartbeat.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Worker => "worker",
        }
    }
}

/// A node's heartbeat document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Random at start.
    pub id: String,
    /// What it does.
    pub role: Role,
    /// The base URL other nodes reach it at (`http://host:port`).
    pub advertise: String,
    /// The instruction set it runs functions of: its host's, or its capacity provider's for a
    /// worker of an emulated pool (`archfn serve --emulated-pool`).
    pub architecture: Architecture,
    /// The capacity provider it is a worker of: its region and name.
    pub capacity_provider: Option<ProviderRef>,
    /// Memory (MB) its environments may still take.
    pub free_memory_mb: u64,
    /// Unix milliseconds of the heartbeat.
    pub heartbeat_ms: i64,
}

/// A capacity provider by region and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProviderRef {
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
}

impl NodeRecord {
    /// Whether the heartbeat is recent enough at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.heartbeat_ms) <= DEAD_AFTER.as_millis() as i64
    }
}

/// A lease's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The node holding it.
    pub holder: String,
    /// Unix milliseconds after which another node may take it.
    pub expires_ms: i64,
}

/// A lease this node holds: renew it before it expires, release it when done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Its name.
    pub name: String,
    /// The etag of the document as this node last wrote it.
    pub etag: i64,
    /// Unix milliseconds at which it expires unless renewed.
    pub expires_ms: i64,
}

/// Why a lease operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds it (or took it over since it was last renewed).
    #[error("lease {name} is held by node {holder}")]
    Held {
        /// The lease.
        name: String,
        /// Its holder.
        holder: String,
    },
    /// The store failed.
    #[error("lease store: {0}")]
    Store(#[from] StoreError),
}

/// The registry and the leases, over one store shared by every node.
#[derive(Debug, Clone)]
pub struct Cluster {
    store: Arc<dyn MetadataStore>,
    node: Arc<str>,
}

fn node_key(id: &str) -> SettingKey {
    SettingKey::new("", SettingKind::Node, "", id)
}

fn lease_key(name: &str) -> SettingKey {
    SettingKey::new("", SettingKind::Lease, "", name)
}

fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Cluster {
    /// The cluster as node `node` sees it, over `store` (not a read cache).
    pub fn new(store: Arc<dyn MetadataStore>, node: impl Into<Arc<str>>) -> Cluster {
        Cluster {
            store,
            node: node.into(),
        }
    }

    /// A new random node id (12 hex digits).
    pub fn new_node_id() -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        id[..12].to_string()
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Writes this node's heartbeat (its `heartbeat_ms` is set to now).
    pub async fn heartbeat(&self, record: &NodeRecord) -> Result<(), StoreError> {
        let mut record = record.clone();
        record.heartbeat_ms = archfn_model::time::now_ms();
        self.store
            .put_setting(
                &node_key(&record.id),
                &encode(&record)?,
                None,
                SettingWrite::Upsert,
            )
            .await
            .map(|_| ())
    }

    /// Removes this node's heartbeat (a clean stop).
    pub async fn leave(&self) -> Result<(), StoreError> {
        self.store
            .delete_setting(&node_key(&self.node), None)
            .await
            .map(|_| ())
    }

    /// Every node whose heartbeat is recent; removes the documents of nodes dead for a minute.
    pub async fn live_nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let now = archfn_model::time::now_ms();
        let mut live = Vec::new();
        for row in self
            .store
            .list_settings_everywhere(SettingKind::Node)
            .await?
        {
            let Ok(node) = row.decode::<NodeRecord>() else {
                continue;
            };
            if node.is_live(now) {
                live.push(node);
            } else if now.saturating_sub(node.heartbeat_ms) > 60_000 {
                // Long dead: forgotten, unless it wrote again meanwhile (the etag tells).
                let _ = self.store.delete_setting(&row.key, Some(row.etag)).await;
            }
        }
        Ok(live)
    }

    /// Takes the lease `name` for `ttl`: when nobody holds it, when it has expired, or when
    /// this node already holds it (then it is renewed).
    pub async fn acquire(&self, name: &str, ttl: Duration) -> Result<Lease, LeaseError> {
        let key = lease_key(name);
        let now = archfn_model::time::now_ms();
        let record = LeaseRecord {
            holder: self.node.to_string(),
            expires_ms: now + ttl.as_millis() as i64,
        };
        let doc = encode(&record)?;
        let write = match self.store.get_setting(&key).await? {
            None => SettingWrite::Create,
            Some(row) => {
                let current: LeaseRecord = row.decode()?;
                if current.holder != *self.node && current.expires_ms > now {
                    return Err(LeaseError::Held {
                        name: name.to_string(),
                        holder: current.holder,
                    });
                }
                SettingWrite::Replace(row.etag)
            }
        };
        match self.store.put_setting(&key, &doc, None, write).await {
            Ok(etag) => Ok(Lease {
                name: name.to_string(),
                etag,
                expires_ms: record.expires_ms,
            }),
            // Another node wrote it between the read and the write: theirs.
            Err(StoreError::AlreadyExists | StoreError::Conflict) => Err(LeaseError::Held {
                name: name.to_string(),
                holder: "another node".to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Extends a lease this node holds by `ttl` from now; `Held` when another node has taken
    /// it over meanwhile (this node must stop driving what it covers).
    pub async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<(), LeaseError> {
        let record = LeaseRecord {
            holder: self.node.to_string(),
            expires_ms: archfn_model::time::now_ms() + ttl.as_millis() as i64,
        };
        match self
            .store
            .put_setting(
                &lease_key(&lease.name),
                &encode(&record)?,
                None,
                SettingWrite::Replace(lease.etag),
            )
            .await
        {
            Ok(etag) => {
                lease.etag = etag;
                lease.expires_ms = record.expires_ms;
                Ok(())
            }
            Err(StoreError::Conflict | StoreError::NotFound) => Err(LeaseError::Held {
                name: lease.name.clone(),
                holder: "another node".to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives a lease up (only as this node last wrote it: a lease taken over stays the new
    /// holder's).
    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        match self
            .store
            .delete_setting(&lease_key(&lease.name), Some(lease.etag))
            .await
        {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The lease `name` as stored (holder and expiry), if any.
    pub async fn lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        match self.store.get_setting(&lease_key(name)).await? {
            Some(row) => Ok(Some(row.decode()?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &tempfile::TempDir) -> Arc<dyn MetadataStore> {
        match archfn_store::SqliteStore::open(&dir.path().join("archfn.db")).await {
            Ok(s) => Arc::new(s),
            Err(e) => panic!("opening the store: {e}"),
        }
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_or_is_released() -> Result<(), LeaseError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let store = store(&dir).await;
        let (a, b) = (Cluster::new(store.clone(), "a"), Cluster::new(store, "b"));
        let mut held = a.acquire("shift-1", Duration::from_secs(60)).await?;
        assert!(matches!(
            b.acquire("shift-1", Duration::from_secs(60)).await,
            Err(LeaseError::Held { holder, .. }) if holder == "a"
        ));
        // The holder renews it, and taking it again is a renewal.
        a.renew(&mut held, Duration::from_secs(60)).await?;
        let again = a.acquire("shift-1", Duration::from_secs(60)).await?;
        // A renewal at the old etag fails: the lease was written since.
        assert!(a.renew(&mut held, Duration::from_secs(60)).await.is_err());
        a.release(&again).await?;
        let mut by_b = b.acquire("shift-1", Duration::from_millis(1)).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Expired: taken over, and the old holder's renewal is refused.
        let taken = a.acquire("shift-1", Duration::from_secs(60)).await?;
        assert!(matches!(
            b.renew(&mut by_b, Duration::from_secs(60)).await,
            Err(LeaseError::Held { .. })
        ));
        assert_eq!(
            a.lease("shift-1").await?.map(|l| l.holder),
            Some("a".to_string())
        );
        // Releasing at a stale etag leaves the new holder's lease alone.
        b.release(&by_b).await?;
        assert!(a.lease("shift-1").await?.is_some());
        a.release(&taken).await?;
        assert!(a.lease("shift-1").await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn a_node_is_live_while_its_heartbeat_is_recent() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let c = Cluster::new(store(&dir).await, "n1");
        let record = NodeRecord {
            id: "n1".into(),
            role: Role::Worker,
            advertise: "http://127.0.0.1:1".into(),
            architecture: Architecture::Arm64,
            capacity_provider: Some(ProviderRef {
                region: "us-east-1".into(),
                name: "pool".into(),
            }),
            free_memory_mb: 512,
            heartbeat_ms: 0,
        };
        c.heartbeat(&record).await?;
        let live = c.live_nodes().await?;
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].capacity_provider, record.capacity_provider);
        let now = archfn_model::time::now_ms();
        assert!(live[0].is_live(now));
        assert!(!live[0].is_live(now + DEAD_AFTER.as_millis() as i64 + 1));
        c.leave().await?;
        assert!(c.live_nodes().await?.is_empty());
        Ok(())
    }
}
