//! The IMAP connector against a real Dovecot (deploy/dev/services.sh starts a private one on
//! 127.0.0.1:10143; any user, password "ogtest", so each test has its own mailbox). Messages
//! are delivered by IMAP APPEND; the daemon runs in the standalone profile.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_imap::Session;
use common::{wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::store::Store;
use tokio::net::TcpStream;

fn imap_port() -> u16 {
    std::env::var("ORDERGATE_TEST_IMAP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(10143)
}

const PASSWORD_ENV: &str = "ORDERGATE_TEST_IMAP_PASSWORD";

/// The same Dovecot over implicit TLS, with a certificate from the test CA that
/// deploy/dev/services.sh makes (`tls/ca.pem` beside the private config).
fn imaps_port() -> u16 {
    std::env::var("ORDERGATE_TEST_IMAPS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(10993)
}

const TEST_CA: &str = "/var/tmp/ordergate-dovecot/tls/ca.pem";

async fn login(user: &str) -> Session<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", imap_port()))
        .await
        .expect("Dovecot must run on 127.0.0.1:10143 (deploy/dev/services.sh starts it)");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    client
        .login(user, "ogtest")
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

/// Number of messages in a folder (0 when it does not exist yet).
async fn count(s: &mut Session<TcpStream>, folder: &str) -> u32 {
    match s.examine(folder).await {
        Ok(m) => m.exists,
        Err(_) => 0,
    }
}

/// An order e-mail like the shared plain-text sample, with its own PO and Message-ID.
fn order_mail(n: usize) -> Vec<u8> {
    format!(
        "From: Lucia Fernandez <lucia@cafe.example.com>\r\nTo: orders@example.com\r\n\
         Subject: Order PO #{n}\r\nDate: Tue, 14 Oct 2025 08:12:45 -0400\r\n\
         Message-ID: <order-{n}@cafe.example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Please send (PO #{n}):\r\n\r\n- {q} x House blend, 1 kg (HB-1KG) @ $20.00\r\n\r\n\
         Please deliver to:\r\n\r\nCafe Test\r\n1 Main St\r\nBoston, MA 02136\r\n\r\nLucia\r\n(617) 555-0173\r\n",
        q = n % 5 + 1
    )
    .into_bytes()
}

fn imap_connector(user: &str, idle: bool) -> String {
    format!(
        "[[connectors]]\nkind = \"imap\"\nname = \"mailbox\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = false\nusername = \"{user}\"\npassword = \"env:{PASSWORD_ENV}\"\n\
         poll_interval_ms = 300\nidle = {idle}\ntimeout_ms = 10000\n",
        imap_port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_messages_become_orders_exactly_once() {
    std::env::set_var(PASSWORD_ENV, "ogtest");
    let user = format!("u{}", uuid::Uuid::new_v4().simple());
    let mut s = login(&user).await;
    const N: usize = 12;
    for n in 0..N {
        s.append("INBOX", None, None, order_mail(n)).await.unwrap();
    }
    // The same message delivered twice (a mail server retry): one order.
    s.append("INBOX", None, None, order_mail(0)).await.unwrap();
    // Truncated MIME: quarantined in the Failed folder with the reason recorded.
    let sample = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/email-csv-attachment-gbp/message.eml"),
    )
    .unwrap();
    s.append("INBOX", None, None, &sample[..sample.len() * 3 / 4])
        .await
        .unwrap();

    let env = TestEnv::new(Profile::Standalone).await;
    let cfg = env.config(&common::mappings_dir(), &imap_connector(&user, true));
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(60), "12 orders", || async {
        store.order_count("mailbox").await.unwrap() >= N as i64
    })
    .await;
    wait_until(Duration::from_secs(30), "an empty INBOX", || {
        let user = user.clone();
        async move { count(&mut login(&user).await, "INBOX").await == 0 }
    })
    .await;
    // A message arriving while the connector waits (IDLE) is taken too.
    s.append("INBOX", None, None, order_mail(N)).await.unwrap();
    wait_until(Duration::from_secs(30), "the late order", || async {
        store.order_count("mailbox").await.unwrap() > N as i64
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.order_count("mailbox").await.unwrap(), N as i64 + 1);
    assert_eq!(count(&mut s, "INBOX").await, 0);
    assert_eq!(count(&mut s, "Processed").await, N as u32 + 2);
    assert_eq!(count(&mut s, "Failed").await, 1);
    let exceptions = store.exceptions(true, 100).await.unwrap();
    assert!(
        exceptions
            .iter()
            .any(|e| e.connector.as_deref() == Some("mailbox") && e.reason.contains("truncated")),
        "{exceptions:?}"
    );
    // Every raw message kept: N + 1 orders and the refused one.
    assert_eq!(store.raw_count("mailbox").await.unwrap(), N as i64 + 2);
    daemon.stop().await;
}

fn run_binary(cfg: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ordergate"))
        .args(["run", "--config"])
        .arg(cfg)
        .env(PASSWORD_ENV, "ogtest")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// The daemon is frozen (SIGSTOP) again and again; when it is caught with a message stored
/// but not yet moved out of the INBOX it is killed (SIGKILL) there and started again. In the
/// end every message is one order, none is lost, none is imported twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_fetch_and_move_loses_and_duplicates_nothing() {
    let user = format!("u{}", uuid::Uuid::new_v4().simple());
    let mut s = login(&user).await;
    const N: usize = 40;
    for n in 0..N {
        s.append("INBOX", None, None, order_mail(n)).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("og.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://og.sqlite\"\n[http]\nlisten = \"\"\n[mappings]\ndir = \"{}\"\n\
             [bus]\npoll_interval_ms = 50\nlease_ms = 3000\n{}",
            common::mappings_dir().display(),
            imap_connector(&user, false),
        ),
    )
    .unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("og.sqlite").display());
    // Connected (and migrated) before the daemon runs: a migration must never wait on a
    // frozen daemon's lock. Reads do not block on its writes (WAL).
    let store = Store::connect(&store_url, 2, "normal").await.unwrap();
    let mut child = run_binary(&cfg);
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while kills < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(3)).await;
        signal(&child, "-STOP");
        let stored = store.raw_count("mailbox").await.unwrap_or(0);
        let waiting = count(&mut s, "INBOX").await as i64;
        if stored + waiting > N as i64 {
            // Caught between storing a message and moving it.
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            if waiting == 0 {
                break;
            }
            child = run_binary(&cfg);
        } else {
            signal(&child, "-CONT");
            if waiting == 0 {
                break;
            }
        }
    }
    assert!(
        kills >= 1,
        "the daemon was never caught between fetch and move"
    );
    if child.try_wait().unwrap().is_some() {
        child = run_binary(&cfg);
    }
    wait_until(
        Duration::from_secs(90),
        "40 orders and an empty INBOX",
        || async {
            store.order_count("mailbox").await.unwrap() >= N as i64
                && count(&mut login(&user).await, "INBOX").await == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.order_count("mailbox").await.unwrap(),
        N as i64,
        "nothing twice"
    );
    assert_eq!(
        store.raw_count("mailbox").await.unwrap(),
        N as i64,
        "each message stored once"
    );
    assert_eq!(
        count(&mut s, "Processed").await,
        N as u32,
        "every message moved once"
    );
    signal(&child, "-TERM");
    child.wait().unwrap();
}

fn tls_connector(user: &str, name: &str, ca_file: Option<&str>) -> String {
    format!(
        "[[connectors]]\nkind = \"imap\"\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = true\n{}username = \"{user}\"\npassword = \"env:{PASSWORD_ENV}\"\n\
         poll_interval_ms = 300\nidle = true\ntimeout_ms = 10000\n",
        imaps_port(),
        ca_file.map_or(String::new(), |f| format!("ca_file = \"{f}\"\n")),
    )
}

/// Implicit TLS to a server whose certificate a private CA signed: trusted through `ca_file`,
/// refused (unknown issuer) without it, and nothing is taken from the mailbox then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mailbox_trusts_a_private_ca_from_ca_file() {
    std::env::set_var(PASSWORD_ENV, "ogtest");
    assert!(
        std::path::Path::new(TEST_CA).exists(),
        "{TEST_CA} missing: run deploy/dev/services.sh"
    );
    let user = format!("u{}", uuid::Uuid::new_v4().simple());
    let mut s = login(&user).await;
    s.append("INBOX", None, None, order_mail(0)).await.unwrap();

    // Without the CA: the handshake fails and the message stays in the INBOX.
    let env = TestEnv::new(Profile::Standalone).await;
    let cfg = env.config(
        &common::mappings_dir(),
        &tls_connector(&user, "untrusted", None),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let health = daemon.health.clone();
    wait_until(Duration::from_secs(30), "a failed TLS connect", || {
        let health = health.clone();
        async move {
            health
                .snapshot()
                .iter()
                .any(|c| c.connector == "untrusted" && c.last_error.is_some())
        }
    })
    .await;
    let state = daemon
        .health
        .snapshot()
        .into_iter()
        .find(|c| c.connector == "untrusted")
        .unwrap();
    let error = state.last_error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(daemon.store.order_count("untrusted").await.unwrap(), 0);
    daemon.stop().await;
    assert_eq!(count(&mut s, "INBOX").await, 1);

    // With the CA in ca_file: read over TLS and moved.
    let env = TestEnv::new(Profile::Standalone).await;
    let cfg = env.config(
        &common::mappings_dir(),
        &tls_connector(&user, "mailbox", Some(TEST_CA)),
    );
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the order over TLS", || async {
        store.order_count("mailbox").await.unwrap() >= 1
    })
    .await;
    wait_until(Duration::from_secs(30), "an empty INBOX", || {
        let user = user.clone();
        async move { count(&mut login(&user).await, "INBOX").await == 0 }
    })
    .await;
    assert_eq!(count(&mut s, "Processed").await, 1);
    daemon.stop().await;
}

