//! What customers see without an account: the order-status lookup (order number + the e-mail
//! or phone the order was placed with) and the feedback form of the delivered e-mail, with a
//! per-client rate limit. The lookup answers only state, parcels, carriers, tracking links and
//! the last state changes — never an address or a price — and a wrong pair, an unknown order
//! and a missing field get the same answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use minijinja::{context, Environment};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::render::ParcelView;
use super::{order_number, parcel_view, store as rows};
use crate::model::CanonicalOrder;
use crate::store::{Store, StoreError};

/// A fixed-window limit per client IP.
#[derive(Debug)]
pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    /// `per_minute` requests per client per minute.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_window: per_minute.max(1),
            window: Duration::from_secs(60),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `ip`: `Err(seconds to wait)` when over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.hit(ip, true)
    }

    /// Whether `ip` is over the limit now (`Err(seconds to wait)`), without counting: for
    /// limits that count only some requests (failed sign-ins: [`RateLimiter::check`] after a
    /// failure).
    pub fn over(&self, ip: IpAddr) -> Result<(), u64> {
        self.hit(ip, false)
    }

    fn hit(&self, ip: IpAddr, count: bool) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut hits) = self.hits.lock() else {
            return Ok(());
        };
        if hits.len() > 100_000 {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = hits.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_window {
            let wait = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        if count {
            entry.1 += 1;
        }
        Ok(())
    }
}

/// The customer pages' shared parts.
#[derive(Debug)]
pub struct PublicPages {
    /// Status lookups per client.
    pub status_limit: RateLimiter,
    /// Feedback posts per client.
    pub feedback_limit: RateLimiter,
    /// Failed dashboard sign-ins per client (`http.signin_failures_per_minute`): over it
    /// every sign-in of that client is answered 429 until the minute is over.
    pub signin_limit: RateLimiter,
    /// Take the client from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// The configured subscribers (name, url, events), for `GET /api/subscribers`.
    pub subscribers: Vec<crate::config::SubscriberConfig>,
    pages: Environment<'static>,
}

impl PublicPages {
    /// From `[notices]` and `[[subscribers]]`.
    pub fn new(
        cfg: &crate::config::NoticesConfig,
        subscribers: &[crate::config::SubscriberConfig],
    ) -> Self {
        let mut pages = Environment::new();
        // Built-in pages: their errors are ours, found by the tests.
        let _ = pages.add_template("status.html", STATUS_PAGE);
        let _ = pages.add_template("feedback.html", FEEDBACK_PAGE);
        Self {
            status_limit: RateLimiter::per_minute(cfg.rate_per_minute),
            feedback_limit: RateLimiter::per_minute(cfg.rate_per_minute),
            signin_limit: RateLimiter::per_minute(
                crate::config::HttpConfig::default_signin_failures_per_minute(),
            ),
            trust_forwarded_for: cfg.trust_forwarded_for,
            subscribers: subscribers.to_vec(),
            pages,
        }
    }

    /// With `per_minute` failed dashboard sign-ins allowed per client.
    pub fn with_signin_limit(mut self, per_minute: u32) -> Self {
        self.signin_limit = RateLimiter::per_minute(per_minute);
        self
    }

    /// The status page: the form, and the answer or the refusal when a lookup was made.
    pub fn status_page(
        &self,
        lang: &str,
        order: &str,
        answer: Option<&StatusAnswer>,
        refused: bool,
        limited: bool,
    ) -> String {
        let t = texts(lang);
        self.pages
            .get_template("status.html")
            .and_then(|tpl| {
                tpl.render(context! {
                    lang => lang, t => minijinja::value::Serde(t), labels => minijinja::value::Serde(state_labels(lang)), order => order, answer => minijinja::value::Serde(answer),
                    refused => refused, limited => limited,
                })
            })
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "The status page does not render.");
                String::from("<!doctype html><title>Order status</title><p>Unavailable.</p>")
            })
    }

    /// The feedback page: the form (`state` `open`), or what became of a post
    /// (`thanks`, `used`, `unknown`, `invalid`, `limited`).
    pub fn feedback_page(&self, lang: &str, token: &str, state: &str) -> String {
        let t = texts(lang);
        self.pages
            .get_template("feedback.html")
            .and_then(|tpl| tpl.render(context! { lang => lang, t => minijinja::value::Serde(t), token => token, state => state }))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "The feedback page does not render.");
                String::from("<!doctype html><title>Feedback</title><p>Unavailable.</p>")
            })
    }
}

