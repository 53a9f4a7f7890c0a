-- Traffic shifts of aliases (archfn shift): the whole record as JSON, with the columns that
-- queries need. At most one shift runs per alias (the partial unique index).
CREATE TABLE deployments (
    id         TEXT    PRIMARY KEY,   -- d-XXXXXXXXX
    region     TEXT    NOT NULL,
    function   TEXT    NOT NULL,
    alias      TEXT    NOT NULL,
    active     INTEGER NOT NULL,      -- 1 while InProgress
    created_ms INTEGER NOT NULL,
    record     TEXT    NOT NULL,      -- archfn_model::deployment::DeploymentRecord
    etag       INTEGER NOT NULL
);
CREATE UNIQUE INDEX deployments_one_active_per_alias
    ON deployments (region, function, alias) WHERE active = 1;
CREATE INDEX deployments_by_function ON deployments (region, function, created_ms);
