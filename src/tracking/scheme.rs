//! The tracking schemes: who posts the callback, and so how it is signed, decoded, mapped and
//! answered.

use std::fmt;

/// A carrier or tracking aggregator whose callbacks ordergate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// EasyPost Event `tracker.updated` (JSON), `X-Hmac-Signature-V2`.
    EasyPost,
    /// Shippo `track_updated` webhook (JSON), `Shippo-Auth-Signature`.
    Shippo,
    /// AfterShip tracking webhook (JSON), `aftership-hmac-sha256`.
    AfterShip,
    /// 17TRACK v2.2 `TRACKING_UPDATED` push (JSON), `sign`.
    SeventeenTrack,
    /// Kuaidi100 subscription push: a form body with `param` (JSON) and `sign`.
    Kuaidi100,
    /// SF Express `RoutePushService`, JSON push.
    SfExpress,
    /// SF Express `RoutePushService`, form push whose `content` holds URL-encoded XML.
    SfExpressForm,
}

impl Scheme {
    /// Every scheme, in a stable order.
    pub const ALL: [Scheme; 7] = [
        Scheme::EasyPost,
        Scheme::Shippo,
        Scheme::AfterShip,
        Scheme::SeventeenTrack,
        Scheme::Kuaidi100,
        Scheme::SfExpress,
        Scheme::SfExpressForm,
    ];

    /// The scheme's name in configuration and URLs (`sf-express-form`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::EasyPost => "easypost",
            Scheme::Shippo => "shippo",
            Scheme::AfterShip => "aftership",
            Scheme::SeventeenTrack => "17track",
            Scheme::Kuaidi100 => "kuaidi100",
            Scheme::SfExpress => "sf-express",
            Scheme::SfExpressForm => "sf-express-form",
        }
    }

    /// The scheme of a name given by [`Scheme::name`].
    pub fn parse(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The format whose mapping reads this scheme's decoded callbacks: both SF Express pushes
    /// decode to one shape, read by one mapping.
    pub fn format(self) -> &'static str {
        match self {
            Scheme::SfExpressForm => Scheme::SfExpress.name(),
            other => other.name(),
        }
    }

    /// The mapping's name: `<format>.tracking` (`mappings/<format>.tracking.jq`).
    pub fn mapping(self) -> String {
        format!("{}.tracking", self.format())
    }

    /// The scheme of a `--format` given to `ordergate normalize` for `body`: SF Express's two
    /// pushes share the format `sf-express`, so a body that is not a JSON object is read as the
    /// form push, as the callback would be. `None` for formats that are not tracking schemes.
    pub fn for_format(format: &str, body: &[u8]) -> Option<Scheme> {
        let scheme = Scheme::parse(format)?;
        if scheme == Scheme::SfExpress {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first != Some(&b'{') {
                return Some(Scheme::SfExpressForm);
            }
        }
        Some(scheme)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sf_express_shares_one_mapping() {
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::parse(scheme.name()), Some(scheme));
        }
        assert_eq!(Scheme::parse("shopify"), None);
        assert_eq!(Scheme::SfExpressForm.mapping(), "sf-express.tracking");
        assert_eq!(Scheme::SeventeenTrack.mapping(), "17track.tracking");
        assert_eq!(
            Scheme::for_format("sf-express", b"content=%3CRequest"),
            Some(Scheme::SfExpressForm)
        );
        assert_eq!(
            Scheme::for_format("sf-express", b" {\"Body\":{}}"),
            Some(Scheme::SfExpress)
        );
        assert_eq!(Scheme::for_format("ubl", b"{}"), None);
    }
}
