//! The shipping-out setup the demo, the tests and the benches share, as configuration text: a
//! pick-list warehouse that packs and books no carrier (the [`super::packer`] plays it), the
//! routing of every order to it, one transport rule sending every parcel by the EasyPost
//! carrier, and that carrier on the EasyPost simulator ([`super::easypost`]).
//!
//! ```
//! # use std::path::Path;
//! let s = ordergate::sandbox::shipout::ShipOut::new(
//!     Path::new("connectors"),
//!     Path::new("/tmp/data"),
//!     "local",
//!     "http://127.0.0.1:9000",
//!     "file:/tmp/data/easypost-key",
//! );
//! let cfg = s.toml();
//! assert!(cfg.contains("books_carrier = false"));
//! assert!(cfg.contains("folder = \"/tmp/data/pick-local\""));
//! ```

use std::path::{Path, PathBuf};

/// The shipping-out sections; the fields are what differs between their users, set them
/// after [`ShipOut::new`].
#[derive(Debug, Clone)]
pub struct ShipOut {
    /// The folder of the shipped definitions (`warehouses/`, `carriers/`).
    pub connectors: PathBuf,
    /// The pick-list warehouse's name.
    pub warehouse: String,
    /// Where its pick lists are written and its confirmations read.
    pub pick: PathBuf,
    pub confirm: PathBuf,
    /// How often its confirmations are looked for (the warehouse's default when `None`).
    pub poll_interval_ms: Option<u64>,
    /// Whether it books carriers itself (then the ship stage books nothing).
    pub books_carrier: bool,
    /// The department owning transport exceptions (`[transport] department`).
    pub department: String,
    /// The transport rule's name.
    pub rule: String,
    /// The carrier instance's name.
    pub carrier: String,
    /// The EasyPost simulator's base URL.
    pub carrier_url: String,
    /// The EasyPost API key, as a secret reference (`file:…`).
    pub api_key: String,
    /// The sender's name on the labels.
    pub sender: String,
    /// More lines of the `[[carriers]]` section (timeouts, retries, `pickup = true`).
    pub carrier_settings: String,
}

impl ShipOut {
    /// The setup of pick-list warehouse `warehouse` (pick lists in `dir/pick-<warehouse>`,
    /// confirmations in `dir/confirm-<warehouse>`), definitions from `connectors`, labels from
    /// the EasyPost simulator at `carrier_url` with `api_key` (a secret reference).
    pub fn new(
        connectors: &Path,
        dir: &Path,
        warehouse: &str,
        carrier_url: &str,
        api_key: &str,
    ) -> Self {
        Self {
            connectors: connectors.to_path_buf(),
            warehouse: warehouse.to_string(),
            pick: dir.join(format!("pick-{warehouse}")),
            confirm: dir.join(format!("confirm-{warehouse}")),
            poll_interval_ms: None,
            books_carrier: false,
            department: "logistics".into(),
            rule: "all-by-easypost".into(),
            carrier: "easypost".into(),
            carrier_url: carrier_url.to_string(),
            api_key: api_key.to_string(),
            sender: "Ordergate Test Warehouse".into(),
            carrier_settings: String::new(),
        }
    }

    /// The `[[warehouses]]` section.
    pub fn warehouse_section(&self) -> String {
        let poll = self
            .poll_interval_ms
            .map(|ms| format!("poll_interval_ms = {ms}\n"))
            .unwrap_or_default();
        format!(
            "\n[[warehouses]]\nname = \"{}\"\ndefinition = \"pick-list\"\ndefinitions = \"{}\"\n\
             folder = \"{}\"\nconfirmations = \"{}\"\n{poll}books_carrier = {}\n",
            self.warehouse,
            self.connectors.join("warehouses").display(),
            self.pick.display(),
            self.confirm.display(),
            self.books_carrier,
        )
    }

    /// `[routing]`: every order to the warehouse.
    pub fn routing_section(&self) -> String {
        format!(
            "\n[routing]\n[[routing.rules]]\nname = \"all\"\nwarehouses = [\"{}\"]\n",
            self.warehouse
        )
    }

    /// `[transport]`: every parcel by the carrier, express.
    pub fn transport_section(&self) -> String {
        format!(
            "\n[transport]\ndepartment = \"{}\"\n[[transport.rules]]\nname = \"{}\"\n\
             mode = \"express\"\nservice = \"Priority\"\ncarrier = \"{}\"\n",
            self.department, self.rule, self.carrier
        )
    }

    /// The `[[carriers]]` section of the EasyPost carrier.
    pub fn carrier_section(&self) -> String {
        format!(
            "\n[[carriers]]\nname = \"{}\"\ndefinition = \"easypost\"\ndefinitions = \"{}\"\n\
             base_url = \"{}\"\ncredentials = {{ api_key = \"{}\" }}\n{}\
             from = {{ name = \"{}\", street1 = \"1 Dock Road\", city = \"Newark\", \
             state = \"NJ\", postal_code = \"07102\", country = \"US\" }}\n",
            self.carrier,
            self.connectors.join("carriers").display(),
            self.carrier_url,
            self.api_key,
            self.carrier_settings,
            self.sender,
        )
    }

    /// The four sections.
    pub fn toml(&self) -> String {
        [
            self.warehouse_section(),
            self.routing_section(),
            self.transport_section(),
            self.carrier_section(),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sections_make_a_configuration_the_daemon_reads() {
        let mut s = ShipOut::new(
            Path::new("/repo/connectors"),
            Path::new("/data"),
            "local",
            "http://127.0.0.1:1",
            "file:/data/key",
        );
        s.poll_interval_ms = Some(50);
        s.carrier_settings = "request_timeout_ms = 3000\nmax_retries = 4\n".into();
        let text = format!("[store]\nurl = \"sqlite::memory:\"\n{}", s.toml());
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        let w = &parsed["warehouses"][0];
        assert_eq!(w["name"].as_str(), Some("local"));
        assert_eq!(w["books_carrier"].as_bool(), Some(false));
        assert_eq!(w["poll_interval_ms"].as_integer(), Some(50));
        assert_eq!(w["folder"].as_str(), Some("/data/pick-local"));
        assert_eq!(
            w["definitions"].as_str(),
            Some("/repo/connectors/warehouses")
        );
        assert_eq!(
            parsed["routing"]["rules"][0]["warehouses"][0].as_str(),
            Some("local")
        );
        assert_eq!(
            parsed["transport"]["rules"][0]["carrier"].as_str(),
            Some("easypost")
        );
        let c = &parsed["carriers"][0];
        assert_eq!(c["max_retries"].as_integer(), Some(4));
        assert_eq!(c["credentials"]["api_key"].as_str(), Some("file:/data/key"));
        assert_eq!(c["from"]["postal_code"].as_str(), Some("07102"));
    }
}
