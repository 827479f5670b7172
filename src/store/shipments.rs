//! Shipments: one row per parcel (carrier + tracking number), the parcel's carrier history,
//! tracking updates that arrived before anyone shipped the number, and registrations with the
//! tracking aggregators. The warehouse stage records parcels ([`Store::record_shipment`]); the
//! track stage merges carrier news into them; the delay sweep reads the open ones.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ms_to_time, now_ms, Store, StoreError};
use crate::model::{Envelope, EventType, ShipmentRef};

/// A parcel as a warehouse (or carrier) reported it.
#[derive(Debug, Clone)]
pub struct NewShipment<'a> {
    /// The order it belongs to.
    pub order_id: &'a str,
    /// The warehouse connector that shipped it, if any.
    pub warehouse: Option<&'a str>,
    /// The carrier as the reporter names it (`UPS`, `顺丰`, `sf-express`); stored as the stable
    /// code ([`crate::tracking::carrier::code`]) so carrier callbacks find it.
    pub carrier: &'a str,
    /// The carrier's name as given, for people; defaults to `carrier`.
    pub carrier_name: Option<&'a str>,
    /// The carrier's tracking number.
    pub tracking_number: &'a str,
    /// The carrier service (`express`, `ground`), for per-service delay thresholds.
    pub service: Option<&'a str>,
    /// When delivery was promised to the customer (Unix ms), if known.
    pub promised_at: Option<i64>,
    /// When the carrier expects to deliver it (Unix ms), if it said (a bought rate's delivery
    /// date); tracking updates with a newer estimate replace it.
    pub eta: Option<i64>,
    /// What the parcel holds (lines and quantities), as the warehouse said.
    pub items: serde_json::Value,
}

impl NewShipment<'_> {
    /// The tracking number as stored: trimmed, spaces removed, upper case (carriers print
    /// `1Z 999 AA1…` and callbacks send `1Z999AA1…`).
    pub fn number(&self) -> String {
        tracking_number_key(self.tracking_number)
    }

    /// The `shipment.created` event for this parcel once recorded as `shipment_id`, to emit in
    /// the same unit (`UnitTx::emit`). Its id derives from the shipment id, so emitting it again
    /// (a redelivered warehouse callback) is one event.
    pub fn created_event(&self, shipment_id: &str) -> Envelope {
        let payload = ShipmentRef {
            order_id: self.order_id.to_string(),
            shipment_id: shipment_id.to_string(),
            carrier: crate::tracking::carrier::code(self.carrier),
            tracking_number: self.number(),
            warehouse: self.warehouse.map(str::to_string),
            status: None,
            detail: serde_json::json!({
                "service": self.service, "promised_at": self.promised_at, "eta": self.eta,
            }),
        };
        let mut env = Envelope::new(
            EventType::SHIPMENT_CREATED,
            self.warehouse.unwrap_or("ordergate"),
            serde_json::to_value(payload).unwrap_or_default(),
        )
        .with_order(self.order_id);
        env.id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("shipment.created:{shipment_id}").as_bytes(),
        );
        env
    }
}

