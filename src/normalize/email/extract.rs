//! Extraction of order facts from text written by a person or printed on a form, in English or
//! Chinese: labelled fields (`PO Number:`, `客户：`), the delivery address block, the sender's
//! phone, the stated total and currency, and the line table (columns by header, or `3 x Name
//! (SKU) @ $1.00` bullets). Every fact carries a confidence between 0 and 1: how sure the rule
//! that found it can be (a label is surer than a guess from layout).

use super::template::Template;
use regex::Regex;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::LazyLock;

/// One extracted fact.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// The value as text (money and quantities as decimal strings).
    pub value: String,
    /// 0 to 1.
    pub confidence: f64,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    /// Item code.
    pub sku: Option<String>,
    /// Description.
    pub name: Option<String>,
    /// Specification (size, model).
    pub spec: Option<String>,
    /// Quantity ordered.
    pub quantity: Option<Decimal>,
    /// Price per unit.
    pub unit_price: Option<Decimal>,
    /// 0 to 1.
    pub confidence: f64,
}

/// Facts by canonical path (`customer.phone`, `ship_to.city`, `source.external_id`).
pub type Facts = BTreeMap<String, Fact>;

/// Built-in labels by field; a template's come first.
fn builtin_labels(field: &str) -> &'static [&'static str] {
    match field {
        "external_id" => &[
            "po number",
            "po no",
            "po no.",
            "po #",
            "po#",
            "p.o. number",
            "p.o. no",
            "p.o. #",
            "p.o.",
            "purchase order number",
            "purchase order no",
            "purchase order",
            "order number",
            "order no",
            "order no.",
            "order #",
            "order ref",
            "bon de commande",
            "commande n°",
            "订单号",
            "訂單號",
            "订单编号",
            "訂單編號",
            "采购单号",
            "採購單號",
            "单号",
            "單號",
        ],
        "contact" => &[
            "contact",
            "contact person",
            "attn",
            "attention",
            "联系人",
            "聯繫人",
            "聯絡人",
            "联络人",
        ],
        "customer" => &[
            "customer",
            "customer name",
            "buyer",
            "client",
            "客户",
            "客戶",
            "客户名称",
            "客戶名稱",
            "订购单位",
            "訂購單位",
        ],
        "company" => &["company", "company name", "公司", "公司名称", "公司名稱"],
        "phone" => &[
            "phone",
            "tel",
            "tel.",
            "telephone",
            "mobile",
            "cell",
            "phone number",
            "téléphone",
            "电话",
            "電話",
            "手机",
            "手機",
            "联系电话",
            "聯絡電話",
            "聯繫電話",
        ],
        "email" => &[
            "email",
            "e-mail",
            "mail",
            "邮箱",
            "郵箱",
            "电子邮件",
            "電子郵件",
            "電郵",
        ],
        "ship_to" => &[
            "ship to",
            "ship-to",
            "deliver to",
            "delivery address",
            "shipping address",
            "delivery to",
            "livrer à",
            "livraison",
            "address",
            "地址",
            "送货地址",
            "送貨地址",
            "收货地址",
            "收貨地址",
            "交货地址",
            "交貨地址",
        ],
        "delivery_date" => &[
            "delivery date",
            "deliver by",
            "required by",
            "need by",
            "requested delivery",
            "交货日期",
            "交貨日期",
            "送货日期",
            "送貨日期",
            "到货日期",
            "到貨日期",
        ],
        "currency" => &["currency", "币种", "幣別", "币别", "貨幣", "货币"],
        "total" => &[
            "grand total",
            "order total",
            "total amount",
            "total",
            "合计",
            "合計",
            "总计",
            "總計",
            "总金额",
            "總金額",
        ],
        _ => &[],
    }
}

/// Built-in column headers by column; a template's come first.
fn builtin_columns(column: &str) -> &'static [&'static str] {
    match column {
        "sku" => &[
            "sku",
            "item #",
            "item#",
            "item no",
            "item no.",
            "item number",
            "item code",
            "code",
            "product code",
            "part no",
            "part no.",
            "part number",
            "part #",
            "article",
            "art. no",
            "ref",
            "reference",
            "货号",
            "貨號",
            "编号",
            "編號",
            "料号",
            "料號",
            "产品编号",
            "產品編號",
            "型号",
            "型號",
        ],
        "name" => &[
            "description",
            "product",
            "product name",
            "item",
            "item name",
            "name",
            "designation",
            "désignation",
            "品名",
            "名称",
            "名稱",
            "产品",
            "產品",
            "商品",
            "商品名称",
            "产品名称",
            "產品名稱",
        ],
        "spec" => &["spec", "specification", "size", "规格", "規格"],
        "quantity" => &[
            "qty",
            "qty.",
            "quantity",
            "qté",
            "quantité",
            "units",
            "數量",
            "数量",
            "订购数量",
            "訂購數量",
        ],
        "unit_price" => &[
            "unit price",
            "price",
            "unit cost",
            "price each",
            "each",
            "prix unitaire",
            "单价",
            "單價",
            "价格",
            "價格",
        ],
        "amount" => &[
            "amount",
            "line total",
            "total",
            "ext. price",
            "extended",
            "montant",
            "金额",
            "金額",
            "小计",
            "小計",
        ],
        _ => &[],
    }
}

/// Words that start a total, shipping or tax row: not an order line.
const TOTAL_WORDS: &[&str] = &[
    "total",
    "subtotal",
    "sub-total",
    "sub total",
    "grand total",
    "shipping",
    "freight",
    "tax",
    "sales tax",
    "vat",
    "discount",
    "合计",
    "合計",
    "总计",
    "總計",
    "小计",
    "小計",
    "运费",
    "運費",
    "税",
    "稅",
];

/// A pattern: its source, written with ASCII meanings (`\s` is ASCII white space, `\b` an ASCII
/// word boundary, as in regex-lite), and its compiled form for the `regex` crate, whose lazy DFA
/// finds matches many times faster than regex-lite's Pike VM. `(?i)` follows Unicode simple
/// case folding there (`ſ` matches `s`, `À` matches `à`), where regex-lite folds ASCII only.
struct Pattern {
    #[cfg_attr(not(test), allow(dead_code))]
    source: &'static str,
    regex: Option<Regex>,
}

impl Pattern {
    fn new(source: &'static str) -> Self {
        Pattern {
            source,
            regex: Regex::new(&ascii_classes(source)).ok(),
        }
    }
}

