//! The same behaviour, checked on both metadata backends: every test here runs once on SQLite
//! and once on PostgreSQL. The PostgreSQL runs need `ARCHFN_TEST_POSTGRES`, a base URL
//! (`postgres://USER@HOST:PORT`) of a server where a test may create a database of its own
//! (scripts/test.sh starts one with scripts/postgres.sh); without it they say they were skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use archfn_model::deployment::{
    DeploymentRecord, DeploymentStatus, Guardrails, Hooks, Phase, ShiftPlan,
};
use archfn_model::log_events::{LogBatch, LogEvent};
use archfn_model::{AliasRecord, FunctionConfig, FunctionRecord, LayerVersionRecord};
use archfn_store::logs::{EventQuery, LogCatalog, StreamSelection};
use archfn_store::objects::{BucketRecord, ObjectCatalog, ObjectRecord, PartRecord, UploadRecord};
use archfn_store::stacks::{StackCatalog, StackRow};
use archfn_store::{
    AsyncEvent, CachedStore, DeploymentFilter, Durability, MetadataStore, PgStore, SettingKey,
    SettingKind, SettingRow, SettingWrite, SqliteStore, StoreError,
};

type R = Result<(), StoreError>;

/// All that a backend is.
trait Backend: MetadataStore + ObjectCatalog + LogCatalog + StackCatalog + Clone + 'static {}
impl<T: MetadataStore + ObjectCatalog + LogCatalog + StackCatalog + Clone + 'static> Backend for T {}

