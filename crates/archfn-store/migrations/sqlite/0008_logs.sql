-- CloudWatch Logs (crates/archfn-logs): log groups, their streams, and the events of every
-- stream, each with the timestamp it was emitted at and when it was stored. Events name their
-- group and stream by integer id, so that a row and its index entries stay small: they are
-- written on every invocation.
CREATE TABLE log_groups (
    id             INTEGER PRIMARY KEY,
    region         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    created_ms     INTEGER NOT NULL,
    retention_days INTEGER,
    stored_bytes   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (region, name)
);
CREATE TABLE log_streams (
    id                INTEGER PRIMARY KEY,
    group_id          INTEGER NOT NULL,
    name              TEXT    NOT NULL,
    created_ms        INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    UNIQUE (group_id, name)
);
CREATE INDEX log_streams_by_last_event ON log_streams (group_id, last_event_ms);
CREATE TABLE log_events (
    id           INTEGER PRIMARY KEY,
    group_id     INTEGER NOT NULL,
    stream_id    INTEGER NOT NULL,
    ts_ms        INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    message      TEXT    NOT NULL
);
CREATE INDEX log_events_by_group ON log_events (group_id, ts_ms, id);
CREATE INDEX log_events_by_stream ON log_events (stream_id, ts_ms, id);
