//! Cross-checks of an extracted order: the facts a person wrote must agree with each other
//! before the order may go on without one. Each failed check is a *doubt* (the fact's path and
//! why, never the personal data itself) that holds the order for review:
//!
//! * the lines (quantity × unit price) against a stated subtotal, and with the stated
//!   shipping, tax and discount against the stated total;
//! * quantity × unit price against a line's own amount (in [`super::extract`]);
//! * the postcode against the country's format, and the city against leftovers of a postcode;
//! * a currency read only from an ambiguous sign (`$`, `¥`) against the ship-to country.
//!
//! The stated amounts are read from rows that start with their label, in every language the
//! extraction reads (`Zwischensumme`, `Frais de port`, `IVA 21%`, `合計` …).

use super::extract::{
    ascii_digits, currency_of, line_amount, negative_number, ocr_letters, parse_decimal,
    unbracketed, Facts, Line,
};
use rust_decimal::Decimal;

/// Amounts stated in the text, by kind (each as often as it is stated).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stated {
    /// Grand totals.
    pub total: Vec<Decimal>,
    /// Subtotals (the lines before shipping and tax).
    pub subtotal: Vec<Decimal>,
    /// Shipping or freight.
    pub shipping: Vec<Decimal>,
    /// Fees added to the goods besides shipping: a deposit on returnable containers (`Pfand`).
    pub fees: Vec<Decimal>,
    /// Tax (VAT, GST, sales tax).
    pub tax: Vec<Decimal>,
    /// Discounts (as positive amounts).
    pub discount: Vec<Decimal>,
    /// Whether a grand total's label says the tax is in it (`Totalt inkl. moms`, `Total TTC`)
    /// without a tax row stating the amount.
    pub gross: bool,
    /// Tax rates written in a grand total's label (`inkl. moms 25 %`), in percent.
    pub rates: Vec<Decimal>,
}

/// What a summary row's label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// The grand total.
    Total,
    /// The lines' sum.
    Subtotal,
    /// Shipping, freight, delivery.
    Shipping,
    /// A fee added to the goods: a deposit on returnable containers.
    Fee,
    /// Tax.
    Tax,
    /// A discount.
    Discount,
}

const SUBTOTAL: &[&str] = &[
    "รวมเป็นเงิน",
    "cộng tiền hàng",
    "subtotal",
    "subtotale",
    "sub-total",
    "sub total",
    "net total",
    "total net",
    "merchandise total",
    "zwischensumme",
    // The goods' value before charges and discounts ("Warenwert", "Totale merce").
    "warenwert",
    "totale merce",
    "total marchandises",
    "nettobetrag",
    "summe netto",
    "netto",
    "total ht",
    "sous-total",
    "montant ht",
    "base imponible",
    "subtotaal",
    "totaal excl",
    "imponibile",
    "totale imponibile",
    "小计",
    "小計",
    "商品合計",
    "summa exkl",
    "netto razem",
    "razem netto",
    "celkem bez dph",
    "καθαρή αξία",
    "ara toplam",
    "nettó",
    "összesen (nettó)",
    "subtotal fără tva",
    "total fără tva",
    "vahesumma",
    "välisumma",
    "공급가액",
    "소계",
    "उप-योग",
    "उपयोग",
    "gesamtnettowert",
    "nettowert",
    "الإجمالي قبل الضريبة",
    "المجموع الفرعي",
    "المجموع قبل الضريبة",
    "סה\"כ לפני מע\"מ",
];
const SHIPPING: &[&str] = &[
    "shipping",
    "freight",
    "delivery charge",
    "delivery fee",
    "carriage",
    "postage",
    "versand",
    "versandkosten",
    "fracht",
    "frachtkosten",
    // Dutch freight ("Vrachtkosten", "Vracht").
    "vrachtkosten",
    "vracht",
    "frais de port",
    "frais de livraison",
    "port",
    "ports",
    "toimituskulut",
    "toimitusmaksu",
    "rahti",
    "envío",
    "envio",
    "gastos de envío",
    "portes",
    "verzendkosten",
    "verzending",
    "spese di spedizione",
    "spedizione",
    "trasporto",
    "frete",
    "送料",
    "运费",
    "運費",
    "kargo",
    "szállítási díj",
    "fragt",
    // Swedish and Norwegian freight ("Frakt 295,00").
    "frakt",
];
const TAX: &[&str] = &[
    "ภาษีมูลค่าเพิ่ม",
    "thuế gtgt",
    "vsk",
    "pvm",
    "ddv",
    "tvsh",
    "tax",
    "sales tax",
    "vat",
    "gst",
    // India's split GST: central, state, integrated, union territory.
    "cgst",
    "sgst",
    "igst",
    "utgst",
    "hst",
    "pst",
    "mwst",
    "ust",
    "umsatzsteuer",
    "mehrwertsteuer",
    "tva",
    "iva",
    "btw",
    "impostos",
    "imposto",
    "impuesto",
    "impuestos",
    "moms",
    "mva",
    "dph",
    "tps",
    "tvq",
    // Québec's sales tax in English.
    "qst",
    "tvh",
    // Spain's surcharge on a retailer's purchases, charged with the VAT ("Recargo de
    // equivalencia 1,4 %").
    "recargo de equivalencia",
    "recargo equivalencia",
    "消費税",
    "消费税",
    "消費稅",
    "营业税",
    "營業稅",
    "税额",
    "稅額",
    "税",
    "稅",
    "alv",
    "φπα",
    "kdv",
    "áfa",
    "부가세",
    "부가가치세",
    "käibemaks",
    "cgst",
    "sgst",
    "igst",
    "pvn",
    "pdv",
    "пдв",
    "ддс",
    "ндс",
    "sst",
    "ppn",
    "ضريبة القيمة المضافة",
    "الضريبة",
    "מע\"מ",
];
const DISCOUNT: &[&str] = &[
    "discount",
    "coupon",
    "tilausalennus",
    "alennus",
    "rabatt",
    "nachlass",
    "remise",
    "descuento",
    "descompte",
    "korting",
    "sconto",
    "desconto",
    "値引",
    "割引",
    "折扣",
    "优惠",
];
const TOTAL: &[&str] = &[
    "grand total",
    "order total",
    "total amount",
    "total due",
    "amount due",
    "total",
    "gesamtsumme",
    "gesamtbetrag",
    "auftragssumme",
    "bestellsumme",
    "auftragswert",
    "bestellwert",
    "endbetrag",
    "summe",
    "gesamt",
    "total ttc",
    "montant total",
    "total général",
    "net à payer",
    "importe total",
    "total pedido",
    "totaal",
    "totaalbedrag",
    "te betalen",
    "totale",
    "totale ordine",
    "importo totale",
    "totale documento",
    "valor total",
    "att betala",
    "summa",
    "totalt",
    "i alt",
    "at betale",
    "å betale",
    "razem do zapłaty",
    "do zapłaty",
    "razem",
    "suma",
    "celkem",
    "celkem k úhradě",
    "celkom",
    "celkom s dph",
    "celkom k úhrade",
    "k úhradě",
    "合計",
    "合计",
    "总计",
    "總計",
    "总金额",
    "總金額",
    "合計金額",
    "sum",
    "общо",
    "сума",
    "всичко",
    "укупно",
    "jumla",
    "jumlah",
    "कुल राशि",
    "कुल योग",
    "कुल",
    "ご請求金額",
    "yhteensä",
    "σύνολο",
    "genel toplam",
    "toplam",
    "összesen",
    "végösszeg",
    "fizetendő",
    "합계",
    "총액",
    "total de plată",
    "total general",
    "kokku",
    "summa kokku",
    "tasuda",
    "spolu",
    "spolu s dph",
    "kopā",
    "ukupno",
    "разом",
    "всього",
    "до сплати",
    "الإجمالي",
    "المجموع",
    "סה\"כ לתשלום",
    "סה\"כ",
    "samtals",
    "iš viso",
    "totali",
    "skupaj za plačilo",
    "skupaj",
    "tổng cộng",
    "รวมทั้งสิ้น",
    "ยอดรวม",
    "γενικό σύνολο",
];

/// Words that, in a short label ending in the word for a discount, say the amount is not the
/// discount itself ("After discount", "Before discount", "Discount code").
const DISCOUNT_EXCEPT: &[&str] = &[
    "after", "before", "excl", "incl", "without", "with", "nach", "vor", "après", "avant", "code",
    "total",
];

/// Words that name a delivery charge when they are a summary row's whole label ("Delivery:
/// $35.00", "Livraison  25,00 $"); in a longer label they start a remark about the delivery
/// ("Delivery Tues or Thurs before 11am", "Livraison : vendredi avant 6 h").
const DELIVERY_ALONE: &[&str] = &[
    "delivery",
    "livraison",
    "lieferung",
    "entrega",
    "consegna",
    "levering",
    "bezorging",
];

/// A deposit on returnable containers (crates, kegs, bottles), added to the goods: German
/// `Pfand`, Dutch `statiegeld`, Scandinavian `pant`.
const DEPOSIT: &[&str] = &["pfand", "statiegeld", "pant"];

/// Words that name shipping wherever they stand in a row's label.
const SHIPPING_WORDS: &[&str] = &[
    "shipping",
    "freight",
    "postage",
    "carriage",
    "versand",
    "versandkosten",
    "fracht",
    "lieferkosten",
    "transportkosten",
    "transport",
    "envío",
    "envio",
    "portes",
    "transporte",
    "verzendkosten",
    "bezorgkosten",
    "vrachtkosten",
    "vracht",
    "verzending",
    "trasporto",
    "spedizione",
    "frete",
    "送料",
    "运费",
    "運費",
];

/// Words that say an amount is before tax.
const NET: &[&str] = &[
    "net",
    // South Africa's "Total Exclusive" (of VAT).
    "exclusive",
    "netto",
    "nett",
    "excl",
    "exkl",
    "ex",
    "eks",
    "ekskl",
    "excluding",
    "ht",
    "imponibile",
    "hors",
    // Belgium's "HTVA", hors TVA, one word.
    "htva",
    "sans",
    "ohne",
    "zonder",
    "sin",
    "sem",
    "senza",
    "esclusa",
    "escluso",
    "税抜",
    "税抜き",
    "不含税",
    "未税",
    "bez",
    "без",
    "brez",
];

