//! The order states of ARCHITECTURE §4 and the one table of the transitions between them.
//! Every stage and the API change an order's state through `Store::transition`, which asks
//! [`next`] and refuses what the table does not allow.

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Normalized from its source document, not yet reviewed.
    Received,
    /// Read from free text and waiting for a person to complete or correct it.
    NeedsReview,
    /// Passed review.
    Approved,
    /// Review found missing or doubtful facts; the customer is asked.
    NeedsInfo,
    /// Refused by review, with a reason code.
    Rejected,
    /// A warehouse (or several) was chosen.
    Allocated,
    /// The warehouse was asked to fulfil it.
    FulfilmentRequested,
    /// Short of stock; waits for stock to arrive.
    Backordered,
    /// Packed at the warehouse.
    Packed,
    /// Handed to the carrier.
    Shipped,
    /// The carrier scanned a parcel.
    InTransit,
    /// Every parcel delivered.
    Delivered,
    /// Stopped before it shipped.
    Cancelled,
    /// Cancelled after shipping: a return is expected.
    ReturnRequested,
    /// The return arrived.
    Returned,
}

/// Every state, in life order.
pub const ALL: [OrderState; 15] = [
    OrderState::Received,
    OrderState::NeedsReview,
    OrderState::Approved,
    OrderState::NeedsInfo,
    OrderState::Rejected,
    OrderState::Allocated,
    OrderState::FulfilmentRequested,
    OrderState::Backordered,
    OrderState::Packed,
    OrderState::Shipped,
    OrderState::InTransit,
    OrderState::Delivered,
    OrderState::Cancelled,
    OrderState::ReturnRequested,
    OrderState::Returned,
];

impl OrderState {
    /// The name stored and shown (`fulfilment_requested`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Received => "received",
            OrderState::NeedsReview => "needs_review",
            OrderState::Approved => "approved",
            OrderState::NeedsInfo => "needs_info",
            OrderState::Rejected => "rejected",
            OrderState::Allocated => "allocated",
            OrderState::FulfilmentRequested => "fulfilment_requested",
            OrderState::Backordered => "backordered",
            OrderState::Packed => "packed",
            OrderState::Shipped => "shipped",
            OrderState::InTransit => "in_transit",
            OrderState::Delivered => "delivered",
            OrderState::Cancelled => "cancelled",
            OrderState::ReturnRequested => "return_requested",
            OrderState::Returned => "returned",
        }
    }

    /// The state of a stored name, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the order has left the warehouse (a cancel then becomes a return).
    pub fn is_shipped(self) -> bool {
        matches!(
            self,
            OrderState::Shipped | OrderState::InTransit | OrderState::Delivered
        )
    }
}

impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to an order: the event a transition is asked for with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An extracted order is held for a person.
    HoldForReview,
    /// A person completed or corrected a held order, or a change was applied before
    /// fulfilment: it is reviewed again.
    Resubmit,
    /// Review passed.
    Approve,
    /// Review found missing or doubtful facts.
    RequestInfo,
    /// Review refused it.
    Reject,
    /// Warehouses chosen.
    Allocate,
    /// Fulfilment order placed with the warehouse.
    RequestFulfilment,
    /// Short of stock.
    Backorder,
    /// The warehouse packed it.
    Pack,
    /// Handed to the carrier.
    Ship,
    /// First carrier scan.
    Scan,
    /// Every parcel delivered.
    Deliver,
    /// Cancelled before shipping.
    Cancel,
    /// Cancelled after shipping.
    RequestReturn,
    /// The return arrived.
    ReceiveReturn,
}