/// A tracking number as stored and matched: trimmed, inner spaces removed, upper case.
pub fn tracking_number_key(number: &str) -> String {
    number
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// A stored parcel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shipment {
    pub id: String,
    pub order_id: String,
    pub warehouse: Option<String>,
    /// Stable lowercase carrier code.
    pub carrier: String,
    pub carrier_name: Option<String>,
    pub tracking_number: String,
    pub service: Option<String>,
    pub items: serde_json::Value,
    /// Canonical status on the lattice (`pre_transit` … `delivered`).
    pub status: String,
    /// `exception`, `failed_attempt` or `returned` when the carrier last said so, beside it.
    pub side_status: Option<String>,
    /// The carrier's own code of the newest event.
    pub raw_code: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// First and newest carrier scan (Unix ms).
    pub first_scan_at: Option<i64>,
    pub last_scan_at: Option<i64>,
    /// The carrier's estimated delivery (Unix ms).
    pub eta: Option<i64>,
    /// Promised to the customer (Unix ms).
    pub promised_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// What the sweep found: `late` or `lost`.
    pub delay: Option<String>,
    /// The open exception the sweep raised.
    pub delay_exception_id: Option<String>,
    /// The open exception raised for the carrier's exception / failed attempt / return.
    pub alert_exception_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Shipment {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let items: String = r.try_get("items")?;
        let id: String = r.try_get("id")?;
        Ok(Self {
            items: serde_json::from_str(&items).map_err(|source| StoreError::Corrupt {
                what: format!("shipment {id} items"),
                source,
            })?,
            id,
            order_id: r.try_get("order_id")?,
            warehouse: r.try_get("warehouse")?,
            carrier: r.try_get("carrier")?,
            carrier_name: r.try_get("carrier_name")?,
            tracking_number: r.try_get("tracking_number")?,
            service: r.try_get("service")?,
            status: r.try_get("status")?,
            side_status: r.try_get("side_status")?,
            raw_code: r.try_get("raw_code")?,
            location: r.try_get("location")?,
            description: r.try_get("description")?,
            first_scan_at: r.try_get("first_scan_at")?,
            last_scan_at: r.try_get("last_scan_at")?,
            eta: r.try_get("eta")?,
            promised_at: r.try_get("promised_at")?,
            delivered_at: r.try_get("delivered_at")?,
            delay: r.try_get("delay")?,
            delay_exception_id: r.try_get("delay_exception_id")?,
            alert_exception_id: r.try_get("alert_exception_id")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// The payload of this parcel's `shipment.*` events.
    pub fn event_ref(&self, status: Option<&str>, detail: serde_json::Value) -> ShipmentRef {
        ShipmentRef {
            order_id: self.order_id.clone(),
            shipment_id: self.id.clone(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            warehouse: self.warehouse.clone(),
            status: status.map(str::to_string),
            detail,
        }
    }

    /// Whether the parcel is delivered.
    pub fn is_delivered(&self) -> bool {
        self.delivered_at.is_some()
    }
}

/// One entry of a parcel's carrier history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentEvent {
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    pub status: Option<String>,
    pub raw_code: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// The callback document it came in.
    pub raw_id: Option<String>,
}

const SHIPMENT_COLUMNS: &str = "id, order_id, warehouse, carrier, carrier_name, tracking_number, \
     service, items, status, side_status, raw_code, location, description, first_scan_at, \
     last_scan_at, eta, promised_at, delivered_at, delay, delay_exception_id, \
     alert_exception_id, created_at, updated_at";

/// What recording a parcel found ([`Store::record_shipment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new parcel of the order: its shipment id.
    New(String),
    /// The order's parcel, recorded before (a redelivered callback): its shipment id.
    Again(String),
    /// The carrier + tracking number is another order's parcel (that order's id): nothing is
    /// recorded. A tracking number names one parcel, so one of the two reports is wrong — a
    /// warehouse's slip, a number typed for the wrong order — and a person must look.
    Taken(String),
}

impl Recorded {
    /// The order's shipment id and whether it was recorded now; `None` when the number is
    /// another order's parcel.
    pub fn shipment(self) -> Option<(String, bool)> {
        match self {
            Recorded::New(id) => Some((id, true)),
            Recorded::Again(id) => Some((id, false)),
            Recorded::Taken(_) => None,
        }
    }
}

impl Store {
    /// Records a parcel unless its carrier + tracking number is known. A parcel reported again
    /// for the same order (a redelivered warehouse callback) is the same shipment, unchanged;
    /// one that is another order's is [`Recorded::Taken`], never merged into it. Runs on the
    /// caller's connection, so it belongs to the caller's transaction (`UnitTx::conn`); emit
    /// [`NewShipment::created_event`] with it when created.
    pub async fn record_shipment(
        conn: &mut AnyConnection,
        s: &NewShipment<'_>,
    ) -> Result<Recorded, StoreError> {
        let carrier = crate::tracking::carrier::code(s.carrier);
        let number = s.number();
        let items = serde_json::to_string(&s.items).map_err(|source| StoreError::Corrupt {
            what: format!("shipment items of order {}", s.order_id),
            source,
        })?;
        let id = format!("shp_{}", uuid::Uuid::now_v7().simple());
        let now = now_ms();
        // ON CONFLICT: the same parcel reported twice at once is one shipment.
        let inserted = sqlx::query(
            "INSERT INTO shipments (id, order_id, warehouse, carrier, carrier_name, \
             tracking_number, service, items, status, promised_at, eta, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pre_transit', $9, $10, $11, $11) \
             ON CONFLICT (carrier, tracking_number) DO NOTHING",
        )
        .bind(&id)
        .bind(s.order_id)
        .bind(s.warehouse)
        .bind(&carrier)
        .bind(s.carrier_name.unwrap_or(s.carrier))
        .bind(&number)
        .bind(s.service)
        .bind(&items)
        .bind(s.promised_at)
        .bind(s.eta)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            return Ok(Recorded::New(id));
        }
        let row = sqlx::query(
            "SELECT id, order_id FROM shipments WHERE carrier = $1 AND tracking_number = $2",
        )
        .bind(&carrier)
        .bind(&number)
        .fetch_one(&mut *conn)
        .await?;
        let owner: String = row.try_get("order_id")?;
        if owner != s.order_id {
            return Ok(Recorded::Taken(owner));
        }
        Ok(Recorded::Again(row.try_get("id")?))
    }

    /// The shipment of a carrier code + tracking number, read on `conn` (inside a unit, so the
    /// match and the merge see the same row).
    pub async fn shipment_by_number(
        conn: &mut AnyConnection,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<Option<Shipment>, StoreError> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE carrier = $1 AND tracking_number = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(carrier)
            .bind(tracking_number_key(tracking_number))
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Shipment::from_row).transpose()
    }

    /// A shipment by id, read on `conn`.
    pub async fn shipment_on(
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Shipment>, StoreError> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Shipment::from_row).transpose()
    }

    /// An order's parcels, oldest first, read on `conn`.
    pub async fn order_shipments_on(
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Vec<Shipment>, StoreError> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(Shipment::from_row).collect()
    }

    /// A shipment by id.
    pub async fn shipment(&self, id: &str) -> Result<Option<Shipment>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Self::shipment_on(&mut conn, id).await
    }

    /// An order's parcels, oldest first (for the API and the stages' reads before commit).
    pub async fn order_shipments(&self, order_id: &str) -> Result<Vec<Shipment>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Self::order_shipments_on(&mut conn, order_id).await
    }

    /// A parcel's carrier history, newest first (events without a time last).
    pub async fn shipment_events(
        &self,
        shipment_id: &str,
    ) -> Result<Vec<ShipmentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT occurred_at, status, raw_code, location, description, raw_id \
             FROM shipment_events WHERE shipment_id = $1 \
             ORDER BY occurred_at IS NULL, occurred_at DESC, recorded_at DESC, event_key",
        )
        .bind(shipment_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let at: Option<i64> = r.try_get("occurred_at")?;
                Ok(ShipmentEvent {
                    occurred_at: at.map(ms_to_time),
                    status: r.try_get("status")?,
                    raw_code: r.try_get("raw_code")?,
                    location: r.try_get("location")?,
                    description: r.try_get("description")?,
                    raw_id: r.try_get("raw_id")?,
                })
            })
            .collect()
    }
}

