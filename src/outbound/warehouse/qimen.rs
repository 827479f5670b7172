//! Kind `qimen`: an RPC WMS shaped like the Qimen contract. Every call is `POST
//! {base}{path}?method=…&timestamp=…&format=xml&app_key=…&v=2.0&sign_method=md5&customerId=…
//! &sign=…` with an XML `<request>`, answered `<response><flag>success|failure</flag>…`.
//! `deliveryorder.create` is **not** idempotent at the WMS (a repeat makes a second order),
//! so the key (`deliveryOrderCode`) is always queried first. `order.cancel` fails
//! (`flag=failure`) once picking started; Qimen has no amend, so an amend is a cancel and a
//! create again under the same key.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;

use super::build::Connection;
use super::callback::xml_escape;
use super::definition::QimenMethods;
use super::{
    create_looked_up, ChangeOutcome, FulfilmentRef, FulfilmentRequest, FulfilmentStatus, Stock,
    Warehouse,
};
use crate::partner::client::Call;
use crate::partner::signature::qimen_sign;
use crate::partner::PartnerError;

/// A Qimen-shaped WMS.
pub struct QimenWarehouse {
    conn: Connection,
    methods: QimenMethods,
    retriable_codes: Vec<String>,
    app_key: String,
    app_secret: String,
    customer_id: String,
    warehouse_code: String,
    owner_code: String,
}

impl QimenWarehouse {
    /// Over a connection: needs credential `app_secret` and params `app_key`, `customer_id`,
    /// `warehouse_code` (and `owner_code`, default the customer id).
    pub fn new(
        conn: Connection,
        methods: QimenMethods,
        retriable_codes: Vec<String>,
    ) -> Result<Self, PartnerError> {
        let app_key = conn.value("app_key")?.to_string();
        let app_secret = conn.value("app_secret")?.to_string();
        let customer_id = conn.value("customer_id")?.to_string();
        let warehouse_code = conn.value("warehouse_code")?.to_string();
        let owner_code = conn.value("owner_code").unwrap_or(&customer_id).to_string();
        Ok(Self {
            conn,
            methods,
            retriable_codes,
            app_key,
            app_secret,
            customer_id,
            warehouse_code,
            owner_code,
        })
    }

    /// Calls `method` with `body`; the `<response>` as [`crate::normalize::xml`] reads it, or
    /// a typed error (a `flag=failure` answer carries the WMS's code and message).
    async fn call(
        &self,
        method: &str,
        body: String,
        idempotent: bool,
    ) -> Result<Value, PartnerError> {
        let query = signed_query(
            &self.app_secret,
            method,
            &self.app_key,
            &self.customer_id,
            &self.methods.version,
            body.as_bytes(),
        );
        let url = format!("{}{}", self.conn.base_url, self.methods.path);
        let call = Call {
            method: reqwest::Method::POST,
            url: &url,
            query: &query,
            headers: &self.conn.headers,
            body: Some(("text/xml; charset=utf-8", body.into_bytes())),
            idempotent,
        };
        self.conn
            .client
            .request(method, &call, &self.conn.shutdown, |raw| {
                read_response(&raw.bytes).map_err(|failure| match failure {
                    Failure::Decode(message) => PartnerError::Decode {
                        platform: self.conn.name.clone(),
                        message,
                    },
                    Failure::Flag { code, message } => PartnerError::Partner {
                        platform: self.conn.name.clone(),
                        status: raw.status,
                        retriable_code: self.retriable_codes.contains(&code),
                        code: Some(code),
                        message,
                        retry_after: None,
                    },
                })
            })
            .await
    }

