-- Asynchronous (Event) invocations: accepted durably, run, retried.
CREATE TABLE async_events (
    id              TEXT    NOT NULL PRIMARY KEY,
    region          TEXT    NOT NULL,
    function        TEXT    NOT NULL,
    qualifier       TEXT,
    payload         BLOB    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL
);
CREATE INDEX async_events_due ON async_events (next_attempt_ms);
