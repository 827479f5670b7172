//! Carrying out a push-back as a platform's `[pushback]` section declares it: the prepare
//! calls, the create (never repeated blindly: after a failure that may have gone through, the
//! platform's fulfilments are looked up first), the follow-up calls, and the proof read from
//! the answer. The platform's errors are classified here once: "already fulfilled" → the
//! existing fulfilment is fetched as proof; "unknown carrier" → pushed again with the
//! fallback carrier (or refused); 429 / 5xx / timeouts and answers that cannot be read (an
//! HTML page with 200, cut-off JSON, another shape) → looked up, then retried with backoff
//! (the caller retries later when a failure lasts; an unreadable answer that lasts is an
//! exception); any other 4xx → refused, for a person.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::definition::{parse_proof, select, ProofFrom, PushbackSpec, Step, Unit};
use crate::config::MarketplaceConfig;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, Call, RawResponse, RetryPolicy};
use crate::partner::definition::{self, scalar_text, AuthScheme, Definition};
use crate::partner::PartnerError;

/// Compiles a template (definition checks, `ordergate check`).
pub fn compile(template: &str) -> Result<(), String> {
    env()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(100_000));
    env
}

/// Renders `template` over `ctx`; an error names the template's use, never a value.
fn render(what: &str, template: &str, ctx: &Value) -> Result<String, PushError> {
    env()
        .render_str(template, to_template_value(ctx))
        .map_err(|e| PushError::Template(format!("{what}: {e}")))
}

/// A JSON value as a template value. Numbers are converted by hand: with serde_json's
/// `arbitrary_precision` a number serializes as a map, which templates would print as such.
fn to_template_value(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                minijinja::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                minijinja::Value::from(u)
            } else {
                minijinja::Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(a) => a.iter().map(to_template_value).collect::<Vec<_>>().into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), to_template_value(v)))
            .collect::<BTreeMap<_, _>>()
            .into(),
    }
}

/// One order line as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct LineFact {
    /// The platform's line id (`line_ref`: Shopify line item id, Amazon OrderItemId, eBay
    /// lineItemId, Magento item_id).
    #[serde(rename = "ref")]
    pub line_ref: String,
    pub sku: Option<String>,
    /// The quantity as a whole number (platforms take integers).
    pub quantity: i64,
}

/// One parcel as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct ParcelFact {
    /// ordergate's shipment id.
    pub shipment_id: String,
    /// ordergate's carrier code (`ups`).
    pub carrier: String,
    /// The carrier as people name it (`UPS`, `Correos Express`).
    pub carrier_name: String,
    /// The platform's carrier value (from the table, or the fallback).
    pub carrier_code: String,
    /// Whether `carrier_code` is the fallback.
    pub carrier_fallback: bool,
    pub tracking_number: String,
    /// The carrier's tracking page, or empty.
    pub tracking_url: String,
    /// 1-based position of the parcel in the order (Amazon `packageReferenceId`).
    pub package_ref: String,
}

/// Everything a push-back's templates may use.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub order_id: String,
    /// The platform's order id.
    pub external_id: String,
    pub external_number: Option<String>,
    pub lines: Vec<LineFact>,
    pub parcels: Vec<ParcelFact>,
    /// When it shipped (RFC 3339, UTC, milliseconds) and the day (`YYYY-MM-DD`).
    pub shipped_at: String,
    pub ship_date: String,
    /// The connector's params (`marketplace_id`).
    pub params: BTreeMap<String, String>,
}

impl Facts {
    /// The tracking numbers pushed.
    pub fn tracking_numbers(&self) -> Vec<String> {
        self.parcels
            .iter()
            .map(|p| p.tracking_number.clone())
            .collect()
    }

    /// The template context: the facts, the first parcel's fields at the top level (for
    /// platforms that take one tracking number per call), and `extra` values.
    fn context(&self, extra: &BTreeMap<String, Value>) -> Value {
        let mut ctx = serde_json::to_value(self).unwrap_or(Value::Null);
        if let (Some(m), Some(first)) = (ctx.as_object_mut(), self.parcels.first()) {
            if let Value::Object(p) = serde_json::to_value(first).unwrap_or(Value::Null) {
                m.extend(p);
            }
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        ctx
    }
}

/// How a push-back ended well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    /// The platform's fulfilment / shipment id, or `accepted:<request id>` where the platform
    /// only acknowledges (Amazon's 204).
    pub proof: String,
    /// `created` (this call), `found` (an earlier call had gone through), `already_fulfilled`
    /// (the platform had it: its fulfilment is the proof).
    pub how: &'static str,
    /// Whether the fallback carrier was used.
    pub carrier_fallback: bool,
}

