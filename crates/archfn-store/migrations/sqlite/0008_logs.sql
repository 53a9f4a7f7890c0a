-- CloudWatch Logs (crates/archfn-logs): log groups, their streams, and the events of every
-- stream, each with the timestamp it was emitted at and when it was stored.
CREATE TABLE log_groups (
    region         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    created_ms     INTEGER NOT NULL,
    retention_days INTEGER,
    stored_bytes   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (region, name)
);
CREATE TABLE log_streams (
    region            TEXT    NOT NULL,
    grp               TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    created_ms        INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    PRIMARY KEY (region, grp, name)
);
CREATE INDEX log_streams_by_last_event ON log_streams (region, grp, last_event_ms);
CREATE TABLE log_events (
    id           INTEGER PRIMARY KEY,
    region       TEXT    NOT NULL,
    grp          TEXT    NOT NULL,
    stream       TEXT    NOT NULL,
    ts_ms        INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    message      TEXT    NOT NULL
);
CREATE INDEX log_events_by_group ON log_events (region, grp, ts_ms, id);
CREATE INDEX log_events_by_stream ON log_events (region, grp, stream, ts_ms, id);
