//! What the figures were measured on: cores, CPU, load, disk fsync latency (measured now, in the
//! directory the SQLite stores live in), and versions.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn first_line(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Version of a crate as locked in `Cargo.lock`.
pub fn locked(name: &str) -> String {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .unwrap_or_default();
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .map(|i| {
            let rest = &lock[i + needle.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Median and p99 of `n` 4 KiB write + fdatasync rounds in `dir`, in milliseconds.
pub fn fsync_latency(dir: &Path, n: usize) -> std::io::Result<(f64, f64)> {
    let path = dir.join(".bench-fsync");
    let mut f = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    times.sort_by(f64::total_cmp);
    Ok((times[n / 2], times[(n * 99 / 100).min(n - 1)]))
}

/// Facts about the machine, before anything runs.
pub fn describe(store_dir: &Path) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let fsync = match fsync_latency(store_dir, 200) {
        Ok((median, p99)) => format!(
            "median {median:.2} ms, p99 {p99:.2} ms (4 KiB write + fdatasync ×200 in {})",
            store_dir.display()
        ),
        Err(e) => format!("not measured: {e}"),
    };
    vec![
        ("cores".into(), cores.to_string()),
        (
            "cpu".into(),
            first_line(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
        ),
        (
            "memory".into(),
            first_line(&mem, "MemTotal").unwrap_or_else(|| "unknown".into()),
        ),
        (
            "load average at start".into(),
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("disk fsync latency".into(), fsync),
        ("kernel".into(), command("uname", &["-sr"])),
        ("rustc".into(), command("rustc", &["-V"])),
        (
            "RabbitMQ".into(),
            command("rabbitmqctl", &["-q", "version"]),
        ),
        (
            "crates".into(),
            [
                "lapin",
                "sqlx",
                "jaq-core",
                "serde_json",
                "quick-xml",
                "axum",
                "tokio",
            ]
            .iter()
            .map(|c| format!("{c} {}", locked(c)))
            .collect::<Vec<_>>()
            .join(", "),
        ),
    ]
}