/// `source` with `\s` spelled as its ASCII class and `\b` as the ASCII word boundary, so the
/// `regex` crate (Unicode classes by default) reads it as written.
fn ascii_classes(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 32);
    let mut in_class = false;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str("\\t\\n\\x0B\\x0C\\r "),
                Some('s') => out.push_str("[\\t\\n\\x0B\\x0C\\r ]"),
                Some('b') if !in_class => out.push_str("(?-u:\\b)"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after the opening bracket is a literal.
                let rest = chars.as_str();
                for lead in ["^]", "]", "^"] {
                    if let Some(after) = rest.strip_prefix(lead) {
                        out.push_str(lead);
                        chars = after.chars();
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Pattern> = LazyLock::new(|| Pattern::new($pat));
    };
}

re!(PO_DASHED, r"\b(PO-[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])");
// The unanchored form, which [`po_labelled`] must agree with (tested).
#[cfg(test)]
re!(
    PO_LABELLED,
    r"(?i)\b(?:P\.?O\.?|purchase\s+order|order)\s*(?:#|no\.?|number|nr\.?|n°)\s*:?\s*#?\s*([A-Za-z0-9][A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*)"
);
re!(
    PO_LABELLED_AT,
    r"(?i)^(?:P\.?O\.?|purchase\s+order|order)\s*(?:#|no\.?|number|nr\.?|n°)\s*:?\s*#?\s*([A-Za-z0-9][A-Za-z0-9/-]*[0-9][A-Za-z0-9/-]*)"
);
re!(PHONE, r"(\+?\(?[0-9][0-9 ().-]{5,}[0-9])");
re!(
    PHONE_LINE,
    r"(?i)^(?:(?:tel|phone|mobile|cell|mob|t|m|p)\.?\s*:?\s*)?(\+?\(?[0-9][0-9 ().-]{5,}[0-9])$"
);
re!(EMAIL, r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
re!(
    BULLET,
    r"(?i)^\s*(?:[-*•·]\s*)?([0-9]+(?:[.,][0-9]+)?)\s*(?:x|×|pcs?\.?|pieces|units?|件|个|個|箱|包)\s*(?:of\s+)?(.+?)\s*(?:\(([A-Za-z0-9][A-Za-z0-9._/-]*)\))?\s*(?:\s*@\s*|\s+(?:at|à)\s+)([^0-9\s]{0,4})\s*([0-9][0-9.,]*)"
);
re!(
    TOTAL,
    r"(?i)(grand\s+total|order\s+total|total\s+amount|total|合计|合計|总计|總計|总金额|總金額)\s*(?:\(?(USD|GBP|EUR|CNY|RMB|HKD|TWD|CAD|AUD|JPY)\)?)?\s*(?:is|:|：)?\s*(?:(USD|GBP|EUR|CNY|RMB|HKD|TWD|CAD|AUD|JPY|US\$|HK\$|NT\$|\$|£|€|¥|￥)\s*)?([0-9][0-9,.]*[0-9]|[0-9])"
);
re!(
    CODE,
    r"\b(USD|GBP|EUR|CNY|RMB|HKD|TWD|NTD|CAD|AUD|JPY|CHF)\b"
);
re!(
    US_CITY,
    r"^(.+?),?\s+([A-Z]{2})\s+([0-9]{5}(?:-[0-9]{4})?)$"
);
re!(
    CA_CITY,
    r"^(.+?),?\s+([A-Z]{2})\s+([A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])$"
);
re!(UK_POSTCODE, r"^([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$");
re!(
    UK_CITY,
    r"^(.+?),?\s+([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$"
);
re!(IE_CITY, r"^(.+?),?\s+([A-Z][0-9]{2}|D6W) ?([A-Z0-9]{4})$");
re!(EIRCODE, r"^([A-Z][0-9]{2}|D6W) ?[A-Z0-9]{4}$");
re!(EU_CITY, r"^([0-9]{4,5})\s+(.+)$");
re!(CITY_POSTAL, r"^(.+?),?\s+([0-9]{4,6})$");
re!(US_ZIP, r"^[0-9]{5}(?:-[0-9]{4})?$");
re!(CN_POSTAL, r"([0-9]{6})");
re!(
    CN_DATE,
    r"([0-9]{4})\s*[年/.-]\s*([0-9]{1,2})\s*[月/.-]\s*([0-9]{1,2})"
);
re!(
    FAX_HEADER,
    r"(?i)(from:.*(to:|p\.?\s*[0-9]{3}|page))|^[A-Z]{3}-[0-9]{2}-[0-9]{4}"
);

fn rx(re: &LazyLock<Pattern>) -> Option<&Regex> {
    re.regex.as_ref()
}

// Matching costs per character of the text searched, and the extraction runs several patterns
// over every line, so each is first gated by a plain test of something every match must contain
// (tested: gated and ungated results are equal).

/// Whether `haystack` contains `needle` (ASCII lower case), ignoring ASCII case.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let n = needle.len();
    n <= haystack.len()
        && haystack
            .as_bytes()
            .windows(n)
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// [`BULLET`]: `3 x Name (SKU) @ $1.00` starts with the quantity (after a bullet) and needs
/// `@`, `at` or `à`.
fn bullet(line: &str) -> Option<regex::Captures<'_>> {
    let head = line.trim_start().trim_start_matches(['-', '*', '•', '·']);
    let maybe = head.trim_start().starts_with(|c: char| c.is_ascii_digit())
        && (line.contains(['@', 'à']) || contains_ci(line, "at"));
    maybe.then(|| rx(&BULLET)?.captures(line)).flatten()
}

/// [`TOTAL`]: every match names a total.
fn stated_total(line: &str) -> Option<regex::Captures<'_>> {
    const WORDS: [&str; 6] = ["合计", "合計", "总计", "總計", "总金额", "總金額"];
    let maybe = contains_ci(line, "total") || WORDS.iter().any(|w| line.contains(w));
    maybe.then(|| rx(&TOTAL)?.captures(line)).flatten()
}

/// [`PO_LABELLED`]: a match starts at a word start with `po`, `p.o`, `purchase` or `order`
/// (any case), so only those places are tried, in order, each with the pattern anchored there
/// ([`PO_LABELLED_AT`]); the first that matches is the leftmost match.
fn po_labelled(text: &str) -> Option<(String, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut starts: Vec<usize> = ["po", "p.o", "purchase", "order"]
        .iter()
        .flat_map(|w| lower.match_indices(w).map(|(at, _)| at))
        .filter(|&at| {
            let before = lower.as_bytes()[..at].last();
            !before.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        })
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let re = rx(&PO_LABELLED_AT)?;
    starts.into_iter().find_map(|at| {
        let m = re.captures(&text[at..])?.get(1)?;
        Some((m.as_str().to_string(), at + m.start()))
    })
}