/// Why a push-back failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Talking to the platform failed; retriable ones are worth trying later.
    #[error(transparent)]
    Partner(#[from] PartnerError),
    /// The platform refused it (a 4xx that is none of the classified ones).
    #[error("{connector} refused the push-back at {step}: {message}")]
    Refused {
        connector: String,
        step: String,
        message: String,
    },
    /// The platform does not know the carrier and the definition has no fallback.
    #[error("{connector} has no carrier code for {carrier:?} and no fallback carrier")]
    UnknownCarrier { connector: String, carrier: String },
    /// The platform has nothing left to fulfil and no fulfilment of ours.
    #[error("{connector}: {message}")]
    NothingToFulfil { connector: String, message: String },
    /// A template or an answer does not fit the definition.
    #[error("push-back template or answer: {0}")]
    Template(String),
}

impl PushError {
    /// Whether trying again later may work.
    pub fn is_retriable(&self) -> bool {
        matches!(self, PushError::Partner(e) if e.is_retriable())
    }
}

/// A marketplace connector's push-back: its client and its definition's `[pushback]`.
pub struct Pusher {
    /// The connector's name.
    pub connector: String,
    /// Who owns refused push-backs.
    pub department: String,
    spec: PushbackSpec,
    client: ApiClient,
    base_url: String,
    params: BTreeMap<String, String>,
    shutdown: CancellationToken,
    /// Fed with every attempt's outcome once set ([`Pusher::watch_health`]).
    health: std::sync::OnceLock<Arc<crate::health::HealthTracker>>,
}

impl Pusher {
    /// Builds the push-back of a marketplace connector; `Ok(None)` when its definition has no
    /// `[pushback]`.
    pub fn build(cfg: &MarketplaceConfig) -> Result<Option<Arc<Self>>, PartnerError> {
        let def = definition::load(&cfg.definitions, &cfg.platform)?;
        Self::from_definition(cfg, def)
    }