/// What the track stage writes back to a parcel after merging its history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipmentProgress<'a> {
    pub status: &'a str,
    pub side_status: Option<&'a str>,
    pub raw_code: Option<&'a str>,
    pub location: Option<&'a str>,
    pub description: Option<&'a str>,
    pub first_scan_at: Option<i64>,
    pub last_scan_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Set only when the carrier gave one (an older ETA stays otherwise).
    pub eta: Option<i64>,
}

/// One carrier event as stored in a parcel's history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewShipmentEvent<'a> {
    pub occurred_at: Option<i64>,
    pub status: Option<&'a str>,
    pub raw_code: Option<&'a str>,
    pub location: Option<&'a str>,
    pub description: Option<&'a str>,
}

impl NewShipmentEvent<'_> {
    /// The event's identity: the same scan brought by two callbacks is one event.
    pub fn key(&self) -> String {
        let parts = [
            self.occurred_at.map(|t| t.to_string()).unwrap_or_default(),
            self.status.unwrap_or_default().to_string(),
            self.raw_code.unwrap_or_default().to_string(),
            self.location.unwrap_or_default().to_string(),
            self.description.unwrap_or_default().to_string(),
        ];
        super::raw::sha256_hex(parts.join("\u{1f}").as_bytes())
    }
}