/// [`CODE`]: one of its currency codes, as a word.
fn currency_code(text: &str) -> Option<regex::Captures<'_>> {
    const CODES: [&str; 12] = [
        "USD", "GBP", "EUR", "CNY", "RMB", "HKD", "TWD", "NTD", "CAD", "AUD", "JPY", "CHF",
    ];
    let maybe = CODES.iter().any(|c| text.contains(c));
    maybe.then(|| rx(&CODE)?.captures(text)).flatten()
}

/// Whether text contains CJK ideographs.
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// Display width: CJK and full-width characters take two columns.
fn width(c: char) -> usize {
    if ('\u{1100}'..='\u{115F}').contains(&c)
        || ('\u{2E80}'..='\u{A4CF}').contains(&c)
        || ('\u{AC00}'..='\u{D7A3}').contains(&c)
        || ('\u{F900}'..='\u{FAFF}').contains(&c)
        || ('\u{FE30}'..='\u{FE4F}').contains(&c)
        || ('\u{FF00}'..='\u{FF60}').contains(&c)
        || ('\u{FFE0}'..='\u{FFE6}').contains(&c)
    {
        2
    } else {
        1
    }
}

/// A cell of a laid-out line: text between tabs, `|` or runs of two or more spaces, with its
/// display columns.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    start: usize,
    end: usize,
    text: String,
}

fn cells(line: &str) -> Vec<Cell> {
    let mut out = Vec::new();
    let mut col = 0;
    let mut cur = String::new();
    let mut start = 0;
    let mut spaces = 0;
    let chars: Vec<char> = line.chars().collect();
    let flush = |cur: &mut String, start: usize, end: usize, out: &mut Vec<Cell>| {
        let t = cur.trim();
        if !t.is_empty() {
            out.push(Cell {
                start,
                end,
                text: t.to_string(),
            });
        }
        cur.clear();
    };
    for (i, &c) in chars.iter().enumerate() {
        let sep = c == '\t' || c == '|' || (c == ' ' && chars.get(i + 1) == Some(&' '));
        if sep || (c == ' ' && spaces > 0) {
            if !cur.trim().is_empty() {
                flush(&mut cur, start, col, &mut out);
            }
            spaces += 1;
            col += if c == '\t' { 4 } else { 1 };
            continue;
        }
        if cur.is_empty() {
            start = col;
        }
        if c == ' ' {
            spaces += 1;
        } else {
            spaces = 0;
        }
        cur.push(c);
        col += width(c);
    }
    flush(&mut cur, start, col, &mut out);
    out
}

/// Lower case, `_`/`-` as spaces, single spaces, trailing colon and `#`-free comparison form.
fn norm_label(s: &str) -> String {
    let s = s.to_lowercase().replace(['_', '：'], " ").replace(':', " ");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a decimal written by a person: currency marks and spaces dropped, a decimal comma
/// where it must be one (or where the sender uses them).
pub fn parse_decimal(s: &str, decimal_comma: bool) -> Option<Decimal> {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',' || *c == '-')
        .collect();
    let t = t.trim_matches(|c| c == '.' || c == ',' || c == '-');
    if t.is_empty() || !t.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let (dots, commas) = (t.matches('.').count(), t.matches(',').count());
    let text = if dots > 0 && commas > 0 {
        let last_dot = t.rfind('.').unwrap_or(0);
        let last_comma = t.rfind(',').unwrap_or(0);
        if last_comma > last_dot {
            t.replace('.', "").replace(',', ".")
        } else {
            t.replace(',', "")
        }
    } else if commas > 0 {
        let after = t.len() - t.rfind(',').unwrap_or(0) - 1;
        if commas == 1 && (decimal_comma || after <= 2) {
            t.replace(',', ".")
        } else {
            t.replace(',', "")
        }
    } else if dots > 1 || (decimal_comma && t.len() - t.rfind('.').unwrap_or(0) - 1 == 3) {
        t.replace('.', "")
    } else {
        t.to_string()
    };
    Decimal::from_str(&text).ok().map(|d| d.normalize())
}

/// Leading quantity of a cell (`12`, `12.000`, `20箱`, `10 pcs`).
fn parse_quantity(s: &str, decimal_comma: bool) -> Option<Decimal> {
    let t = s.trim();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(t.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let rest = t[end..].trim();
    // "12 x 5" or "3-4" are not quantities; a unit word is fine.
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    parse_decimal(&t[..end], decimal_comma).filter(|d| *d > Decimal::ZERO)
}

/// Currency code for a mark or code (`$` is taken as USD).
pub fn currency_of(mark: &str) -> Option<&'static str> {
    Some(match mark.trim().to_uppercase().as_str() {
        "USD" | "US$" | "$" => "USD",
        "GBP" | "£" => "GBP",
        "EUR" | "€" => "EUR",
        "CNY" | "RMB" | "¥" | "￥" | "元" | "人民币" | "人民幣" => "CNY",
        "HKD" | "HK$" => "HKD",
        "TWD" | "NTD" | "NT$" => "TWD",
        "CAD" => "CAD",
        "AUD" => "AUD",
        "JPY" => "JPY",
        "CHF" => "CHF",
        _ => return None,
    })
}

/// A country written at the end of an address.
fn country_of(s: &str) -> Option<&'static str> {
    Some(
        match s.trim().trim_end_matches('.').to_lowercase().as_str() {
            "usa" | "us" | "u.s.a" | "u.s" | "united states" | "united states of america" => "US",
            "uk" | "united kingdom" | "great britain" | "england" | "scotland" | "wales" | "gb" => {
                "GB"
            }
            "ireland" | "éire" => "IE",
            "china" | "pr china" | "p.r. china" | "prc" | "中国" | "中國" => "CN",
            "taiwan" | "台灣" | "臺灣" | "台湾" => "TW",
            "hong kong" | "香港" => "HK",
            "canada" => "CA",
            "germany" | "deutschland" => "DE",
            "france" => "FR",
            "spain" | "españa" => "ES",
            "netherlands" | "nederland" => "NL",
            "australia" => "AU",
            _ => return None,
        },
    )
}

/// The extraction context: the sender's template and how much the text itself can be trusted
/// (1 for typed text, lower for OCR).
pub struct Ctx<'a> {
    /// The sender's template, if any.
    pub template: Option<&'a Template>,
    /// Multiplies every confidence (OCR text is less certain).
    pub trust: f64,
}

