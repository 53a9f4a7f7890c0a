-- Asynchronous invocations are claimed by the node that runs them, until a lease expires
-- (a node that dies leaves its events to another after the lease).
ALTER TABLE async_events ADD COLUMN claimed_by TEXT;
ALTER TABLE async_events ADD COLUMN claim_until_ms INTEGER;
