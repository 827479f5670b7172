//! A real headless Chromium driven over WebDriver (Debian `chromium` + `chromium-driver`,
//! installed by `deploy/dev/services.sh`), for the tests of every page people use. Each
//! [`Browser`] runs its own chromedriver on a free loopback port and one browser session;
//! dropping it ends both. Screenshots go to `target/browser-screenshots/<test>/`, kept with
//! the test output.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

/// A browser session and the chromedriver serving it.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
    shots: PathBuf,
    shot_count: u32,
}

/// chromedriver and the Chromium processes it started (its process group): ended on drop,
/// also when a test panics before its session exists.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: killpg only sends a signal to the group chromedriver leads.
        unsafe {
            libc::killpg(self.0.id() as i32, libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find(candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} exists: run deploy/dev/services.sh (it installs chromium and chromium-driver)")
        })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (a phone-sized window when
    /// `mobile`). `test` names the screenshot folder.
    pub async fn start(test: &str, mobile: bool) -> Browser {
        let driver_bin = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chromium = find(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"]);
        let port = free_port();
        // Its own process group, so dropping the browser ends chromedriver and the Chromium
        // processes it started.
        let driver = Driver(
            Command::new(driver_bin)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let size = if mobile { "390,844" } else { "1280,900" };
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={size}")],
            }),
        );
        // The browser console, read back by `console_errors`.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({"browser": "ALL"}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = String::new();
        for _ in 0..100 {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(http)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("target/browser-screenshots")
                        .join(test);
                    let _ = std::fs::remove_dir_all(&shots);
                    std::fs::create_dir_all(&shots).expect("screenshot folder");
                    return Browser {
                        client,
                        _driver: driver,
                        shots,
                        shot_count: 0,
                    };
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver on port {port} gave no session: {last}");
    }

    /// Saves a PNG screenshot of the page as `NN-<name>.png`; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        self.shot_count += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self
            .shots
            .join(format!("{:02}-{name}.png", self.shot_count));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// The browser console's entries of level SEVERE since the last call (page errors,
    /// failed loads), through chromedriver's log endpoint.
    pub async fn console_errors(&self) -> Vec<String> {
        #[derive(Debug)]
        struct BrowserLog;
        impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
            fn endpoint(
                &self,
                base_url: &url::Url,
                session_id: Option<&str>,
            ) -> Result<url::Url, url::ParseError> {
                base_url.join(&format!(
                    "session/{}/se/log",
                    session_id.unwrap_or_default()
                ))
            }
            fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
                (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
            }
        }
        let logs = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("browser log");
        logs.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}