/// Phrases that say an amount is before tax, written as more than one word or with a hyphen
/// ("Kokku (km-ta)" is the Estonian total without VAT).
const NET_PHRASES: &[&str] = &[
    "km-ta",
    "käibemaksuta",
    "ilman alv",
    "alv 0",
    "fără tva",
    "kdv hariç",
    "áfa nélkül",
    "χωρίς φπα",
    // A total before the discount is the goods' (SAP's "Total antes del descuento").
    "antes del descuento",
    "before discount",
    "avant remise",
    "vor rabatt",
];

/// What a summary row's label (the text before its amount) names, if anything.
pub fn row_kind(label: &str) -> Option<RowKind> {
    // "Tota1 exc1. BTW": letters OCR read as digits are read as letters.
    // Greek capitals drop their accents ("ΓΕΝΙΚΟ ΣΥΝΟΛΟ" is "Γενικό σύνολο"): Greek is
    // compared without them.
    let mut l = greek_unaccented(&ocr_letters(
        label.trim().trim_start_matches(['-', '*', '•', '+']).trim(),
    ));
    // "zzgl. 19 % MwSt.", "plus VAT", "incl. GST", "Bruttó összesen": the qualifier before
    // the kind ("gross" says the tax is in the amount, which [`includes_tax`] reads).
    for q in [
        "brutto",
        "bruttó",
        "gross",
        "zzgl.",
        "zzgl",
        "zuzüglich",
        "inkl.",
        "inkl",
        "plus",
        "incl.",
        "incl",
        "including",
        "excl.",
        "add",
        // "Less 5% trade discount": what is taken off.
        "less",
        "dont",
        "davon",
        "+",
    ] {
        if let Some(rest) = l.strip_prefix(q) {
            if rest.starts_with([' ', '.']) || q.ends_with('.') {
                l = rest.trim_start_matches(['.', ' ']).to_string();
                // The rate may stand between ("zzgl. 19 % MwSt.").
                l = l
                    .trim_start_matches(|c: char| c.is_ascii_digit() || " ,.%".contains(c))
                    .to_string();
                break;
            }
        }
    }
    // "CGST2.5 (2.5%)", "GST10": the tax's name with its rate joined.
    for w in ["cgst", "sgst", "igst", "utgst", "gst", "vat"] {
        if let Some(rest) = l.strip_prefix(w) {
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                l = format!("{w} {rest}");
                break;
            }
        }
    }
    // A rate before the kind ("20 % USt.", "7,5% IVA").
    let unrated = l.trim_start_matches(|c: char| c.is_ascii_digit() || " ,.".contains(c));
    if unrated.len() < l.len() && unrated.starts_with('%') {
        l = unrated.trim_start_matches(['%', ' ']).to_string();
    }
    let starts = |words: &[&str]| {
        words.iter().any(|w| {
            let greek;
            let w_cmp = if w.is_ascii() {
                *w
            } else {
                greek = greek_unaccented(w);
                greek.as_str()
            };
            l.strip_prefix(w_cmp).is_some_and(|rest| {
                // A word, not the start of a longer one or of a code ("BTW-KING-3").
                !rest.starts_with(|c: char| c.is_alphanumeric() || c == '-' || c == '_')
                    || !w.is_ascii()
            })
        })
    };
    // A total said to be before tax is the subtotal ("Gesamtbetrag netto", "Total excl.
    // BTW", "Totale imponibile"); one said to include it is the total.
    let words: Vec<&str> = l
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .filter(|w| !w.is_empty())
        .collect();
    // "VAT No: 4550555123", "GST Reg. No.", "USt-IdNr.": a tax label with a number mark
    // names the registration number, not an amount.
    const ID_MARKS: &[&str] = &[
        "no",
        "no.",
        "nr",
        "nr.",
        "number",
        "reg",
        "reg.",
        "registration",
        "id",
        "idnr.",
        "idnr",
        "nummer",
    ];
    if words.len() >= 2
        && TAX.contains(&words[0].trim_end_matches('.'))
        && ID_MARKS.contains(&words[1])
    {
        return None;
    }
    // "税抜合計", "税込合計", "不含税总计": in Japanese and Chinese the tax basis is written
    // before the total's word, in one word with it; the total before tax is the subtotal, the
    // one with the tax the total.
    if !l.is_ascii() {
        let totalled = |rest: &str| {
            TOTAL
                .iter()
                .chain(SUBTOTAL)
                .chain(&["金額", "金额"])
                .any(|w| !w.is_ascii() && rest.contains(w))
        };
        if NET
            .iter()
            .filter(|w| !w.is_ascii())
            .any(|w| l.strip_prefix(w).is_some_and(totalled))
        {
            return Some(RowKind::Subtotal);
        }
        if ["税込", "含税", "含稅"]
            .iter()
            .any(|w| l.strip_prefix(w).is_some_and(totalled))
        {
            return Some(RowKind::Total);
        }
    }
    // "Total s/ IVA": the Portuguese and Spanish "sem"/"sin" abbreviated.
    let net = words.iter().any(|w| NET.contains(&w.trim_end_matches('.')))
        || l.contains(" s/ ")
        || l.contains(" s/iva")
        || NET_PHRASES.iter().any(|p| l.contains(p));
    if starts(TOTAL) && !starts(SUBTOTAL) && net {
        return Some(RowKind::Subtotal);
    }
    // "TOTAL VAT 20%", "Total TVA", "Total GST": the total of the tax, not of the order (a
    // tax the total includes is said so: "Total incl. VAT").
    // "Totaal (btw verlegd)", "Total (VAT reverse charge)", "Total (autoliquidation TVA)":
    // the tax is shifted to the buyer, so the row is the order's total with no tax in it.
    const REVERSE_CHARGE: &[&str] = &[
        "verlegd",
        "reverse",
        "autoliquidation",
        "steuerschuldnerschaft",
        "reverse-charge",
    ];
    if starts(TOTAL) && words.iter().any(|w| REVERSE_CHARGE.contains(w)) {
        return Some(RowKind::Total);
    }
    if starts(TOTAL)
        && words.len() <= 3
        && !includes_tax(label)
        && !words.iter().any(|w| w.starts_with("inclu"))
        && words
            .get(1)
            .is_some_and(|w| TAX.contains(&w.trim_end_matches('.')))
    {
        return Some(RowKind::Tax);
    }
    if starts(SUBTOTAL) {
        Some(RowKind::Subtotal)
    } else if starts(SHIPPING) {
        Some(RowKind::Shipping)
    } else if starts(DEPOSIT) {
        Some(RowKind::Fee)
    } else if starts(TAX) {
        Some(RowKind::Tax)
    } else if starts(DISCOUNT) {
        Some(RowKind::Discount)
    } else if !l.is_ascii()
        && DISCOUNT
            .iter()
            .any(|w| !w.is_ascii() && l.trim_end_matches('き').ends_with(w))
    {
        // "出精値引", "特別値引き", "会员折扣": in Japanese and Chinese what the discount is for
        // comes before the word for it, in one word.
        Some(RowKind::Discount)
    } else if starts(TOTAL) {
        Some(RowKind::Total)
    } else if (2..=3).contains(&words.len())
        && words.last().is_some_and(|w| DISCOUNT.contains(w))
        && !words.iter().any(|w| DISCOUNT_EXCEPT.contains(w))
    {
        // "Trade discount", "Cash discount", "Mengenrabatt" written apart: a short label
        // ending in the word for a discount (not a total after or before it, nor its code).
        Some(RowKind::Discount)
    } else if words.len() <= 3 && words.iter().any(|w| SHIPPING_WORDS.contains(w)) {
        // "Spese di trasporto", "Gastos de envío", "Postage & packing" (a short label: in
        // a sentence the word is a verb as often as not, "Les envío la orden …").
        Some(RowKind::Shipping)
    } else {
        None
    }
}

/// `s` with the accents of Greek vowels left out and the final sigma written as any other,
/// as Greek capitals write it ("ΣΥΝΟΛΟ" for "σύνολο").
pub fn greek_unaccented(s: &str) -> String {
    if !s.chars().any(|c| ('\u{370}'..='\u{3ff}').contains(&c)) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            'ά' => 'α',
            'έ' => 'ε',
            'ή' => 'η',
            'ί' | 'ϊ' | 'ΐ' => 'ι',
            'ό' => 'ο',
            'ύ' | 'ϋ' | 'ΰ' => 'υ',
            'ώ' => 'ω',
            'ς' => 'σ',
            c => c,
        })
        .collect()
}

/// Whether an item's name is only a charge for shipping (`Freight`, `Shipping & handling`,
/// `Frais de port`, `Delivery charge`): a row of the item table that is no line.
pub fn shipping_charge(name: &str) -> bool {
    let l = name
        .trim()
        .trim_end_matches([':', '：', '.'])
        .to_lowercase();
    let mut words: Vec<&str> = l
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // A German compound of a shipping word and what the charge is ("Versandkostenpauschale",
    // "Frachtpauschale", "Versandgebühr"): the shipping word alone.
    if let [word] = words.as_slice() {
        for suffix in ["pauschale", "gebühr", "gebühren", "zuschlag", "anteil"] {
            let stem = word.strip_suffix(suffix).unwrap_or("");
            if !stem.is_empty()
                && [stem, stem.strip_suffix('s').unwrap_or(stem)]
                    .iter()
                    .any(|s| SHIPPING.contains(s) || SHIPPING_WORDS.contains(s))
            {
                return true;
            }
        }
    }
    // What a charge is called besides what it is for ("Shipping & handling").
    loop {
        let phrase = words.join(" ");
        if SHIPPING.contains(&phrase.as_str()) || SHIPPING_WORDS.contains(&phrase.as_str()) {
            return true;
        }
        if words.len() < 2
            || ![
                "and",
                "handling",
                "charge",
                "charges",
                "cost",
                "costs",
                "fee",
                "fees",
                "flat",
                "rate",
                "pauschale",
            ]
            .contains(words.last().unwrap_or(&""))
        {
            return false;
        }
        words.pop();
    }
}

