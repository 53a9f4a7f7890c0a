-- Invocation metrics that last: one row per series and minute. A series is a function version
-- as invoked (through an alias, or '' for none), on an architecture, native or emulated.
-- Numbered apart from other branches' migrations; sqlx applies any it has not applied yet.
CREATE TABLE invocation_metrics (
    region        TEXT    NOT NULL,
    function      TEXT    NOT NULL,
    minute        INTEGER NOT NULL, -- Unix milliseconds / 60,000
    version       TEXT    NOT NULL, -- '$LATEST' or the version number that ran
    alias         TEXT    NOT NULL, -- the alias invoked through, '' for none
    arch          TEXT    NOT NULL, -- 'x86_64' or 'arm64'
    execution     TEXT    NOT NULL, -- 'native' or 'emulated'
    invocations   INTEGER NOT NULL,
    throttles     INTEGER NOT NULL,
    cold_starts   INTEGER NOT NULL,
    errors        TEXT    NOT NULL, -- JSON object: error type -> count
    billed_ms     INTEGER NOT NULL, -- sum of billed durations
    max_memory_mb INTEGER NOT NULL,
    duration      BLOB    NOT NULL, -- archfn_model::metrics::Histogram::encode, microseconds
    init_duration BLOB    NOT NULL, -- the same, of cold starts' init
    PRIMARY KEY (region, function, minute, version, alias, arch, execution)
) WITHOUT ROWID;
-- Pruning by age.
CREATE INDEX invocation_metrics_minute ON invocation_metrics (minute);