    /// As [`Pusher::build`] over a loaded definition.
    pub fn from_definition(
        cfg: &MarketplaceConfig,
        mut def: Definition,
    ) -> Result<Option<Arc<Self>>, PartnerError> {
        let Some(spec) = def.pushback.take() else {
            return Ok(None);
        };
        spec.validate().map_err(|message| {
            PartnerError::Definition(definition::DefinitionError::Invalid {
                path: cfg.definitions.join(format!("{}.toml", cfg.platform)),
                message,
            })
        })?;
        if let (Some(s), AuthScheme::Oauth2Refresh { scope, .. }) = (&spec.scope, &mut def.auth) {
            *scope = Some(s.clone());
        }
        let values = Values::resolve(&cfg.params, &cfg.credentials)?;
        let auth = Authenticator::new(&cfg.name, &def.auth, &values, cfg.token_url.as_deref())?;
        let client = ApiClient::new(
            &cfg.name,
            auth,
            def.errors.clone(),
            def.rate_limit.clone(),
            RetryPolicy {
                max_retries: cfg.max_retries,
                base: Duration::from_millis(cfg.retry_base_ms.max(1)),
                max: Duration::from_millis(cfg.retry_max_ms.max(1)),
            },
            Duration::from_millis(cfg.request_timeout_ms),
        )?;
        let base_url = match &cfg.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => definition::render(&def.base_url, |n| cfg.params.get(n).cloned())?,
        };
        Ok(Some(Arc::new(Self {
            connector: cfg.name.clone(),
            department: cfg.department.clone(),
            spec,
            client,
            base_url,
            params: cfg.params.clone(),
            shutdown: CancellationToken::new(),
            health: std::sync::OnceLock::new(),
        })))
    }

    /// Feeds the connector's health with every push-back attempt from now on: an answer read
    /// (or a refusal) is a success; a failure worth retrying or an answer that cannot be read
    /// is a failure.
    pub fn watch_health(&self, health: Arc<crate::health::HealthTracker>) {
        let _ = self.health.set(health);
    }

    /// Per order or per parcel.
    pub fn unit(&self) -> Unit {
        self.spec.unit
    }

    /// The connector's params (for [`Facts::params`]).
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The platform's value for carrier `code` (`name` as people write it): from the table,
    /// else the fallback (`true`), else `None`.
    pub fn carrier_code(
        &self,
        code: &str,
        name: &str,
        force_fallback: bool,
    ) -> Option<(String, bool)> {
        if !force_fallback {
            if let Some(c) = self.spec.carriers.get(code) {
                return Some((c.clone(), false));
            }
        }
        let f = self.spec.fallback_carrier.as_ref()?;
        let ctx = serde_json::json!({"carrier": code, "carrier_name": name});
        render("fallback_carrier", f, &ctx).ok().map(|v| (v, true))
    }

    /// Pushes `facts`. `look_first`: an earlier attempt may have reached the platform (its
    /// intent was recorded and no answer stored), so the platform's fulfilments are looked up
    /// before anything is created. A failure worth retrying (429, 5xx, a timeout) and an
    /// answer that cannot be read (an HTML page, cut-off JSON, another shape) are tried again
    /// with the client's backoff, up to its `max_retries`, each time looking the platform up
    /// first: a create whose answer was not read may have gone through.
    pub async fn push(&self, facts: &Facts, look_first: bool) -> Result<Pushed, PushError> {
        for p in &facts.parcels {
            if p.carrier_code.is_empty() {
                return Err(PushError::UnknownCarrier {
                    connector: self.connector.clone(),
                    carrier: p.carrier_name.clone(),
                });
            }
        }
        let retry = self.client.retry_policy();
        let mut look_first = look_first;
        let mut attempt = 0u32;
        loop {
            let result = self.push_once(facts, look_first).await;
            let partner = match &result {
                Err(PushError::Partner(p)) if p.is_retriable() || is_unreadable(p) => p,
                Err(PushError::Template(_)) => return result,
                _ => {
                    if let Some(h) = self.health.get() {
                        h.success(&self.connector).await;
                    }
                    return result;
                }
            };
            if let Some(h) = self.health.get() {
                h.failure(&self.connector, &partner.to_string()).await;
            }
            if attempt >= retry.max_retries {
                self.client.settle(partner, &self.shutdown).await;
                return result;
            }
            let delay = self.client.settle_delay(attempt, partner);
            tracing::warn!(connector = %self.connector, order_id = %facts.order_id, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, error = %partner, "Push-back failed; looking the platform up, then trying again.");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => return Err(PartnerError::Cancelled.into()),
            }
            look_first = true;
            attempt += 1;
        }
    }

    /// One try of [`Pusher::push`].
    async fn push_once(&self, facts: &Facts, look_first: bool) -> Result<Pushed, PushError> {
        let mut facts = facts.clone();
        let mut extra = BTreeMap::new();
        for step in &self.spec.prepare {
            match self.call(step, &facts, &extra).await? {
                Answer::Ok(raw) => {
                    if let Err(missing) = extract(step, &raw, &mut extra)
                        .map_err(|why| self.unreadable(&step.name, &why))?
                    {
                        // Nothing left to fulfil there (a closed fulfilment order): ours, or
                        // someone's, is already in.
                        tracing::info!(connector = %self.connector, order_id = %facts.order_id, step = %step.name, missing, "Nothing open to fulfil at the platform; looking up its fulfilments.");
                        return match self.existing(&facts, &extra).await? {
                            Some((proof, how)) => {
                                self.finish(&facts, &extra, proof, how, false).await
                            }
                            None => Err(PushError::NothingToFulfil {
                                connector: self.connector.clone(),
                                message: format!(
                                    "order {}: {} found nothing open ({missing}) and no fulfilment",
                                    facts.order_id, step.name
                                ),
                            }),
                        };
                    }
                }
                Answer::Refused(e) => return Err(self.refused(step, e)),
            }
        }
        if look_first {
            if let Some(proof) = self.lookup(&facts, &extra, true).await? {
                tracing::info!(connector = %self.connector, order_id = %facts.order_id, "Push-back found at the platform; not sent again.");
                return self.finish(&facts, &extra, proof, "found", false).await;
            }
        }
        let mut fallback = facts.parcels.iter().any(|p| p.carrier_fallback);
        loop {
            match self.call(&self.spec.create, &facts, &extra).await? {
                Answer::Ok(raw) => {
                    // Not readable: the create may have gone through; the caller looks it
                    // up before anything is sent again.
                    let proof = read_proof(&self.spec.create, &raw)
                        .map_err(|m| self.unreadable(&self.spec.create.name, &m))?;
                    return self
                        .finish(&facts, &extra, proof, "created", fallback)
                        .await;
                }
                Answer::Refused(e) => {
                    let (code, message) = partner_words(&e);
                    if self.spec.classify.already_done(code.as_deref(), &message) {
                        tracing::info!(connector = %self.connector, order_id = %facts.order_id, "The platform has it fulfilled already; fetching its fulfilment as proof.");
                        return match self.existing(&facts, &extra).await? {
                            Some((proof, how)) => {
                                self.finish(&facts, &extra, proof, how, fallback).await
                            }
                            None => Err(self.refused(&self.spec.create, e)),
                        };
                    }
                    if self
                        .spec
                        .classify
                        .unknown_carrier(code.as_deref(), &message)
                        && !fallback
                    {
                        let mut changed = false;
                        for p in &mut facts.parcels {
                            if let Some((c, true)) =
                                self.carrier_code(&p.carrier, &p.carrier_name, true)
                            {
                                p.carrier_code = c;
                                p.carrier_fallback = true;
                                changed = true;
                            }
                        }
                        if !changed {
                            return Err(PushError::UnknownCarrier {
                                connector: self.connector.clone(),
                                carrier: facts
                                    .parcels
                                    .first()
                                    .map(|p| p.carrier_name.clone())
                                    .unwrap_or_default(),
                            });
                        }
                        tracing::info!(connector = %self.connector, order_id = %facts.order_id, "The platform does not know the carrier; pushing with the fallback carrier.");
                        fallback = true;
                        continue;
                    }
                    return Err(self.refused(&self.spec.create, e));
                }
            }
        }
    }

    /// The platform's fulfilment when it says it has one: ours (`found`: an earlier call of
    /// ours went through) or anyone's (`already_fulfilled`; also where the look-up cannot tell
    /// by tracking number, Amazon's order status).
    async fn existing(
        &self,
        facts: &Facts,
        extra: &BTreeMap<String, Value>,
    ) -> Result<Option<(String, &'static str)>, PushError> {
        if self.spec.lookup.match_field.is_some() {
            if let Some(proof) = self.lookup(facts, extra, true).await? {
                return Ok(Some((proof, "found")));
            }
        }
        Ok(self
            .lookup(facts, extra, false)
            .await?
            .map(|proof| (proof, "already_fulfilled")))
    }

    /// The follow-up calls, then the outcome.
    async fn finish(
        &self,
        facts: &Facts,
        extra: &BTreeMap<String, Value>,
        proof: String,
        how: &'static str,
        carrier_fallback: bool,
    ) -> Result<Pushed, PushError> {
        for step in &self.spec.after {
            if let Answer::Refused(e) = self.call(step, facts, extra).await? {
                return Err(self.refused(step, e));
            }
        }
        Ok(Pushed {
            proof,
            how,
            carrier_fallback,
        })
    }

    /// Runs the prepare calls and looks the push-back up: `Ok(Some(proof))` when the platform
    /// has it (reconciliation).
    pub async fn find(&self, facts: &Facts) -> Result<Option<String>, PushError> {
        let mut extra = BTreeMap::new();
        for step in &self.spec.prepare {
            match self.call(step, facts, &extra).await? {
                Answer::Ok(raw) => {
                    // A closed fulfilment order leaves values unset; the look-up may not need them.
                    let _ = extract(step, &raw, &mut extra)
                        .map_err(|why| self.unreadable(&step.name, &why))?;
                }
                Answer::Refused(e) => return Err(self.refused(step, e)),
            }
        }
        self.lookup(facts, &extra, true).await
    }

    /// The platform's fulfilment of `facts`: with `strict`, one carrying our tracking number
    /// (an earlier call of ours); without, any shipped one (the platform says it is fulfilled).
    async fn lookup(
        &self,
        facts: &Facts,
        extra: &BTreeMap<String, Value>,
        strict: bool,
    ) -> Result<Option<String>, PushError> {
        let l = &self.spec.lookup;
        let step = Step {
            name: "lookup".into(),
            method: "GET".into(),
            path: l.path.clone(),
            query: l.query.clone(),
            body: None,
            extract: BTreeMap::new(),
            proof: None,
        };
        let raw = match self.call(&step, facts, extra).await? {
            Answer::Ok(raw) => raw,
            Answer::Refused(e) if e.status() == Some(404) => return Ok(None),
            Answer::Refused(e) => return Err(self.refused(&step, e)),
        };
        let body: Value = serde_json::from_slice(&raw.bytes)
            .map_err(|e| self.unreadable("lookup", &format!("not JSON: {e}")))?;
        // An answer without the platform's list is not "nothing there": a create looked up
        // in it could be sent twice.
        let records: Vec<&Value> = match select(&body, &l.records) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) if !l.records.is_empty() => vec![v],
            _ => {
                let want = if l.records.is_empty() {
                    "a list".to_string()
                } else {
                    format!("{:?}", l.records)
                };
                return Err(self.unreadable("lookup", &format!("no {want} in the answer")));
            }
        };
        let numbers = facts.tracking_numbers();
        for r in records {
            if let (Some(field), false) = (&l.status_field, l.status_in.is_empty()) {
                let status = select(r, field).and_then(scalar_text).unwrap_or_default();
                if !l.status_in.iter().any(|s| s.eq_ignore_ascii_case(&status)) {
                    continue;
                }
            }
            if let (Some(field), true) = (&l.match_field, strict) {
                let text = select(r, field)
                    .map(|v| v.to_string().to_uppercase())
                    .unwrap_or_default();
                if !numbers.iter().all(|n| text.contains(&n.to_uppercase())) {
                    continue;
                }
            }
            if let Some(id) = select(r, &l.id).and_then(scalar_text) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// One call: the answer, or the platform's refusal (a 4xx that is not 429) handed back for
    /// classification; other failures (429 and 5xx past the retries, timeouts) are errors.
    async fn call(
        &self,
        step: &Step,
        facts: &Facts,
        extra: &BTreeMap<String, Value>,
    ) -> Result<Answer, PushError> {
        let ctx = facts.context(extra);
        let path = render(&step.name, &step.path, &ctx)?;
        let url = format!("{}{path}", self.base_url);
        let query = step
            .query
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(&step.name, v, &ctx)?)))
            .collect::<Result<Vec<_>, PushError>>()?;
        let body = match &step.body {
            Some(t) => {
                let text = render(&step.name, t, &ctx)?;
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    PushError::Template(format!("{}: the body is not JSON: {e}", step.name))
                })?;
                Some(("application/json", v.to_string().into_bytes()))
            }
            None => None,
        };
        let method = reqwest::Method::from_bytes(step.method.as_bytes())
            .map_err(|_| PushError::Template(format!("{}: method {}", step.name, step.method)))?;
        let idempotent = !std::ptr::eq(step, &self.spec.create);
        let call = Call {
            method,
            url: &url,
            query: &query,
            headers: &[],
            body,
            idempotent,
        };
        let endpoint = format!("pushback.{}", step.name);
        match self
            .client
            .request(&endpoint, &call, &self.shutdown, |raw| {
                self.errors_in_ok(raw)
            })
            .await
        {
            Ok(raw) => Ok(Answer::Ok(raw)),
            Err(e) => match e.status() {
                Some(s) if (400..500).contains(&s) && s != 429 && s != 408 => {
                    Ok(Answer::Refused(e))
                }
                _ => Err(e.into()),
            },
        }
    }

    /// A 2xx answer with errors where the definition puts them is an error (SP-API).
    fn errors_in_ok(&self, raw: RawResponse) -> Result<RawResponse, PartnerError> {
        if raw.bytes.is_empty() {
            return Ok(raw);
        }
        match self.client.json_body(RawResponse {
            status: raw.status,
            headers: raw.headers.clone(),
            bytes: raw.bytes.clone(),
        }) {
            Ok(_) => Ok(raw),
            // Not JSON (a bare id, text): nothing to look in.
            Err(PartnerError::Decode { .. }) => Ok(raw),
            Err(e) => Err(e),
        }
    }

    /// An answer of `step` that cannot be read (`why`, never the body).
    fn unreadable(&self, step: &str, why: &str) -> PushError {
        PushError::Partner(PartnerError::Decode {
            platform: self.connector.clone(),
            message: format!("the answer to {step} could not be read: {why}"),
        })
    }

    fn refused(&self, step: &Step, e: PartnerError) -> PushError {
        let (code, message) = partner_words(&e);
        PushError::Refused {
            connector: self.connector.clone(),
            step: step.name.clone(),
            message: match (e.status(), code) {
                (Some(s), Some(c)) => format!("{s} ({c}): {message}"),
                (Some(s), None) => format!("{s}: {message}"),
                _ => message,
            },
        }
    }
}