impl Trigger {
    /// The name in the audit log (`request_fulfilment`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::HoldForReview => "hold_for_review",
            Trigger::Resubmit => "resubmit",
            Trigger::Approve => "approve",
            Trigger::RequestInfo => "request_info",
            Trigger::Reject => "reject",
            Trigger::Allocate => "allocate",
            Trigger::RequestFulfilment => "request_fulfilment",
            Trigger::Backorder => "backorder",
            Trigger::Pack => "pack",
            Trigger::Ship => "ship",
            Trigger::Scan => "scan",
            Trigger::Deliver => "deliver",
            Trigger::Cancel => "cancel",
            Trigger::RequestReturn => "request_return",
            Trigger::ReceiveReturn => "receive_return",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state `trigger` moves an order in `from` to, or `None` when ARCHITECTURE §4 does not
/// allow it. The fulfilment chain may skip steps forward (a warehouse that reports "shipped"
/// without "packed", a parcel delivered with no scan seen) but never goes back.
pub fn next(from: OrderState, trigger: Trigger) -> Option<OrderState> {
    use OrderState as S;
    use Trigger as T;
    let to = match (from, trigger) {
        (S::Received, T::HoldForReview) => S::NeedsReview,
        (
            S::NeedsReview | S::NeedsInfo | S::Approved | S::Allocated | S::Backordered,
            T::Resubmit,
        ) => S::Received,
        (S::Received | S::NeedsInfo, T::Approve) => S::Approved,
        (S::Received, T::RequestInfo) => S::NeedsInfo,
        (S::Received | S::NeedsInfo | S::NeedsReview, T::Reject) => S::Rejected,
        (S::Approved | S::Backordered, T::Allocate) => S::Allocated,
        (S::Allocated | S::Backordered, T::RequestFulfilment) => S::FulfilmentRequested,
        (S::Allocated, T::Backorder) => S::Backordered,
        (S::FulfilmentRequested, T::Pack) => S::Packed,
        (S::FulfilmentRequested | S::Packed, T::Ship) => S::Shipped,
        (S::FulfilmentRequested | S::Packed | S::Shipped, T::Scan) => S::InTransit,
        (S::FulfilmentRequested | S::Packed | S::Shipped | S::InTransit, T::Deliver) => {
            S::Delivered
        }
        (
            S::Received
            | S::NeedsReview
            | S::Approved
            | S::NeedsInfo
            | S::Allocated
            | S::FulfilmentRequested
            | S::Backordered
            | S::Packed,
            T::Cancel,
        ) => S::Cancelled,
        (S::Shipped | S::InTransit | S::Delivered, T::RequestReturn) => S::ReturnRequested,
        (S::ReturnRequested, T::ReceiveReturn) => S::Returned,
        _ => return None,
    };
    Some(to)
}

/// An illegal transition, naming the order, the state and the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id} is {state}: {trigger} is not allowed from that state")]
pub struct IllegalTransition {
    /// The order.
    pub order_id: String,
    /// Its state.
    pub state: String,
    /// What was asked.
    pub trigger: Trigger,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderState as S;

    const TRIGGERS: [Trigger; 15] = [
        Trigger::HoldForReview,
        Trigger::Resubmit,
        Trigger::Approve,
        Trigger::RequestInfo,
        Trigger::Reject,
        Trigger::Allocate,
        Trigger::RequestFulfilment,
        Trigger::Backorder,
        Trigger::Pack,
        Trigger::Ship,
        Trigger::Scan,
        Trigger::Deliver,
        Trigger::Cancel,
        Trigger::RequestReturn,
        Trigger::ReceiveReturn,
    ];

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for t in TRIGGERS {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(OrderState::parse("shipped "), None);
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [
            (Trigger::Approve, S::Approved),
            (Trigger::Allocate, S::Allocated),
            (Trigger::RequestFulfilment, S::FulfilmentRequested),
            (Trigger::Pack, S::Packed),
            (Trigger::Ship, S::Shipped),
            (Trigger::Scan, S::InTransit),
            (Trigger::Deliver, S::Delivered),
            (Trigger::RequestReturn, S::ReturnRequested),
            (Trigger::ReceiveReturn, S::Returned),
        ];
        let mut state = S::Received;
        for (t, want) in path {
            state = next(state, t).unwrap_or_else(|| panic!("{t} from {state}"));
            assert_eq!(state, want);
        }
    }

    #[test]
    fn delivery_never_goes_backwards() {
        for t in TRIGGERS {
            let to = next(S::Delivered, t);
            assert!(
                to.is_none() || to == Some(S::ReturnRequested),
                "{t} from delivered gave {to:?}"
            );
        }
        assert_eq!(next(S::InTransit, Trigger::Ship), None);
        assert_eq!(next(S::Shipped, Trigger::Pack), None);
    }

    #[test]
    fn cancel_before_shipping_return_after() {
        for s in ALL {
            let cancel = next(s, Trigger::Cancel);
            let ret = next(s, Trigger::RequestReturn);
            if s.is_shipped() {
                assert_eq!((cancel, ret), (None, Some(S::ReturnRequested)), "{s}");
            } else if matches!(
                s,
                S::Rejected | S::Cancelled | S::ReturnRequested | S::Returned
            ) {
                assert_eq!((cancel, ret), (None, None), "{s}");
            } else {
                assert_eq!((cancel, ret), (Some(S::Cancelled), None), "{s}");
            }
        }
    }

    #[test]
    fn terminal_states_stay() {
        for s in [S::Rejected, S::Cancelled, S::Returned] {
            for t in TRIGGERS {
                assert_eq!(next(s, t), None, "{t} from {s}");
            }
        }
    }

    #[test]
    fn review_outcomes_from_received_and_needs_info() {
        assert_eq!(next(S::Received, Trigger::RequestInfo), Some(S::NeedsInfo));
        assert_eq!(next(S::NeedsInfo, Trigger::Approve), Some(S::Approved));
        assert_eq!(next(S::NeedsInfo, Trigger::Reject), Some(S::Rejected));
        assert_eq!(next(S::NeedsReview, Trigger::Resubmit), Some(S::Received));
        assert_eq!(next(S::NeedsReview, Trigger::Approve), None);
        assert_eq!(next(S::FulfilmentRequested, Trigger::Resubmit), None);
        let e = IllegalTransition {
            order_id: "og_1".into(),
            state: "shipped".into(),
            trigger: Trigger::Cancel,
        };
        assert_eq!(
            e.to_string(),
            "order og_1 is shipped: cancel is not allowed from that state"
        );
    }
}
