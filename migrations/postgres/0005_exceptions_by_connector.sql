-- Refused requests look up the connector's open exception of the same kind before recording
-- another (a flood of forged callbacks shares one): without this, each lookup scanned every
-- open exception.
CREATE INDEX exceptions_by_connector ON exceptions (connector, kind, status);
