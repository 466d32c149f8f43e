//! The console's one error type, and the page each error becomes.
//!
//! What the registration service refuses is shown to the clerk as it was
//! refused (its message is English, kept in small print under the
//! Vietnamese), with the HTTP status that says the same: a clerk of another
//! office gets 403, a dossier that does not exist 404, an action the
//! workflow does not allow now 409.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tonic_types::StatusExt;

use crate::view;

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// No session, or one the registration service no longer accepts.
    #[error("sign-in needed")]
    SignIn,
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A form without its CSRF token, or from another origin.
    #[error("form refused")]
    Csrf,
    #[error("not found: {0}")]
    NotFound(String),
    /// The input or the workflow refused: the message, and the fields at fault.
    #[error("refused: {message}")]
    Refused {
        status: StatusCode,
        message: String,
        fields: Vec<(String, String)>,
    },
    #[error("registration unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl Problem {
    pub fn bad_input(field: &str, message: &str) -> Problem {
        Problem::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.to_owned(),
            fields: vec![(field.to_owned(), message.to_owned())],
        }
    }
}

impl From<tonic::Status> for Problem {
    fn from(s: tonic::Status) -> Problem {
        use tonic::Code;
        let message = s.message().to_owned();
        match s.code() {
            Code::Unauthenticated => Problem::SignIn,
            Code::PermissionDenied => Problem::Forbidden(message),
            Code::NotFound => Problem::NotFound(message),
            Code::InvalidArgument | Code::OutOfRange => {
                let fields = s
                    .get_details_bad_request()
                    .map(|b| {
                        b.field_violations
                            .into_iter()
                            .map(|v| (v.field, v.description))
                            .collect()
                    })
                    .unwrap_or_default();
                Problem::Refused {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message,
                    fields,
                }
            }
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => Problem::Refused {
                status: StatusCode::CONFLICT,
                message,
                fields: Vec::new(),
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Cancelled => {
                Problem::Unavailable(message)
            }
            _ => Problem::Internal(message),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, vi, en, detail) = match &self {
            Problem::SignIn => return Redirect::to("/auth/login").into_response(),
            Problem::Forbidden(m) => (
                StatusCode::FORBIDDEN,
                "Bạn không có quyền xem hoặc xử lý hồ sơ này.",
                "You may not see or act on this.",
                m.clone(),
            ),
            Problem::Csrf => (
                StatusCode::FORBIDDEN,
                "Biểu mẫu không hợp lệ hoặc đã hết hạn. Hãy tải lại trang rồi làm lại.",
                "The form is not valid or has expired. Reload the page and try again.",
                String::new(),
            ),
            Problem::NotFound(m) => (StatusCode::NOT_FOUND, "Không tìm thấy.", "Not found.", m.clone()),
            Problem::Refused { status, message, .. } => (
                *status,
                "Hệ thống đăng ký không chấp nhận thao tác này.",
                "The registration service refused this.",
                message.clone(),
            ),
            Problem::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Hệ thống đăng ký tạm thời không trả lời. Hãy thử lại sau ít phút.",
                "The registration service is not answering. Try again in a few minutes.",
                m.clone(),
            ),
            Problem::Internal(m) => {
                tracing::error!(error = %m, "console error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Đã có lỗi. Hãy thử lại; nếu vẫn lỗi, báo bộ phận kỹ thuật.",
                    "Something went wrong. Try again; if it persists, tell the technical team.",
                    String::new(),
                )
            }
        };
        (status, view::page(view::error_page(vi, en, &detail))).into_response()
    }
}