    /// Delivery orders with `key`, newest last: `(deliveryOrderId, status)`.
    async fn query(&self, key: &str) -> Result<Vec<(String, String)>, PartnerError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrderCode>{}</deliveryOrderCode><warehouseCode>{}</warehouseCode><ownerCode>{}</ownerCode></request>",
            xml_escape(key),
            xml_escape(&self.warehouse_code),
            xml_escape(&self.owner_code)
        );
        let response = self.call(&self.methods.query, body, true).await?;
        let mut found = Vec::new();
        for o in orders_of(&response) {
            let id = text(o, "deliveryOrderId").ok_or_else(|| PartnerError::Decode {
                platform: self.conn.name.clone(),
                message: "query answer: a deliveryOrder without deliveryOrderId".into(),
            })?;
            found.push((id, text(o, "status").unwrap_or_default()));
        }
        Ok(found)
    }

    async fn create_once(
        &self,
        request: &FulfilmentRequest,
    ) -> Result<FulfilmentRef, PartnerError> {
        let body = create_body(request, &self.warehouse_code, &self.owner_code);
        let response = self.call(&self.methods.create, body, false).await?;
        let remote_id = text(&response, "deliveryOrderId").ok_or_else(|| PartnerError::Decode {
            platform: self.conn.name.clone(),
            message: "create answer without deliveryOrderId".into(),
        })?;
        Ok(FulfilmentRef {
            key: request.key.clone(),
            remote_id,
        })
    }
}

#[async_trait]
impl Warehouse for QimenWarehouse {
    fn name(&self) -> &str {
        &self.conn.name
    }

    async fn stock(&self, skus: &[String]) -> Result<Stock, PartnerError> {
        let criteria: String = skus
            .iter()
            .map(|sku| {
                format!(
                    "<criteria><warehouseCode>{}</warehouseCode><ownerCode>{}</ownerCode><itemCode>{}</itemCode><inventoryType>ZP</inventoryType></criteria>",
                    xml_escape(&self.warehouse_code),
                    xml_escape(&self.owner_code),
                    xml_escape(sku)
                )
            })
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><criteriaList>{criteria}</criteriaList></request>"
        );
        let response = self.call(&self.methods.inventory, body, true).await?;
        let mut stock = Stock::new();
        for sku in skus {
            stock.insert(sku.clone(), Decimal::ZERO);
        }
        for item in response["items"][0]["item"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let number = |name: &str| -> Result<Decimal, PartnerError> {
                text(item, name)
                    .map(|q| q.parse::<Decimal>())
                    .transpose()
                    .map(Option::unwrap_or_default)
                    .map_err(|_| PartnerError::Decode {
                        platform: self.conn.name.clone(),
                        message: format!("inventory answer: {name} is not a number"),
                    })
            };
            let (Some(sku), Some(slot)) = (
                text(item, "itemCode"),
                text(item, "itemCode").and_then(|s| stock.get(&s).copied()),
            ) else {
                continue;
            };
            let available = (number("quantity")? - number("lockQuantity")?).max(Decimal::ZERO);
            stock.insert(sku, slot + available);
        }
        Ok(stock)
    }

    async fn create(&self, request: &FulfilmentRequest) -> Result<FulfilmentRef, PartnerError> {
        create_looked_up(
            &self.conn,
            &request.key,
            true,
            |_| false,
            || self.find(&request.key),
            || self.create_once(request),
        )
        .await
    }

    async fn find(&self, key: &str) -> Result<Option<FulfilmentRef>, PartnerError> {
        Ok(self
            .query(key)
            .await?
            .into_iter()
            .rev()
            .find(|(_, status)| !matches!(status.as_str(), "CANCELED" | "CLOSED"))
            .map(|(remote_id, _)| FulfilmentRef {
                key: key.to_string(),
                remote_id,
            }))
    }

    async fn status(&self, order: &FulfilmentRef) -> Result<FulfilmentStatus, PartnerError> {
        let found = self.query(&order.key).await?;
        let Some((_, status)) = found.iter().find(|(id, _)| *id == order.remote_id) else {
            return Err(PartnerError::Decode {
                platform: self.conn.name.clone(),
                message: "the WMS does not know the delivery order".into(),
            });
        };
        status_of(status).ok_or_else(|| PartnerError::Decode {
            platform: self.conn.name.clone(),
            message: format!("unknown delivery order status {status:?}"),
        })
    }

    async fn cancel(
        &self,
        order: &FulfilmentRef,
        reason: &str,
    ) -> Result<ChangeOutcome, PartnerError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><warehouseCode>{}</warehouseCode><ownerCode>{}</ownerCode><orderCode>{}</orderCode><orderId>{}</orderId><orderType>JYCK</orderType><cancelReason>{}</cancelReason></request>",
            xml_escape(&self.warehouse_code),
            xml_escape(&self.owner_code),
            xml_escape(&order.key),
            xml_escape(&order.remote_id),
            xml_escape(reason)
        );
        match self.call(&self.methods.cancel, body, true).await {
            Ok(_) => Ok(ChangeOutcome::Done),
            Err(PartnerError::Partner {
                code,
                message,
                retriable_code: false,
                status: 200,
                ..
            }) => Ok(ChangeOutcome::Refused {
                reason: match code {
                    Some(c) => format!("{c}: {message}"),
                    None => message,
                },
            }),
            Err(e) => Err(e),
        }
    }

    async fn amend(
        &self,
        order: &FulfilmentRef,
        request: &FulfilmentRequest,
    ) -> Result<ChangeOutcome, PartnerError> {
        // The WMS amends by cancel + create. A retry after a lost answer finds where the last
        // try got to: the order already held under a new id (done), or none held (cancelled,
        // not yet created again) — never a second cancel or create.
        match self.find(&order.key).await? {
            Some(now) if now.remote_id != order.remote_id => return Ok(ChangeOutcome::Done),
            None => {
                self.create(request).await?;
                return Ok(ChangeOutcome::Done);
            }
            Some(_) => {}
        }
        match self.cancel(order, "amended").await? {
            ChangeOutcome::Done => {
                self.create(request).await?;
                Ok(ChangeOutcome::Done)
            }
            refused => Ok(refused),
        }
    }
}