/// Most parcel events one statement inserts (9 parameters each, well inside SQLite's 32 766).
const EVENTS_PER_STATEMENT: usize = 500;

impl Store {
    /// Takes the row lock of an order (PostgreSQL) for the rest of the transaction, so two
    /// parcels of one order delivered at once are decided one after the other and the second
    /// sees the first. On SQLite it writes nothing: a write transaction there holds the one
    /// write lock from its start (`BEGIN IMMEDIATE`), so nobody else moves the order meanwhile.
    pub async fn lock_order(conn: &mut AnyConnection, order_id: &str) -> Result<(), StoreError> {
        if super::Dialect::of(conn) == super::Dialect::Sqlite {
            return Ok(());
        }
        sqlx::query("UPDATE orders SET updated_at = updated_at WHERE id = $1")
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Takes the row lock of a shipment and reads it (see [`Store::lock_order`]; on SQLite only
    /// the read).
    pub async fn lock_shipment(
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Shipment>, StoreError> {
        if super::Dialect::of(conn) == super::Dialect::Postgres {
            sqlx::query("UPDATE shipments SET updated_at = updated_at WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Self::shipment_on(conn, id).await
    }

    /// Shipments of a tracking number under any carrier (for updates whose carrier the
    /// aggregator could not name).
    pub async fn shipments_by_number_any(
        conn: &mut AnyConnection,
        tracking_number: &str,
    ) -> Result<Vec<Shipment>, StoreError> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE tracking_number = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tracking_number_key(tracking_number))
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(Shipment::from_row).collect()
    }

    /// Adds events to a parcel's history; those it has are skipped. Returns how many were new.
    /// One statement for up to [`EVENTS_PER_STATEMENT`] events.
    pub async fn add_shipment_events(
        conn: &mut AnyConnection,
        shipment_id: &str,
        raw_id: Option<&str>,
        events: &[NewShipmentEvent<'_>],
    ) -> Result<usize, StoreError> {
        let now = now_ms();
        let mut added = 0;
        for chunk in events.chunks(EVENTS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO shipment_events (shipment_id, event_key, occurred_at, status, \
                 raw_code, location, description, raw_id, recorded_at) VALUES {} \
                 ON CONFLICT (shipment_id, event_key) DO NOTHING",
                super::value_rows(chunk.len(), 9)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(shipment_id)
                    .bind(e.key())
                    .bind(e.occurred_at)
                    .bind(e.status)
                    .bind(e.raw_code)
                    .bind(e.location)
                    .bind(e.description)
                    .bind(raw_id)
                    .bind(now);
            }
            added += q.execute(&mut *conn).await?.rows_affected() as usize;
        }
        Ok(added)
    }

    /// A parcel's whole history on `conn`, in the order it was recorded.
    pub async fn shipment_history_on(
        conn: &mut AnyConnection,
        shipment_id: &str,
    ) -> Result<Vec<crate::tracking::lattice::HistoryEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT occurred_at, status, raw_code, location, description FROM shipment_events \
             WHERE shipment_id = $1 ORDER BY recorded_at, event_key",
        )
        .bind(shipment_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let at: Option<i64> = r.try_get("occurred_at")?;
                let status: Option<String> = r.try_get("status")?;
                Ok(crate::tracking::lattice::HistoryEvent {
                    occurred_at: at.map(ms_to_time),
                    status: status.and_then(|s| serde_json::from_value(s.into()).ok()),
                    location: r.try_get("location")?,
                    description: r.try_get("description")?,
                    raw_code: r.try_get("raw_code")?,
                })
            })
            .collect()
    }

