//! Qimen WMS simulator: `POST /router/qimen/service?method=…&sign=…` with XML bodies, every
//! request's MD5 sign checked (`sign-check-failure` otherwise), answers
//! `<response><flag>…</flag><code>…</code><message>…</message>…</response>`:
//!
//! * `taobao.qimen.deliveryorder.create` — **not idempotent**: the same `deliveryOrderCode`
//!   sent twice makes two WMS orders (the stats count them);
//! * `taobao.qimen.deliveryorder.query` — the orders with a `deliveryOrderCode`;
//! * `taobao.qimen.order.cancel` — `flag=failure` once picking started;
//! * `taobao.qimen.inventory.query` — stock per `itemCode`.
//!
//! Shipping sends `taobao.qimen.deliveryorder.confirm` (signed the same way, `outBizCode`,
//! `confirmType` 0, one package per line with `expressCode`) to the callback URL — or first a
//! partial one (`confirmType` 1, status `PARTDELIVERED`, some of the packages) — retried until
//! the answer carries `<flag>success</flag>`. Rate limits are not established for Qimen; the
//! injected 429 carries `Retry-After`.
//!
//! Test controls: `GET /_sim/stats`, `PUT /_sim/stock`, `POST /_sim/faults`,
//! `POST /_sim/pick/{id}`, `POST /_sim/ship/{id}[?packages=N]` (`id` is the WMS's `deliveryOrderId`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::Value;

use super::warehouse::{
    deliver, lock, lost_answer, Callback, FaultRequest, SimControl, SimSettings,
};
use crate::outbound::warehouse::callback::{qimen_response, xml_escape};
use crate::outbound::warehouse::qimen::signed_query;
use crate::partner::signature::verify_qimen;

/// The sandbox app key.
pub const APP_KEY: &str = "qimen-sandbox-app-key";
/// The sandbox app secret (signs requests both ways; opens nothing real).
pub const APP_SECRET: &str = "qimen-sandbox-app-secret-7d1f";
/// The customer id the WMS knows ordergate by.
pub const CUSTOMER_ID: &str = "og-sandbox";
/// The warehouse code.
pub const WAREHOUSE_CODE: &str = "ASIA01";

/// How the simulator behaves.
pub type QimenSettings = SimSettings;

#[derive(Debug, Clone)]
struct WmsOrder {
    id: String,
    code: String,
    status: &'static str,
    /// (itemCode, planQty).
    lines: Vec<(String, String)>,
}

/// The simulator's state.
pub struct QimenState {
    /// How it was started.
    pub settings: QimenSettings,
    /// Faults and counters.
    pub control: Arc<SimControl>,
    orders: Mutex<Vec<WmsOrder>>,
    next_id: AtomicU64,
}

impl QimenState {
    /// A fresh simulator.
    pub fn new(settings: QimenSettings) -> Self {
        Self {
            control: Arc::new(SimControl::new(settings.default_stock)),
            settings,
            orders: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(880_001),
        }
    }

    /// WMS orders held (a repeated create is a second one).
    pub fn order_count(&self) -> usize {
        lock(&self.orders).len()
    }

    /// Orders created per `deliveryOrderCode`.
    pub fn created(&self) -> BTreeMap<String, u32> {
        self.control.created()
    }

    /// The WMS ids of the orders with `code`.
    pub fn ids_of(&self, code: &str) -> Vec<String> {
        lock(&self.orders)
            .iter()
            .filter(|o| o.code == code)
            .map(|o| o.id.clone())
            .collect()
    }