/// The signed query of a call: the system parameters and `sign` over them and `body`.
pub fn signed_query(
    secret: &str,
    method: &str,
    app_key: &str,
    customer_id: &str,
    version: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600)
        .map(|tz| chrono::Utc::now().with_timezone(&tz).naive_local())
        .unwrap_or_else(|| chrono::Utc::now().naive_utc());
    let mut query: Vec<(String, String)> = [
        ("method", method.to_string()),
        ("timestamp", beijing.format("%Y-%m-%d %H:%M:%S").to_string()),
        ("format", "xml".into()),
        ("app_key", app_key.to_string()),
        ("v", version.to_string()),
        ("sign_method", "md5".into()),
        ("customerId", customer_id.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sign = qimen_sign(
        secret,
        query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    );
    query.push(("sign".into(), sign));
    query
}

/// The `deliveryorder.create` body: `deliveryOrderCode` is the key; packing instructions go
/// into the order's `remark` and each line's `remark`.
pub fn create_body(r: &FulfilmentRequest, warehouse_code: &str, owner_code: &str) -> String {
    let e = |s: &str| xml_escape(s);
    let opt = |s: &Option<String>| s.as_deref().map(xml_escape).unwrap_or_default();
    let remarks: Vec<String> = r
        .lines
        .iter()
        .filter_map(|l| {
            l.packing_instruction
                .as_ref()
                .map(|p| format!("{}: {p}", l.sku))
        })
        .collect();
    let lines: String = r
        .lines
        .iter()
        .map(|l| {
            format!(
                "<orderLine><orderLineNo>{}</orderLineNo><ownerCode>{}</ownerCode><itemCode>{}</itemCode><itemName>{}</itemName><planQty>{}</planQty><remark>{}</remark></orderLine>",
                l.line_no,
                e(owner_code),
                e(&l.sku),
                e(&l.name),
                l.quantity.normalize(),
                opt(&l.packing_instruction)
            )
        })
        .collect();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>{}</deliveryOrderCode><orderType>JYCK</orderType><warehouseCode>{}</warehouseCode><sourcePlatformCode>OTHER</sourcePlatformCode><createTime>{now}</createTime><placeOrderTime>{now}</placeOrderTime><sellerNick>{}</sellerNick><logisticsCode>{}</logisticsCode><remark>{}</remark><receiverInfo><name>{}</name><company>{}</company><mobile>{}</mobile><email>{}</email><countryCode>{}</countryCode><province>{}</province><city>{}</city><detailAddress>{}</detailAddress><zipCode>{}</zipCode></receiverInfo><extendProps><orderId>{}</orderId><orderNumber>{}</orderNumber></extendProps></deliveryOrder><orderLines>{lines}</orderLines></request>",
        e(&r.key),
        e(warehouse_code),
        e(owner_code),
        r.shipping_method.as_deref().map(xml_escape).unwrap_or_else(|| "OTHER".into()),
        e(&remarks.join("; ")),
        e(&r.ship_to.name),
        opt(&r.ship_to.company),
        opt(&r.ship_to.phone),
        opt(&r.ship_to.email),
        e(&r.ship_to.country),
        opt(&r.ship_to.region),
        e(&r.ship_to.city),
        e(&r.ship_to.lines.join(", ")),
        opt(&r.ship_to.postal_code),
        e(&r.order_id),
        e(&r.order_number),
    )
}

