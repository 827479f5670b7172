//! Stable carrier codes for carrier names that come from Rust (a warehouse's shipped callback,
//! the API), the same codes the tracking mappings (`mappings/<scheme>.tracking.jq`) give: a
//! shipment recorded from a warehouse's `UPS` or `顺丰` must meet the tracking update a carrier
//! callback normalizes to `ups` or `sf-express`. The mappings keep their own tables (each
//! scheme's names); this table is their union as seen from outside, keyed loosely (case, spaces
//! and punctuation ignored), and [`aggregator_code`] is the other direction: the name each
//! aggregator wants when a parcel is registered with it.

/// Loose key of a carrier name: lowercase, letters and digits only (CJK kept).
fn key(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Known names (loose keys) → stable code. One row per spelling seen in the tracking mappings,
/// warehouse callbacks and carrier documentation.
const TABLE: &[(&str, &str)] = &[
    ("usps", "usps"),
    ("uspswebhook", "usps"),
    ("unitedstatespostalservice", "usps"),
    ("ups", "ups"),
    ("upsdap", "ups"),
    ("upsmailinnovations", "ups"),
    ("upsfreight", "ups"),
    ("unitedparcelservice", "ups"),
    ("fedex", "fedex"),
    ("fedexdefault", "fedex"),
    ("fedexsmartpost", "fedex"),
    ("fedexuk", "fedex"),
    ("fedexfreight", "fedex"),
    ("dhl", "dhl"),
    ("dhlexpress", "dhl"),
    ("dhlparcel", "dhl"),
    ("dhlen", "dhl"),
    ("dhlecommerce", "dhl-ecommerce"),
    ("dhlecommerceasia", "dhl-ecommerce"),
    ("dhlglobalmail", "dhl-ecommerce"),
    ("royalmail", "royal-mail"),
    ("canadapost", "canada-post"),
    ("australiapost", "australia-post"),
    ("ontrac", "ontrac"),
    ("lasership", "lasership"),
    ("purolator", "purolator"),
    ("dpd", "dpd"),
    ("dpduk", "dpd"),
    ("gls", "gls"),
    ("postnl", "postnl"),
    ("amazon", "amazon"),
    ("amazonshipping", "amazon"),
    ("yanwen", "yanwen"),
    ("4px", "4px"),
    ("sf", "sf-express"),
    ("sfexpress", "sf-express"),
    ("sfinternational", "sf-express"),
    ("sfb2c", "sf-express"),
    ("shunfeng", "sf-express"),
    ("shunfengkuaiyun", "sf-express"),
    ("顺丰", "sf-express"),
    ("顺丰速运", "sf-express"),
    ("顺丰快递", "sf-express"),
    ("yto", "yto"),
    ("ytoexpress", "yto"),
    ("yuantong", "yto"),
    ("圆通", "yto"),
    ("圆通速递", "yto"),
    ("zto", "zto"),
    ("ztoexpress", "zto"),
    ("zhongtong", "zto"),
    ("中通", "zto"),
    ("中通快递", "zto"),
    ("sto", "sto"),
    ("stoexpress", "sto"),
    ("shentong", "sto"),
    ("申通", "sto"),
    ("申通快递", "sto"),
    ("yunda", "yunda"),
    ("yundaexpress", "yunda"),
    ("韵达", "yunda"),
    ("韵达快递", "yunda"),
    ("ems", "ems"),
    ("chinaems", "ems"),
    ("中国邮政ems", "ems"),
    ("chinapost", "china-post"),
    ("youzhengguonei", "china-post"),
    ("youzhengguoji", "china-post"),
    ("邮政", "china-post"),
    ("中国邮政", "china-post"),
    ("邮政快递包裹", "china-post"),
    ("jd", "jd"),
    ("jdlogistics", "jd"),
    ("京东", "jd"),
    ("京东物流", "jd"),
    ("jtexpress", "jt-express"),
    ("极兔速递", "jt-express"),
    ("deppon", "deppon"),
    ("debangwuliu", "deppon"),
    ("debangkuaidi", "deppon"),
    ("德邦", "deppon"),
    ("best", "best"),
    ("bestexpress", "best"),
    ("huitongkuaidi", "best"),
    ("baishiwuliu", "best"),
    ("百世快递", "best"),
    ("cainiao", "cainiao"),
    ("zhaijisong", "zjs"),
];

#[cfg(test)]
mod url_tests {
    use super::tracking_url;

    #[test]
    fn tracking_pages_keep_only_the_number() {
        assert_eq!(
            tracking_url("ups", "1Z 999 AA1 01 2345 6784").as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z999AA10123456784")
        );
        assert!(tracking_url("sf-express", "SF1234567890").is_some());
        assert_eq!(tracking_url("unknown-carrier", "X1"), None);
        assert_eq!(
            tracking_url("ups", "<script>"),
            tracking_url("ups", "script")
        );
        assert_eq!(tracking_url("ups", "  "), None);
    }
}

/// The stable lowercase code of a carrier name as a warehouse, a person or a payload writes it
/// (`UPS` → `ups`, `顺丰` → `sf-express`, `DHL Express` → `dhl`). A name not in the table
/// becomes its lowercase words joined by `-` (`Correos Express` → `correos-express`), as the
/// mappings do, so the same unknown name always gives the same code. Empty for a blank name.
pub fn code(name: &str) -> String {
    let k = key(name);
    if let Some((_, code)) = TABLE.iter().find(|(n, _)| *n == k) {
        return (*code).to_string();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The carrier's public tracking page for a parcel, for customers (notices, the status page)
/// and marketplaces that take a tracking URL. `None` for a carrier without a known page: the
/// caller shows the number and the carrier's name instead.
pub fn tracking_url(code: &str, number: &str) -> Option<String> {
    let n: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if n.is_empty() {
        return None;
    }
    let page = match code {
        "ups" => format!("https://www.ups.com/track?tracknum={n}"),
        "usps" => format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={n}"),
        "fedex" => format!("https://www.fedex.com/fedextrack/?trknbr={n}"),
        "dhl" => format!("https://www.dhl.com/global-en/home/tracking.html?tracking-id={n}"),
        "royal-mail" => format!("https://www.royalmail.com/track-your-item#/tracking-results/{n}"),
        "canada-post" => {
            format!("https://www.canadapost-postescanada.ca/track-reperage/en#/details/{n}")
        }
        "australia-post" => format!("https://auspost.com.au/mypost/track/details/{n}"),
        "sf-express" => format!("https://www.sf-express.com/chn/sc/waybill/waybill-detail/{n}"),
        "yto" | "zto" | "sto" | "yunda" | "ems" | "jd" | "deppon" | "best" | "zjs" => {
            format!("https://www.kuaidi100.com/chaxun?nu={n}")
        }
        _ => return None,
    };
    Some(page)
}

/// The name an aggregator's registration API wants for a stable carrier `code`, when it wants
/// one: EasyPost's carrier (`UPS`, `USPS`, `FedEx`), AfterShip's slug, Kuaidi100's company code
/// (`shunfeng`), 17TRACK's numeric key. `None` lets the aggregator detect the carrier (AfterShip, 17TRACK do).
pub fn aggregator_code(scheme: super::Scheme, code: &str) -> Option<&'static str> {
    use super::Scheme as S;
    let table: &[(&str, &str)] = match scheme {
        S::EasyPost => &[
            ("usps", "USPS"),
            ("ups", "UPS"),
            ("fedex", "FedEx"),
            ("dhl", "DHLExpress"),
            ("dhl-ecommerce", "DHLEcommerce"),
            ("canada-post", "CanadaPost"),
            ("royal-mail", "RoyalMail"),
            ("australia-post", "AustraliaPost"),
            ("ontrac", "OnTrac"),
            ("lasership", "LaserShip"),
            ("purolator", "Purolator"),
            ("dpd", "DPD"),
            ("amazon", "AmazonShipping"),
            ("yanwen", "Yanwen"),
        ],
        S::Shippo => &[
            ("usps", "usps"),
            ("ups", "ups"),
            ("fedex", "fedex"),
            ("dhl", "dhl_express"),
            ("canada-post", "canada_post"),
            ("royal-mail", "royal_mail"),
            ("australia-post", "australia_post"),
            ("ontrac", "ontrac"),
            ("lasership", "lasership"),
            ("purolator", "purolator"),
            ("dpd", "dpd_uk"),
        ],
        S::AfterShip => &[
            ("usps", "usps"),
            ("ups", "ups"),
            ("fedex", "fedex"),
            ("dhl", "dhl"),
            ("dhl-ecommerce", "dhl-global-mail"),
            ("royal-mail", "royal-mail"),
            ("canada-post", "canada-post"),
            ("australia-post", "australia-post"),
            ("sf-express", "sf-express"),
            ("yto", "yto"),
            ("zto", "zto-express"),
            ("sto", "sto"),
            ("yunda", "yunda"),
            ("ems", "china-ems"),
            ("china-post", "china-post"),
            ("jt-express", "jtexpress"),
            ("deppon", "deppon"),
            ("best", "best-express"),
        ],
        S::Kuaidi100 => &[
            ("sf-express", "shunfeng"),
            ("yto", "yuantong"),
            ("zto", "zhongtong"),
            ("sto", "shentong"),
            ("yunda", "yunda"),
            ("ems", "ems"),
            ("china-post", "youzhengguonei"),
            ("jd", "jd"),
            ("jt-express", "jtexpress"),
            ("deppon", "debangwuliu"),
            ("best", "huitongkuaidi"),
            ("zjs", "zhaijisong"),
            ("usps", "usps"),
            ("ups", "ups"),
            ("fedex", "fedex"),
            ("dhl", "dhl"),
        ],
        // 17TRACK's numeric carrier keys (optional: it detects the carrier without one).
        S::SeventeenTrack => &[
            ("usps", "21051"),
            ("ups", "100002"),
            ("fedex", "100003"),
            ("dhl", "100001"),
        ],
        S::SfExpress | S::SfExpressForm => &[],
    };
    table.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::Scheme;

    #[test]
    fn warehouse_names_meet_the_mappings_codes() {
        for (name, want) in [
            ("UPS", "ups"),
            ("ups", "ups"),
            ("United Parcel Service", "ups"),
            ("DHL Express", "dhl"),
            ("DHLExpress", "dhl"),
            ("FedEx SmartPost", "fedex"),
            ("Royal Mail", "royal-mail"),
            ("顺丰", "sf-express"),
            ("顺丰速运", "sf-express"),
            ("SF Express", "sf-express"),
            ("sf-express", "sf-express"),
            ("shunfeng", "sf-express"),
            ("中通快递", "zto"),
            ("中国邮政EMS", "ems"),
            ("Correos Express", "correos-express"),
            ("  Posti / Itella ", "posti-itella"),
            ("", ""),
        ] {
            assert_eq!(code(name), want, "{name:?}");
        }
    }

    #[test]
    fn every_code_is_its_own_code() {
        for (_, c) in TABLE {
            assert_eq!(code(c), *c, "{c}");
        }
    }

    #[test]
    fn aggregators_get_their_own_names() {
        assert_eq!(aggregator_code(Scheme::EasyPost, "ups"), Some("UPS"));
        assert_eq!(
            aggregator_code(Scheme::Kuaidi100, "sf-express"),
            Some("shunfeng")
        );
        assert_eq!(
            aggregator_code(Scheme::AfterShip, "zto"),
            Some("zto-express")
        );
        assert_eq!(
            aggregator_code(Scheme::SeventeenTrack, "ups"),
            Some("100002")
        );
        assert_eq!(aggregator_code(Scheme::SfExpress, "sf-express"), None);
        assert_eq!(aggregator_code(Scheme::EasyPost, "nobody"), None);
    }
}