impl Ctx<'_> {
    /// Whether the sender writes numbers with a decimal comma (`18,40`).
    pub fn decimal_comma(&self) -> bool {
        self.template.is_some_and(|t| t.decimal_comma)
    }

    /// `field`'s labels in [`norm_label`] form: the template's, then the built-in ones
    /// (normalized once per process).
    fn labels(&self, field: &str) -> Vec<Cow<'static, str>> {
        static BUILTIN: LazyLock<BTreeMap<&'static str, Vec<String>>> = LazyLock::new(|| {
            super::template::FIELDS
                .iter()
                .map(|f| {
                    (
                        *f,
                        builtin_labels(f).iter().map(|l| norm_label(l)).collect(),
                    )
                })
                .collect()
        });
        let custom = self.template.map_or(&[][..], |t| t.labels(field));
        let builtin = BUILTIN.get(field).map_or(&[][..], Vec::as_slice);
        custom
            .iter()
            .map(|l| Cow::Owned(norm_label(l)))
            .chain(builtin.iter().map(|l| Cow::Borrowed(l.as_str())))
            .collect()
    }

    fn put(&self, facts: &mut Facts, path: &str, value: Option<String>, confidence: f64) {
        let Some(value) = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        else {
            return;
        };
        let confidence = (confidence * self.trust).clamp(0.0, 1.0);
        match facts.get(path) {
            Some(f) if f.confidence >= confidence => {}
            _ => {
                facts.insert(path.to_string(), Fact { value, confidence });
            }
        }
    }
}

/// A labelled value found in the text.
struct Labelled {
    /// Line index.
    line: usize,
    /// Display column where the label starts.
    col: usize,
    /// The value after the label (empty when it is on the following lines).
    value: String,
}

/// The text being read: its lines, each split into cells, and every cell's reading as a
/// possible `label: value`. Computed once per text; the extraction looks at them many times.
struct Layout<'t> {
    /// The lines.
    lines: Vec<&'t str>,
    /// The cells of each line.
    cells: Vec<Vec<Cell>>,
    /// Every cell read as a possible label, in line and cell order.
    labels: Vec<LabelCell>,
}

/// A cell read as `label: value`, `label value-after-#` or a bare label.
struct LabelCell {
    /// Line index.
    line: usize,
    /// Display column where the cell starts.
    col: usize,
    /// The part before the colon (or the whole cell), in [`norm_label`] form.
    head: String,
    /// When the cell has a `#`: the part up to and including it, in [`norm_label`] form.
    head_hash: Option<String>,
    /// Whether the cell has a colon.
    colon: bool,
    /// The value the label gives: after the colon, else after the `#`, else the next cell
    /// when the label's own value is empty (`PO Number:    MGFD-1`).
    value: String,
}

impl<'t> Layout<'t> {
    fn new(text: &'t str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let cells: Vec<Vec<Cell>> = lines.iter().map(|l| cells(l)).collect();
        let mut labels = Vec::new();
        for (i, cs) in cells.iter().enumerate() {
            for (k, cell) in cs.iter().enumerate() {
                let text = cell.text.trim_start_matches(['-', '*', '•']).trim();
                let (head, rest, colon) = match text.find([':', '：']) {
                    Some(at) => {
                        let sep = text[at..].chars().next().map_or(1, char::len_utf8);
                        (&text[..at], text[at + sep..].trim(), true)
                    }
                    None => (text, "", false),
                };
                let hash = text.find('#');
                let mut value = rest.to_string();
                if let (false, Some(at)) = (colon, hash) {
                    value = text[at + 1..].trim().to_string();
                }
                if value.is_empty() && colon {
                    if let Some(next) = cs.get(k + 1) {
                        if !next.text.contains([':', '：']) {
                            value = next.text.clone();
                        }
                    }
                }
                labels.push(LabelCell {
                    line: i,
                    col: cell.start,
                    head: norm_label(head.trim_end_matches('#').trim()),
                    head_hash: hash.map(|at| norm_label(&text[..at + 1])),
                    colon,
                    value,
                });
            }
        }
        Layout {
            lines,
            cells,
            labels,
        }
    }
}

/// Finds `label: value` (or `label：value`; or a cell that is exactly the label, for form
/// headings like `SHIP TO`) for `field`.
fn find_labelled(layout: &Layout, ctx: &Ctx, field: &str, bare_ok: bool) -> Vec<Labelled> {
    let labels = ctx.labels(field);
    let is_label = |s: &str| labels.iter().any(|l| l == s);
    layout
        .labels
        .iter()
        .filter(|c| {
            let hit = is_label(&c.head) || c.head_hash.as_deref().is_some_and(is_label);
            hit && (c.colon || bare_ok || c.head_hash.is_some())
        })
        .map(|c| Labelled {
            line: c.line,
            col: c.col,
            value: c.value.clone(),
        })
        .collect()
}

/// Cuts a value at the next `Label:` on the same line ("(763) 555-0148 Fax: (763) 555-0149").
fn cut_at_next_label(value: &str) -> &str {
    re!(NEXT, r"\s[A-Za-z][A-Za-z .]{0,15}:");
    match rx(&NEXT).and_then(|r| r.find(value)) {
        Some(m) => &value[..m.start()],
        None => value,
    }
}

/// The block of non-blank lines below a heading at `col` (the column of the heading, so a
/// SHIP TO box beside a BILL TO box reads only its own column).
fn block_below(layout: &Layout, line: usize, col: usize, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut started = false;
    for all in layout.cells.iter().skip(line + 1) {
        let text = all
            .iter()
            .filter(|c| c.end > col.saturating_sub(2) && c.start + 3 >= col)
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if text.trim().is_empty() {
            if started {
                break;
            }
            continue;
        }
        if header_columns(all, None).is_some() {
            break;
        }
        started = true;
        out.push(text.trim().to_string());
        if out.len() >= max {
            break;
        }
    }
    out
}