/// Why a response is not a success.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not the contract's `<response>`.
    Decode(String),
    /// `flag=failure` with the WMS's code and message.
    Flag { code: String, message: String },
}

/// Reads a `<response>`: its element as [`crate::normalize::xml`] shapes it when the flag is
/// `success`.
pub fn read_response(bytes: &[u8]) -> Result<Value, Failure> {
    let doc = crate::normalize::xml::xml_to_json(bytes)
        .map_err(|e| Failure::Decode(format!("answer is not XML: {e}")))?;
    let response = doc
        .get("response")
        .cloned()
        .ok_or_else(|| Failure::Decode("answer is not a <response>".into()))?;
    match text(&response, "flag").as_deref() {
        Some("success") => Ok(response),
        Some("failure") => Err(Failure::Flag {
            code: text(&response, "code").unwrap_or_default(),
            message: text(&response, "message").unwrap_or_else(|| "no error message".into()),
        }),
        _ => Err(Failure::Decode(
            "<response> without a success/failure flag".into(),
        )),
    }
}

fn text(element: &Value, name: &str) -> Option<String> {
    element[name][0]["#text"].as_str().map(str::to_string)
}

/// The `deliveryOrder`s of a query answer (`<deliveryOrders><deliveryOrder>` or a single
/// `<deliveryOrder>`).
fn orders_of(response: &Value) -> Vec<&Value> {
    let listed = response["deliveryOrders"][0]["deliveryOrder"].as_array();
    let single = response["deliveryOrder"].as_array();
    listed
        .or(single)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Qimen's delivery order status as ordergate's.
pub fn status_of(status: &str) -> Option<FulfilmentStatus> {
    Some(match status {
        "NEW" | "ACCEPT" => FulfilmentStatus::Accepted,
        "PRINT" | "PICK" | "CHECK" | "PARTDELIVERED" | "CANCELEDFAIL" => {
            FulfilmentStatus::InProgress
        }
        "PACKAGE" => FulfilmentStatus::Packed,
        "DELIVERED" => FulfilmentStatus::Shipped,
        "CANCELED" | "CLOSED" => FulfilmentStatus::Cancelled,
        "EXCEPTION" | "REJECT" => FulfilmentStatus::Exception,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_success_failure_and_garbage() {
        let ok = read_response(b"<response><flag>success</flag><code>0</code><message>ok</message><deliveryOrderId>W1</deliveryOrderId></response>").unwrap();
        assert_eq!(text(&ok, "deliveryOrderId").as_deref(), Some("W1"));
        assert_eq!(
            read_response(b"<response><flag>failure</flag><code>CANCEL_FAIL</code><message>picking</message></response>"),
            Err(Failure::Flag {
                code: "CANCEL_FAIL".into(),
                message: "picking".into()
            })
        );
        assert!(matches!(
            read_response(b"{\"ok\":1}"),
            Err(Failure::Decode(_))
        ));
        assert!(matches!(
            read_response(b"<result/>"),
            Err(Failure::Decode(_))
        ));
    }

    #[test]
    fn status_table() {
        for (raw, want) in [
            ("NEW", FulfilmentStatus::Accepted),
            ("ACCEPT", FulfilmentStatus::Accepted),
            ("PICK", FulfilmentStatus::InProgress),
            ("PACKAGE", FulfilmentStatus::Packed),
            ("DELIVERED", FulfilmentStatus::Shipped),
            ("CANCELED", FulfilmentStatus::Cancelled),
            ("REJECT", FulfilmentStatus::Exception),
        ] {
            assert_eq!(status_of(raw), Some(want), "{raw}");
        }
        assert_eq!(status_of("LOST"), None);
    }

    #[test]
    fn the_query_is_signed_over_its_parameters_and_body() {
        let q = signed_query("secret", "m", "key", "c1", "2.0", b"<request/>");
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(
            crate::partner::signature::verify_qimen("secret", pairs.clone(), b"<request/>").is_ok()
        );
        assert!(
            crate::partner::signature::verify_qimen("secret", pairs, b"<request></request>")
                .is_err()
        );
    }
}