    /// The status of WMS order `id` (`ACCEPT`, `PICK`, `PARTDELIVERED`, `DELIVERED`,
    /// `CANCELED`, `CLOSED`).
    pub fn status_of(&self, id: &str) -> Option<&'static str> {
        lock(&self.orders)
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.status)
    }

    /// The (itemCode, planQty) lines of WMS order `id`.
    pub fn lines_of(&self, id: &str) -> Vec<(String, String)> {
        lock(&self.orders)
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.lines.clone())
            .unwrap_or_default()
    }

    /// Picking of `id` starts: a cancel fails from now on.
    pub fn pick(&self, id: &str) -> bool {
        self.set_status(id, "ACCEPT", "PICK").is_some()
    }

    /// Ships `id` and sends `deliveryorder.confirm` (`confirmType` 0, every package).
    pub fn ship(&self, id: &str) -> bool {
        let Some(order) = ["ACCEPT", "PICK", "PARTDELIVERED"]
            .into_iter()
            .find_map(|from| self.set_status(id, from, "DELIVERED"))
        else {
            return false;
        };
        self.confirm(&order, order.lines.len(), true);
        true
    }

    /// Ships the first `packages` packages of `id` and sends a partial
    /// `deliveryorder.confirm` (`confirmType` 1, status `PARTDELIVERED`, its own `outBizCode`);
    /// [`Self::ship`] sends the final one later.
    pub fn ship_part(&self, id: &str, packages: usize) -> bool {
        let Some(order) = ["ACCEPT", "PICK"]
            .into_iter()
            .find_map(|from| self.set_status(id, from, "PARTDELIVERED"))
        else {
            return false;
        };
        self.confirm(&order, packages.min(order.lines.len()), false);
        true
    }

    /// Closes `id` without shipping what is left of it (the stock is gone, say) and sends
    /// `deliveryorder.confirm` with status `CLOSED` and `remark`, the way a WMS tells that an
    /// order, or its unshipped rest, is cancelled.
    pub fn close(&self, id: &str, remark: &str) -> bool {
        let Some(order) = ["ACCEPT", "PICK", "PARTDELIVERED"]
            .into_iter()
            .find_map(|from| self.set_status(id, from, "CLOSED"))
        else {
            return false;
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>{}</deliveryOrderCode><deliveryOrderId>{}</deliveryOrderId><warehouseCode>{WAREHOUSE_CODE}</warehouseCode><orderType>JYCK</orderType><status>CLOSED</status><outBizCode>{}-closed</outBizCode><confirmType>0</confirmType><remark>{}</remark><orderConfirmTime>{}</orderConfirmTime></deliveryOrder></request>",
            xml_escape(&order.code),
            order.id,
            order.id,
            xml_escape(remark),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
        );
        self.post(body);
        true
    }

    fn set_status(&self, id: &str, from: &str, to: &'static str) -> Option<WmsOrder> {
        let mut orders = lock(&self.orders);
        let o = orders.iter_mut().find(|o| o.id == id && o.status == from)?;
        o.status = to;
        Some(o.clone())
    }

    /// Sends `deliveryorder.confirm` for `o` with its first `packages` packages (one per
    /// line): the final confirmation with the order lines shipped, or a partial one.
    fn confirm(&self, o: &WmsOrder, packages: usize, last: bool) {
        let packages: String = o
            .lines
            .iter()
            .enumerate()
            .take(packages)
            .map(|(i, (sku, qty))| {
                format!(
                    "<package><logisticsCode>SF</logisticsCode><logisticsName>顺丰速运</logisticsName><expressCode>SF{}{i:02}</expressCode><packageCode>P{i}</packageCode><items><item><itemCode>{}</itemCode><quantity>{}</quantity></item></items></package>",
                    o.id.trim_start_matches("WMS"), xml_escape(sku), xml_escape(qty)
                )
            })
            .collect();
        let lines: String = o
            .lines
            .iter()
            .map(|(sku, qty)| {
                format!(
                    "<orderLine><itemCode>{}</itemCode><planQty>{q}</planQty><actualQty>{q}</actualQty></orderLine>",
                    xml_escape(sku),
                    q = xml_escape(qty)
                )
            })
            .collect();
        let (status, suffix, confirm_type, lines) = if last {
            ("DELIVERED", "final", 0, lines)
        } else {
            ("PARTDELIVERED", "part", 1, String::new())
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>{}</deliveryOrderCode><deliveryOrderId>{}</deliveryOrderId><warehouseCode>{WAREHOUSE_CODE}</warehouseCode><orderType>JYCK</orderType><status>{status}</status><outBizCode>{}-{suffix}</outBizCode><confirmType>{confirm_type}</confirmType><orderConfirmTime>{}</orderConfirmTime></deliveryOrder><packages>{packages}</packages><orderLines>{lines}</orderLines></request>",
            xml_escape(&o.code),
            o.id,
            o.id,
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
        );
        self.post(body);
    }

    /// Sends a signed `deliveryorder.confirm` with `body` to the callback URL, retried.
    fn post(&self, body: String) {
        let Some(url) = self.settings.callback_url.clone() else {
            return;
        };
        let query = signed_query(
            APP_SECRET,
            "taobao.qimen.deliveryorder.confirm",
            APP_KEY,
            CUSTOMER_ID,
            "2.0",
            body.as_bytes(),
        );
        let Ok(mut signed) = reqwest::Url::parse(&url) else {
            tracing::warn!("Qimen sandbox: the callback URL does not parse.");
            return;
        };
        signed.query_pairs_mut().extend_pairs(query);
        deliver(
            self.control.clone(),
            Callback {
                url: signed.to_string(),
                headers: Vec::new(),
                body: body.into_bytes(),
                content_type: "text/xml; charset=utf-8",
            },
            self.settings.callback_attempts,
            |_| Vec::new(),
            |status, body| {
                status == 200
                    && std::str::from_utf8(body).is_ok_and(|b| b.contains("<flag>success</flag>"))
            },
        );
    }
}

