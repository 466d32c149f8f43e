//! The application workflow as an explicit state machine (DESIGN §2).
//!
//! States are shared by both official orderings; only the edges differ:
//!
//! ```text
//! check-first (Decision 9093/QĐ-BCA): VERIFIED → APPROVED → PLATE_ASSIGNED → FEE_PAID → ISSUED
//! draw-first  (Decision 1383/QĐ-BCA): VERIFIED → PLATE_ASSIGNED → FEE_PAID → APPROVED → ISSUED
//! ```
//!
//! Every change of state goes through [`next`]; the store refuses anything else.

use serde::{Deserialize, Serialize};
use vrs_proto::pb::registration::v1 as pb;

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Submitted,
    AwaitingAgency,
    Verified,
    NeedsCorrection,
    Rejected,
    Approved,
    PlateAssigned,
    FeePaid,
    Issued,
    Delivered,
    Withdrawn,
    Deregistered,
}

/// What happened to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Every agency answered and the answers match the declaration.
    LookupsPassed,
    /// The answers contradict the declaration in a way the citizen can correct.
    LookupsNeedCorrection,
    /// The answers rule the application out (deceased owner, closed company…).
    LookupsRefused,
    /// An agency could not be reached; the worker will retry.
    AgencyUnavailable,
    /// The citizen resubmitted corrected data.
    Corrected,
    ClerkApproved,
    ClerkRejected,
    PlateAssigned,
    FeePaid,
    CertificateIssued,
    Delivered,
    Withdrawn,
    /// The vehicle was sold or scrapped; its plate went into retention.
    Deregistered,
}

/// Which official ordering of clerk check and plate draw is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ordering {
    /// Decision 9093/QĐ-BCA: the clerk checks validity before the draw.
    CheckFirst,
    /// Decision 1383/QĐ-BCA: draw, pay, then the clerk checks.
    #[default]
    DrawFirst,
}

/// An event that is not allowed in the current state.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{event:?} is not allowed in state {from}")]
pub struct IllegalTransition {
    pub from: State,
    pub event: Event,
}

/// The state after `event`, or why the event is illegal here.
pub fn next(ordering: Ordering, from: State, event: Event) -> Result<State, IllegalTransition> {
    use Event as E;
    use Ordering::{CheckFirst, DrawFirst};
    use State as S;
    let to = match (from, event, ordering) {
        (S::Submitted | S::AwaitingAgency, E::LookupsPassed, _) => Some(S::Verified),
        (S::Submitted | S::AwaitingAgency, E::LookupsNeedCorrection, _) => Some(S::NeedsCorrection),
        (S::Submitted | S::AwaitingAgency, E::LookupsRefused, _) => Some(S::Rejected),
        (S::Submitted | S::AwaitingAgency, E::AgencyUnavailable, _) => Some(S::AwaitingAgency),
        (S::NeedsCorrection, E::Corrected, _) => Some(S::Submitted),

        (S::Verified, E::ClerkApproved, CheckFirst) => Some(S::Approved),
        (S::Approved, E::PlateAssigned, CheckFirst) => Some(S::PlateAssigned),
        (S::FeePaid, E::CertificateIssued, CheckFirst) => Some(S::Issued),

        (S::Verified, E::PlateAssigned, DrawFirst) => Some(S::PlateAssigned),
        (S::FeePaid, E::ClerkApproved, DrawFirst) => Some(S::Approved),
        (S::Approved, E::CertificateIssued, DrawFirst) => Some(S::Issued),

        (S::PlateAssigned, E::FeePaid, _) => Some(S::FeePaid),
        (S::Issued, E::Delivered, _) => Some(S::Delivered),
        (S::Issued | S::Delivered, E::Deregistered, _) => Some(S::Deregistered),

        (S::Verified | S::Approved | S::PlateAssigned | S::FeePaid, E::ClerkRejected, _) => Some(S::Rejected),
        (
            S::Submitted
            | S::AwaitingAgency
            | S::Verified
            | S::NeedsCorrection
            | S::Approved
            | S::PlateAssigned
            | S::FeePaid,
            E::Withdrawn,
            _,
        ) => Some(S::Withdrawn),
        _ => None,
    };
    to.ok_or(IllegalTransition { from, event })
}

