-- Connectors that dedupe on the source's own id (an e-mail's Message-ID) look documents up by it.
CREATE INDEX raw_documents_source_name ON raw_documents (connector, source_name);
