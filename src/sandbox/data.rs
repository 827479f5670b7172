//! Generated order facts the platform simulators render in their own JSON: varied customers
//! (non-ASCII names included), addresses in several countries, products, quantities, prices in
//! integer cents (never floats), and the status words each platform uses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A customer.
#[derive(Debug, Clone)]
pub struct Customer {
    pub first: &'static str,
    pub last: &'static str,
    pub email: String,
    pub phone: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone)]
pub struct Address {
    pub line1: String,
    pub line2: Option<&'static str>,
    pub city: &'static str,
    pub region: &'static str,
    pub region_code: &'static str,
    pub postal_code: &'static str,
    pub country: &'static str,
    pub country_name: &'static str,
}

/// An order line.
#[derive(Debug, Clone)]
pub struct Line {
    pub sku: &'static str,
    pub name: &'static str,
    pub quantity: u32,
    /// Unit price in cents.
    pub unit_cents: i64,
}

/// Everything a simulator needs to render one order.
#[derive(Debug, Clone)]
pub struct OrderFacts {
    pub customer: Customer,
    pub address: Address,
    pub currency: &'static str,
    pub lines: Vec<Line>,
    pub shipping_cents: i64,
    /// Tax in cents (on the lines).
    pub tax_cents: i64,
    pub note: Option<&'static str>,
}

impl OrderFacts {
    /// Sum of the lines, in cents.
    pub fn subtotal_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.unit_cents * i64::from(l.quantity))
            .sum()
    }

    /// Grand total in cents.
    pub fn total_cents(&self) -> i64 {
        self.subtotal_cents() + self.shipping_cents + self.tax_cents
    }
}

/// Cents as a decimal string (`1999` → `"19.99"`).
pub fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

const FIRST: &[&str] = &[
    "Chloé",
    "Ana",
    "Zoë",
    "José",
    "Søren",
    "Björk",
    "François",
    "Łukasz",
    "Mei",
    "Dmitri",
    "Aoife",
    "Nguyễn Văn",
    "Ömer",
    "Иван",
    "美咲",
    "Priya",
    "Jürgen",
    "Inés",
    "Mohammed",
    "Kai",
];
const LAST: &[&str] = &[
    "Bergeron",
    "Ruiz",
    "Müller",
    "García",
    "Østergaard",
    "Kowalski",
    "O'Brien",
    "Nakamura",
    "Smith",
    "Đặng",
    "Çelik",
    "Петров",
    "山田",
    "Sharma",
    "Fischer",
    "Núñez",
    "Haddad",
    "Larsen",
];
/// (city, region, region code, postal code, country, country name, currency)
const PLACES: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    (
        "Austin",
        "Texas",
        "TX",
        "78701",
        "US",
        "United States",
        "USD",
    ),
    ("Montréal", "Québec", "QC", "H2X 1Y4", "CA", "Canada", "CAD"),
    ("München", "Bayern", "BY", "80331", "DE", "Germany", "EUR"),
    (
        "Kraków",
        "Małopolskie",
        "12",
        "31-008",
        "PL",
        "Poland",
        "PLN",
    ),
    (
        "København",
        "Hovedstaden",
        "84",
        "1050",
        "DK",
        "Denmark",
        "DKK",
    ),
    (
        "London",
        "England",
        "ENG",
        "SW1A 1AA",
        "GB",
        "United Kingdom",
        "GBP",
    ),
    ("Sevilla", "Andalucía", "SE", "41001", "ES", "Spain", "EUR"),
    (
        "Portland",
        "Oregon",
        "OR",
        "97205",
        "US",
        "United States",
        "USD",
    ),
];
const STREETS: &[&str] = &[
    "Main St",
    "Rue Saint-Denis",
    "Maximilianstraße",
    "ulica Floriańska",
    "Nørregade",
    "Baker Street",
    "Calle Sierpes",
    "NW 23rd Ave",
];
/// (sku, name, unit price in cents)
pub const PRODUCTS: &[(&str, &str, i64)] = &[
    ("MUG-350-WHT", "Mug 350 ml, white", 1999),
    ("SOCK-WOOL-M", "Merino socks — size M", 1450),
    ("TEE-ORG-L", "Organic tee, größe L", 2900),
    ("BTL-INS-750", "Insulated bottle 750 ml", 3499),
    ("CAP-CORD-NVY", "Corduroy cap, navy", 2250),
    ("NB-A5-DOT", "Notebook A5 dotted «Atelier»", 899),
    ("TEA-SENCHA-100", "Sencha 煎茶 100 g", 1275),
    ("LAMP-DESK-01", "Desk lamp (fragile)", 5900),
];
/// The category of each generated product, for the sandbox catalog and routing rules.
pub fn category(sku: &str) -> &'static str {
    match sku {
        "MUG-350-WHT" | "BTL-INS-750" | "TEA-SENCHA-100" => "kitchen",
        "SOCK-WOOL-M" | "TEE-ORG-L" | "CAP-CORD-NVY" => "apparel",
        "LAMP-DESK-01" => "lighting",
        _ => "stationery",
    }
}