/// A call's answer.
enum Answer {
    Ok(RawResponse),
    /// A 4xx (not 429/408): the platform's refusal, for classification.
    Refused(PartnerError),
}

fn partner_words(e: &PartnerError) -> (Option<String>, String) {
    match e {
        PartnerError::Partner { code, message, .. } => (code.clone(), message.clone()),
        other => (None, other.to_string()),
    }
}

/// A failure worth a look-up and another try: the platform answered something the definition
/// does not describe.
pub fn is_unreadable(e: &PartnerError) -> bool {
    matches!(e, PartnerError::Decode { .. })
}

/// The step's `extract` values from its answer; `Ok(Err(name))` for the first that is
/// missing from an answer in the platform's shape (nothing open to fulfil); `Err(why)` for an
/// answer that is not the platform's (not JSON, or without the list the value is in).
fn extract(
    step: &Step,
    raw: &RawResponse,
    into: &mut BTreeMap<String, Value>,
) -> Result<Result<(), String>, String> {
    if step.extract.is_empty() {
        return Ok(Ok(()));
    }
    let body: Value = serde_json::from_slice(&raw.bytes).map_err(|e| format!("not JSON: {e}"))?;
    for (name, selector) in &step.extract {
        match select(&body, selector) {
            Some(v) if !v.is_null() => {
                into.insert(name.clone(), v.clone());
            }
            _ => {
                // The list the value is picked from must be there.
                let top = selector.split(['.', '[']).next().unwrap_or_default();
                if !top.is_empty() && select(&body, top).is_none() {
                    return Err(format!("no {top:?} in the answer"));
                }
                return Ok(Err(name.clone()));
            }
        }
    }
    Ok(Ok(()))
}

