-- CloudFormation (crates/archfn-cloudformation): stacks (with their resources, outputs and
-- change sets, as one JSON document each) and their events. Deleted stacks are kept, as
-- CloudFormation lists them (DELETE_COMPLETE) by their id.
CREATE TABLE cfn_stacks (
    stack_id   TEXT    PRIMARY KEY,
    region     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    document   TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX cfn_stacks_by_name ON cfn_stacks (region, name);
CREATE TABLE cfn_events (
    stack_id TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    document TEXT    NOT NULL,
    PRIMARY KEY (stack_id, seq)
);
