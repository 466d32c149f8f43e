//! The registration service's error type and its one mapping to `tonic::Status`.
//!
//! Callers see a precise code and a safe message; anything unexpected becomes
//! `INTERNAL` with a generic message while its cause chain goes to the log.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::declaration::FieldViolation;
use crate::domain::workflow::IllegalTransition;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    AlreadyExists { field: &'static str, message: String },
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The request is valid but the application is not in a state for it.
    #[error("{0}")]
    Precondition(String),
    /// A concurrent change won; the caller may reload and retry.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// No or bad credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// A known caller without the role, or acting on another office's application.
    #[error("{0}")]
    PermissionDenied(String),
    /// The caller's rate budget is spent; retry after the given delay.
    #[error("rate limit exceeded")]
    RateLimited(std::time::Duration),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: &str, description: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        }])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(id) => {
                Error::Conflict(format!("application {id} changed meanwhile; reload and retry"))
            }
            StoreError::VehicleActive => Error::AlreadyExists {
                field: "vehicle.chassis_number",
                message: "this vehicle has another active application or registration; it must end first \
                          (withdrawal, rejection, or deregistration on sale or scrapping)"
                    .into(),
            },
            StoreError::Db(e) => e.into(),
            other => Error::Internal(anyhow::Error::new(other)),
        }
    }
}

/// What a caller is told when the database is away (restart, failover,
/// connections cut, stall past the pool's timeout): nothing was decided, retry.
const DATABASE_AWAY: &str = "the database is unavailable; nothing was changed, retry shortly";

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::outage::is_outage(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return Error::Unavailable(DATABASE_AWAY.into());
        }
        Error::Internal(anyhow::Error::new(e))
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::Invalid(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid fields: {}", fields.join(", ")),
                    details,
                )
            }
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::AlreadyExists { field, message } => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation(field, message.clone());
                Status::with_error_details(Code::AlreadyExists, message, details)
            }
            Error::Illegal(t) => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("STATE", t.from.as_str(), t.to_string());
                Status::with_error_details(Code::FailedPrecondition, t.to_string(), details)
            }
            Error::Precondition(msg) => Status::failed_precondition(msg),
            Error::Conflict(msg) => Status::aborted(msg),
            Error::Unavailable(msg) => Status::unavailable(msg),
            Error::Unauthenticated(msg) => Status::unauthenticated(msg),
            Error::PermissionDenied(msg) => Status::permission_denied(msg),
            Error::RateLimited(wait) => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(wait));
                Status::with_error_details(
                    Code::ResourceExhausted,
                    "rate limit exceeded for this caller; retry later",
                    details,
                )
            }
            Error::Internal(err) => {
                // A database outage that reached us wrapped in another error
                // is still an outage.
                let outage = err.chain().any(|c| {
                    c.downcast_ref::<sea_orm::DbErr>()
                        .is_some_and(crate::store::outage::is_outage)
                        || c.downcast_ref::<StoreError>()
                            .is_some_and(|s| matches!(s, StoreError::Db(d) if crate::store::outage::is_outage(d)))
                });
                if outage {
                    tracing::warn!(error = %format!("{err:#}"), "database unavailable");
                    return Status::unavailable(DATABASE_AWAY);
                }
                tracing::error!(error = ?err, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// Shorthand for handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