/// The routes over `state`.
pub fn router(state: Arc<QimenState>) -> Router {
    Router::new()
        .route("/router/qimen/service", post(service))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stock", axum::routing::put(set_stock))
        .route("/_sim/faults", post(set_faults))
        .route("/_sim/pick/{id}", post(sim_pick))
        .route("/_sim/ship/{id}", post(sim_ship))
        .with_state(state)
}

fn xml(status: u16, body: String) -> Response {
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn failure(code: &str, message: &str) -> Response {
    xml(200, qimen_response(false, code, message, ""))
}

fn success(extra: &str) -> Response {
    xml(200, qimen_response(true, "0", "success", extra))
}

fn text(element: &Value, name: &str) -> Option<String> {
    element[name][0]["#text"].as_str().map(str::to_string)
}

async fn service(
    State(s): State<Arc<QimenState>>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some((status, retry)) = s.control.take_fault() {
        let r = match status {
            429 => xml(
                429,
                qimen_response(false, "isv.app-call-limited", "App Call Limited", ""),
            ),
            _ => xml(
                status,
                format!("<html><body><h1>{status} Service Unavailable</h1></body></html>"),
            ),
        };
        return super::book::with_header(r, "retry-after", format!("{}", retry.max(0.0).ceil()));
    }
    if q.get("app_key").map(String::as_str) != Some(APP_KEY) {
        return failure("isv.appkey-not-exists", "Invalid app Key");
    }
    if verify_qimen(
        APP_SECRET,
        q.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &body,
    )
    .is_err()
    {
        return failure("sign-check-failure", "Illegal request");
    }
    if s.control.take_garble() {
        return xml(200, "<result>ok</result>".into());
    }
    let Ok(doc) = crate::normalize::xml::xml_to_json(&body) else {
        return failure("isv.invalid-parameter", "body is not XML");
    };
    let request = &doc["request"];
    match q.get("method").map(String::as_str).unwrap_or("") {
        "taobao.qimen.deliveryorder.create" => {
            let answer = create(&s, request);
            s.control.slow_create().await;
            answer
        }
        "taobao.qimen.deliveryorder.query" => query(&s, request),
        "taobao.qimen.order.cancel" => cancel(&s, request),
        "taobao.qimen.inventory.query" => inventory(&s, request),
        _ => failure("isv.invalid-method", "Invalid method"),
    }
}

fn create(s: &Arc<QimenState>, request: &Value) -> Response {
    let order = &request["deliveryOrder"][0];
    let Some(code) = text(order, "deliveryOrderCode") else {
        return failure("isv.missing-parameter", "deliveryOrderCode is required");
    };
    let lines: Vec<(String, String)> = request["orderLines"][0]["orderLine"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| Some((text(l, "itemCode")?, text(l, "planQty")?)))
        .collect();
    if lines.is_empty() {
        return failure("isv.missing-parameter", "orderLines is required");
    }
    for (sku, qty) in &lines {
        s.control
            .commit_stock(sku, qty.parse().unwrap_or(Decimal::ZERO));
    }
    // Not idempotent: every create is a new WMS order, as on the real contract.
    let id = format!("WMS{}", s.next_id.fetch_add(1, Ordering::Relaxed));
    lock(&s.orders).push(WmsOrder {
        id: id.clone(),
        code: code.clone(),
        status: "ACCEPT",
        lines,
    });
    s.control.count_created(&code);
    if let Some(after) = s.settings.ship_after {
        let (state, id) = (s.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            state.ship(&id);
        });
    }
    if s.control.take_drop_create() {
        return lost_answer();
    }
    success(&format!(
        "<createTime>{}</createTime><deliveryOrderId>{id}</deliveryOrderId><warehouseCode>{WAREHOUSE_CODE}</warehouseCode>",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
    ))
}

