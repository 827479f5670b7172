//! The services the tests and the benchmark suite run against, and which profile they run:
//! one definition for both (`tests/common` and `benches/suite/daemon.rs` include this file).

/// Which deployment profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// SQLite + embedded bus.
    Standalone,
    /// PostgreSQL + RabbitMQ.
    Cluster,
}

/// PostgreSQL server URL without a database (each test or run creates its own).
pub fn pg_server() -> String {
    std::env::var("ORDERGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".into())
}

/// RabbitMQ URL.
pub fn amqp_url() -> String {
    std::env::var("ORDERGATE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}