/// Parses an address written as lines: name, street line(s), city / region / postal code,
/// optionally a country; sets `ship_to.*` facts.
fn address_block(facts: &mut Facts, ctx: &Ctx, mut lines: Vec<String>, confidence: f64) {
    lines.retain(|l| !l.trim().is_empty());
    if lines.is_empty() {
        return;
    }
    let c = confidence;
    let mut country: Option<String> = None;
    let mut postal: Option<String> = None;
    let mut region: Option<String> = None;
    let mut city: Option<String> = None;
    if lines.len() > 1 {
        if let Some(code) = lines.last().and_then(|l| country_of(l)) {
            country = Some(code.into());
            lines.pop();
        }
    }
    if lines.len() > 2 {
        let last = lines.last().cloned().unwrap_or_default();
        let last = last.trim();
        let uk = rx(&UK_POSTCODE).is_some_and(|r| r.is_match(&last.to_uppercase()));
        let us = rx(&US_ZIP).is_some_and(|r| r.is_match(last));
        let ie = rx(&EIRCODE).is_some_and(|r| r.is_match(&last.to_uppercase()));
        if uk || us || ie {
            postal = Some(last.to_string());
            if country.is_none() {
                country = Some(
                    if uk {
                        "GB"
                    } else if us {
                        "US"
                    } else {
                        "IE"
                    }
                    .into(),
                );
            }
            lines.pop();
        }
    }
    if lines.len() > 2 || (lines.len() == 2 && postal.is_some()) {
        let last = lines.pop().unwrap_or_default();
        let last = last.trim().to_string();
        if let Some(m) = rx(&US_CITY).and_then(|r| r.captures(&last)) {
            city = Some(m[1].trim_end_matches(',').into());
            region = Some(m[2].into());
            postal = Some(m[3].into());
            country.get_or_insert_with(|| "US".into());
        } else if let Some(m) = rx(&CA_CITY).and_then(|r| r.captures(&last)) {
            city = Some(m[1].trim_end_matches(',').into());
            region = Some(m[2].into());
            postal = Some(m[3].into());
            country.get_or_insert_with(|| "CA".into());
        } else if let Some(m) = rx(&UK_CITY).and_then(|r| r.captures(&last)) {
            city = Some(m[1].trim_end_matches(',').into());
            postal = Some(m[2].into());
            country.get_or_insert_with(|| "GB".into());
        } else if let Some(m) = rx(&IE_CITY).and_then(|r| r.captures(&last)) {
            city = Some(m[1].trim_end_matches(',').into());
            postal = Some(format!("{} {}", &m[2], &m[3]));
            country.get_or_insert_with(|| "IE".into());
        } else if let Some(m) = rx(&EU_CITY).and_then(|r| r.captures(&last)) {
            postal = Some(m[1].into());
            city = Some(m[2].into());
        } else if let Some(m) = rx(&CITY_POSTAL).and_then(|r| r.captures(&last)) {
            city = Some(m[1].trim_end_matches(',').into());
            postal = Some(m[2].into());
        } else if let Some((a, b)) = last.split_once(',') {
            city = Some(a.trim().into());
            region = Some(b.trim().into());
        } else {
            city = Some(last);
        }
    }
    let name = if lines.len() > 1 {
        Some(lines.remove(0))
    } else {
        None
    };
    let line1 = if lines.is_empty() {
        None
    } else {
        Some(lines.remove(0))
    };
    let line2 = if lines.is_empty() {
        None
    } else {
        Some(lines.join(", "))
    };
    if country.is_none() {
        country = ctx.template.and_then(|t| t.country.clone());
    }
    ctx.put(facts, "ship_to.name", name, c);
    ctx.put(facts, "ship_to.line1", line1, c);
    ctx.put(facts, "ship_to.line2", line2, c);
    ctx.put(facts, "ship_to.city", city, c);
    ctx.put(facts, "ship_to.region", region, c);
    ctx.put(facts, "ship_to.postal_code", postal, c);
    ctx.put(facts, "ship_to.country", country, c * 0.95);
}

/// Parses an address written on one line: Chinese (`广东省深圳市南山区科技园路1号`) or
/// comma-separated (`12 Main St, Springfield, IL 62701`).
fn address_line(facts: &mut Facts, ctx: &Ctx, text: &str, confidence: f64) {
    let text = text.trim();
    if has_cjk(text) {
        let mut rest = text.to_string();
        let mut postal = None;
        if let Some(m) = rx(&CN_POSTAL).and_then(|r| r.captures(text)) {
            if text.starts_with(&m[1]) || text.ends_with(&m[1]) {
                postal = Some(m[1].to_string());
                rest = rest.replace(&m[1], "").trim().to_string();
            }
        }
        let mut country = "CN";
        for (mark, code) in [
            ("香港", "HK"),
            ("台灣", "TW"),
            ("臺灣", "TW"),
            ("台北", "TW"),
            ("臺北", "TW"),
            ("台中", "TW"),
            ("高雄", "TW"),
        ] {
            if rest.contains(mark) {
                country = code;
            }
        }
        for p in ["中国", "中國", "台灣", "臺灣"] {
            rest = rest.trim_start_matches(p).to_string();
        }
        let mut region = None;
        for marker in ["自治区", "省"] {
            if let Some(at) = rest.find(marker) {
                if at <= 12 {
                    let end = at + marker.len();
                    region = Some(rest[..end].to_string());
                    rest = rest[end..].to_string();
                    break;
                }
            }
        }
        let mut city = None;
        if let Some(at) = rest.find(['市', '縣', '县']) {
            if at <= 15 {
                let end = at + '市'.len_utf8();
                city = Some(rest[..end].to_string());
                rest = rest[end..].to_string();
            }
        }
        // Municipalities are their own province.
        if region.is_none() && city.is_none() {
            for m in ["北京", "上海", "天津", "重庆", "重慶"] {
                if rest.starts_with(m) {
                    city = Some(m.to_string());
                    rest = rest[m.len()..].to_string();
                }
            }
        }
        ctx.put(facts, "ship_to.line1", Some(rest), confidence);
        ctx.put(facts, "ship_to.city", city, confidence);
        ctx.put(facts, "ship_to.region", region, confidence);
        ctx.put(facts, "ship_to.postal_code", postal, confidence);
        ctx.put(
            facts,
            "ship_to.country",
            Some(country.into()),
            confidence * 0.9,
        );
        return;
    }
    let mut parts: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    // "Springfield, IL 62701": state and ZIP belong to the city line.
    re!(STATE_ZIP, r"^[A-Z]{2}\s+[0-9]{5}(?:-[0-9]{4})?$");
    if parts.len() >= 3
        && parts
            .last()
            .is_some_and(|l| rx(&STATE_ZIP).is_some_and(|r| r.is_match(l)))
    {
        let state = parts.pop().unwrap_or_default();
        let city = parts.pop().unwrap_or_default();
        parts.push(format!("{city}, {state}"));
    }
    // No name on a one-line address: the mapping takes the customer's.
    let mut lines = vec!["-".to_string()];
    lines.extend(parts);
    let mut tmp = Facts::new();
    address_block(&mut tmp, ctx, lines, confidence);
    tmp.remove("ship_to.name");
    for (k, v) in tmp {
        facts.entry(k).or_insert(v);
    }
}