/// What a row of a sheet's item table that reads as a charge or a summary row (a label and
/// one amount, no item code and no quantity) states: the kind its label names, or shipping
/// when its first word names postage or freight however long the label runs on ("Fracht
/// Palettenversand (Hauptlieferung)", "Porto Paketversand Nachlieferung"). Only for such
/// rows: an item named "Porto Tawny 10 Jahre" has its code and quantity and is a line.
pub fn charge_kind(label: &str) -> Option<RowKind> {
    if let Some(kind) = row_kind(label) {
        return Some(kind);
    }
    let first = label
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?
        .to_lowercase();
    // "Porto" is German and Italian for postage (a word the body text cannot take alone: a
    // port wine is named so too).
    (SHIPPING.contains(&first.as_str())
        || SHIPPING_WORDS.contains(&first.as_str())
        || first == "porto")
        .then_some(RowKind::Shipping)
}

/// The amount of a summary row: its last number that is not a percentage or a count.
pub fn row_amount(rest: &str, decimal_comma: bool) -> Option<Decimal> {
    // A remark in brackets after the amount ("1 025,70 EUR (about 1 190 USD)") is not it.
    let rest = match rest.find(['(', '（']) {
        Some(at)
            if numbers(&rest[..at])
                .iter()
                .any(|(_, a)| !a.trim_start().starts_with('%')) =>
        {
            &rest[..at]
        }
        _ => rest,
    };
    let amounts: Vec<(String, &str)> = numbers(rest)
        .into_iter()
        .filter(|(_, after)| !after.trim_start().starts_with('%'))
        .collect();
    // "between ARS 765.200,00 and ARS 843.000,00": a range states no amount.
    if let [.., (_, between), (last, _)] = amounts.as_slice() {
        let gap = &between[..between.find(last.as_str()).unwrap_or(0)];
        let words: Vec<String> = gap
            .split(|c: char| !c.is_alphabetic() && c != '–' && c != '-')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        const RANGE: &[&str] = &[
            "and", "to", "y", "a", "und", "bis", "et", "à", "e", "en", "tot", "och", "og", "ir",
            "ve", "–", "-",
        ];
        if words.iter().any(|w| RANGE.contains(&w.as_str())) {
            return None;
        }
    }
    amounts
        .last()
        .and_then(|(n, _)| parse_decimal(n, decimal_comma))
}

/// Numbers in text, as written (`1.234,50`, `1 234,50`, `1'234.50`), each with the text after it.
pub fn numbers(text: &str) -> Vec<(String, &str)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let starts = c.is_ascii_digit()
            && (i == 0 || !(chars[i - 1].1.is_alphanumeric() || chars[i - 1].1 == '-'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut end = at;
        while j < chars.len() {
            let (k, ch) = chars[j];
            if ch.is_ascii_digit() {
                end = k + 1;
                j += 1;
            } else if matches!(ch, '.' | ',' | '\'' | ' ')
                && chars.get(j + 1).is_some_and(|(_, d)| d.is_ascii_digit())
                // A space groups thousands only before exactly three digits.
                && (ch != ' '
                    || (chars.get(j + 1..j + 4).is_some_and(|g| g.iter().all(|(_, d)| d.is_ascii_digit()))
                        && !chars.get(j + 4).is_some_and(|(_, d)| d.is_ascii_digit())))
            {
                j += 1;
            } else {
                break;
            }
        }
        let number = text[at..end].to_string();
        out.push((number, &text[end..]));
        i = j.max(i + 1);
    }
    out
}

/// Finds summary rows (`Subtotal: 12.00`, `MwSt. 19%  84,65 €`, `合計：44,760円`): a line
/// whose label names a kind, followed by an amount.
/// Amounts in Arabic-Indic digits (`٤٧٦٫٢٥`) are read as in ASCII ones.
pub fn stated_amounts(text: &str, decimal_comma: bool) -> Stated {
    let mut s = Stated::default();
    let text = ascii_digits(text);
    for line in text.lines() {
        let t = line.trim();
        if joined_rows(t, decimal_comma, &mut s) || summary_row(t, decimal_comma, &mut s) {
            continue;
        }
        // A summary row may be a later sentence of a line ("Alle priser i DKK ekskl. moms.
        // I alt 2.639,00 kr. ekskl. moms."): a sentence starts after a word's full stop and a
        // space, with a capital letter.
        let mut read = false;
        for tail in sentence_tails(t) {
            if summary_row(tail, decimal_comma, &mut s) {
                read = true;
                break;
            }
        }
        if !read {
            total_sentence(t, decimal_comma, &mut s);
        }
    }
    s
}

/// Summary rows written on one line between separators ("Imponibile € 716,00 - IVA 22% €
/// 157,52 - Totale ordine € 873,52", "Subtotal $120.00 | Tax $9.60 | Total $129.60"): each
/// part read as its row, when every part is one with a single amount. True when read.
fn joined_rows(t: &str, decimal_comma: bool, s: &mut Stated) -> bool {
    for sep in [" - ", " – ", " — ", " · ", " | ", " / ", "; "] {
        let parts: Vec<&str> = t.split(sep).map(str::trim).collect();
        if parts.len() < 2 {
            continue;
        }
        let mut read = Stated::default();
        let each = parts.iter().all(|p| {
            let amounts = numbers(p)
                .into_iter()
                .filter(|(_, after)| !after.trim_start().starts_with('%'))
                .count();
            amounts == 1 && summary_row(p, decimal_comma, &mut read)
        });
        if each {
            let Stated {
                total,
                subtotal,
                shipping,
                fees,
                tax,
                discount,
                gross,
                rates,
            } = read;
            s.total.extend(total);
            s.subtotal.extend(subtotal);
            s.shipping.extend(shipping);
            s.fees.extend(fees);
            s.tax.extend(tax);
            s.discount.extend(discount);
            s.gross |= gross;
            s.rates.extend(rates);
            return true;
        }
    }
    false
}

/// A total stated in a sentence after its amount, "so £372.75 in total" (the amount with its
/// currency), and in that sentence a delivery charge added to the goods ("plus £9.95
/// delivery"): the total and the shipping.
fn total_sentence(t: &str, decimal_comma: bool, s: &mut Stated) {
    const MONEY: &str = r"(?:[£€$]|(?:USD|EUR|GBP|CAD|AUD|NZD|CHF)\s?)\s?([0-9][0-9,.]*[0-9])";
    static IN_TOTAL: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(r"(?i)(?:^|\s){MONEY}\s+in\s+total\b")).ok()
    });
    static PLUS_DELIVERY: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(
        || {
            regex::Regex::new(&format!(
                r"(?i)(?:\bplus|\+)\s+{MONEY}\s+(?:for\s+)?(?:delivery|shipping|postage|carriage|freight)\b"
            ))
            .ok()
        },
    );
    let Some(m) = IN_TOTAL.as_ref().and_then(|r| r.captures(t)) else {
        return;
    };
    let Some(total) = parse_decimal(&m[1], decimal_comma) else {
        return;
    };
    s.total.push(total);
    if let Some(d) = PLUS_DELIVERY
        .as_ref()
        .and_then(|r| r.captures(t))
        .and_then(|m| parse_decimal(&m[1], decimal_comma))
    {
        s.shipping.push(d);
    }
}

/// The later sentences of a line, each to the line's end: what follows a full stop after a
/// letter, a space and a capital letter.
fn sentence_tails(t: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (at, _) in t.match_indices(". ") {
        let after = t[at + 2..].trim_start();
        let lettered = t[..at].chars().next_back().is_some_and(char::is_alphabetic);
        if lettered && after.starts_with(char::is_uppercase) {
            out.push(after);
        }
    }
    out
}

/// Whether a tax row's label ends with an EU country's code (`BTW BE`, `USt-IdNr. DE`): the
/// number after it is the VAT registration number.
fn vat_registration(label: &str) -> bool {
    const EU: &[&str] = &[
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE",
        "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI",
    ];
    label
        .split_whitespace()
        .next_back()
        .is_some_and(|w| EU.contains(&w))
        && label.split_whitespace().count() >= 2
}

/// Whether the number after a tax's label is the tax's registration number, not an amount:
/// digits alone followed by a program account of two capitals and four digits (Canada's
/// `123456789 RT0001` for the GST, Québec's `1234567890 TQ0001` for the QST), or nine digits
/// and more written without a separator (an amount that large groups its thousands or has
/// cents).
fn tax_number(rest: &str) -> bool {
    let Some((n, after)) = numbers(rest).into_iter().next() else {
        return false;
    };
    if !n.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let account = after
        .trim_start()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .is_some_and(|w| {
            w.len() == 6
                && w[..2].chars().all(|c| c.is_ascii_uppercase())
                && w[2..].chars().all(|c| c.is_ascii_digit())
        });
    account || n.len() >= 9
}

/// Reads one summary row into `s`: true when `t` is one.
/// Whether a row's value starts with a date (`24/06/2026`, `24.06.26`, `2026-06-24`).
fn is_date_value(v: &str) -> bool {
    static DATE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^[\s:：]*(?:[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{4}|[0-9]{2})|[0-9]{4}-[0-9]{2}-[0-9]{2})(?:$|[^0-9.,])",
        )
        .ok()
    });
    DATE.as_ref().is_some_and(|r| r.is_match(v))
}