/// The currencies generated orders use.
pub const CURRENCIES: &[&str] = &["USD", "CAD", "EUR", "PLN", "DKK", "GBP"];

/// A catalog (CSV, as `catalog.path` reads it) of every product the generator sells, priced
/// as the simulators price them in every currency they use, so generated orders pass review.
pub fn catalog_csv() -> String {
    let mut out = String::from("sku,name,spec,category");
    for c in CURRENCIES {
        out.push_str(&format!(",price_{c}"));
    }
    out.push_str(",whole_units,max_quantity,fragile,hazardous,weight_kg\n");
    for (sku, name, cents) in PRODUCTS {
        let name = name.replace(',', " ");
        out.push_str(&format!("{sku},{name},,{}", category(sku)));
        for _ in CURRENCIES {
            out.push_str(&format!(",{}", money(*cents)));
        }
        let fragile = sku.starts_with("LAMP") || sku.starts_with("MUG");
        out.push_str(&format!(",true,50,{fragile},false,0.5\n"));
    }
    out
}

const NOTES: &[&str] = &[
    "Please leave at the back door.",
    "Livraison après 17 h, merci.",
    "Gift — no invoice in the parcel.",
    "Bitte beim Nachbarn abgeben.",
];

/// Generates orders from a seed: the same seed gives the same orders.
pub struct Generator {
    rng: StdRng,
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A number in `range`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..=hi)
    }

    /// One order's facts.
    pub fn order(&mut self) -> OrderFacts {
        let first = FIRST[self.rng.random_range(0..FIRST.len())];
        let last = LAST[self.rng.random_range(0..LAST.len())];
        let (city, region, region_code, postal_code, country, country_name, currency) =
            PLACES[self.rng.random_range(0..PLACES.len())];
        let n: u32 = self.rng.random_range(1..=3);
        let mut lines = Vec::new();
        for _ in 0..n {
            let (sku, name, unit_cents) = PRODUCTS[self.rng.random_range(0..PRODUCTS.len())];
            if lines.iter().any(|l: &Line| l.sku == sku) {
                continue;
            }
            lines.push(Line {
                sku,
                name,
                quantity: self.rng.random_range(1..=4),
                unit_cents,
            });
        }
        let subtotal: i64 = lines
            .iter()
            .map(|l| l.unit_cents * i64::from(l.quantity))
            .sum();
        let email_user: String = format!("customer{}", self.rng.random_range(10_000..99_999));
        OrderFacts {
            customer: Customer {
                first,
                last,
                email: format!("{email_user}@example.com"),
                phone: self
                    .rng
                    .random_bool(0.5)
                    .then(|| format!("+1-555-01{:02}", self.rng.random_range(0..100))),
            },
            address: Address {
                line1: format!(
                    "{} {}",
                    self.rng.random_range(1..400),
                    STREETS[self.rng.random_range(0..STREETS.len())]
                ),
                line2: self.rng.random_bool(0.2).then_some("Apt 4B"),
                city,
                region,
                region_code,
                postal_code,
                country,
                country_name,
            },
            currency,
            lines,
            shipping_cents: [0, 500, 900, 1250][self.rng.random_range(0..4)],
            tax_cents: subtotal * 8 / 100,
            note: self
                .rng
                .random_bool(0.15)
                .then(|| NOTES[self.rng.random_range(0..NOTES.len())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_catalog_knows_every_generated_product_in_every_currency() {
        let catalog =
            crate::catalog::Catalog::from_csv(&catalog_csv(), std::path::Path::new("sandbox"))
                .unwrap();
        let mut generator = Generator::new(7);
        for _ in 0..200 {
            let order = generator.order();
            assert!(CURRENCIES.contains(&order.currency), "{}", order.currency);
            for line in &order.lines {
                assert!(catalog.get(line.sku).is_some(), "{}", line.sku);
            }
        }
    }
}