/// The answer of a successful lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusAnswer {
    pub order_number: String,
    /// Our processing state (`received`, `shipped`, `delivered`, …).
    pub state: String,
    pub parcels: Vec<ParcelView>,
    /// The newest state changes, newest first.
    pub events: Vec<StatusEvent>,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    pub state: String,
}

/// The refusal every failed lookup gets, word for word.
pub const REFUSAL: &str = "no order matches this order number and e-mail address or phone number";

/// Looks an order up by number and contact. `None` for a missing field, an unknown number and
/// a contact that is not the order's alike.
pub async fn lookup(
    store: &Store,
    number: &str,
    contact: &str,
) -> Result<Option<StatusAnswer>, StoreError> {
    let number = number.trim();
    let given = contact_key(contact);
    if number.is_empty() || number.len() > 100 {
        return Ok(None);
    }
    let mut candidates = rows::orders_by_number(store, number).await?;
    let other = match number.strip_prefix('#') {
        Some(bare) => bare.to_string(),
        None => format!("#{number}"),
    };
    if !other.is_empty() && other != "#" {
        candidates.extend(rows::orders_by_number(store, &other).await?);
    }
    candidates.sort();
    candidates.dedup();
    for id in candidates {
        let Some(stored) = store.order(&id).await? else {
            continue;
        };
        if !matches_contact(&stored.order, given.as_deref()) {
            continue;
        }
        let parcels = store
            .order_shipments(&id)
            .await?
            .iter()
            .map(parcel_view)
            .collect();
        let mut events: Vec<StatusEvent> = store
            .order_events(&id)
            .await?
            .into_iter()
            .filter_map(|e| e.to_state.map(|state| StatusEvent { at: e.at, state }))
            .collect();
        events.reverse();
        events.truncate(5);
        return Ok(Some(StatusAnswer {
            order_number: order_number(&stored.order),
            state: stored.state,
            parcels,
            events,
        }));
    }
    Ok(None)
}

/// A contact as compared: an e-mail address lower-cased, else a phone number's last nine
/// digits (at least six), so `+86 138 0013 8000` and `13800138000` are one number.
fn contact_key(contact: &str) -> Option<String> {
    let c = contact.trim();
    if c.contains('@') {
        let e = c.to_lowercase();
        return (e.len() >= 3).then(|| format!("e:{e}"));
    }
    let digits: String = c.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return None;
    }
    let tail = &digits[digits.len().saturating_sub(9)..];
    Some(format!("p:{tail}"))
}

/// Whether `given` is one of the order's contacts, compared in constant time (digests of equal
/// length, every contact compared).
fn matches_contact(order: &CanonicalOrder, given: Option<&str>) -> bool {
    use sha2::Digest;
    let digest = |s: &str| sha2::Sha256::digest(s.as_bytes());
    // With nothing given, compare against a value no contact has, so the work is the same.
    let given = digest(given.unwrap_or("\u{0}none"));
    let contacts = [
        order.customer.email.as_deref(),
        order.customer.phone.as_deref(),
        order.ship_to.as_ref().and_then(|a| a.phone.as_deref()),
        order.bill_to.as_ref().and_then(|a| a.phone.as_deref()),
        order.origin.as_ref().and_then(|o| o.reply_to.as_deref()),
    ];
    let mut found = subtle::Choice::from(0u8);
    for c in contacts.into_iter().flatten() {
        let own = contact_key(extract_address(c)).unwrap_or_else(|| "\u{0}unusable".into());
        found |= digest(&own)[..].ct_eq(&given[..]);
    }
    bool::from(found)
}

/// The address inside `Name <address>`.
fn extract_address(s: &str) -> &str {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    }
}

/// The page language: `?lang=`, else the first `Accept-Language` we have, else English.
pub fn page_language(query_lang: Option<&str>, accept_language: Option<&str>) -> &'static str {
    let pick = |tag: &str| {
        let tag = tag.trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some("zh")
        } else if tag.starts_with("en") {
            Some("en")
        } else {
            None
        }
    };
    if let Some(l) = query_lang.and_then(pick) {
        return l;
    }
    accept_language
        .unwrap_or("")
        .split(',')
        .filter_map(|part| pick(part.split(';').next().unwrap_or("")))
        .next()
        .unwrap_or("en")
}