fn summary_row(t: &str, decimal_comma: bool, s: &mut Stated) -> bool {
    if sum_row(t, decimal_comma, s) {
        return true;
    }
    // The label is what comes before the first amount (a rate like "19 %" belongs to it;
    // a minus sign before a discount's amount does not).
    let Some(first_digit) = first_amount(t) else {
        return false;
    };
    let label = t[..first_digit]
        .trim_end_matches(|c: char| c.is_whitespace() || "$€£¥￥:：(-−".contains(c));
    // The currency's code before the amount ("Total exkl. MWST      CHF 3'504.80") is no
    // part of the label.
    let label = match label.rsplit_once(char::is_whitespace) {
        Some((head, code))
            if code.len() == 3
                && code.chars().all(|c| c.is_ascii_uppercase())
                && currency_of(code).is_some() =>
        {
            head.trim_end_matches(|c: char| c.is_whitespace() || ":：".contains(c))
        }
        _ => label,
    };
    // A label is short; a sentence that mentions "total" is not a summary row. A
    // qualifier in brackets ("Total del pedido (IVA no incluido)") is not counted.
    let unbracketed = unbracketed(label);
    if label.is_empty() || unbracketed.trim().chars().count() > 32 {
        return false;
    }
    // "Total page 1 (à reporter) : 1 369,65 €", "Summe Seite 1": a page's total, carried to
    // the next page, is no amount of the order (and the number after the word is the page's).
    let last_word = label
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_lowercase();
    if [
        "page", "pg", "p", "seite", "pagina", "página", "side", "sida", "strona", "pagina's",
    ]
    .contains(&last_word.as_str())
        && label.split_whitespace().count() >= 2
    {
        return false;
    }
    let Some(kind) = row_kind(label).or_else(|| delivery_alone(label, &t[label.len()..])) else {
        return false;
    };
    // "BTW BE 0712.555.318", "TVA FR 40 303 265 045": a VAT registration number after the
    // tax's name, an EU country's code before it, is no amount of tax; nor is a number of the
    // shape of one ("TPS : 123456789 RT0001").
    if kind == RowKind::Tax && (vat_registration(label) || tax_number(&t[label.len()..])) {
        return false;
    }
    // "Shipping Date: 24/06/2026", "Lieferdatum 24.06.2026": a date, no amount.
    if is_date_value(&t[label.len()..]) {
        return false;
    }
    // A discount's minus sign ("-10,79 €") is no part of its amount; any other row's is
    // (a credit's total "Total: -64.50", "(77.00)" is not a positive total).
    let signed = &t[label.len()..];
    let rest = signed.trim_start_matches(|c: char| c.is_whitespace() || "$€£¥￥:：(-−".contains(c));
    let Some(amount) = row_amount(rest, decimal_comma) else {
        return false;
    };
    let amount =
        if numbers(rest).len() == 1 && negative_number(signed.trim_start_matches([':', '：'])) {
            -amount
        } else {
            amount
        };
    if kind == RowKind::Total && includes_tax(label) {
        s.gross = true;
        s.rates.extend(
            numbers(label)
                .into_iter()
                .filter(|(_, after)| after.trim_start().starts_with('%'))
                .filter_map(|(n, _)| parse_decimal(&n, decimal_comma)),
        );
    }
    match kind {
        RowKind::Total => s.total.push(amount),
        RowKind::Subtotal => s.subtotal.push(amount),
        RowKind::Shipping => s.shipping.push(amount),
        RowKind::Fee => s.fees.push(amount),
        RowKind::Tax => s.tax.push(amount),
        RowKind::Discount => s.discount.push(amount.abs()),
    }
    true
}

/// A row whose whole label is the word for delivery ("Delivery: $35.00"), its amount money (a
/// currency mark or cents): the delivery charge. A date or a count after the word ("Delivery:
/// 6 May", "Delivery 2 pallets") is no charge.
fn delivery_alone(label: &str, rest: &str) -> Option<RowKind> {
    let word = label
        .trim()
        .trim_end_matches([':', '：', ' '])
        .to_lowercase();
    if !DELIVERY_ALONE.contains(&word.as_str()) {
        return None;
    }
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || ":：".contains(c));
    let marked = rest.starts_with(['$', '€', '£']) || {
        let (first, after) = numbers(rest).into_iter().next()?;
        let cents = first
            .rfind(['.', ','])
            .is_some_and(|at| first.len() - at == 3);
        let after = after.trim_start();
        cents
            || after.starts_with(['$', '€', '£'])
            || after.get(..3).is_some_and(|c| {
                c.chars().all(|x| x.is_ascii_uppercase()) && currency_of(c).is_some()
            })
    };
    // Nothing but the amount (and its currency) after the label.
    let words_after = rest
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic) && currency_of(w).is_none())
        .count();
    (marked && words_after == 0).then_some(RowKind::Shipping)
}

/// A sum written on one line, "Totale merce: € 1.452,70 + IVA 10% € 145,27 = € 1.597,97":
/// the first part is the goods (the subtotal), each added part a kind its label names, the
/// part after `=` the total. False (nothing taken) when a part is not one of those.
fn sum_row(t: &str, decimal_comma: bool, s: &mut Stated) -> bool {
    let Some((sum, result)) = t.split_once('=') else {
        return false;
    };
    let mut parts = sum.split('+');
    let (Some(goods), Some(total)) = (
        parts.next().and_then(|p| row_amount(p, decimal_comma)),
        row_amount(result, decimal_comma),
    ) else {
        return false;
    };
    let mut added = Vec::new();
    for part in parts {
        let p = part.trim();
        let Some(at) = first_amount(p) else {
            return false;
        };
        let label =
            p[..at].trim_end_matches(|c: char| c.is_whitespace() || "$€£¥￥:：(".contains(c));
        match (
            row_kind(label),
            row_amount(&p[label.len()..], decimal_comma),
        ) {
            (Some(kind @ (RowKind::Tax | RowKind::Shipping)), Some(amount)) => {
                added.push((kind, amount));
            }
            _ => return false,
        }
    }
    if added.is_empty() {
        return false;
    }
    s.subtotal.push(goods);
    for (kind, amount) in added {
        match kind {
            RowKind::Shipping => s.shipping.push(amount),
            _ => s.tax.push(amount),
        }
    }
    s.total.push(total);
    true
}

/// Where the first number of a line that is not a rate (`19 %`) starts.
fn first_amount(t: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = t[from..]
        .find(|c: char| c.is_ascii_digit())
        .map(|a| a + from)
    {
        let end = t[at..]
            .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
            .map_or(t.len(), |e| e + at);
        // A digit inside a word ("Tota1", "exc1.": OCR's letters) is no amount.
        let word = {
            let start = t[..at]
                .char_indices()
                .rfind(|(_, c)| c.is_whitespace())
                .map_or(0, |(i, c)| i + c.len_utf8());
            let stop = t[at..]
                .find(char::is_whitespace)
                .map_or(t.len(), |e| e + at);
            &t[start..stop]
        };
        let in_word = t[..at].chars().next_back().is_some_and(char::is_alphabetic)
            && ocr_letters(word) != word.to_lowercase();
        // A code of letters and digits ("BTW: NL855512340B01", a VAT number) is no amount.
        let coded = t[..at].chars().next_back().is_some_and(char::is_alphabetic)
            && t[end..].starts_with(char::is_alphabetic);
        // "CGST2.5 (2.5%)", "GST10 (10%)": a tax's name with its rate joined, the rate
        // again in brackets after it, is the label; its amount comes after.
        let rated = t[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_uppercase)
            .count()
            >= 2
            && t[end..].trim_start().starts_with('(');
        if coded || rated {
            from = t[at..]
                .find(char::is_whitespace)
                .map_or(t.len(), |e| e + at);
            continue;
        }
        if !t[end..].trim_start().starts_with('%') && !in_word {
            return Some(at);
        }
        from = end;
    }
    None
}

/// The shipping the stated rows charge: one amount stated again and again is one charge;
/// different amounts are each a charge.
fn shipping_charged(rows: &[Decimal]) -> Decimal {
    match rows.first() {
        Some(first) if rows.iter().all(|r| close(*r, *first)) => *first,
        _ => rows.iter().sum(),
    }
}

fn close(a: Decimal, b: Decimal) -> bool {
    (a - b).abs() <= Decimal::new(1, 2)
}

/// "Sous-total HT 807,30 / Remise -40,37 / Frais de port 15,00 / Total HT 781,93": with no
/// grand total and no tax stated, a net amount that is an earlier one with the shipping and
/// less the discount is the order's total as the sender states it (before tax).
pub fn net_total_after_charges(stated: &Stated) -> Option<Decimal> {
    if !stated.tax.is_empty() || !stated.total.is_empty() {
        return None;
    }
    let shipping = shipping_charged(&stated.shipping) + stated.fees.iter().sum::<Decimal>();
    let discount = stated.discount.first().copied().unwrap_or_default();
    if shipping.is_zero() && discount.is_zero() {
        return None;
    }
    let s = &stated.subtotal;
    (1..s.len())
        .rev()
        .find(|&i| s[..i].iter().any(|y| close(s[i], *y + shipping - discount)))
        .map(|i| s[i])
}

/// Rows of the item table whose name says they are a discount and whose amount is negative
/// ("Coupon SPRING10 - 10% off", "($52.14)") are no lines: each is taken out, its amount a
/// discount the total check counts (once, when a summary row states it too).
pub fn discount_rows(lines: &mut Vec<Line>, stated: &mut Stated) {
    lines.retain(|l| {
        let negative = l.unit_price.is_some_and(|p| p < Decimal::ZERO);
        if !negative || l.name.as_deref().and_then(row_kind) != Some(RowKind::Discount) {
            return true;
        }
        let amount = (l.unit_price.unwrap_or_default() * l.quantity.unwrap_or(Decimal::ONE)).abs();
        if !stated.discount.iter().any(|d| close(*d, amount)) {
            stated.discount.push(amount);
        }
        false
    });
}