impl State {
    pub const ALL: [State; 12] = [
        State::Submitted,
        State::AwaitingAgency,
        State::Verified,
        State::NeedsCorrection,
        State::Rejected,
        State::Approved,
        State::PlateAssigned,
        State::FeePaid,
        State::Issued,
        State::Delivered,
        State::Withdrawn,
        State::Deregistered,
    ];

    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "SUBMITTED",
            State::AwaitingAgency => "AWAITING_AGENCY",
            State::Verified => "VERIFIED",
            State::NeedsCorrection => "NEEDS_CORRECTION",
            State::Rejected => "REJECTED",
            State::Approved => "APPROVED",
            State::PlateAssigned => "PLATE_ASSIGNED",
            State::FeePaid => "FEE_PAID",
            State::Issued => "ISSUED",
            State::Delivered => "DELIVERED",
            State::Withdrawn => "WITHDRAWN",
            State::Deregistered => "DEREGISTERED",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No event leads out of a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Rejected | State::Withdrawn | State::Deregistered)
    }

    pub fn to_pb(self) -> pb::ApplicationState {
        use pb::ApplicationState as P;
        match self {
            State::Submitted => P::Submitted,
            State::AwaitingAgency => P::AwaitingAgency,
            State::Verified => P::Verified,
            State::NeedsCorrection => P::NeedsCorrection,
            State::Rejected => P::Rejected,
            State::Approved => P::Approved,
            State::PlateAssigned => P::PlateAssigned,
            State::FeePaid => P::FeePaid,
            State::Issued => P::Issued,
            State::Delivered => P::Delivered,
            State::Withdrawn => P::Withdrawn,
            State::Deregistered => P::Deregistered,
        }
    }

    pub fn from_pb(p: pb::ApplicationState) -> Option<State> {
        State::ALL.into_iter().find(|s| s.to_pb() == p)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use State as S;

    const EVENTS: [Event; 13] = [
        E::LookupsPassed,
        E::LookupsNeedCorrection,
        E::LookupsRefused,
        E::AgencyUnavailable,
        E::Corrected,
        E::ClerkApproved,
        E::ClerkRejected,
        E::PlateAssigned,
        E::FeePaid,
        E::CertificateIssued,
        E::Delivered,
        E::Withdrawn,
        E::Deregistered,
    ];

    fn walk(ordering: Ordering, events: &[Event]) -> Result<State, IllegalTransition> {
        events.iter().try_fold(S::Submitted, |s, e| next(ordering, s, *e))
    }

    #[test]
    fn check_first_happy_path() {
        let path = [
            E::LookupsPassed,
            E::ClerkApproved,
            E::PlateAssigned,
            E::FeePaid,
            E::CertificateIssued,
            E::Delivered,
        ];
        assert_eq!(walk(Ordering::CheckFirst, &path), Ok(S::Delivered));
        // The same events in draw-first order are illegal under check-first.
        let draw_first = [E::LookupsPassed, E::PlateAssigned];
        assert_eq!(
            walk(Ordering::CheckFirst, &draw_first),
            Err(IllegalTransition {
                from: S::Verified,
                event: E::PlateAssigned
            })
        );
    }

    #[test]
    fn draw_first_happy_path() {
        let path = [
            E::LookupsPassed,
            E::PlateAssigned,
            E::FeePaid,
            E::ClerkApproved,
            E::CertificateIssued,
            E::Delivered,
        ];
        assert_eq!(walk(Ordering::DrawFirst, &path), Ok(S::Delivered));
        assert_eq!(
            walk(Ordering::DrawFirst, &[E::LookupsPassed, E::ClerkApproved]),
            Err(IllegalTransition {
                from: S::Verified,
                event: E::ClerkApproved
            })
        );
    }

    #[test]
    fn agency_outage_retries_then_settles() {
        let path = [
            E::AgencyUnavailable,
            E::AgencyUnavailable,
            E::LookupsNeedCorrection,
            E::Corrected,
            E::LookupsPassed,
        ];
        assert_eq!(walk(Ordering::DrawFirst, &path), Ok(S::Verified));
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for ordering in [Ordering::CheckFirst, Ordering::DrawFirst] {
            for s in State::ALL.into_iter().filter(|s| s.is_terminal()) {
                for e in EVENTS {
                    assert!(next(ordering, s, e).is_err(), "{s} accepted {e:?}");
                }
            }
        }
    }

    #[test]
    fn nothing_after_issue_but_delivery_and_deregistration() {
        for ordering in [Ordering::CheckFirst, Ordering::DrawFirst] {
            for e in EVENTS {
                let r = next(ordering, S::Issued, e);
                assert_eq!(r.is_ok(), matches!(e, E::Delivered | E::Deregistered), "{e:?}");
                let r = next(ordering, S::Delivered, e);
                assert_eq!(r.is_ok(), e == E::Deregistered, "{e:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(State::from_pb(s.to_pb()), Some(s));
        }
        assert_eq!(State::parse("NOPE"), None);
    }
}
