-- Functions: one row per function, its $LATEST configuration and settings as JSON.
CREATE TABLE functions (
    region    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    record    TEXT    NOT NULL,
    code_size INTEGER NOT NULL,
    etag      INTEGER NOT NULL,
    PRIMARY KEY (region, name)
) WITHOUT ROWID;

-- Published versions: immutable snapshots of $LATEST.
CREATE TABLE versions (
    region    TEXT    NOT NULL,
    function  TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    config    TEXT    NOT NULL,
    code_size INTEGER NOT NULL,
    PRIMARY KEY (region, function, version)
) WITHOUT ROWID;

CREATE TABLE aliases (
    region   TEXT    NOT NULL,
    function TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    record   TEXT    NOT NULL,
    etag     INTEGER NOT NULL,
    PRIMARY KEY (region, function, name)
) WITHOUT ROWID;

-- Layers: the counter that keeps version numbers from being reused.
CREATE TABLE layers (
    region       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    last_version INTEGER NOT NULL,
    PRIMARY KEY (region, name)
) WITHOUT ROWID;

CREATE TABLE layer_versions (
    region    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    record    TEXT    NOT NULL,
    code_size INTEGER NOT NULL,
    PRIMARY KEY (region, name, version)
) WITHOUT ROWID;