/// Checks the lines against the stated amounts; returns the doubts.
pub fn check_amounts(lines: &[Line], stated: &Stated, total: Option<Decimal>) -> Vec<String> {
    let mut doubts = Vec::new();
    // A minus sign is read, never dropped: a negative line (a discount or credit row read as
    // an item) or a negative total is not an order's to release.
    if lines.iter().any(|l| {
        l.quantity
            .is_some_and(|q| q.is_sign_negative() && !q.is_zero())
    }) || lines.iter().any(|l| {
        l.unit_price
            .is_some_and(|p| p.is_sign_negative() && !p.is_zero())
    }) {
        doubts.push(
            "lines: a line's quantity or unit price is negative (a discount or credit row?)"
                .to_string(),
        );
    }
    if total.is_some_and(|t| t < Decimal::ZERO) || stated.total.iter().any(|t| *t < Decimal::ZERO) {
        doubts.push("total: the stated total is negative".to_string());
    }
    let mut distinct = |v: &[Decimal], what: &str| {
        let first = v.first().copied();
        if let Some(f) = first {
            if v.iter().any(|x| !close(*x, f)) {
                doubts.push(format!("{what}: the message states different amounts"));
            }
        }
        first
    };
    // Two different grand totals are a doubt even when one of them was taken as the total.
    let stated_total = distinct(&stated.total, "total");
    let total = total.or(stated_total);
    // Fees (a deposit) are added to the goods as shipping is; so is every shipping charge
    // stated (freight and a carriage surcharge), a charge stated twice (in the summary and in
    // a sentence) once: two different amounts both count, or the total check holds the order.
    let shipping = shipping_charged(&stated.shipping) + stated.fees.iter().sum::<Decimal>();
    let discount = stated.discount.first().copied().unwrap_or_default();
    // "Total marchandises HT 2 722,00" then, after the shipping, "Total HT 2 807,00": a
    // net amount that is an earlier one with the shipping (and less the discount) is that
    // sum, not another subtotal.
    let subtotals: Vec<Decimal> = stated
        .subtotal
        .iter()
        .enumerate()
        .filter(|(i, x)| {
            (shipping.is_zero() && discount.is_zero())
                || !stated.subtotal[..*i]
                    .iter()
                    .any(|y| close(**x, *y + shipping) || close(**x, *y + shipping - discount))
        })
        .map(|(_, x)| *x)
        .collect();
    let subtotal = distinct(&subtotals, "subtotal");
    let tax = stated.tax.first().copied().unwrap_or_default();
    // Several taxes stated apart ("GST 5%", "PST 7%") add up.
    let taxes: Decimal = stated.tax.iter().sum();
    let priced = !lines.is_empty()
        && lines
            .iter()
            .all(|l| l.unit_price.is_some() && l.quantity.is_some());
    if !priced {
        return doubts;
    }
    // A line with a discount of its own counts at its amount after it (to the cent, as each
    // line's amount is written); the others at quantity × unit price.
    let sum: Decimal = lines
        .iter()
        .map(|l| match l.discount {
            Some(_) => line_amount(
                l.quantity.unwrap_or_default(),
                l.unit_price.unwrap_or_default(),
                l.discount,
            ),
            None => l.unit_price.unwrap_or_default() * l.quantity.unwrap_or_default(),
        })
        .sum();
    let sum = sum.round_dp(2);
    // No value-added tax comes near half the goods' value: a "tax" of the order's size (from
    // half to twice the lines' sum) is a total whose label was read as a tax's ("Totaal (btw
    // verlegd)"). A number far above it is no amount (a tax registration number).
    if sum > Decimal::ZERO && taxes * Decimal::TWO > sum && taxes <= sum * Decimal::TWO {
        doubts.push(format!(
            "tax: the stated tax {taxes} is more than half of what the lines add up to ({sum})"
        ));
    }
    if let Some(sub) = subtotal {
        // A net amount written below the charge rows ("Fracht …", "Porto …", then "Summe
        // netto") is the lines with those charges, as the sheet adds them.
        let after_charges = !shipping.is_zero()
            && (close(sub, sum + shipping) || close(sub, sum + shipping - discount));
        if !close(sub, sum) && !after_charges {
            doubts.push(format!(
                "lines: they add up to {sum}, the stated subtotal is {sub}"
            ));
        }
    }
    if let Some(total) = total {
        let base = subtotal.unwrap_or(sum);
        let candidates = [
            base + shipping + tax - discount,
            // Prices that include tax: the tax row only shows the share.
            base + shipping - discount,
            sum + shipping + tax - discount,
            base + shipping + taxes - discount,
        ];
        // "Totalt inkl. moms: 8 243,75" over net lines and no tax row: the total is the net
        // amount with the tax at a rate the label writes, or at a VAT rate some country uses.
        let taxed = stated.gross
            && stated.tax.is_empty()
            && stated
                .rates
                .iter()
                .copied()
                .chain(
                    VAT_RATES
                        .iter()
                        .map(|(units, tenths)| rate(*units, *tenths)),
                )
                .any(|r| {
                    base.checked_mul(Decimal::ONE_HUNDRED + r)
                        .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                        .and_then(|x| x.round_dp(2).checked_add(shipping))
                        .and_then(|x| x.checked_sub(discount))
                        .is_some_and(|x| close(x, total))
                });
        if !taxed && !candidates.iter().any(|c| close(*c, total)) {
            doubts.push(format!(
                "total: the lines{} add up to {}, the stated total is {total}",
                if shipping.is_zero() && tax.is_zero() && discount.is_zero() {
                    ""
                } else {
                    " with the stated shipping, tax and discount"
                },
                (sum + shipping + tax - discount).round_dp(2)
            ));
        }
    }
    doubts
}

/// Rates of value-added tax, general and reduced, that countries charge (percent as units and
/// tenths: 25.5 % is `(25, 5)`); a total said to include tax over net lines is checked against
/// them when the message writes no rate.
const VAT_RATES: &[(i64, i64)] = &[
    (2, 5),
    (2, 6),
    (3, 0),
    (3, 7),
    (3, 8),
    (4, 0),
    (5, 0),
    (5, 5),
    (6, 0),
    (7, 0),
    (7, 7),
    (8, 0),
    (8, 1),
    (9, 0),
    (10, 0),
    (12, 0),
    (13, 0),
    (14, 0),
    (15, 0),
    (16, 0),
    (17, 0),
    (18, 0),
    (19, 0),
    (20, 0),
    (21, 0),
    (22, 0),
    (23, 0),
    (24, 0),
    (25, 0),
    (25, 5),
    (27, 0),
];

/// A rate of [`VAT_RATES`] as a decimal percentage.
fn rate(units: i64, tenths: i64) -> Decimal {
    Decimal::new(units * 10 + tenths, 1)
}

/// Words in a total's label that say the tax is included in it ("inkl. moms", "incl. VAT",
/// "TTC", "s DPH", "con IVA").
fn includes_tax(label: &str) -> bool {
    let l = label.to_lowercase();
    let words: Vec<&str> = l
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '/'))
        .filter(|w| !w.is_empty())
        .collect();
    const INCL: &[&str] = &[
        "inkl.",
        "inkl",
        "incl.",
        "incl",
        "including",
        "inklusive",
        "inclusive",
        "ttc",
        "med",
        "con",
        "com",
        "c/",
        "s",
        "z",
        "з",
        "с",
        "met",
        "mit",
        "avec",
        "sis.",
        "sis",
    ];
    // The inclusion after the tax: "IVA incluida", "IVA inclusa", "BTW inbegrepen".
    const INCLUDED: &[&str] = &[
        "incl.",
        "incl",
        "included",
        "inclusive",
        "incluida",
        "incluido",
        "incluída",
        "incluído",
        "inclusa",
        "incluse",
        "inclus",
        "compris",
        "comprise",
        "inbegrepen",
        "inklusive",
        "inkluderad",
        "inkluderet",
    ];
    let tax = |w: &str| TAX.iter().any(|t| w.trim_end_matches('.') == *t);
    words
        .windows(2)
        .any(|w| (INCL.contains(&w[0]) && tax(w[1])) || (tax(w[0]) && INCLUDED.contains(&w[1])))
        || words.contains(&"ttc")
        // Belgium's "TVAC" and "TVAI": TVA comprise, TVA incluse.
        || words.contains(&"tvac")
        || words.contains(&"tvai")
        || words.contains(&"brutto")
        || words.contains(&"bruttó")
        || words.contains(&"gross")
}

/// Words by which a message orders what an earlier order held ("the usual plus …", "same as
/// last time"): part of the order is in one the message does not show, so the lines written
/// are not the whole order, and a person completes it. Lower case; apostrophes as typed.
const STANDING_ORDER: &[&str] = &[
    "the usual plus",
    "the usual, plus",
    "the usual and",
    "the usual +",
    "our usual order",
    "our regular order",
    "same as last time",
    "same as last week",
    "same as last month",
    "same as our last order",
    "same order as last",
    "repeat our last order",
    "repeat the last order",
    "das übliche",
    "wie immer plus",
    "wie letztes mal",
    "wie beim letzten mal",
    "unsere übliche bestellung",
    "comme d'habitude plus",
    "comme d’habitude plus",
    "commande habituelle",
    "comme la dernière fois",
    "il solito",
    "come l'ultima volta",
    "lo de siempre",
    "lo habitual",
    "pedido habitual",
    "como la última vez",
    "o de sempre",
    "o habitual",
    "het gebruikelijke",
    "hetzelfde als vorige",
    "det sædvanlige",
    "det vanlige",
    "det vanliga",
    "samma som förra",
    "samme som sidst",
    "tavalliset",
    "sama kuin viimeksi",
    "to co zwykle",
    "jak ostatnio",
    "как обычно",
    "как в прошлый раз",
    "いつもの",
    "前回と同じ",
    "照旧",
    "老样子",
    "和上次一样",
    "跟上次一样",
];

/// Words by which a message says outright that it is no order ("this is not an order", "Ово
/// није поруџбина"): a phrase that ends there ("… is not an order confirmation" goes on to
/// say something else). Lower case.
const NOT_AN_ORDER: &[&str] = &[
    "is not an order",
    "not a purchase order",
    "ce n'est pas une commande",
    "keine bestellung",
    "no es un pedido",
    "non è un ordine",
    "geen bestelling",
    "não é um pedido",
    "nie jest zamówieniem",
    "není objednávka",
    "nije porudžbina",
    "nije narudžba",
    "nije narudžbenica",
    "није поруџбина",
    "није наруџбина",
    "не е поръчка",
    "это не заказ",
];

/// Words that title a request for a quotation, wherever they stand. Lower case.
const QUOTATION_REQUEST: &[&str] = &[
    "request for quotation",
    "request for a quotation",
    "demande de devis",
    "angebotsanfrage",
    "solicitud de cotización",
    "solicitud de presupuesto",
    "richiesta di preventivo",
    "richiesta di offerta",
    "offerteaanvraag",
    "pedido de cotação",
    "zapytanie ofertowe",
    "zahtev za ponudu",
    "zahtjev za ponudu",
    "захтев за понуду",
    "запитване за оферта",
    "запрос коммерческого предложения",
    "询价单",
    "詢價單",
    "見積依頼",
];