/// The proof in a create's answer, as the step says.
fn read_proof(step: &Step, raw: &RawResponse) -> Result<String, String> {
    let from = parse_proof(step.proof.as_deref().unwrap_or("accepted:x-request-id"))?;
    let header = |h: &str| {
        raw.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match from {
        ProofFrom::Body(path) => {
            let body: Value = serde_json::from_slice(&raw.bytes)
                .map_err(|e| format!("the answer is not JSON: {e}"))?;
            select(&body, &path)
                .and_then(scalar_text)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("no proof at {path:?} in the answer"))
        }
        ProofFrom::Header(h) => header(&h)
            .and_then(|v| {
                v.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .map(str::to_string)
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("no {h} header in the answer")),
        ProofFrom::Accepted(h) => Ok(format!(
            "accepted:{}",
            header(&h).unwrap_or_else(|| raw.status.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Facts {
        Facts {
            order_id: "og_1".into(),
            external_id: "111-2222222-3333333".into(),
            external_number: None,
            lines: vec![
                LineFact {
                    line_ref: "10".into(),
                    sku: Some("MUG".into()),
                    quantity: 2,
                },
                LineFact {
                    line_ref: "11".into(),
                    sku: None,
                    quantity: 1,
                },
            ],
            parcels: vec![ParcelFact {
                shipment_id: "shp_1".into(),
                carrier: "ups".into(),
                carrier_name: "UPS".into(),
                carrier_code: "UPS".into(),
                carrier_fallback: false,
                tracking_number: "1Z999".into(),
                tracking_url: "https://www.ups.com/track?tracknum=1Z999".into(),
                package_ref: "1".into(),
            }],
            shipped_at: "2026-03-04T10:11:12.000Z".into(),
            ship_date: "2026-03-04".into(),
            params: [("marketplace_id".to_string(), "ATVPDKIKX0DER".to_string())].into(),
        }
    }

    #[test]
    fn every_shipped_definition_renders_json_bodies() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        let mut extra = BTreeMap::new();
        extra.insert("fulfillment_order_id".to_string(), serde_json::json!(5));
        extra.insert("entity_id".to_string(), serde_json::json!(1001));
        for platform in ["shopify", "woocommerce", "amazon", "ebay", "magento"] {
            let def = definition::load(&dir, platform).unwrap();
            let spec = def.pushback.unwrap();
            let ctx = sample().context(&extra);
            for step in spec.prepare.iter().chain([&spec.create]).chain(&spec.after) {
                render("path", &step.path, &ctx).unwrap();
                if let Some(b) = &step.body {
                    let text = render("body", b, &ctx).unwrap();
                    let v: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{platform} {}: {e}\n{text}", step.name));
                    assert!(v.is_object(), "{platform}");
                    assert!(
                        text.contains("1Z999") || step.name == "completed",
                        "{platform}"
                    );
                }
            }
        }
    }
}
