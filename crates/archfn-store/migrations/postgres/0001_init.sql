-- archfn's metadata in PostgreSQL: the same tables as SQLite's migrations 0001-0009, in one
-- step. Integers are BIGINT, payloads BYTEA, JSON documents TEXT (as in SQLite: the store
-- keeps them whole). Names and keys are compared and ordered byte-wise, as SQLite does
-- (COLLATE "C"), whatever the database's default collation.

CREATE TABLE functions (
    region    TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    record    TEXT   NOT NULL,
    code_size BIGINT NOT NULL,
    etag      BIGINT NOT NULL,
    PRIMARY KEY (region, name)
);

CREATE TABLE versions (
    region    TEXT COLLATE "C" NOT NULL,
    function  TEXT COLLATE "C" NOT NULL,
    version   BIGINT NOT NULL,
    config    TEXT   NOT NULL,
    code_size BIGINT NOT NULL,
    PRIMARY KEY (region, function, version)
);

CREATE TABLE aliases (
    region   TEXT COLLATE "C" NOT NULL,
    function TEXT COLLATE "C" NOT NULL,
    name     TEXT COLLATE "C" NOT NULL,
    record   TEXT   NOT NULL,
    etag     BIGINT NOT NULL,
    PRIMARY KEY (region, function, name)
);

-- The counter that keeps layer version numbers from being reused (its row is locked by the
-- publishing transaction, so two nodes publishing at once get distinct numbers).
CREATE TABLE layers (
    region       TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    last_version BIGINT NOT NULL,
    PRIMARY KEY (region, name)
);

CREATE TABLE layer_versions (
    region    TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    version   BIGINT NOT NULL,
    record    TEXT   NOT NULL,
    code_size BIGINT NOT NULL,
    PRIMARY KEY (region, name, version)
);

-- Asynchronous (Event) invocations, claimed by one node at a time until `claim_until_ms`.
CREATE TABLE async_events (
    id              TEXT COLLATE "C" PRIMARY KEY,
    region          TEXT   NOT NULL,
    function        TEXT   NOT NULL,
    qualifier       TEXT,
    payload         BYTEA  NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    claimed_by      TEXT,
    claim_until_ms  BIGINT
);
CREATE INDEX async_events_due ON async_events (next_attempt_ms);

CREATE TABLE invocation_metrics (
    region        TEXT COLLATE "C" NOT NULL,
    function      TEXT COLLATE "C" NOT NULL,
    minute        BIGINT NOT NULL,
    version       TEXT COLLATE "C" NOT NULL,
    alias         TEXT COLLATE "C" NOT NULL,
    arch          TEXT COLLATE "C" NOT NULL,
    execution     TEXT COLLATE "C" NOT NULL,
    invocations   BIGINT NOT NULL,
    throttles     BIGINT NOT NULL,
    cold_starts   BIGINT NOT NULL,
    errors        TEXT   NOT NULL,
    billed_ms     BIGINT NOT NULL,
    max_memory_mb BIGINT NOT NULL,
    duration      BYTEA  NOT NULL,
    init_duration BYTEA  NOT NULL,
    PRIMARY KEY (region, function, minute, version, alias, arch, execution)
);
CREATE INDEX invocation_metrics_minute ON invocation_metrics (minute);

CREATE TABLE deployments (
    id         TEXT COLLATE "C" PRIMARY KEY,
    region     TEXT COLLATE "C" NOT NULL,
    function   TEXT COLLATE "C" NOT NULL,
    alias      TEXT COLLATE "C" NOT NULL,
    active     BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    record     TEXT   NOT NULL,
    etag       BIGINT NOT NULL
);
CREATE UNIQUE INDEX deployments_one_active_per_alias
    ON deployments (region, function, alias) WHERE active = 1;
CREATE INDEX deployments_by_function ON deployments (region, function, created_ms);

CREATE TABLE settings (
    region      TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    owner       TEXT COLLATE "C" NOT NULL,
    qualifier   TEXT COLLATE "C" NOT NULL,
    document    TEXT   NOT NULL,
    lookup      TEXT COLLATE "C",
    of_function BIGINT NOT NULL,
    etag        BIGINT NOT NULL,
    PRIMARY KEY (region, kind, owner, qualifier)
);
CREATE UNIQUE INDEX settings_by_lookup ON settings (kind, lookup) WHERE lookup IS NOT NULL;
CREATE INDEX settings_by_owner ON settings (region, owner, qualifier);

CREATE TABLE s3_buckets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    region     TEXT   NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE s3_objects (
    bucket       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    digest       TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    etag         TEXT   NOT NULL,
    content_type TEXT,
    metadata     TEXT   NOT NULL,
    modified_ms  BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE s3_uploads (
    id           TEXT COLLATE "C" PRIMARY KEY,
    bucket       TEXT   NOT NULL,
    key          TEXT   NOT NULL,
    content_type TEXT,
    metadata     TEXT   NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE TABLE s3_parts (
    upload  TEXT COLLATE "C" NOT NULL,
    number  BIGINT NOT NULL,
    digest  TEXT   NOT NULL,
    size    BIGINT NOT NULL,
    etag    TEXT   NOT NULL,
    PRIMARY KEY (upload, number)
);

-- `seq` keeps stacks in the order they were first stored (SQLite's rowid).
CREATE TABLE cfn_stacks (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    stack_id   TEXT COLLATE "C" PRIMARY KEY,
    region     TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    document   TEXT   NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX cfn_stacks_by_name ON cfn_stacks (region, name);
CREATE TABLE cfn_events (
    stack_id TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    document TEXT   NOT NULL,
    PRIMARY KEY (stack_id, seq)
);

CREATE TABLE log_groups (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region         TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    created_ms     BIGINT NOT NULL,
    retention_days INTEGER,
    stored_bytes   BIGINT NOT NULL DEFAULT 0,
    UNIQUE (region, name)
);
CREATE TABLE log_streams (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id          BIGINT NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    created_ms        BIGINT NOT NULL,
    first_event_ms    BIGINT,
    last_event_ms     BIGINT,
    last_ingestion_ms BIGINT,
    UNIQUE (group_id, name)
);
CREATE INDEX log_streams_by_last_event ON log_streams (group_id, last_event_ms);
CREATE TABLE log_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id     BIGINT NOT NULL,
    stream_id    BIGINT NOT NULL,
    ts_ms        BIGINT NOT NULL,
    ingestion_ms BIGINT NOT NULL,
    message      TEXT   NOT NULL
);
CREATE INDEX log_events_by_group ON log_events (group_id, ts_ms, id);
CREATE INDEX log_events_by_stream ON log_events (stream_id, ts_ms, id);

-- Every committed write to a table that nodes cache (functions, versions, aliases, settings)
-- is announced on the channel `archfn_metadata`, in its own transaction: a node that hears it
-- empties its cache. The payload names the table.
CREATE FUNCTION archfn_notify_metadata() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('archfn_metadata', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
CREATE TRIGGER functions_notify AFTER INSERT OR UPDATE OR DELETE ON functions
    FOR EACH STATEMENT EXECUTE FUNCTION archfn_notify_metadata();
CREATE TRIGGER versions_notify AFTER INSERT OR UPDATE OR DELETE ON versions
    FOR EACH STATEMENT EXECUTE FUNCTION archfn_notify_metadata();
CREATE TRIGGER aliases_notify AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH STATEMENT EXECUTE FUNCTION archfn_notify_metadata();
CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION archfn_notify_metadata();
