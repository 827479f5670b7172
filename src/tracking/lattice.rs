//! A parcel's status from its whole merged carrier history, so a late, duplicated or
//! out-of-order callback cannot move it backwards: the history is the union of every event any
//! callback brought, and the status is derived from it, not from the callback that came last.
//!
//! * **The lattice**: `pre_transit < in_transit < out_for_delivery | available_for_pickup <
//!   delivered`. The status is the newest (by time) event on the lattice; once any event says
//!   `delivered` the parcel is delivered, whatever comes after.
//! * **Beside it**: `exception`, `failed_attempt` and `returned` are kept as the side status while
//!   they are the newest news; a newer event on the lattice ("the parcel moves on") clears it,
//!   except `returned`, which stays (the parcel goes back to the sender).
//! * `unknown` says nothing and is ignored.
//! * A **scan** is any event past `pre_transit` (a label created is not the carrier holding it).

use chrono::{DateTime, Utc};

use crate::model::TrackingStatus as S;

/// One event of a parcel's history, as the derivation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub occurred_at: Option<DateTime<Utc>>,
    pub status: Option<S>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub raw_code: Option<String>,
}

/// What the history says about the parcel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParcelState {
    /// The status on the lattice (`None` while no event is on it).
    pub status: Option<S>,
    /// `exception`, `failed_attempt` or `returned`, beside the status.
    pub side: Option<S>,
    /// First and newest carrier scan.
    pub first_scan_at: Option<DateTime<Utc>>,
    pub last_scan_at: Option<DateTime<Utc>>,
    /// When it was first said delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The newest event (by time; untimed events count as oldest), whatever its status.
    pub newest: Option<HistoryEvent>,
    /// The newest side-status event: its words go on the exception.
    pub side_event: Option<HistoryEvent>,
}

/// The rank of a status on the lattice; `None` for side statuses and `unknown`.
pub fn rank(status: S) -> Option<u8> {
    match status {
        S::PreTransit => Some(0),
        S::InTransit => Some(1),
        S::OutForDelivery | S::AvailableForPickup => Some(2),
        S::Delivered => Some(3),
        S::FailedAttempt | S::Returned | S::Exception | S::Unknown => None,
    }
}

/// The status's name as stored and sent (`in_transit`).
pub fn name(status: S) -> &'static str {
    match status {
        S::PreTransit => "pre_transit",
        S::InTransit => "in_transit",
        S::OutForDelivery => "out_for_delivery",
        S::AvailableForPickup => "available_for_pickup",
        S::FailedAttempt => "failed_attempt",
        S::Delivered => "delivered",
        S::Returned => "returned",
        S::Exception => "exception",
        S::Unknown => "unknown",
    }
}

/// Whether the status is kept beside the lattice (and raises an exception).
pub fn is_side(status: S) -> bool {
    matches!(status, S::FailedAttempt | S::Returned | S::Exception)
}