    /// Writes what the merged history says back to the parcel.
    pub async fn set_shipment_progress(
        conn: &mut AnyConnection,
        id: &str,
        p: &ShipmentProgress<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE shipments SET status = $1, side_status = $2, raw_code = $3, location = $4, \
             description = $5, first_scan_at = $6, last_scan_at = $7, delivered_at = $8, \
             eta = COALESCE($9, eta), updated_at = $10 WHERE id = $11",
        )
        .bind(p.status)
        .bind(p.side_status)
        .bind(p.raw_code)
        .bind(p.location)
        .bind(p.description)
        .bind(p.first_scan_at)
        .bind(p.last_scan_at)
        .bind(p.delivered_at)
        .bind(p.eta)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Sets the carrier's ETA of a parcel (a revised estimate without a new scan).
    pub async fn set_shipment_eta(
        conn: &mut AnyConnection,
        id: &str,
        eta: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE shipments SET eta = $1, updated_at = $2 WHERE id = $3")
            .bind(eta)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Sets (or clears) the open exception raised for the carrier's own bad news.
    pub async fn set_shipment_alert(
        conn: &mut AnyConnection,
        id: &str,
        exception_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE shipments SET alert_exception_id = $1 WHERE id = $2")
            .bind(exception_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Records a delay finding and its exception, only if the parcel has no open delay finding
    /// of that kind (`expect` is the finding it must have now: `None`, or `late` when a loss
    /// supersedes it). False when another sweep got there first.
    pub async fn claim_shipment_delay(
        conn: &mut AnyConnection,
        id: &str,
        expect: Option<&str>,
        delay: &str,
        exception_id: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE shipments SET delay = $1, delay_exception_id = $2, updated_at = $3 \
             WHERE id = $4 AND delivered_at IS NULL \
             AND (delay = $5 OR (delay IS NULL AND $5 IS NULL))",
        )
        .bind(delay)
        .bind(exception_id)
        .bind(now_ms())
        .bind(id)
        .bind(expect)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Clears a delay finding (the parcel moved on or was delivered); `keep` keeps the finding
    /// itself (a late parcel stays late) while its exception is closed.
    pub async fn clear_shipment_delay(
        conn: &mut AnyConnection,
        id: &str,
        keep: bool,
    ) -> Result<(), StoreError> {
        let sql = if keep {
            "UPDATE shipments SET delay_exception_id = NULL WHERE id = $1"
        } else {
            "UPDATE shipments SET delay = NULL, delay_exception_id = NULL WHERE id = $1"
        };
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
        Ok(())
    }

    /// Parcels not delivered (nor returned), oldest first, for the delay sweep.
    pub async fn open_shipments(&self, limit: i64) -> Result<Vec<Shipment>, StoreError> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE delivered_at IS NULL \
             AND (side_status IS NULL OR side_status <> 'returned') \
             ORDER BY created_at, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(Shipment::from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.sqlite").display());
        let store = Store::connect(&url, 2, "normal").await.unwrap();
        (dir, store)
    }

    fn parcel<'a>(order: &'a str, carrier: &'a str, number: &'a str) -> NewShipment<'a> {
        NewShipment {
            order_id: order,
            warehouse: Some("wh-east"),
            carrier,
            carrier_name: None,
            tracking_number: number,
            service: Some("ground"),
            promised_at: Some(1_800_000_000_000),
            eta: None,
            items: serde_json::json!([{"sku": "MUG-01", "quantity": 2}]),
        }
    }

    #[tokio::test]
    async fn a_parcel_reported_twice_is_one_shipment() {
        let (_dir, store) = store().await;
        let mut tx = store.begin().await.unwrap();
        let Recorded::New(id) =
            Store::record_shipment(&mut tx, &parcel("og_1", "UPS", "1Z 999 AA1"))
                .await
                .unwrap()
        else {
            panic!("a new parcel")
        };
        let again = Store::record_shipment(&mut tx, &parcel("og_1", "ups", "1z999aa1"))
            .await
            .unwrap();
        assert_eq!(again, Recorded::Again(id.clone()));
        let other = Store::record_shipment(&mut tx, &parcel("og_1", "顺丰", "SF1"))
            .await
            .unwrap();
        assert!(matches!(&other, Recorded::New(o) if *o != id), "{other:?}");
        // The same number for another order is that order's parcel: not merged, not recorded.
        let taken = Store::record_shipment(&mut tx, &parcel("og_2", "UPS", "1Z999AA1"))
            .await
            .unwrap();
        assert_eq!(taken, Recorded::Taken("og_1".into()));
        tx.commit().await.unwrap();
        assert!(store.order_shipments("og_2").await.unwrap().is_empty());

        let s = store.shipment(&id).await.unwrap().unwrap();
        assert_eq!(s.carrier, "ups");
        assert_eq!(s.carrier_name.as_deref(), Some("UPS"));
        assert_eq!(s.tracking_number, "1Z999AA1");
        assert_eq!(s.status, "pre_transit");
        assert_eq!(s.items[0]["sku"], "MUG-01");
        let all = store.order_shipments("og_1").await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].carrier, "sf-express");
        let mut conn = store.pool().acquire().await.unwrap();
        let found = Store::shipment_by_number(&mut conn, "ups", "1z999 aa1")
            .await
            .unwrap();
        assert_eq!(found.map(|s| s.id), Some(id.clone()));