/// The columns by cell when the cells are a line-table header.
fn header_columns(cs: &[Cell], template: Option<&Template>) -> Option<Vec<Option<&'static str>>> {
    static BUILTIN: LazyLock<BTreeMap<&'static str, Vec<String>>> = LazyLock::new(|| {
        super::template::COLUMNS
            .iter()
            .map(|c| {
                (
                    *c,
                    builtin_columns(c).iter().map(|a| column_name(a)).collect(),
                )
            })
            .collect()
    });
    // A table header has a quantity column; most lines have no cell that could name one.
    if cs.len() < 2 {
        return None;
    }
    let names: Vec<String> = cs.iter().map(|c| column_name(&c.text)).collect();
    let lookup = |n: &str, col: &'static str| {
        template.is_some_and(|t| t.columns(col).iter().any(|a| column_name(a) == n))
            || BUILTIN.get(col).is_some_and(|a| a.iter().any(|a| a == n))
    };
    let mut cols: Vec<Option<&'static str>> = vec![None; names.len()];
    let mut taken = std::collections::HashSet::new();
    // Template headers first, then the built-in ones, column by column.
    for col in super::template::COLUMNS {
        for (i, n) in names.iter().enumerate() {
            if cols[i].is_none() && !taken.contains(col) && lookup(n, col) {
                // "Item" is the code when a description column exists too.
                if *col == "name"
                    && n == "item"
                    && names.iter().any(|m| m != "item" && lookup(m, "name"))
                {
                    if !taken.contains("sku") {
                        cols[i] = Some("sku");
                        taken.insert("sku");
                    }
                    continue;
                }
                cols[i] = Some(col);
                taken.insert(*col);
            }
        }
    }
    let known = cols.iter().filter(|c| c.is_some()).count();
    // Empty header cells (a spreadsheet table that starts in column C) are not unknown names.
    let named = names.iter().filter(|n| !n.is_empty()).count();
    (taken.contains("quantity") && known >= 2 && known * 2 >= named).then_some(cols)
}

/// A header cell's text as a column name: [`norm_label`] form without a trailing `.` or `:`
/// or currency ("unit_price_gbp", "price (usd)": the currency is not part of the name).
fn column_name(s: &str) -> String {
    let mut n = norm_label(s.trim_end_matches(['.', ':']));
    for code in [
        "usd", "gbp", "eur", "cny", "rmb", "hkd", "twd", "(usd)", "(gbp)", "(eur)", "(€)", "($)",
        "(£)", "(¥)", "(元)",
    ] {
        if let Some(stripped) = n.strip_suffix(code) {
            n = stripped.trim().to_string();
        }
    }
    n
}

/// A row label naming the order's grand total (not a subtotal, tax or shipping row).
fn is_grand_total(label: &str) -> bool {
    let t = label
        .trim()
        .trim_end_matches([':', '：'])
        .trim()
        .to_lowercase();
    let bare = t.strip_prefix("total").map(str::trim);
    [
        "total",
        "grand total",
        "order total",
        "total amount",
        "合计",
        "合計",
        "总计",
        "總計",
    ]
    .contains(&t.as_str())
        || bare.is_some_and(|rest| currency_of(rest.trim_matches(['(', ')'])).is_some())
}

fn is_total_row(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    TOTAL_WORDS.iter().any(|w| t.starts_with(w))
}

/// Builds a line from cells named by column; `None` without a quantity.
fn make_line(named: &[(&str, String)], ctx: &Ctx, confidence: f64) -> Option<Line> {
    let get = |k: &str| {
        named
            .iter()
            .filter(|(c, _)| *c == k)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
            .map(String::from)
    };
    let dc = ctx.decimal_comma();
    let quantity = get("quantity").and_then(|q| parse_quantity(&q, dc))?;
    let mut unit_price = get("unit_price").and_then(|p| parse_decimal(&p, dc));
    let mut confidence = confidence;
    if unit_price.is_none() {
        if let Some(amount) = get("amount").and_then(|a| parse_decimal(&a, dc)) {
            unit_price = amount
                .checked_div(quantity)
                .map(|d| d.round_dp(4).normalize());
            confidence *= 0.9;
        }
    }
    let mut sku = get("sku");
    if ctx.trust < 1.0 {
        // OCR puts spaces around the hyphens of codes ("PAP - A4"); codes have none there.
        sku = sku.map(|s| {
            let parts: Vec<&str> = s.split('-').map(str::trim).collect();
            if parts.iter().all(|p| !p.is_empty() && !p.contains(' ')) {
                parts.join("-")
            } else {
                s
            }
        });
    }
    Some(Line {
        sku,
        name: get("name"),
        spec: get("spec"),
        quantity: Some(quantity),
        unit_price,
        confidence: (confidence * ctx.trust).clamp(0.0, 1.0),
    })
}

/// Lines from a laid-out table in text (header row, then rows aligned under it).
fn table_lines(layout: &Layout, ctx: &Ctx, facts: &mut Facts) -> Vec<Line> {
    for (i, header) in layout.cells.iter().enumerate() {
        let Some(cols) = header_columns(header, ctx.template) else {
            continue;
        };
        let mut out = Vec::new();
        let mut blanks = 0;
        for (row, cs) in layout.lines.iter().zip(&layout.cells).skip(i + 1) {
            if row.trim().is_empty() {
                blanks += 1;
                if blanks > 2 {
                    break;
                }
                continue;
            }
            blanks = 0;
            if row.trim().chars().all(|c| "-=_|+ ".contains(c)) {
                continue;
            }
            if cs.first().is_some_and(|c| is_total_row(&c.text)) {
                break;
            }
            let named: Vec<(&str, String)> = if cs.len() == header.len() {
                cs.iter()
                    .zip(&cols)
                    .filter_map(|(c, k)| k.map(|k| (k, c.text.clone())))
                    .collect()
            } else {
                // Cells sit under the header they overlap most (or are nearest to).
                cs.iter()
                    .filter_map(|c| {
                        let best = header.iter().enumerate().min_by_key(|(_, h)| {
                            let overlap = c.end.min(h.end) as isize - c.start.max(h.start) as isize;
                            if overlap > 0 {
                                -overlap
                            } else {
                                let d = (c.start as isize - h.start as isize)
                                    .abs()
                                    .min((c.end as isize - h.end as isize).abs());
                                d + 1
                            }
                        })?;
                        cols.get(best.0)
                            .copied()
                            .flatten()
                            .map(|k| (k, c.text.clone()))
                    })
                    .collect()
            };
            match make_line(&named, ctx, 0.9) {
                Some(l) => out.push(l),
                None if out.is_empty() => continue,
                None => break,
            }
        }
        if !out.is_empty() {
            let _ = facts;
            return out;
        }
    }
    Vec::new()
}