/// The pages' words.
fn texts(lang: &str) -> HashMap<&'static str, &'static str> {
    let zh = lang == "zh";
    let pairs: [(&str, &str, &str); 24] = [
        ("title", "Order status", "订单状态查询"),
        ("intro", "Enter your order number and the e-mail address or phone number you ordered with.", "请输入订单号以及下单时使用的电子邮箱或手机号码。"),
        ("order", "Order number", "订单号"),
        ("contact", "E-mail or phone", "电子邮箱或手机号码"),
        ("submit", "Look up", "查询"),
        ("refused", "No order matches this order number and e-mail address or phone number. Please check both.", "没有找到与该订单号和邮箱/手机号码匹配的订单，请核对后重试。"),
        ("limited", "Too many lookups from your network. Please wait a minute and try again.", "查询过于频繁，请稍候一分钟再试。"),
        ("state", "Status", "状态"),
        ("parcels", "Parcels", "包裹"),
        ("carrier", "Carrier", "承运商"),
        ("tracking", "Tracking number", "运单号"),
        ("eta", "Expected arrival", "预计送达"),
        ("history", "Latest updates", "最新进展"),
        ("none", "No parcels yet.", "暂无包裹信息。"),
        ("other", "中文", "English"),
        ("other_lang", "zh", "en"),
        ("fb_title", "How did we do?", "请为本次购物打分"),
        ("fb_intro", "Rate your order from 1 (poor) to 5 (excellent).", "请从 1（很差）到 5（很好）为您的订单打分。"),
        ("fb_submit", "Send rating", "提交评分"),
        ("fb_thanks", "Thank you for your rating!", "感谢您的评分！"),
        ("fb_used", "This link was used already. Thank you!", "此链接已使用过，感谢您的评分！"),
        ("fb_unknown", "This feedback link is not valid.", "此评分链接无效。"),
        ("fb_invalid", "Please choose a rating from 1 to 5.", "请选择 1 到 5 分。"),
        ("fb_limited", "Too many requests. Please wait a minute.", "请求过于频繁，请稍候一分钟。"),
    ];
    in_language(&pairs, zh)
}