/// Words by which a supplier reminds a customer of an unpaid invoice: a dunning letter, which
/// orders nothing. Lower case.
const PAYMENT_REMINDER: &[&str] = &[
    "reste impayée",
    "restent impayées",
    "demeure impayée",
    "remains unpaid",
    "remain unpaid",
    "is still unpaid",
    "are still unpaid",
    "noch nicht beglichen",
    "sigue pendiente de pago",
    "permanece impagada",
    "risulta ancora insoluta",
    "nog niet betaald",
];

/// The doubt of a message that says it is no order ([`NOT_AN_ORDER`]), asks for a quotation
/// ([`QUOTATION_REQUEST`]) or reminds of an unpaid invoice ([`PAYMENT_REMINDER`]): its lines
/// and amounts are not an order's.
pub fn not_an_order(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let said = |w: &&&str| {
        lower.match_indices(**w).any(|(at, _)| {
            !lower[at + w.len()..]
                .trim_start()
                .starts_with(char::is_alphanumeric)
        })
    };
    let asked = |w: &&&str| lower.contains(**w);
    let found = NOT_AN_ORDER
        .iter()
        .find(said)
        .or_else(|| QUOTATION_REQUEST.iter().find(asked));
    if let Some(w) = found {
        return Some(format!(
            "lines: the message says it is no order (\"{w}\"); nothing in it is ordered"
        ));
    }
    PAYMENT_REMINDER.iter().find(asked).map(|w| {
        format!(
            "lines: the message reminds of an unpaid invoice (\"{w}\"); nothing in it is ordered"
        )
    })
}