fn query(s: &QimenState, request: &Value) -> Response {
    let Some(code) = text(request, "deliveryOrderCode") else {
        return failure("isv.missing-parameter", "deliveryOrderCode is required");
    };
    let found: String = lock(&s.orders)
        .iter()
        .filter(|o| o.code == code)
        .map(|o| {
            format!(
                "<deliveryOrder><deliveryOrderCode>{}</deliveryOrderCode><deliveryOrderId>{}</deliveryOrderId><warehouseCode>{WAREHOUSE_CODE}</warehouseCode><status>{}</status></deliveryOrder>",
                xml_escape(&o.code),
                o.id,
                o.status
            )
        })
        .collect();
    success(&format!("<deliveryOrders>{found}</deliveryOrders>"))
}

fn cancel(s: &QimenState, request: &Value) -> Response {
    let id = text(request, "orderId");
    let code = text(request, "orderCode");
    let mut orders = lock(&s.orders);
    let Some(o) = orders.iter_mut().find(|o| {
        (id.as_deref() == Some(o.id.as_str())
            || id.is_none() && code.as_deref() == Some(o.code.as_str()))
            && o.status != "CANCELED"
    }) else {
        return failure(
            "ORDER_NOT_EXIST",
            "order does not exist or is already cancelled",
        );
    };
    if o.status != "ACCEPT" {
        return failure(
            "CANCEL_FAIL",
            "订单已拣货，取消失败 (picking started, cannot cancel)",
        );
    }
    o.status = "CANCELED";
    success("")
}

fn inventory(s: &QimenState, request: &Value) -> Response {
    let items: String = request["criteriaList"][0]["criteria"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| text(c, "itemCode"))
        .map(|sku| {
            format!(
                "<item><warehouseCode>{WAREHOUSE_CODE}</warehouseCode><itemCode>{}</itemCode><inventoryType>ZP</inventoryType><quantity>{}</quantity><lockQuantity>0</lockQuantity></item>",
                xml_escape(&sku),
                s.control.stock_of(&sku)
            )
        })
        .collect();
    success(&format!("<items>{items}</items>"))
}

async fn stats(State(s): State<Arc<QimenState>>) -> Response {
    super::book::json(200, s.control.stats(s.order_count()))
}

async fn set_stock(
    State(s): State<Arc<QimenState>>,
    Json(stock): Json<BTreeMap<String, Decimal>>,
) -> Response {
    s.control.set_stock(stock);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn set_faults(State(s): State<Arc<QimenState>>, Json(f): Json<FaultRequest>) -> Response {
    s.control.set_faults(f);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn sim_pick(State(s): State<Arc<QimenState>>, Path(id): Path<String>) -> Response {
    if s.pick(&id) {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

/// `POST /_sim/ship/{id}` ships it all; `?packages=N` ships its first N packages (a partial
/// confirmation).
async fn sim_ship(
    State(s): State<Arc<QimenState>>,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let shipped = match q.get("packages").map(|n| n.parse::<usize>()) {
        Some(Ok(n)) => s.ship_part(&id, n),
        Some(Err(_)) => return axum::http::StatusCode::BAD_REQUEST.into_response(),
        None => s.ship(&id),
    };
    if shipped {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

/// A running Qimen simulator.
pub struct QimenSandbox {
    /// Its orders, stock, faults and counters.
    pub state: Arc<QimenState>,
    served: super::Served,
}

impl QimenSandbox {
    /// Starts one on `listen`.
    pub async fn start(listen: &str, settings: QimenSettings) -> std::io::Result<Self> {
        let state = Arc::new(QimenState::new(settings));
        let served = super::Served::start(listen, router(state.clone())).await?;
        tracing::info!(addr = %served.addr, "Qimen sandbox listening.");
        Ok(Self { state, served })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.served.addr
    }

    /// The base URL a `qimen` warehouse instance should use.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.served.addr)
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.served.stop().await;
    }
}
