-- archfn's S3 (crates/archfn-s3): buckets, objects and multipart uploads. Object and part bytes
-- are blobs in the blob store, named by their SHA-256 (`digest`), which garbage collection keeps.
CREATE TABLE s3_buckets (
    name       TEXT    PRIMARY KEY,
    region     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE s3_objects (
    bucket       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT    NOT NULL,   -- without quotes
    content_type TEXT,
    metadata     TEXT    NOT NULL,   -- JSON object of x-amz-meta-* values
    modified_ms  INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE s3_uploads (
    id           TEXT    PRIMARY KEY,
    bucket       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    content_type TEXT,
    metadata     TEXT    NOT NULL,
    created_ms   INTEGER NOT NULL
);
CREATE TABLE s3_parts (
    upload  TEXT    NOT NULL,
    number  INTEGER NOT NULL,
    digest  TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    etag    TEXT    NOT NULL,
    PRIMARY KEY (upload, number)
);