/// `(key, English, Chinese)` triples as one language's map.
fn in_language(
    pairs: &[(&'static str, &'static str, &'static str)],
    zh: bool,
) -> HashMap<&'static str, &'static str> {
    pairs
        .iter()
        .map(|&(k, en, zh_text)| (k, if zh { zh_text } else { en }))
        .collect()
}

/// The state names customers read.
fn state_labels(lang: &str) -> HashMap<&'static str, &'static str> {
    let zh = lang == "zh";
    let pairs: [(&str, &str, &str); 12] = [
        ("received", "Received", "已接收"),
        (
            "needs_info",
            "Waiting for your information",
            "等待您补充信息",
        ),
        ("needs_review", "Being checked", "审核中"),
        ("approved", "Confirmed", "已确认"),
        ("rejected", "Not accepted", "未受理"),
        ("allocated", "Being prepared", "备货中"),
        ("backordered", "Waiting for stock", "等待到货"),
        ("fulfilment_requested", "Being prepared", "备货中"),
        ("packed", "Packed", "已打包"),
        ("shipped", "Shipped", "已发货"),
        ("delivered", "Delivered", "已签收"),
        ("cancelled", "Cancelled", "已取消"),
    ];
    in_language(&pairs, zh)
}

/// The status page (no script; a plain form; works on a phone).
const STATUS_PAGE: &str = concat!(
    r#"<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{ t.title }}</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:.8rem;padding:.5rem 1.2rem;font-size:1rem}.refused{background:#fdecea;padding:.6rem;border-radius:4px}
.answer{background:#eef6ee;padding:.6rem;border-radius:4px;margin-top:1rem}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #ddd;vertical-align:top}
</style></head><body>
"#,
    r#"<p style="text-align:right"><a href="/status?lang={{ t.other_lang }}">{{ t.other }}</a></p>
<h1>{{ t.title }}</h1>
<p>{{ t.intro }}</p>
<form method="post" action="/status?lang={{ lang }}">
<label for="order">{{ t.order }}</label><input id="order" name="order" value="{{ order }}" autocomplete="off" required>
<label for="contact">{{ t.contact }}</label><input id="contact" name="contact" autocomplete="email" required>
<button type="submit" id="lookup">{{ t.submit }}</button>
</form>
{% if limited %}<p class="refused" id="limited">{{ t.limited }}</p>{% endif %}
{% if refused %}<p class="refused" id="refused">{{ t.refused }}</p>{% endif %}
{% if answer %}"#,
    r#"<div class="answer" id="answer">
<h2>{{ answer.order_number }}</h2>
<p>{{ t.state }}: <strong id="state" data-state="{{ answer.state }}">{{ labels[answer.state] | default(answer.state) }}</strong></p>
<h3>{{ t.parcels }}</h3>
{% if answer.parcels %}<table>
<tr><th>{{ t.carrier }}</th><th>{{ t.tracking }}</th><th>{{ t.eta }}</th></tr>
{% for p in answer.parcels %}<tr><td>{{ p.carrier_name }}</td>
<td>{% if p.tracking_url %}<a href="{{ p.tracking_url }}" rel="noopener">{{ p.tracking_number }}</a>{% else %}{{ p.tracking_number }}{% endif %}</td>
<td>{{ p.delivered or p.eta or "–" }}</td></tr>{% endfor %}
</table>{% else %}<p>{{ t.none }}</p>{% endif %}
<h3>{{ t.history }}</h3>
<ul>{% for e in answer.events %}<li>{{ e.at[:16] | replace("T", " ") }} UTC — {{ labels[e.state] | default(e.state) }}</li>{% endfor %}</ul>
</div>{% endif %}
</body></html>
"#
);

/// The feedback page.
const FEEDBACK_PAGE: &str = r#"<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{ t.fb_title }}</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:32rem;margin:1rem auto;padding:0 1rem}
label{margin-right:1rem;font-size:1.2rem}button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}</style>
</head><body>
<h1>{{ t.fb_title }}</h1>
{% if state == "thanks" %}<p id="result">{{ t.fb_thanks }}</p>
{% elif state == "used" %}<p id="result">{{ t.fb_used }}</p>
{% elif state == "unknown" %}<p id="result">{{ t.fb_unknown }}</p>
{% elif state == "limited" %}<p id="result">{{ t.fb_limited }}</p>
{% else %}
{% if state == "invalid" %}<p id="result">{{ t.fb_invalid }}</p>{% endif %}
<p>{{ t.fb_intro }}</p>
<form method="post" action="/feedback/{{ token }}?lang={{ lang }}">
{% for n in range(1, 6) %}<label><input type="radio" name="rating" value="{{ n }}" required> {{ n }}</label>{% endfor %}
<br><button type="submit">{{ t.fb_submit }}</button>
</form>
{% endif %}
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_compare_by_their_last_digits_and_emails_without_case() {
        assert_eq!(contact_key("+86 138 0013 8000"), contact_key("13800138000"));
        assert_eq!(
            contact_key(" Ann@Example.COM "),
            contact_key("ann@example.com")
        );
        assert_eq!(contact_key("12"), None);
        assert_eq!(contact_key(""), None);
    }

    #[test]
    fn the_limit_holds_per_client() {
        let l = RateLimiter::per_minute(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok() && l.check(a).is_ok());
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
        // Looking does not count.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        for _ in 0..5 {
            assert!(l.over(c).is_ok());
        }
        assert!(l.check(c).is_ok() && l.check(c).is_ok());
        assert!(l.over(c).is_err() && l.over(a).is_err() && l.over(b).is_ok());
    }

    #[test]
    fn the_page_language_follows_the_query_then_the_browser() {
        assert_eq!(page_language(Some("zh"), Some("en-US")), "zh");
        assert_eq!(page_language(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), "zh");
        assert_eq!(page_language(None, Some("de-DE,en;q=0.5")), "en");
        assert_eq!(page_language(None, None), "en");
    }

    #[test]
    fn both_pages_render_in_both_languages() {
        let p = PublicPages::new(&crate::config::NoticesConfig::default(), &[]);
        for lang in ["en", "zh"] {
            let answer = StatusAnswer {
                order_number: "#1".into(),
                state: "shipped".into(),
                parcels: vec![],
                events: vec![StatusEvent {
                    at: chrono::Utc::now(),
                    state: "shipped".into(),
                }],
            };
            let html = p.status_page(lang, "#1", Some(&answer), false, false);
            assert!(html.contains("data-state=\"shipped\""), "{html}");
            let html = p.feedback_page(lang, "tok", "open");
            assert!(html.contains("/feedback/tok"), "{html}");
        }
    }
}
