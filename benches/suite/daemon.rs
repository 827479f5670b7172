//! The daemon under test, run as a child process (`ordergate run --config …`) so its resident
//! memory is its own, with a fresh store (SQLite file or PostgreSQL database) and a fresh bus
//! namespace per run; all of it is removed afterwards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ordergate::config::Config;

#[path = "../../tests/common/services.rs"]
mod services;
pub use services::{amqp_url, pg_server, Profile};

/// Runs admin SQL on the `postgres` database.
async fn pg_admin(sql: String) -> Result<(), String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_server()))
        .await
        .map_err(|e| format!("PostgreSQL on {}: {e}", pg_server()))?;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    let _ = admin.close().await;
    Ok(())
}

/// One run's environment: temp dir, store, namespace, HTTP port.
pub struct Env {
    pub profile: Profile,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
    pub namespace: String,
    pub http: SocketAddr,
}

impl Env {
    pub async fn new(profile: Profile, tmp_root: &Path) -> Result<Env, String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let pg_name = match profile {
            Profile::Cluster => {
                let name = format!("og_bench_{id}");
                pg_admin(format!("CREATE DATABASE {name}")).await?;
                Some(name)
            }
            Profile::Standalone => None,
        };
        // A free loopback port for the daemon's HTTP server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?;
        Ok(Env {
            profile,
            dir: tempfile::tempdir_in(tmp_root).map_err(|e| e.to_string())?,
            pg_name,
            namespace: format!("ogbench-{}", &id[..12]),
            http: port,
        })
    }

    pub fn store_url(&self) -> String {
        match &self.pg_name {
            Some(name) => format!("{}/{name}", pg_server()),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("ordergate.sqlite").display()
            ),
        }
    }

    /// The daemon's configuration: the product defaults except the store, the bus, the
    /// namespace and the HTTP port, with `extra` appended (connectors).
    pub fn config_text(&self, extra: &str) -> String {
        let bus = match self.profile {
            Profile::Standalone => "kind = \"embedded\"".to_string(),
            Profile::Cluster => format!("kind = \"amqp\"\nurl = \"{}\"", amqp_url()),
        };
        format!(
            "[store]\nurl = \"{store}\"\n\n[bus]\n{bus}\nnamespace = \"{ns}\"\n\n[http]\nlisten = \"{http}\"\n\n\
             [mappings]\ndir = \"{mappings}\"\n\n[log]\nformat = \"json\"\nlevel = \"info\"\n\n{extra}\n",
            store = self.store_url(),
            ns = self.namespace,
            http = self.http,
            mappings = crate::docs::mappings_dir().display(),
        )
    }

    /// The parsed configuration (what the daemon reads).
    pub fn config(&self, extra: &str) -> Result<Config, String> {
        Config::from_toml(&self.config_text(extra), "bench", Vec::new()).map_err(|e| e.to_string())
    }

    /// Starts `ordergate run` with this environment's configuration.
    pub fn spawn(&self, extra: &str, vars: &[(&str, &str)]) -> Result<ChildDaemon, String> {
        let path = self.dir.path().join("ordergate.toml");
        std::fs::write(&path, self.config_text(extra)).map_err(|e| e.to_string())?;
        let log_path = self.dir.path().join("ordergate.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        // BENCH_ORDERGATE_BIN runs another build (an A/B comparison of two commits).
        let bin = std::env::var("BENCH_ORDERGATE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ordergate").to_string());
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&path)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting ordergate: {e}"))?;
        Ok(ChildDaemon {
            child,
            http: self.http,
            log: log_path,
        })
    }

    /// Removes the broker objects of the namespace (the database goes on drop).
    pub async fn cleanup_broker(&self, extra_queues: &[String]) {
        if self.profile != Profile::Cluster {
            return;
        }
        let Ok(cfg) = self.config("") else { return };
        let mut topology = ordergate::app::topology(&cfg);
        for q in extra_queues {
            topology = topology.with_queue(q.clone(), &[]);
        }
        let _ = ordergate::bus::amqp::delete_topology(&amqp_url(), &topology).await;
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(pg_admin(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )));
                }
            })
            .join();
        }
    }
}

/// A running `ordergate run`.
pub struct ChildDaemon {
    child: Child,
    pub http: SocketAddr,
    pub log: PathBuf,
}

impl ChildDaemon {
    /// Waits for `/readyz` to answer 200; fails early if the process exits.
    pub async fn ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "ordergate exited with {status} at start: {}",
                    self.log_tail()
                ));
            }
            if let Ok(r) = crate::http::get(self.http, "/readyz").await {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("ordergate not ready after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// Lines of its log that are warnings or errors.
    pub fn log_problems(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\""))
            .map(str::to_string)
            .collect()
    }

    /// SIGTERM, then wait (killed after 30 s).
    pub fn stop(mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("ordergate exited with {status}")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("ordergate did not stop within 30 s of SIGTERM".into());
                }
            }
        }
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident memory of a process in MiB (VmRSS of `/proc/<pid>/status`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) end with ')': state is field 3, utime
    // and stime are fields 14 and 15, in clock ticks.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks > 0.0).then(|| (utime + stime) * 1000.0 / ticks)
}