/// Lines written as bullets: `- 3 x Huila Washed, 1 kg (HUI-1KG-WB) @ $38.50`.
fn bullet_lines(lines: &[&str], ctx: &Ctx, facts: &mut Facts) -> Vec<Line> {
    let mut out = Vec::new();
    for line in lines {
        let Some(m) = bullet(line) else {
            continue;
        };
        let dc = ctx.decimal_comma();
        let quantity = parse_quantity(&m[1], dc);
        let unit_price = parse_decimal(&m[5], dc);
        if let Some(cur) = m.get(4).and_then(|c| currency_of(c.as_str())) {
            ctx.put(
                facts,
                "currency",
                Some(cur.into()),
                if cur == "USD" { 0.6 } else { 0.8 },
            );
        }
        let name = m[2].trim().trim_end_matches([',', '-']).trim().to_string();
        out.push(Line {
            sku: m.get(3).map(|s| s.as_str().to_string()),
            name: Some(name).filter(|n| !n.is_empty()),
            spec: None,
            quantity,
            unit_price,
            confidence: (if m.get(3).is_some() { 0.9 } else { 0.8 } * ctx.trust).clamp(0.0, 1.0),
        });
    }
    out
}

/// Lines from a CSV attachment: header row by column names, blank and total rows skipped.
pub fn csv_lines(bytes: &[u8], ctx: &Ctx, facts: &mut Facts) -> Result<Vec<Line>, String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{FEFF}');
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.matches(*d as char).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        if n > 10_000 {
            return Err("CSV attachment has more than 10000 rows".into());
        }
        let record = record.map_err(|e| format!("CSV attachment: {e}"))?;
        rows.push(record.iter().map(|s| s.trim().to_string()).collect());
    }
    grid_lines(&rows, ctx, facts, 1).map_err(|why| format!("CSV attachment {why}"))
}

/// Lines from rows of cells (a CSV file, a spreadsheet): the header row is the first non-blank
/// row that names a quantity column, looked for among the first `header_within` non-blank rows
/// (a spreadsheet often has a title or the buyer's details above the table); blank rows and
/// total rows (no item code) are not lines. The error completes "… attachment".
pub fn grid_lines(
    rows: &[Vec<String>],
    ctx: &Ctx,
    facts: &mut Facts,
    header_within: usize,
) -> Result<Vec<Line>, String> {
    let mut non_blank = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.iter().all(|c| c.trim().is_empty()));
    let (at, cols) = non_blank
        .by_ref()
        .take(header_within)
        .find_map(|(i, row)| {
            let cs: Vec<Cell> = row
                .iter()
                .map(|t| Cell {
                    start: 0,
                    end: 0,
                    text: t.trim().to_string(),
                })
                .collect();
            header_columns(&cs, ctx.template).map(|cols| (i, cs, cols))
        })
        .map(|(i, cs, cols)| {
            for c in &cs {
                let lower = c.text.to_lowercase();
                for code in ["usd", "gbp", "eur", "cny", "rmb", "hkd", "twd"] {
                    if lower.ends_with(code) || lower.contains(&format!("({code})")) {
                        let cur = currency_of(code).map(String::from);
                        ctx.put(facts, "currency", cur, 0.9);
                    }
                }
            }
            (i, cols)
        })
        .ok_or("has no header row naming a quantity column")?;
    let mut out = Vec::new();
    for row in rows.iter().skip(at + 1) {
        let row: Vec<&str> = row.iter().map(|c| c.trim()).collect();
        if row.iter().all(|c| c.is_empty()) {
            continue;
        }
        if row.iter().any(|c| is_total_row(c))
            && !row
                .iter()
                .zip(&cols)
                .any(|(c, k)| *k == Some("sku") && !c.is_empty() && !is_total_row(c))
        {
            // The grand total row states the order total: its last number.
            if row
                .iter()
                .find(|c| !c.is_empty())
                .is_some_and(|c| is_grand_total(c))
            {
                let amount = row
                    .iter()
                    .rev()
                    .find_map(|c| parse_decimal(c, ctx.decimal_comma()));
                ctx.put(facts, "total", amount.map(|d| d.to_string()), 0.85);
            }
            continue;
        }
        let named: Vec<(&str, String)> = row
            .iter()
            .zip(&cols)
            .filter_map(|(c, k)| k.map(|k| (k, (*c).to_string())))
            .collect();
        if let Some(line) = make_line(&named, ctx, 0.95) {
            out.push(line);
        }
    }
    Ok(out)
}

/// What [`extract_text`] is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message written by a person.
    Email,
    /// A printed order form (fax).
    Form,
}