/// The doubt of a message that orders "the usual" (see [`STANDING_ORDER`]).
pub fn standing_order(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    // A phrase starts a word ("horario habitual" is no "o habitual"); East Asian text has no
    // spaces between words.
    let starts_word = |w: &str| {
        let cjk = w.chars().next().is_some_and(|c| u32::from(c) >= 0x3000);
        lower.match_indices(w).any(|(i, _)| {
            cjk || lower[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
    };
    STANDING_ORDER.iter().find(|w| starts_word(w)).map(|w| {
        format!(
            "lines: the message orders what an earlier order held (\"{w}\"), which it does not \
             show: the lines written are not the whole order"
        )
    })
}

/// Checks the address facts; returns the doubts.
pub fn check_address(facts: &Facts) -> Vec<String> {
    let mut doubts = Vec::new();
    let get = |k: &str| facts.get(k).map(|f| f.value.as_str());
    if let (Some(country), Some(postcode)) = (get("ship_to.country"), get("ship_to.postal_code")) {
        if crate::rules::geo::postal_code_valid(country, postcode) == Some(false) {
            doubts.push(format!(
                "ship_to.postal_code: it does not have the form of a postcode of {country}"
            ));
        }
    }
    if let Some(city) = get("ship_to.city") {
        // What a split postcode leaves in a city: its digits, or its letters ("AB Amsterdam").
        let first = city.split_whitespace().next().unwrap_or("");
        let letters_left = first.len() == 2 && first.chars().all(|c| c.is_ascii_uppercase());
        if city.chars().any(|c| c.is_ascii_digit()) || letters_left {
            doubts.push("ship_to.city: it holds part of a postcode".into());
        }
    }
    doubts
}

/// Whether text still holds an HTML character reference (`&hellip;` that no rule decoded):
/// a fact with one in it is not the text the sender wrote.
pub fn undecoded_entity(s: &str) -> bool {
    s.match_indices('&').any(|(at, _)| {
        let rest = &s[at + 1..];
        let name = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
            .count();
        (2..=10).contains(&name) && rest[name..].starts_with(';')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A total said to include tax over net lines and no tax row: right at the rate its label
    /// writes, or at a VAT rate a country charges; any other amount is a doubt.
    /// A page's total carried to the next page ("Total page 1 (à reporter)") is no total of
    /// the order, and the page's number is no amount.
    #[test]
    fn a_pages_total_is_no_order_total() {
        let s = stated_amounts("Total page 1 (à reporter) :   1 369,65 €", true);
        assert!(s.total.is_empty(), "{:?}", s.total);
        let s = stated_amounts("Summe Seite 2:  1.369,65 €", true);
        assert!(s.total.is_empty() && s.subtotal.is_empty());
        let s = stated_amounts("Total :   1 369,65 €", true);
        assert_eq!(s.total.len(), 1);
    }

    #[test]
    fn a_total_that_includes_tax_over_net_lines() {
        let lines = [line(10, "100.00")];
        let stated = stated_amounts(
            "Summa exkl. moms: 1 000,00\nTotalt inkl. moms 25 %: 1 250,00",
            true,
        );
        assert!(stated.gross);
        assert_eq!(stated.rates, vec![dec("25")]);
        assert!(check_amounts(&lines, &stated, None).is_empty());
        // No rate written: 21 % is a rate countries charge, 23.4 % none does.
        let stated = stated_amounts("Sum eks. mva: 1 000,00\nTotalt inkl. mva: 1 210,00", true);
        assert!(check_amounts(&lines, &stated, None).is_empty());
        let stated = stated_amounts("Totalt inkl. mva: 1 234,00", true);
        assert_eq!(check_amounts(&lines, &stated, None).len(), 1);
        let stated = stated_amounts("Totale IVA inclusa: 1.220,00", true);
        assert!(check_amounts(&lines, &stated, None).is_empty());
        // A total not said to include tax is the lines' sum.
        let stated = stated_amounts("Total: 1 250,00", true);
        assert_eq!(check_amounts(&lines, &stated, None).len(), 1);
    }

    /// Simplified Chinese consumption tax (`消费税（GST 9%）`) is a tax row; a reminder of an
    /// unpaid invoice is no order.
    #[test]
    fn chinese_gst_row_and_payment_reminders() {
        assert_eq!(row_kind("消费税（GST 9%）"), Some(RowKind::Tax));
        // Taiwan's business tax, in traditional characters, with its rate written against it.
        assert_eq!(row_kind("營業稅5%"), Some(RowKind::Tax));
        assert_eq!(row_kind("营业税 5%"), Some(RowKind::Tax));
        assert_eq!(row_kind("Ports"), Some(RowKind::Shipping));
        assert_eq!(row_kind("Toimituskulut"), Some(RowKind::Shipping));
        assert_eq!(row_kind("Toimitusosoite"), None);
        assert_eq!(
            row_kind("Descompte client habitual"),
            Some(RowKind::Discount)
        );
        assert_eq!(row_kind("Celkom s DPH"), Some(RowKind::Total));
        let s = stated_amounts(
            "小计：S$1,070.00\n消费税（GST 9%）：S$96.30\n总计：S$1,166.30",
            false,
        );
        assert_eq!(s.tax.len(), 1);
        assert!(not_an_order("La facture FA-1 reste impayée à ce jour.").is_some());
        assert!(not_an_order("Merci de livrer la commande ci-dessous.").is_none());
    }

    /// Summary rows of Bulgarian, Serbian, Swahili, Malay, Hindi and SAP orders, and labels
    /// OCR garbled.
    #[test]
    fn summary_rows_of_more_languages_and_ocr() {
        assert_eq!(row_kind("Сума без ДДС"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("ДДС 20 %"), Some(RowKind::Tax));
        assert_eq!(row_kind("Общо"), Some(RowKind::Total));
        assert_eq!(row_kind("Укупно без ПДВ-а"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("Укупно за плаћање"), Some(RowKind::Total));
        assert_eq!(row_kind("Jumla"), Some(RowKind::Total));
        assert_eq!(row_kind("Jumlah"), Some(RowKind::Total));
        assert_eq!(row_kind("उप-योग"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("कुल राशि"), Some(RowKind::Total));
        assert_eq!(row_kind("Gesamtnettowert"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("Sum eks. mva"), Some(RowKind::Subtotal));
        // The total of the tax is the tax; a total that includes it is the total.
        assert_eq!(row_kind("TOTAL VAT 20%"), Some(RowKind::Tax));
        assert_eq!(row_kind("Total TVA"), Some(RowKind::Tax));
        assert_eq!(row_kind("Total incl. VAT"), Some(RowKind::Total));
        assert_eq!(row_kind("Total IVA incluido"), Some(RowKind::Total));
        assert_eq!(row_kind("TOTAL GBP"), Some(RowKind::Total));
        assert_eq!(
            row_kind("Total antes del descuento"),
            Some(RowKind::Subtotal)
        );
        assert_eq!(row_kind("Impuesto (IVA 10%)"), Some(RowKind::Tax));
        // A VAT number after the tax's label is no amount.
        let s = stated_amounts("BTW: NL855512340B01\nBTW 9%   € 88,21", true);
        assert_eq!(s.tax, vec![Decimal::new(8821, 2)]);
        // A discount's amount after its minus sign, with or without a colon.
        let s = stated_amounts(
            "Descuento 10%: -25,00 €\nTilausalennus 2 %      -10,79 €",
            true,
        );
        assert_eq!(s.discount, vec![dec("25"), dec("10.79")]);
        let s = stated_amounts("Tota1 exc1. BTW   1.234,5\nTe beta1en   1.493,75", true);
        assert_eq!(s.subtotal, vec![dec("1234.5")]);
        assert_eq!(s.total, vec![dec("1493.75")]);
    }

    /// A request for a quotation, or a message that says it is no order, orders nothing.
    #[test]
    fn a_message_that_says_it_is_no_order() {
        assert!(not_an_order("Ово није поруџбина – наруџбеницу шаљемо касније.").is_some());
        assert!(not_an_order("Subject: Request for quotation – towels").is_some());
        assert!(not_an_order("Please find our order below.").is_none());
        assert!(not_an_order("This is not an order confirmation; our order follows.").is_none());
        assert!(not_an_order("This is not an order.").is_some());
    }

    #[test]
    fn totals_said_to_be_without_tax_in_more_languages() {
        assert_eq!(row_kind("Kokku (km-ta)"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("Tasuda"), Some(RowKind::Total));
        assert_eq!(row_kind("Kokku"), Some(RowKind::Total));
    }

    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn line(q: i64, p: &str) -> Line {
        Line {
            quantity: Some(Decimal::from(q)),
            unit_price: Some(dec(p)),
            ..Line::default()
        }
    }

    /// Lines of quantity and unit price.
    fn priced(lines: &[(i64, &str)]) -> Vec<Line> {
        lines.iter().map(|(q, p)| line(*q, p)).collect()
    }

    /// The whole message's summary rows in Arabic-Indic digits and Arabic words: the
    /// subtotal before tax, the VAT and the total.
    #[test]
    fn summary_rows_in_arabic_indic_digits() {
        let s = stated_amounts(
            "الإجمالي قبل الضريبة: ٣٬١٧٥٫٠٠ ر.س\nضريبة القيمة المضافة ١٥٪: ٤٧٦٫٢٥ ر.س\n\
             الإجمالي: ٣٬٦٥١٫٢٥ ر.س\n",
            false,
        );
        assert_eq!(s.subtotal, vec![dec("3175")]);
        assert_eq!(s.tax, vec![dec("476.25")]);
        assert_eq!(s.total, vec![dec("3651.25")]);
    }

    #[test]
    fn a_sum_written_on_one_line() {
        let s = stated_amounts(
            "Totale merce: € 200,00 + IVA 22% € 44,00 = € 244,00\n",
            true,
        );
        assert_eq!(s.subtotal, vec![dec("200")]);
        assert_eq!(s.tax, vec![dec("44")]);
        assert_eq!(s.total, vec![dec("244")]);
        assert!(check_amounts(&[line(4, "50")], &s, None).is_empty());
        // A part that is neither tax nor shipping: the line is not read as a sum.
        let s = stated_amounts("Total: 3 x 5 + 2 = 17\n", true);
        assert!(s.subtotal.is_empty() && s.tax.is_empty());
        // Québec's two taxes and the Nordic words.
        let s = stated_amounts(
            "TPS (5 %) : 5,00 $\nTVQ (9,975 %) : 9,98 $\nMoms 25 %: 2,50\nAtt betala: 12,50\n",
            true,
        );
        assert_eq!(s.tax.len(), 3);
        assert_eq!(s.total, vec![dec("12.5")]);
    }

    #[test]
    fn summary_rows_in_many_languages() {
        let text =
            "Zwischensumme:  1.209,30 €\nMwSt. 7%:       84,65 €\nGesamtsumme:    1.293,95 €\n\
                    Frais de port : 12,00 €\nTotal TTC : 1 306,00 €\n合計：44,760円\n\
                    so the order total is $229.50\n";
        let s = stated_amounts(&format!("{text}zzgl. 19 % MwSt.: 48,30 €\n"), true);
        assert_eq!(s.subtotal, vec![dec("1209.30")]);
        assert_eq!(s.tax, vec![dec("84.65"), dec("48.30")]);
        assert_eq!(s.shipping, vec![dec("12.00")]);
        assert_eq!(s.total.len(), 3, "{s:?}");
        assert_eq!(s.total[1], dec("1306.00"));
    }

    /// A total said to be before tax is the subtotal; a rate may stand before a tax label; a
    /// shipping word anywhere in a short label is shipping, not in a sentence.
    #[test]
    fn net_totals_rates_and_shipping_labels() {
        let text = "Gesamtbetrag netto: 1.511,30 €\n20 % USt.: 302,26 €\n\
                    Gesamtbetrag brutto: 1.813,56 €\nTotal s/ IVA: 10,00 €\n\
                    Spese di trasporto: 25,00 €\nLes envío la orden de compra OC-7781.\n";
        let s = stated_amounts(text, true);
        assert_eq!(s.subtotal, vec![dec("1511.30"), dec("10.00")]);
        assert_eq!(s.tax, vec![dec("302.26")]);
        assert_eq!(s.total, vec![dec("1813.56")]);
        assert_eq!(s.shipping, vec![dec("25.00")]);
    }

    /// A deposit on returnable containers (`Pfand: 18 Kästen à 3,30 € …  119,40 €`) is a fee
    /// added to the goods, not a line: the lines with it add up to the stated total.
    #[test]
    fn a_deposit_row_is_a_fee_added_to_the_goods() {
        let text = "Ware netto:                     347,80 €\n\
                    Pfand: 18 Kästen à 3,30 € und 2 Fässer à 30,00 €   119,40 €\n\
                    Summe:                          467,20 €\n";
        let s = stated_amounts(text, true);
        assert_eq!(s.fees, vec![dec("119.40")]);
        assert_eq!(s.total, vec![dec("467.20")]);
        let lines = priced(&[(8, "9.80"), (6, "6.90"), (4, "17.50"), (2, "79.00")]);
        assert!(check_amounts(&lines, &s, None).is_empty());
    }

    /// A net amount after the shipping that is the goods' with the shipping ("Total
    /// marchandises HT", "Frais de port HT", "Total HT") is no second subtotal.
    #[test]
    fn a_net_total_with_the_shipping_after_the_goods() {
        let text = "Total marchandises HT      2 722,00 €\nFrais de port HT              85,00 €\n\
                    Total HT                   2 807,00 €\nTVA 20 %                     561,40 €\n\
                    Total TTC                  3 368,40 €\n";
        let s = stated_amounts(text, true);
        assert_eq!(s.subtotal.len(), 2, "{s:?}");
        let lines = priced(&[(4, "289.00"), (4, "214.50"), (4, "129.00"), (2, "96.00")]);
        assert!(check_amounts(&lines, &s, None).is_empty());
        let other = Stated {
            subtotal: vec![dec("2722.00"), dec("2800.00")],
            shipping: vec![dec("85.00")],
            ..Stated::default()
        };
        assert!(!check_amounts(&lines, &other, None).is_empty());
    }

    /// A row of an item table named only by a shipping charge is no line; an item whose name
    /// starts with such a word is one.
    #[test]
    fn a_shipping_charge_by_its_name() {
        for name in [
            "Freight",
            "Shipping & handling",
            "Frais de port",
            "Delivery charge",
            "Versandkostenpauschale",
            "Frachtpauschale",
            "Versandgebühr",
            "Shipping flat rate",
        ] {
            assert!(shipping_charge(name), "{name}");
        }
        for name in [
            "Shipping boxes 12x12",
            "Freight elevator key",
            "Portes de armario",
            "Pauschale",
            "Versandkarton 40 x 30 cm",
        ] {
            assert!(!shipping_charge(name), "{name}");
        }
    }

    /// Every shipping charge stated counts toward the total; one charge stated twice counts
    /// once.
    #[test]
    fn several_shipping_charges_all_count() {
        let lines = priced(&[(2, "38.50")]);
        let two = Stated {
            shipping: vec![dec("5.00"), dec("3.00")],
            ..Stated::default()
        };
        assert!(check_amounts(&lines, &two, Some(dec("85.00"))).is_empty());
        // The total with only the first charge does not settle the second.
        assert!(!check_amounts(&lines, &two, Some(dec("82.00"))).is_empty());
        let again = Stated {
            shipping: vec![dec("5.00"), dec("5.00")],
            ..Stated::default()
        };
        assert!(check_amounts(&lines, &again, Some(dec("82.00"))).is_empty());
    }

    /// A negative line or total is a doubt, whatever the arithmetic says.
    #[test]
    fn negative_lines_and_totals_are_doubts() {
        let lines = priced(&[(2, "38.50"), (1, "-12.50")]);
        let doubts = check_amounts(&lines, &Stated::default(), Some(dec("64.50")));
        assert!(doubts.iter().any(|d| d.contains("negative")), "{doubts:?}");
        let s = stated_amounts("Total: -64.50\n", false);
        assert_eq!(s.total, vec![dec("-64.50")]);
        let s = stated_amounts("Rabatt: -10,00 €\nGesamt: (64,50 €)\n", true);
        assert_eq!(s.discount, vec![dec("10.00")]);
        assert_eq!(s.total, vec![dec("-64.50")]);
        let doubts = check_amounts(&priced(&[(1, "64.50")]), &s, None);
        assert!(doubts.iter().any(|d| d.contains("negative")), "{doubts:?}");
    }

    /// Two grand totals that differ are a doubt even when the total fact is one of them;
    /// taxes stated apart add up.
    #[test]
    fn competing_totals_and_several_taxes() {
        let lines = [line(1000, "0.21"), line(1000, "0.12")];
        let two = Stated {
            total: vec![dec("369.60"), dec("346.50")],
            ..Stated::default()
        };
        assert!(check_amounts(&lines, &two, Some(dec("369.60")))
            .iter()
            .any(|d| d.starts_with("total: the message states different amounts")));
        let taxes = Stated {
            subtotal: vec![dec("330.00")],
            tax: vec![dec("16.50"), dec("23.10")],
            total: vec![dec("369.60")],
            ..Stated::default()
        };
        assert!(check_amounts(&lines, &taxes, None).is_empty());
    }

    #[test]
    fn lines_against_totals() {
        let lines = [line(2, "10.00"), line(1, "5.50")];
        let off = Stated {
            total: vec![dec("28.05")],
            shipping: vec![dec("3.00")],
            ..Stated::default()
        };
        assert_eq!(check_amounts(&lines, &off, None).len(), 1);
        let ok = Stated {
            total: vec![dec("28.50")],
            shipping: vec![dec("3.00")],
            ..Stated::default()
        };
        assert!(check_amounts(&lines, &ok, None).is_empty());
        let short = Stated {
            total: vec![dec("40.00")],
            ..Stated::default()
        };
        let doubts = check_amounts(&lines, &short, None);
        assert!(
            doubts[0].starts_with("total: the lines add up to 25.50"),
            "{doubts:?}"
        );
    }

    #[test]
    fn undecoded_references_are_seen() {
        assert!(undecoded_entity("K&ouml;ln"));
        assert!(undecoded_entity("a &#8230;"));
        assert!(!undecoded_entity("Fish & chips; salt"));
    }

    #[test]
    fn an_order_of_the_usual_is_not_whole() {
        for text in [
            "Hej Lars,\nsend venligst det sædvanlige til fredag plus:\n3 kasser HV-220",
            "Hi, please send the usual plus 2 boxes of MUG-01.",
            "Same as last time, but 10 more cups.",
            "请照旧发货，另加两箱。",
            "Bitte das Übliche, dazu 4 Kartons.",
        ] {
            let d = standing_order(text).unwrap_or_else(|| panic!("{text}"));
            assert!(d.starts_with("lines: "), "{d}");
        }
        for text in [
            "Entrega en horario habitual, de 9 a 14 h.",
            "As usual, please find our order below.",
            "Thanks as always — order 4711: 3 x MUG-01",
            "Unusual plus sizes",
        ] {
            assert_eq!(standing_order(text), None, "{text}");
        }
    }

    /// "Warenwert", "Totale merce": the goods' value is the subtotal, not the grand total.
    #[test]
    fn the_goods_value_is_the_subtotal() {
        for label in ["Warenwert", "Totale merce", "Total marchandises"] {
            assert_eq!(row_kind(label), Some(RowKind::Subtotal), "{label}");
        }
    }

    /// "Warenwert 401,80 / Rabatt −12,05 / Fracht 9,90 / Nettobetrag 399,65": a net amount
    /// that is the goods with the shipping and less the discount is no other subtotal.
    #[test]
    fn a_net_amount_after_shipping_and_discount() {
        let s = stated_amounts(
            "Warenwert   401,80 €\nRabatt 3 %   \u{2212}12,05 €\nFracht   9,90 €\n\
             Nettobetrag   399,65 €\nzzgl. 19 % MwSt.   75,93 €\nGesamtbetrag   475,58 €\n",
            true,
        );
        assert_eq!(s.subtotal, vec![dec("401.80"), dec("399.65")]);
        let lines = priced(&[(1, "401.80")]);
        assert!(check_amounts(&lines, &s, None).is_empty());
        // With no grand total and no tax, that net amount is the order's total.
        let s = stated_amounts(
            "Sous-total HT   807,30 €\nRemise fidélité 5 %   -40,37 €\n\
             Frais de port   15,00 €\nTotal HT   781,93 €\n",
            true,
        );
        assert_eq!(net_total_after_charges(&s), Some(dec("781.93")));
        assert!(check_amounts(&priced(&[(1, "807.30")]), &s, Some(dec("781.93"))).is_empty());
        // Two net amounts the charges do not join are no total.
        let s = stated_amounts(
            "Sous-total HT   807,30 €\nFrais de port   15,00 €\nTotal HT   790,00 €\n",
            true,
        );
        assert_eq!(net_total_after_charges(&s), None);
    }

    /// A VAT registration number in a signature ("BTW BE 0712.555.318") is no tax amount;
    /// the tax row above it is.
    #[test]
    fn a_vat_registration_number_is_no_tax() {
        let s = stated_amounts(
            "Subtotaal   1.060,35
BTW 6%   63,62
Totaal incl. BTW   1.123,97

             Traiteur Van Loock BV
BTW BE 0712.555.318
",
            true,
        );
        assert_eq!(s.tax, vec![dec("63.62")]);
        assert_eq!(s.total, vec![dec("1123.97")]);
    }

    /// A coupon row of the item table ("($52.14)") is a discount, not a line.
    #[test]
    fn a_negative_row_named_as_a_discount_is_no_line() {
        let mut lines = priced(&[(12, "18.95"), (1, "-52.14")]);
        lines[1].name = Some("Coupon SPRING10 - 10% off supplies".into());
        let mut s = Stated::default();
        discount_rows(&mut lines, &mut s);
        assert_eq!(lines.len(), 1);
        assert_eq!(s.discount, vec![dec("52.14")]);
        // A negative row named as an item stays (and holds the order).
        let mut lines = priced(&[(1, "-52.14")]);
        lines[0].name = Some("Nitrile gloves".into());
        discount_rows(&mut lines, &mut s);
        assert_eq!(lines.len(), 1);
    }

    /// Spain's `Recargo de equivalencia` is a tax charged beside the VAT: the total is the
    /// goods with both.
    #[test]
    fn a_spanish_equivalence_surcharge_is_tax() {
        let s = stated_amounts(
            "Base imponible: 250,00 €\nIVA 21 %: 52,50 €\nRecargo de equivalencia 5,2 %: 13,00 €\n\
             Total: 315,50 €\n",
            true,
        );
        assert_eq!(s.tax, vec![dec("52.50"), dec("13.00")]);
        assert!(check_amounts(&[line(10, "25.00")], &s, None).is_empty());
    }

    /// Dutch `Vrachtkosten` (freight) is shipping, as a summary row's whole label or in a
    /// short one.
    #[test]
    fn dutch_freight_is_shipping() {
        let s = stated_amounts(
            "Subtotaal 400,00\nVrachtkosten 20,00\nBTW 21% 88,20\nTotaal 508,20\n",
            true,
        );
        assert_eq!(s.shipping, vec![dec("20.00")]);
        assert!(check_amounts(&[line(8, "50.00")], &s, None).is_empty());
        assert_eq!(row_kind("Vracht"), Some(RowKind::Shipping));
        assert_eq!(row_kind("Kosten vracht"), Some(RowKind::Shipping));
    }

    /// A tax's registration number in a letterhead ("GST 812345678 RT0001", Québec's QST
    /// number, nine digits and more without a separator) is no amount of tax; a tax amount
    /// after the same label still is.
    #[test]
    fn a_tax_registration_number_is_no_tax_amount() {
        let s = stated_amounts(
            "GST : 812345678 RT0001    QST : 1098765432 TQ0001\nHST 876543210\n\
             Subtotal 200.00\nGST (5 %) 10.00\nQST (9,975 %) 19.95\nTOTAL 229.95\n",
            false,
        );
        assert_eq!(s.tax, vec![dec("10.00"), dec("19.95")]);
        assert!(check_amounts(&[line(4, "50.00")], &s, None).is_empty());
        // Without a program account, a short number is an amount.
        let s = stated_amounts("GST 15000\n", false);
        assert_eq!(s.tax, vec![dec("15000")]);
    }

    /// Japanese and Chinese write the tax basis before the total's word, in one word
    /// (`税抜合計` is before tax, `税込合計` with it), and what a discount is for before the
    /// word for it (`特別値引`, `会员折扣`).
    #[test]
    fn cjk_tax_basis_and_discount_words_joined_to_the_kind() {
        assert_eq!(row_kind("税抜合計"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("不含税总计"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("税込合計"), Some(RowKind::Total));
        assert_eq!(row_kind("特別値引き"), Some(RowKind::Discount));
        assert_eq!(row_kind("会员折扣"), Some(RowKind::Discount));
        assert_eq!(row_kind("消費税（8%）"), Some(RowKind::Tax));
        let s = stated_amounts(
            "小計 52,000\n特別値引 -2,000\n税抜合計 50,000\n消費税（10%） 5,000\n税込合計 ￥55,000\n",
            false,
        );
        assert_eq!(s.discount, vec![dec("2000")]);
        assert_eq!(s.total, vec![dec("55000")]);
        assert!(check_amounts(&[line(4, "13000")], &s, None).is_empty());
    }

    /// Summary rows on one line between separators are each read; a line whose parts are not
    /// all such rows is not split.
    #[test]
    fn summary_rows_joined_on_one_line() {
        let s = stated_amounts(
            "Subtotale € 300,00 - IVA 10% € 30,00 - Totale € 330,00\n",
            true,
        );
        assert_eq!(s.subtotal, vec![dec("300.00")]);
        assert_eq!(s.tax, vec![dec("30.00")]);
        assert_eq!(s.total, vec![dec("330.00")]);
        assert!(check_amounts(&[line(6, "50.00")], &s, None).is_empty());
        let s = stated_amounts("Subtotal $80.00 | Shipping $5.00 | Total $85.00\n", false);
        assert_eq!(s.shipping, vec![dec("5.00")]);
        let s = stated_amounts("Total - delivery Mon - Fri\n", false);
        assert_eq!(s, Stated::default());
    }

    /// The Swedish and Norwegian freight row is shipping.
    #[test]
    fn swedish_freight_row_is_shipping() {
        assert_eq!(row_kind("Frakt"), Some(RowKind::Shipping));
        let s = stated_amounts(
            "Summa exkl. moms 1 000,00\nFrakt 100,00\nMoms 25 % 275,00\nAtt betala 1 375,00 kr\n",
            true,
        );
        assert_eq!(s.shipping, vec![dec("100.00")]);
        assert!(check_amounts(&[line(10, "100.00")], &s, None).is_empty());
    }

    /// Belgium's "Total HTVA" (hors TVA) is the subtotal, its "Total TVAC" (TVA comprise) the
    /// total.
    #[test]
    fn belgian_htva_and_tvac_totals() {
        assert_eq!(row_kind("Total HTVA"), Some(RowKind::Subtotal));
        assert_eq!(row_kind("Total TVAC"), Some(RowKind::Total));
        let s = stated_amounts(
            "Total HTVA\t546,48 €\nTVA 21 %\t114,76 €\nTotal TVAC\t661,24 €\n",
            true,
        );
        assert_eq!(s.total, vec![dec("661.24")]);
    }

    /// A summary row whose value is a date ("Shipping Date: 24/06/2026") states no amount.
    #[test]
    fn a_dated_row_states_no_amount() {
        let s = stated_amounts(
            "Subtotal $1,307.20\nFreight $45.00\nGST $135.22\nTotal Amount $1,487.42\n\
             Shipping Date: 24/06/2026\nDelivery date 2026-06-24\n",
            false,
        );
        assert_eq!(s.shipping, vec![dec("45.00")]);
        assert_eq!(s.total, vec![dec("1487.42")]);
    }

    /// India's split GST rows name the tax with its rate joined ("CGST2.5 (2.5%)"): the
    /// amount is the one after the label.
    #[test]
    fn a_tax_name_with_its_rate_joined_is_the_label() {
        let s = stated_amounts(
            "Sub Total             1,73,800.00\nCGST2.5 (2.5%)           4,345.00\n\
             SGST2.5 (2.5%)           4,345.00\nTotal               1,82,490.00\n",
            false,
        );
        assert_eq!(s.tax, vec![dec("4345.00"), dec("4345.00")]);
    }
}
