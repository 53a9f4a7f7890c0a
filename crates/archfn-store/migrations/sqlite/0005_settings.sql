-- Documents attached to a function, a version or alias of it, a layer version, or the account:
-- function URLs, resource policies, asynchronous invocation configurations, provisioned
-- concurrency, code signing, and the other per-function settings of the Lambda API. Each is one
-- JSON document whose shape belongs to archfn-control; the store only keys, versions and
-- cascades them.
CREATE TABLE settings (
    region     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,      -- archfn_store::SettingKind::as_str
    owner      TEXT    NOT NULL,      -- function name, layer name, or '' for the account
    qualifier  TEXT    NOT NULL,      -- '$LATEST', a version, an alias, a layer version, an id, or ''
    document   TEXT    NOT NULL,      -- JSON
    lookup     TEXT,                  -- a second key, unique per kind (a function URL's id)
    of_function INTEGER NOT NULL,     -- 1: deleted with its function (and version or alias)
    etag       INTEGER NOT NULL,
    PRIMARY KEY (region, kind, owner, qualifier)
);
CREATE UNIQUE INDEX settings_by_lookup ON settings (kind, lookup) WHERE lookup IS NOT NULL;
CREATE INDEX settings_by_owner ON settings (region, owner, qualifier);