/// Extracts facts and lines from text.
pub fn extract_text(text: &str, ctx: &Ctx, kind: Kind) -> (Facts, Vec<Line>) {
    let mut facts = Facts::new();
    let layout = Layout::new(text);
    let lines = &layout.lines;
    let first_value = |field: &str, bare: bool| -> Option<Labelled> {
        find_labelled(&layout, ctx, field, bare)
            .into_iter()
            .find(|l| !l.value.is_empty())
    };

    // Order number.
    if let Some(l) = first_value("external_id", false) {
        let v = l
            .value
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches('#');
        ctx.put(&mut facts, "source.external_id", Some(v.to_string()), 0.95);
    }
    let po_dashed = || rx(&PO_DASHED)?.captures(text);
    if let Some(m) = text.contains("PO-").then(po_dashed).flatten() {
        ctx.put(
            &mut facts,
            "source.external_id",
            Some(m[1].to_string()),
            0.85,
        );
    } else if let Some((po, _)) = po_labelled(text) {
        ctx.put(&mut facts, "source.external_id", Some(po), 0.85);
    }

    // Contact facts (on a form the customer is the organisation, not the person who signed).
    if let Some(l) = first_value("contact", false).filter(|_| kind == Kind::Email) {
        ctx.put(&mut facts, "customer.name", Some(l.value), 0.9);
    }
    if let Some(l) = first_value("customer", false) {
        if facts.contains_key("customer.name") {
            ctx.put(&mut facts, "customer.company", Some(l.value), 0.9);
        } else {
            ctx.put(&mut facts, "customer.name", Some(l.value), 0.9);
        }
    }
    if let Some(l) = first_value("company", false) {
        ctx.put(&mut facts, "customer.company", Some(l.value), 0.9);
    }
    if let Some(l) = first_value("phone", false) {
        let v = cut_at_next_label(&l.value);
        let phone = rx(&PHONE)
            .and_then(|r| r.find(v))
            .map(|m| m.as_str().trim().to_string());
        ctx.put(&mut facts, "customer.phone", phone, 0.9);
    }
    if let Some(l) = first_value("email", false) {
        let email = rx(&EMAIL)
            .and_then(|r| r.find(&l.value))
            .map(|m| m.as_str().to_string());
        ctx.put(&mut facts, "customer.email", email, 0.9);
    }
    if kind == Kind::Email && !facts.contains_key("customer.phone") {
        // The signature: the last line that is only a phone number.
        let phone = lines.iter().rev().find_map(|l| {
            let t = l.trim();
            // A phone number here has 7 to 15 digits.
            if digits(t) < 7 {
                return None;
            }
            let m = rx(&PHONE_LINE).and_then(|r| r.captures(t))?;
            let digits = m[1].chars().filter(char::is_ascii_digit).count();
            (7..=15).contains(&digits).then(|| m[1].to_string())
        });
        ctx.put(&mut facts, "customer.phone", phone, 0.75);
    }
    if kind == Kind::Form {
        // The letterhead: the first line that is not the fax machine's header or a title.
        for (l, cs) in lines.iter().zip(&layout.cells).take(12) {
            if l.trim().is_empty() || rx(&FAX_HEADER).is_some_and(|r| r.is_match(l.trim())) {
                continue;
            }
            if let Some(cell) = cs.first() {
                let upper = cell.text.to_uppercase();
                if [
                    "PURCHASE ORDER",
                    "ORDER FORM",
                    "ORDER",
                    "FAX",
                    "订购单",
                    "訂購單",
                    "采购订单",
                    "採購訂單",
                    "订单",
                    "訂單",
                ]
                .contains(&upper.as_str())
                {
                    continue;
                }
                if !cell.text.contains(':') {
                    ctx.put(&mut facts, "customer.name", Some(cell.text.clone()), 0.8);
                }
            }
            break;
        }
    }

    // Delivery address: a labelled block or value, else the block after "deliver to …:".
    let labelled = find_labelled(&layout, ctx, "ship_to", kind == Kind::Form);
    if let Some(l) = labelled.iter().find(|l| !l.value.is_empty()) {
        let block = block_below(&layout, l.line, l.col, 6);
        // "Ship to: Name" followed by more lines is a block; a long value is one line.
        if !block.is_empty() && !l.value.contains(',') && !has_cjk(&l.value) {
            let mut all = vec![l.value.clone()];
            all.extend(block);
            address_block(&mut facts, ctx, all, 0.9);
        } else {
            address_line(&mut facts, ctx, &l.value, 0.85);
        }
    } else if let Some(l) = labelled.first() {
        let block = block_below(&layout, l.line, l.col, 6);
        address_block(&mut facts, ctx, block, 0.9);
    } else {
        // The words may start on the line before the colon ("Delivery to the Kings\nHeath
        // shop as usual please:").
        let triggers = (0..lines.len()).filter(|&i| {
            let t = lines[i].trim().to_lowercase();
            let before = if i > 0 {
                lines[i - 1].trim().to_lowercase()
            } else {
                String::new()
            };
            (t.ends_with(':') || t.ends_with('：'))
                && [
                    "deliver", "ship", "delivery", "送货", "送貨", "收货", "收貨",
                ]
                .iter()
                .any(|w| t.contains(w) || before.contains(w))
        });
        for i in triggers {
            let block = block_below(&layout, i, 0, 6);
            // A list of items is not an address.
            let listy = block
                .iter()
                .any(|l| l.starts_with(['-', '*', '•']) || bullet(l).is_some());
            if !block.is_empty() && !listy {
                address_block(&mut facts, ctx, block, 0.8);
                break;
            }
        }
    }

    // Delivery date.
    if let Some(l) = first_value("delivery_date", false) {
        let v = match rx(&CN_DATE).and_then(|r| r.captures(&l.value)) {
            Some(m) if m[1].len() == 4 => {
                let (mo, d) = (
                    m[2].parse::<u32>().unwrap_or(0),
                    m[3].parse::<u32>().unwrap_or(0),
                );
                format!("{}-{mo:02}-{d:02}", &m[1])
            }
            _ => l.value.clone(),
        };
        ctx.put(&mut facts, "requested_delivery", Some(v), 0.9);
    }

    // Total and currency.
    let mut total = None;
    for l in lines {
        if let Some(m) = stated_total(l) {
            let at = m.get(1).map_or(0, |g| g.start());
            // Lower-cased after cutting: lower case may be longer in bytes ("Ⱥ" → "ⱥ").
            let before = l[..at].trim_end().to_lowercase();
            if before.ends_with("sub") || before.ends_with("sub-") {
                continue;
            }
            let cur = m.get(2).or(m.get(3)).and_then(|c| currency_of(c.as_str()));
            total = Some((m[4].to_string(), cur));
        }
    }
    if let Some((amount, cur)) = total {
        let amount = parse_decimal(&amount, ctx.decimal_comma()).map(|d| d.to_string());
        ctx.put(&mut facts, "total", amount, 0.85);
        if let Some(cur) = cur {
            ctx.put(&mut facts, "currency", Some(cur.into()), 0.9);
        }
    }
    if let Some(l) = first_value("currency", false) {
        let cur = l.value.split_whitespace().next().and_then(currency_of);
        ctx.put(&mut facts, "currency", cur.map(String::from), 0.95);
    }
    if let Some(m) = currency_code(text) {
        ctx.put(
            &mut facts,
            "currency",
            currency_of(&m[1]).map(String::from),
            0.85,
        );
    }
    let lower = text.to_lowercase();
    for (mark, code, c) in [
        ("us dollars", "USD", 0.85),
        ("£", "GBP", 0.8),
        ("€", "EUR", 0.8),
        ("人民币", "CNY", 0.85),
        ("人民幣", "CNY", 0.85),
        ("元", "CNY", 0.6),
        ("￥", "CNY", 0.7),
        ("nt$", "TWD", 0.8),
        ("新台幣", "TWD", 0.85),
        ("hk$", "HKD", 0.8),
        ("$", "USD", 0.55),
    ] {
        if lower.contains(mark) {
            ctx.put(&mut facts, "currency", Some(code.into()), c);
        }
    }
    if let Some(cur) = ctx.template.and_then(|t| t.currency.clone()) {
        ctx.put(&mut facts, "currency", Some(cur), 0.9);
    }

    // Lines: a table, else bullets.
    let mut out = table_lines(&layout, ctx, &mut facts);
    if out.is_empty() {
        out = bullet_lines(lines, ctx, &mut facts);
    }
    (facts, out)
}

#[cfg(test)]
mod tests;