/// Derives the parcel's state from its history (any order). Events with the same time keep
/// their given order (later in the slice = newer), so a callback's own order breaks ties.
pub fn derive(history: &[HistoryEvent]) -> ParcelState {
    let mut sorted: Vec<&HistoryEvent> = history.iter().collect();
    // Stable: untimed first (oldest), then by time.
    sorted.sort_by_key(|e| e.occurred_at);
    let mut state = ParcelState::default();
    for e in sorted {
        let Some(status) = e.status else {
            state.newest = Some(e.clone());
            continue;
        };
        if status == S::Unknown {
            continue;
        }
        state.newest = Some(e.clone());
        if status != S::PreTransit {
            if let Some(at) = e.occurred_at {
                state.first_scan_at.get_or_insert(at);
                state.last_scan_at = Some(at);
            }
        }
        if is_side(status) {
            if state.side != Some(S::Returned) {
                state.side = Some(status);
            }
            state.side_event = Some(e.clone());
            continue;
        }
        if state.status == Some(S::Delivered) {
            continue;
        }
        if status == S::Delivered {
            state.delivered_at = e.occurred_at;
            // Delivered ends what went wrong before it (a failed attempt, a delay scan).
            if state.side != Some(S::Returned) {
                state.side = None;
                state.side_event = None;
            }
        } else if state.side.is_some() && state.side != Some(S::Returned) {
            // The parcel moved on.
            state.side = None;
            state.side_event = None;
        }
        state.status = Some(status);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(day_hour: (u32, u32), status: S) -> HistoryEvent {
        HistoryEvent {
            occurred_at: Some(
                chrono::NaiveDate::from_ymd_opt(2026, 3, day_hour.0)
                    .unwrap()
                    .and_hms_opt(day_hour.1, 0, 0)
                    .unwrap()
                    .and_utc(),
            ),
            status: Some(status),
            location: Some(format!("loc-{}-{}", day_hour.0, day_hour.1)),
            description: Some(format!("{status:?}")),
            raw_code: None,
        }
    }

    #[test]
    fn the_newest_event_by_time_decides_whatever_the_order() {
        let a = ev((1, 8), S::PreTransit);
        let b = ev((1, 12), S::InTransit);
        let c = ev((2, 9), S::OutForDelivery);
        for order in [
            vec![a.clone(), b.clone(), c.clone()],
            vec![c.clone(), b.clone(), a.clone()],
            vec![b.clone(), c.clone(), a.clone()],
        ] {
            let s = derive(&order);
            assert_eq!(s.status, Some(S::OutForDelivery));
            assert_eq!(s.first_scan_at, b.occurred_at);
            assert_eq!(s.last_scan_at, c.occurred_at);
            assert_eq!(s.newest.as_ref().unwrap().location, c.location);
        }
    }

    #[test]
    fn delivered_is_never_followed_by_in_transit() {
        let delivered = ev((3, 10), S::Delivered);
        // A late scan, stamped after delivery (a depot's backlog), arrives after it.
        let late = ev((3, 18), S::InTransit);
        let s = derive(&[delivered.clone(), ev((2, 9), S::InTransit), late]);
        assert_eq!(s.status, Some(S::Delivered));
        assert_eq!(s.delivered_at, delivered.occurred_at);
    }

    #[test]
    fn side_statuses_stand_beside_and_clear_when_the_parcel_moves_on() {
        let s = derive(&[ev((1, 8), S::InTransit), ev((2, 9), S::FailedAttempt)]);
        assert_eq!(
            (s.status, s.side),
            (Some(S::InTransit), Some(S::FailedAttempt))
        );
        assert_eq!(
            s.side_event.as_ref().unwrap().description.as_deref(),
            Some("FailedAttempt")
        );
        let s = derive(&[
            ev((1, 8), S::InTransit),
            ev((2, 9), S::FailedAttempt),
            ev((3, 9), S::OutForDelivery),
        ]);
        assert_eq!((s.status, s.side), (Some(S::OutForDelivery), None));
        let s = derive(&[
            ev((1, 8), S::InTransit),
            ev((2, 9), S::Exception),
            ev((3, 9), S::Delivered),
        ]);
        assert_eq!((s.status, s.side), (Some(S::Delivered), None));
        // Returned stays.
        let s = derive(&[
            ev((1, 8), S::InTransit),
            ev((2, 9), S::Returned),
            ev((3, 9), S::InTransit),
        ]);
        assert_eq!((s.status, s.side), (Some(S::InTransit), Some(S::Returned)));
        // An exception after delivery is recorded beside it.
        let s = derive(&[ev((3, 9), S::Delivered), ev((4, 9), S::Exception)]);
        assert_eq!((s.status, s.side), (Some(S::Delivered), Some(S::Exception)));
    }

    #[test]
    fn names_are_the_serde_names() {
        for s in [
            S::PreTransit,
            S::InTransit,
            S::OutForDelivery,
            S::AvailableForPickup,
            S::FailedAttempt,
            S::Delivered,
            S::Returned,
            S::Exception,
            S::Unknown,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), name(s));
        }
    }

    #[test]
    fn labels_are_not_scans_and_unknown_says_nothing() {
        let s = derive(&[ev((1, 8), S::PreTransit), ev((1, 9), S::Unknown)]);
        assert_eq!(s.status, Some(S::PreTransit));
        assert_eq!(s.first_scan_at, None);
        assert_eq!(
            s.newest.unwrap().occurred_at,
            ev((1, 8), S::PreTransit).occurred_at
        );
        assert_eq!(derive(&[]), ParcelState::default());
    }
}