        let p = parcel("og_1", "UPS", "1Z 999 AA1");
        let a = p.created_event(&id);
        let b = p.created_event(&id);
        assert_eq!(a.id, b.id);
        assert_eq!(a.kind, EventType::SHIPMENT_CREATED);
        assert_eq!(a.payload["carrier"], "ups");
        assert_eq!(a.payload["tracking_number"], "1Z999AA1");
    }

    fn scan(at: i64, location: &str) -> NewShipmentEvent<'_> {
        NewShipmentEvent {
            occurred_at: Some(at),
            status: Some("in_transit"),
            raw_code: Some("IT"),
            location: Some(location),
            description: None,
        }
    }

    #[tokio::test]
    async fn a_history_takes_each_scan_once_whatever_the_statements() {
        let (_dir, store) = store().await;
        let mut tx = store.begin().await.unwrap();
        let Recorded::New(id) = Store::record_shipment(&mut tx, &parcel("og_1", "UPS", "1Z1"))
            .await
            .unwrap()
        else {
            panic!("a new parcel")
        };
        let first = [scan(1, "Leeds"), scan(2, "York")];
        let added = Store::add_shipment_events(&mut tx, &id, Some("raw_1"), &first)
            .await
            .unwrap();
        assert_eq!(added, 2);
        // A callback repeating one scan, naming another twice, and more than one statement's
        // worth of scans: each new scan once.
        let mut again = vec![scan(2, "York"), scan(3, "Hull"), scan(3, "Hull")];
        let places: Vec<String> = (0..EVENTS_PER_STATEMENT + 2)
            .map(|i| format!("depot {i}"))
            .collect();
        again.extend(places.iter().map(|p| scan(4, p)));
        let added = Store::add_shipment_events(&mut tx, &id, Some("raw_2"), &again)
            .await
            .unwrap();
        assert_eq!(added, 1 + EVENTS_PER_STATEMENT + 2);
        let history = Store::shipment_history_on(&mut tx, &id).await.unwrap();
        assert_eq!(history.len(), 3 + EVENTS_PER_STATEMENT + 2);
        tx.commit().await.unwrap();
    }
}