fn fail(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A fresh SQLite database file for test `name`.
async fn sqlite(name: &str) -> Result<SqliteStore, StoreError> {
    let dir = std::env::temp_dir().join(format!("archfn-backends-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(fail)?;
    SqliteStore::open(&dir.join("meta.db")).await
}

/// The URL of a fresh PostgreSQL database for test `name`, or None (skipped) without a server.
async fn postgres_url(name: &str) -> Result<Option<String>, StoreError> {
    let Ok(base) = std::env::var("ARCHFN_TEST_POSTGRES") else {
        eprintln!("skipped: ARCHFN_TEST_POSTGRES is not set (scripts/test.sh sets it)");
        return Ok(None);
    };
    let base = base.trim_end_matches('/');
    let db = format!("archfn_test_{name}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .map_err(fail)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .execute(&admin)
        .await
        .map_err(fail)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .map_err(fail)?;
    admin.close().await;
    Ok(Some(format!("{base}/{db}")))
}

/// Runs `$body` (a generic async fn taking two stores on one database) on both backends.
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() -> R {
                // SQLite has one process: the second "node" is another handle on its pools.
                let a = super::sqlite(stringify!($name)).await?;
                let b = a.clone();
                $body(a, b).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() -> R {
                let Some(url) = super::postgres_url(stringify!($name)).await? else {
                    return Ok(());
                };
                let a = PgStore::connect(&url, 8).await?;
                let b = PgStore::connect(&url, 8).await?;
                $body(a, b).await
            }
        }
    };
}

fn record(name: &str, description: &str) -> FunctionRecord {
    let json = serde_json::json!({
        "latest": {
            "name": name, "version": "$LATEST", "runtime": "python3.12", "handler": "a.b",
            "role": "arn:aws:iam::123456789012:role/r", "description": description, "timeout_s": 3,
            "memory_mb": 128, "ephemeral_storage_mb": 512, "architecture": "arm64", "package_type": "Zip",
            "code": { "sha256": "x", "size": 10, "unzipped_size": 1, "digest": format!("code-{name}"), "image_uri": null },
            "environment": null,
            "layers": [{ "arn": "arn:aws:lambda:r:1:layer:l:1", "code_size": 1, "unzipped_size": 1, "digest": "layer-d" }],
            "tracing_mode": "PassThrough", "state": "Active",
            "state_reason": null, "state_reason_code": null, "last_update_status": null,
            "last_update_status_reason": null, "last_update_status_reason_code": null,
            "revision_id": "r1", "last_modified_ms": 0, "opaque": {}
        },
        "tags": {}, "reserved_concurrency": 5, "last_version": 0, "published_revision": null, "created_ms": 0
    });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

fn version_of(rec: &FunctionRecord, n: u64) -> FunctionConfig {
    let mut v = rec.latest.clone();
    v.version = n.to_string();
    v
}

fn alias(function: &str, name: &str, version: &str) -> AliasRecord {
    AliasRecord {
        function: function.into(),
        name: name.into(),
        function_version: version.into(),
        description: String::new(),
        additional_weights: BTreeMap::new(),
        revision_id: "r".into(),
    }
}

fn layer(name: &str) -> LayerVersionRecord {
    LayerVersionRecord {
        name: name.into(),
        version: 0,
        description: String::new(),
        license_info: None,
        compatible_runtimes: None,
        compatible_architectures: None,
        sha256: "s".into(),
        size: 3,
        unzipped_size: 3,
        digest: format!("layer-{name}"),
        created_ms: 0,
    }
}

fn event(id: &str, due: i64) -> AsyncEvent {
    AsyncEvent {
        id: id.into(),
        region: "us-east-1".into(),
        function: "f".into(),
        qualifier: None,
        payload: b"{}".to_vec(),
        attempts: 0,
        next_attempt_ms: due,
    }
}

fn ids(events: &[AsyncEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

async fn etag_conflicts<S: Backend>(s: S, _: S) -> R {
    let region = "us-east-1";
    let etag = s.create_function(region, &record("f", "one")).await?;
    assert!(matches!(
        s.create_function(region, &record("f", "again")).await,
        Err(StoreError::AlreadyExists)
    ));
    let next = s
        .put_function(region, &record("f", "two"), etag, Durability::Synced)
        .await?;
    assert_eq!(next, etag + 1);
    assert!(matches!(
        s.put_function(region, &record("f", "stale"), etag, Durability::Synced)
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.put_function(region, &record("g", "none"), 1, Durability::Deferred)
            .await,
        Err(StoreError::NotFound)
    ));
    s.put_function(region, &record("f", "three"), next, Durability::Deferred)
        .await?;
    let got = s
        .get_function(region, "f")
        .await?
        .ok_or(StoreError::NotFound)?;
    assert_eq!(got.value.latest.description, "three");
    assert_eq!(got.etag, next + 1);

    s.create_alias(region, &alias("f", "live", "$LATEST"))
        .await?;
    assert!(matches!(
        s.create_alias(region, &alias("f", "live", "$LATEST")).await,
        Err(StoreError::AlreadyExists)
    ));
    let a = s
        .get_alias(region, "f", "live")
        .await?
        .ok_or(StoreError::NotFound)?;
    s.put_alias(region, &alias("f", "live", "1"), a.etag)
        .await?;
    assert!(matches!(
        s.put_alias(region, &alias("f", "live", "2"), a.etag).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.put_alias(region, &alias("f", "gone", "2"), 1).await,
        Err(StoreError::NotFound)
    ));
    // Names order byte-wise, whatever the database's collation.
    for name in ["B", "a", "_x", "Z9"] {
        s.create_function(region, &record(name, "")).await?;
    }
    let names: Vec<String> = s
        .list_functions(region, None, 10)
        .await?
        .into_iter()
        .map(|r| r.latest.name)
        .collect();
    assert_eq!(names, ["B", "Z9", "_x", "a", "f"]);
    let page: Vec<String> = s
        .list_functions(region, Some("Z9"), 2)
        .await?
        .into_iter()
        .map(|r| r.latest.name)
        .collect();
    assert_eq!(page, ["_x", "a"]);
    let usage = s.account_usage(region).await?;
    assert_eq!(usage.function_count, 5);
    assert_eq!(usage.total_code_size, 50);
    assert_eq!(usage.reserved_concurrency, 25);
    assert!(s.delete_function(region, "f").await?);
    assert!(!s.delete_function(region, "f").await?);
    assert!(s.get_alias(region, "f", "live").await?.is_none());
    Ok(())
}
on_both!(etags, etag_conflicts);

async fn publish_is_atomic<S: Backend>(s: S, _: S) -> R {
    let region = "us-east-1";
    let mut rec = record("f", "d");
    let etag = s.create_function(region, &rec).await?;
    rec.last_version = 1;
    let etag = s
        .publish_version(region, &rec, etag, &version_of(&rec, 1))
        .await?;
    // A stale etag: neither the function nor a version is written.
    rec.last_version = 2;
    assert!(matches!(
        s.publish_version(region, &rec, etag - 1, &version_of(&rec, 2))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(s.get_version(region, "f", 2).await?.is_none());
    // A version number taken: the function's write is rolled back with it.
    rec.latest.description = "changed".into();
    assert!(matches!(
        s.publish_version(region, &rec, etag, &version_of(&rec, 1))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    let f = s
        .get_function(region, "f")
        .await?
        .ok_or(StoreError::NotFound)?;
    assert_eq!(f.etag, etag);
    assert_eq!(f.value.latest.description, "d");
    s.publish_version(region, &rec, etag, &version_of(&rec, 2))
        .await?;
    let versions: Vec<String> = s
        .list_versions(region, "f", None, 10)
        .await?
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, ["1", "2"]);
    let mut v2 = version_of(&rec, 2);
    v2.description = "prepared".into();
    s.put_version(region, &v2, Durability::Deferred).await?;
    assert_eq!(
        s.get_version(region, "f", 2).await?.map(|v| v.description),
        Some("prepared".into())
    );
    assert!(matches!(
        s.put_version(region, &version_of(&rec, 9), Durability::Synced)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(s.delete_version(region, "f", 1).await?);
    assert!(!s.delete_version(region, "f", 1).await?);
    let refs = s.code_references().await?;
    assert!(refs.digests.contains("code-f"));
    assert!(refs.digests.contains("layer-d"));
    assert!(refs.layer_sets.contains(&vec!["layer-d".to_string()]));
    assert!(s.references_code("layer-d").await?);
    assert!(s.references_code("code-f").await?);
    assert!(!s.references_code("nothing").await?);
    Ok(())
}
on_both!(publish, publish_is_atomic);

async fn layer_numbers_are_never_reused<S: Backend>(a: S, b: S) -> R {
    let region = "us-east-1";
    let mut tasks = Vec::new();
    for node in [a.clone(), b.clone()] {
        for _ in 0..10 {
            let s = node.clone();
            tasks.push(tokio::spawn(async move {
                s.publish_layer_version(region, &layer("l")).await
            }));
        }
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.map_err(fail)??.version);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<u64>>());
    a.delete_layer_version(region, "l", 20).await?;
    a.delete_layer_version(region, "l", 20).await?;
    assert_eq!(
        b.publish_layer_version(region, &layer("l")).await?.version,
        21
    );
    let listed: Vec<u64> = a
        .list_layer_versions(region, "l")
        .await?
        .into_iter()
        .map(|l| l.version)
        .collect();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed.first(), Some(&21));
    assert_eq!(
        a.get_layer_version(region, "l", 3)
            .await?
            .map(|l| l.version),
        Some(3)
    );
    assert_eq!(a.list_all_layer_versions(region).await?.len(), 20);
    Ok(())
}
on_both!(layers, layer_numbers_are_never_reused);

async fn events_are_claimed_by_one_node_at_a_time<S: Backend>(a: S, b: S) -> R {
    for (id, due) in [("e1", 100), ("e2", 200), ("e3", 300), ("later", 5_000)] {
        a.enqueue_event(&event(id, due)).await?;
    }
    let now = 1_000;
    let got_a = a.claim_due_events("A", now, 100, 2).await?;
    assert_eq!(ids(&got_a), ["e1", "e2"]);
    let got_b = b.claim_due_events("B", now, 100, 10).await?;
    assert_eq!(ids(&got_b), ["e3"]);
    assert!(b.claim_due_events("B", now + 50, 100, 10).await?.is_empty());
    // Inspection sees every due event, claimed or not.
    assert_eq!(a.due_events(now, 10).await?.len(), 3);
    // A renews e1 only; B's attempt to renew A's claims changes nothing.
    a.renew_event_claims("A", &["e1".to_string()], now + 300)
        .await?;
    b.renew_event_claims("B", &["e2".to_string()], now + 10_000)
        .await?;
    // A dies: past its lease, e2 is B's; e1 (renewed) only after the renewal lapses.
    let took = b.claim_due_events("B", now + 150, 1_000, 10).await?;
    assert_eq!(ids(&took), ["e2", "e3"]);
    let took = b.claim_due_events("B", now + 350, 100, 10).await?;
    assert_eq!(ids(&took), ["e1"]);
    // A retry releases the claim: due again at its time, for any node.
    b.reschedule_event("e1", 1, now + 400).await?;
    assert!(
        a.claim_due_events("A", now + 390, 100, 10)
            .await?
            .is_empty()
    );
    let again = a.claim_due_events("A", now + 400, 100, 10).await?;
    assert_eq!(ids(&again), ["e1"]);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].payload, b"{}");
    b.delete_event("e1").await?;
    b.delete_event("e2").await?;
    b.delete_event("e3").await?;
    assert!(
        a.claim_due_events("A", now + 100_000, 100, 10)
            .await
            .map(|e| ids(&e).join(","))?
            == "later"
    );
    Ok(())
}
on_both!(event_claims, events_are_claimed_by_one_node_at_a_time);

async fn concurrent_claims_never_share<S: Backend>(a: S, b: S) -> R {
    for i in 0..40 {
        a.enqueue_event(&event(&format!("e{i:02}"), i)).await?;
    }
    let mut tasks = Vec::new();
    for (n, s) in [a.clone(), b.clone(), a, b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s
                    .claim_due_events(&format!("n{n}"), 1_000, 60_000, 3)
                    .await?;
                if got.is_empty() {
                    return Ok::<_, StoreError>(mine);
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(fail)??);
    }
    all.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("e{i:02}")).collect();
    assert_eq!(all, expected, "every event claimed exactly once");
    Ok(())
}
on_both!(event_claims_race, concurrent_claims_never_share);

fn url_key(owner: &str, q: &str) -> SettingKey {
    SettingKey::new("us-east-1", SettingKind::FunctionUrl, owner, q)
}

async fn settings_with_etags_and_cascades<S: Backend>(s: S, _: S) -> R {
    let k = url_key("f", "$LATEST");
    assert_eq!(
        s.put_setting(&k, "{\"a\":1}", Some("id1"), SettingWrite::Create)
            .await?,
        1
    );
    assert!(matches!(
        s.put_setting(&k, "{}", None, SettingWrite::Create).await,
        Err(StoreError::AlreadyExists)
    ));
    assert!(matches!(
        s.put_setting(&k, "{}", Some("id1"), SettingWrite::Replace(7))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.put_setting(&k, "{\"a\":2}", Some("id1"), SettingWrite::Replace(1))
            .await?,
        2
    );
    assert_eq!(
        s.put_setting(&k, "{\"a\":3}", Some("id1"), SettingWrite::Upsert)
            .await?,
        3
    );
    let found = s.find_setting(SettingKind::FunctionUrl, "id1").await?;
    assert_eq!(found.map(|r| r.document), Some("{\"a\":3}".to_owned()));
    assert!(matches!(
        s.put_setting(
            &url_key("g", "$LATEST"),
            "{}",
            Some("id1"),
            SettingWrite::Create
        )
        .await,
        Err(StoreError::AlreadyExists)
    ));
    assert!(matches!(
        s.delete_setting(&k, Some(1)).await,
        Err(StoreError::Conflict)
    ));
    assert!(s.delete_setting(&k, Some(3)).await?);
    assert!(!s.delete_setting(&k, None).await?);
    assert!(matches!(
        s.put_setting(&k, "{}", None, SettingWrite::Replace(1))
            .await,
        Err(StoreError::NotFound)
    ));
    for q in ["$LATEST", "1", "live"] {
        for owner in ["f", "other"] {
            s.put_setting(&url_key(owner, q), "{}", None, SettingWrite::Create)
                .await?;
        }
    }
    let csc = SettingKey::new("us-east-1", SettingKind::CodeSigningConfig, "", "csc-1");
    s.put_setting(&csc, "{}", None, SettingWrite::Create)
        .await?;
    s.delete_version("us-east-1", "f", 1).await?;
    s.delete_alias("us-east-1", "f", "live").await?;
    let left = |rows: Vec<SettingRow>| {
        rows.into_iter()
            .map(|r| format!("{}:{}", r.key.owner, r.key.qualifier))
            .collect::<Vec<_>>()
    };
    let rows = s
        .list_settings("us-east-1", SettingKind::FunctionUrl, None)
        .await?;
    assert_eq!(
        left(rows),
        ["f:$LATEST", "other:$LATEST", "other:1", "other:live"]
    );
    let rows = s
        .list_settings("us-east-1", SettingKind::FunctionUrl, Some("other"))
        .await?;
    assert_eq!(rows.len(), 3);
    s.delete_function("us-east-1", "f").await?;
    let rows = s.list_settings_everywhere(SettingKind::FunctionUrl).await?;
    assert_eq!(left(rows), ["other:$LATEST", "other:1", "other:live"]);
    assert!(s.get_setting(&csc).await?.is_some());
    Ok(())
}
on_both!(settings, settings_with_etags_and_cascades);

fn shift(id: &str, alias: &str, created_ms: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        region: "us-east-1".into(),
        function: "f".into(),
        alias: alias.into(),
        from_version: "1".into(),
        to_version: "2".into(),
        plan: ShiftPlan::parse("AllAtOnce").unwrap_or_else(|e| panic!("{e}")),
        guardrails: Guardrails::default(),
        hooks: Hooks::default(),
        status: DeploymentStatus::InProgress,
        phase: Phase::Shifting { step: 0 },
        steps: Vec::new(),
        reason: None,
        events: Vec::new(),
        created_ms,
        updated_ms: created_ms,
        finished_ms: None,
    }
}

async fn one_shift_per_alias<S: Backend>(s: S, _: S) -> R {
    s.create_deployment(&shift("d-A", "live", 1)).await?;
    assert!(matches!(
        s.create_deployment(&shift("d-B", "live", 2)).await,
        Err(StoreError::AlreadyExists)
    ));
    s.create_deployment(&shift("d-C", "beta", 3)).await?;
    let mut a = s.get_deployment("d-A").await?.ok_or(StoreError::NotFound)?;
    a.value.status = DeploymentStatus::Succeeded;
    let etag = s.put_deployment(&a.value, a.etag).await?;
    assert_eq!(etag, a.etag + 1);
    assert!(matches!(
        s.put_deployment(&a.value, a.etag).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.put_deployment(&shift("d-none", "x", 1), 1).await,
        Err(StoreError::NotFound)
    ));
    s.create_deployment(&shift("d-B", "live", 4)).await?;
    let all = s
        .list_deployments(&DeploymentFilter {
            function: Some("f"),
            limit: 10,
            ..DeploymentFilter::default()
        })
        .await?;
    let all: Vec<_> = all.iter().map(|d| d.value.id.as_str()).collect();
    assert_eq!(all, ["d-B", "d-C", "d-A"]);
    let active = s
        .list_deployments(&DeploymentFilter {
            alias: Some("live"),
            active_only: true,
            limit: 10,
            ..DeploymentFilter::default()
        })
        .await?;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value.id, "d-B");
    Ok(())
}
on_both!(shifts, one_shift_per_alias);

fn object(bucket: &str, key: &str, digest: &str) -> ObjectRecord {
    ObjectRecord {
        bucket: bucket.into(),
        key: key.into(),
        digest: digest.into(),
        size: 4,
        etag: "e".into(),
        content_type: Some("text/plain".into()),
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
        modified_ms: 7,
    }
}

async fn objects_buckets_and_uploads<S: Backend>(s: S, _: S) -> R {
    let b = BucketRecord {
        name: "bk".into(),
        region: "us-east-1".into(),
        created_ms: 1,
    };
    s.create_bucket(&b).await?;
    assert!(matches!(
        s.create_bucket(&b).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(s.get_bucket("bk").await?, Some(b.clone()));
    for key in ["a%b", "a_c", "ab", "B", "a/z"] {
        s.put_object(&object("bk", key, &format!("d-{key}")))
            .await?;
    }
    s.put_object(&object("bk", "ab", "d-new")).await?;
    assert_eq!(
        s.get_object("bk", "ab").await?.map(|o| o.digest),
        Some("d-new".into())
    );
    let keys = |v: Vec<ObjectRecord>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.list_objects("bk", "", "", 10).await?),
        ["B", "a%b", "a/z", "a_c", "ab"]
    );
    assert_eq!(keys(s.list_objects("bk", "a%", "", 10).await?), ["a%b"]);
    assert_eq!(
        keys(s.list_objects("bk", "a", "a%b", 2).await?),
        ["a/z", "a_c"]
    );
    assert!(matches!(
        s.delete_bucket("bk").await,
        Err(StoreError::Conflict)
    ));
    let u = UploadRecord {
        id: "u1".into(),
        bucket: "bk".into(),
        key: "big".into(),
        content_type: None,
        metadata: BTreeMap::new(),
        created_ms: 2,
    };
    s.create_upload(&u).await?;
    assert_eq!(s.get_upload("u1").await?, Some(u));
    for n in [2u32, 1] {
        s.put_part(&PartRecord {
            upload: "u1".into(),
            number: n,
            digest: format!("p{n}"),
            size: 5,
            etag: "x".into(),
        })
        .await?;
    }
    let parts: Vec<u32> = s
        .list_parts("u1")
        .await?
        .into_iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(parts, [1, 2]);
    assert!(s.references_code("p2").await?);
    s.complete_upload("u1", &object("bk", "big", "d-big"))
        .await?;
    assert!(s.list_parts("u1").await?.is_empty());
    assert!(matches!(
        s.complete_upload("u1", &object("bk", "big", "d-big")).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.code_references().await?.digests.contains("d-big"));
    assert!(!s.abort_upload("u1").await?);
    for key in ["a%b", "a_c", "ab", "B", "a/z", "big"] {
        assert!(s.delete_object("bk", key).await?);
    }
    assert!(!s.delete_object("bk", "big").await?);
    assert!(s.delete_bucket("bk").await?);
    assert!(!s.delete_bucket("bk").await?);
    assert!(s.list_buckets().await?.is_empty());
    Ok(())
}
on_both!(objects, objects_buckets_and_uploads);

fn batch(stream: &str, events: &[(i64, &str)]) -> LogBatch {
    LogBatch {
        region: "us-east-1".into(),
        group: "/aws/lambda/f".into(),
        stream: stream.into(),
        events: events
            .iter()
            .map(|(t, m)| LogEvent {
                timestamp_ms: *t,
                message: (*m).into(),
            })
            .collect(),
    }
}

async fn logs_round_trip<S: Backend>(s: S, _: S) -> R {
    s.append_log_batches(
        &[
            batch("s1", &[(10, "a\n"), (30, "c\n")]),
            batch("s2", &[(20, "b\n")]),
        ],
        40,
    )
    .await?;
    s.append_log_batches(&[batch("s1", &[(5, "d\n")])], 50)
        .await?;
    let g = s
        .log_group("us-east-1", "/aws/lambda/f")
        .await?
        .ok_or(StoreError::NotFound)?;
    assert_eq!(g.stored_bytes, 8);
    assert!(matches!(
        s.create_log_group("us-east-1", "/aws/lambda/f", 1).await,
        Err(StoreError::AlreadyExists)
    ));
    s.create_log_group("us-east-1", "/other", 1).await?;
    let groups: Vec<String> = s
        .list_log_groups("us-east-1", "/aws", None, 10)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["/aws/lambda/f"]);
    let streams = s
        .list_log_streams(
            "us-east-1",
            "/aws/lambda/f",
            "",
            archfn_store::logs::StreamOrder::Name,
            false,
            0,
            10,
        )
        .await?;
    assert_eq!(streams.len(), 2);
    assert_eq!(
        (streams[0].first_event_ms, streams[0].last_event_ms),
        (Some(5), Some(30))
    );
    let q = EventQuery {
        region: "us-east-1",
        group: "/aws/lambda/f",
        streams: StreamSelection::All,
        start_ms: None,
        end_ms: None,
        after: None,
        before: None,
        descending: false,
        limit: 10,
    };
    let msgs = |v: Vec<archfn_store::logs::LogEventRow>| {
        v.into_iter().map(|e| e.message).collect::<Vec<_>>()
    };
    assert_eq!(msgs(s.log_events(&q).await?), ["d\n", "a\n", "b\n", "c\n"]);
    let named = ["s2".to_string()];
    assert_eq!(
        msgs(
            s.log_events(&EventQuery {
                streams: StreamSelection::Named(&named),
                ..q
            })
            .await?
        ),
        ["b\n"]
    );
    assert_eq!(
        msgs(
            s.log_events(&EventQuery {
                start_ms: Some(11),
                descending: true,
                limit: 1,
                ..q
            })
            .await?
        ),
        ["c\n"]
    );
    s.set_log_retention("us-east-1", "/aws/lambda/f", Some(1))
        .await?;
    assert!(matches!(
        s.set_log_retention("us-east-1", "/nope", Some(1)).await,
        Err(StoreError::NotFound)
    ));
    // A day and 15 ms after the epoch: the events at 5 and 10 ms are past a day's retention.
    assert_eq!(s.expire_log_events(86_400_000 + 15).await?, 2);
    let g = s
        .log_group("us-east-1", "/aws/lambda/f")
        .await?
        .ok_or(StoreError::NotFound)?;
    assert_eq!(g.stored_bytes, 4);
    s.delete_log_group("us-east-1", "/aws/lambda/f").await?;
    assert!(matches!(
        s.delete_log_group("us-east-1", "/aws/lambda/f").await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}
on_both!(logs, logs_round_trip);

async fn stacks_in_order<S: Backend>(s: S, b: S) -> R {
    let row = |id: &str, doc: &str| StackRow {
        stack_id: id.into(),
        region: "us-east-1".into(),
        name: id.into(),
        document: doc.into(),
        updated_ms: 1,
    };
    s.put_stack(&row("z", "{}")).await?;
    s.put_stack(&row("a", "{}")).await?;
    s.put_stack(&row("z", "{\"v\":2}")).await?;
    let stacks = b.list_stacks().await?;
    let listed: Vec<(&str, &str)> = stacks
        .iter()
        .map(|r| (r.stack_id.as_str(), r.document.as_str()))
        .collect();
    assert_eq!(listed, [("z", "{\"v\":2}"), ("a", "{}")]);
    s.put_stack_event("z", 2, "e2").await?;
    s.put_stack_event("z", 1, "e1").await?;
    s.put_stack_event("z", 2, "e2b").await?;
    assert_eq!(b.stack_events("z").await?, ["e1", "e2b"]);
    Ok(())
}
on_both!(stacks, stacks_in_order);

async fn metrics_merge<S: Backend>(s: S, b: S) -> R {
    use archfn_model::Architecture;
    use archfn_model::metrics::{Execution, MinuteBucket, MinuteStats, SeriesKey};
    let bucket = |n: u64| MinuteBucket {
        key: SeriesKey {
            region: "us-east-1".into(),
            function: "f".into(),
            version: "$LATEST".into(),
            alias: None,
            arch: Architecture::Arm64,
            execution: Execution::Emulated,
        },
        minute: 10,
        stats: MinuteStats {
            invocations: n,
            ..MinuteStats::default()
        },
    };
    let (s2, b2) = (s.clone(), b.clone());
    let one = tokio::spawn(async move { s2.add_metric_buckets(&[bucket(2)]).await });
    let two = tokio::spawn(async move { b2.add_metric_buckets(&[bucket(3)]).await });
    one.await.map_err(fail)??;
    two.await.map_err(fail)??;
    let read = s.metric_buckets("us-east-1", "f", 0, 20).await?;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].stats.invocations, 5);
    assert_eq!(s.prune_metric_buckets(11).await?, 1);
    Ok(())
}
on_both!(metrics, metrics_merge);

/// PostgreSQL only: a node's cache hears the other node's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cache_hears_other_nodes() -> R {
    let Some(url) = postgres_url("cache").await? else {
        return Ok(());
    };
    let a = PgStore::connect(&url, 4).await?;
    let b = PgStore::connect(&url, 4).await?;
    let cached = Arc::new(CachedStore::new(a.clone()));
    let _watch = a.watch(cached.invalidator());
    let region = "us-east-1";
    let etag = b.create_function(region, &record("f", "one")).await?;
    // Until the listener is up, reads bypass the cache; then they are cached and invalidated.
    let mut seen = String::new();
    for _ in 0..100 {
        seen = cached
            .get_function(region, "f")
            .await?
            .map(|f| f.value.latest.description)
            .unwrap_or_default();
        if seen == "one" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, "one");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Cached now; another node writes.
    cached.get_function(region, "f").await?;
    b.put_function(region, &record("f", "two"), etag, Durability::Synced)
        .await?;
    let mut fresh = false;
    for _ in 0..100 {
        let d = cached
            .get_function(region, "f")
            .await?
            .map(|f| f.value.latest.description);
        if d.as_deref() == Some("two") {
            fresh = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fresh, "the other node's write reached this node's cache");
    Ok(())
}

/// An unreachable database is an error, not a hang or a panic.
#[tokio::test]
async fn postgres_unreachable_is_an_error() {
    let r = PgStore::connect("postgres://nobody:secret@127.0.0.1:1/none", 2).await;
    match r {
        Err(StoreError::Database(m)) => {
            assert!(m.contains("127.0.0.1:1"), "{m}");
            assert!(!m.contains("secret"), "the password is not shown: {m}");
        }
        other => panic!("{other:?}"),
    }
}

/// SQLite only: one process uses the database, so a restart frees the claims of the run before.
#[tokio::test]
async fn sqlite_restart_frees_earlier_claims() -> R {
    let dir = std::env::temp_dir().join(format!("archfn-backends-{}-restart", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let path = dir.join("meta.db");
    {
        let s = SqliteStore::open(&path).await?;
        s.enqueue_event(&event("e", 1)).await?;
        assert_eq!(ids(&s.claim_due_events("old", 10, 60_000, 5).await?), ["e"]);
        assert!(s.claim_due_events("new", 20, 60_000, 5).await?.is_empty());
    }
    let s = SqliteStore::open(&path).await?;
    assert_eq!(ids(&s.claim_due_events("new", 20, 60_000, 5).await?), ["e"]);
    Ok(())
}
