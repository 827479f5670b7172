-- The exception workflow: root-cause category, escalation once per deadline, a history of
-- every change, and the per-kind SLA the configuration sets (read when an exception is made).
ALTER TABLE exceptions ADD COLUMN root_cause_category TEXT;
ALTER TABLE exceptions ADD COLUMN escalated_due_at BIGINT;
CREATE INDEX exceptions_due ON exceptions (status, due_at);
CREATE INDEX exceptions_order ON exceptions (order_id);

CREATE TABLE exception_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exception_id TEXT NOT NULL,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    data         TEXT
);
CREATE INDEX exception_events_by ON exception_events (exception_id, seq);
CREATE FUNCTION exception_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'exception_events is append-only'; END; $$;
CREATE TRIGGER exception_events_no_change BEFORE UPDATE OR DELETE ON exception_events
FOR EACH ROW EXECUTE FUNCTION exception_events_append_only();

CREATE TABLE exception_sla (
    kind     TEXT PRIMARY KEY,
    due_ms   BIGINT NOT NULL
);