/// A message that reuses an earlier message's Message-ID with another body (a sender's broken
/// software) is not taken as that order nor merged into it: it is kept, moved to Failed, and
/// an exception says why; the same message delivered again with other headers is still one
/// order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_message_id_is_not_merged_into_the_earlier_order() {
    std::env::set_var(PASSWORD_ENV, "ogtest");
    let user = format!("u{}", uuid::Uuid::new_v4().simple());
    let mut s = login(&user).await;
    s.append("INBOX", None, None, order_mail(1)).await.unwrap();
    let env = TestEnv::new(Profile::Standalone).await;
    let cfg = env.config(&common::mappings_dir(), &imap_connector(&user, true));
    let daemon = Daemon::start(&cfg).await.unwrap();
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(60), "the first order", || async {
        store.order_count("mailbox").await.unwrap() == 1
    })
    .await;
    let first = store.orders_list(None, 10, 0).await.unwrap();
    let first_id = first[0].order_id.clone();
    let before = store.order(&first_id).await.unwrap().unwrap().order;

    // The same message again through another relay: other headers, same body.
    let mut again =
        b"Received: from relay2.example.net by mx.example.com; Tue, 14 Oct 2025 08:13:01 -0400\r\n"
            .to_vec();
    again.extend_from_slice(&order_mail(1));
    s.append("INBOX", None, None, &again).await.unwrap();
    // Another order under the same Message-ID.
    let other = String::from_utf8(order_mail(1))
        .unwrap()
        .replace("PO #1", "PO #9001")
        .replace("House blend", "Espresso roast");
    s.append("INBOX", None, None, other.as_bytes())
        .await
        .unwrap();

    wait_until(Duration::from_secs(30), "both handled", || {
        let user = user.clone();
        async move {
            let mut s = login(&user).await;
            count(&mut s, "INBOX").await == 0 && count(&mut s, "Failed").await == 1
        }
    })
    .await;
    let exceptions = store.exceptions(true, 100).await.unwrap();
    let e = exceptions
        .iter()
        .find(|e| e.reason.contains("reuses the Message-ID"))
        .unwrap_or_else(|| panic!("an exception for the reused id: {exceptions:?}"));
    assert_eq!(e.kind, "document_malformed");
    let kept = store
        .raw(e.raw_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.content,
        other.as_bytes(),
        "the message is kept byte for byte"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.order_count("mailbox").await.unwrap(), 1);
    let after = store.order(&first_id).await.unwrap().unwrap().order;
    assert_eq!(after, before, "the earlier order is untouched");
    assert_eq!(count(&mut s, "Processed").await, 2);
    daemon.stop().await;
}
