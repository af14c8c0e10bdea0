//! S3 failures, classified into kinds the user (and the retry logic) can act on.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What went wrong, in terms of what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The access key id is unknown or the secret does not match it.
    BadCredentials,
    /// The key or token has expired (R2 tokens can carry a TTL).
    ExpiredCredentials,
    /// The key is valid but lacks permission for this bucket or action.
    PermissionDenied,
    /// The bucket lives in another region than the one configured.
    WrongRegion,
    NoSuchBucket,
    NotFound,
    /// The local clock is too far from the server's for signatures to be valid.
    ClockSkew,
    Throttled,
    /// No connection: DNS failure, refused, reset, timed out.
    Offline,
    /// The server does not implement this API.
    NotSupported,
    /// A precondition (If-Match, range) did not hold.
    Precondition,
    /// The server failed (5xx) or answered something we cannot read.
    Server,
    /// Anything else the server refused (4xx we do not recognise).
    Rejected,
}

impl ErrorKind {
    /// Whether trying the same request again later can succeed without the
    /// user changing anything.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Offline | ErrorKind::Server)
    }

    /// A plain-words fix for the user.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorKind::BadCredentials => "The access key id or the secret is wrong. Copy both again from the provider's console (for B2: keyID and applicationKey).",
            ErrorKind::ExpiredCredentials => "The key or token has expired. Create a new one at the provider and update the policy with it.",
            ErrorKind::PermissionDenied => "The key works but is not allowed to do this on this bucket. Give it read and write access to the bucket.",
            ErrorKind::WrongRegion => "The bucket is in another region. Set the region the provider shows for the bucket (for B2 it is in the endpoint, e.g. us-west-004; for R2 it is auto).",
            ErrorKind::NoSuchBucket => "The bucket does not exist at this endpoint. Check the bucket name and the endpoint (remove a bucket name pasted at the end of an R2 endpoint).",
            ErrorKind::NotFound => "The object does not exist (any more).",
            ErrorKind::ClockSkew => "This computer's clock is too far off for the server to accept signed requests. Turn on automatic time sync.",
            ErrorKind::Throttled => "The provider asks us to slow down; the request will be retried later.",
            ErrorKind::Offline => "The server cannot be reached. Check the network and the endpoint; if the bucket name cannot be resolved as a host name, try path-style addressing.",
            ErrorKind::NotSupported => "This provider does not implement this S3 API.",
            ErrorKind::Precondition => "The object changed while we worked on it; it will be looked at again.",
            ErrorKind::Server => "The server failed; the request will be retried later.",
            ErrorKind::Rejected => "The server refused the request.",
        }
    }
}

/// A failed S3 call: its kind, the server's own code when there was one, and
/// the server's message. Never holds credentials.
#[derive(Clone, Debug, thiserror::Error)]
pub struct RemoteError {
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl RemoteError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RemoteError { kind, code: None, message: message.into() }
    }

    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }

    /// Classify any aws-sdk-s3 operation error.
    pub fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + HasStatus,
    {
        match &err {
            SdkError::ConstructionFailure(_) => RemoteError::new(
                ErrorKind::Rejected,
                format!("could not build the request: {}", source_chain(&err)),
            ),
            SdkError::TimeoutError(_) => RemoteError::new(ErrorKind::Offline, "the request timed out"),
            SdkError::DispatchFailure(_) => RemoteError::new(
                ErrorKind::Offline,
                format!("could not reach the server: {}", source_chain(&err)),
            ),
            SdkError::ResponseError(r) => {
                let status = r.raw().status_code();
                RemoteError::new(
                    status_kind(status).unwrap_or(ErrorKind::Server),
                    format!("unreadable answer from the server (HTTP {status})"),
                )
            }
            SdkError::ServiceError(s) if s.raw().status_code() < 300 => RemoteError::new(
                ErrorKind::Server,
                format!("the server answered in a form we cannot read: {}", source_chain(&err)),
            ),
            SdkError::ServiceError(s) => {
                let status = s.raw().status_code();
                let code = s.err().code().map(str::to_string);
                let message = s
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("the server refused the request (HTTP {status})"));
                let kind = code
                    .as_deref()
                    .and_then(|c| code_kind(c, &message))
                    .or_else(|| status_kind(status))
                    .unwrap_or(ErrorKind::Rejected);
                RemoteError { kind, code, message }
            }
            _ => RemoteError::new(ErrorKind::Server, source_chain(&err)),
        }
    }
}

/// Lets [`RemoteError::from_sdk`] read the HTTP status of any raw response type.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = e.source();
    }
    out
}

/// S3 error codes, as AWS and the compatible stores spell them.
/// Some stores (Garage) answer a wrong secret with AccessDenied and say why
/// only in the message.
fn code_kind(code: &str, message: &str) -> Option<ErrorKind> {
    let lower = message.to_ascii_lowercase();
    if code == "AccessDenied" && (lower.contains("signature") || lower.contains("no such key")) {
        return Some(ErrorKind::BadCredentials);
    }
    Some(match code {
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidSecurity"
        | "InvalidToken"
        | "Unauthorized" => ErrorKind::BadCredentials,
        "ExpiredToken" | "TokenRefreshRequired" | "ExpiredRequest" => ErrorKind::ExpiredCredentials,
        "AccessDenied" | "AllAccessDisabled" | "Forbidden" => ErrorKind::PermissionDenied,
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException"
        | "InvalidRegion"
        | "IncorrectEndpoint" => ErrorKind::WrongRegion,
        "NoSuchBucket" => ErrorKind::NoSuchBucket,
        "NoSuchKey" | "NoSuchUpload" | "NotFound" => ErrorKind::NotFound,
        "RequestTimeTooSkewed" => ErrorKind::ClockSkew,
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequests"
        | "RequestLimitExceeded"
        | "ServiceUnavailable" => ErrorKind::Throttled,
        "NotImplemented" | "NotSupported" | "MethodNotAllowed" | "UnsupportedOperation" => {
            ErrorKind::NotSupported
        }
        "PreconditionFailed" | "InvalidRange" | "ConditionalRequestConflict" => ErrorKind::Precondition,
        "InternalError" | "InternalServerError" => ErrorKind::Server,
        _ => return None,
    })
}

/// For answers without a code (HEAD has no body).
fn status_kind(status: u16) -> Option<ErrorKind> {
    Some(match status {
        301 | 307 => ErrorKind::WrongRegion,
        401 => ErrorKind::BadCredentials,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        412 | 416 => ErrorKind::Precondition,
        429 | 503 => ErrorKind::Throttled,
        501 => ErrorKind::NotSupported,
        500..=599 => ErrorKind::Server,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_actionable_kinds() {
        assert_eq!(code_kind("SignatureDoesNotMatch", ""), Some(ErrorKind::BadCredentials));
        assert_eq!(code_kind("ExpiredToken", ""), Some(ErrorKind::ExpiredCredentials));
        assert_eq!(code_kind("NoSuchBucket", ""), Some(ErrorKind::NoSuchBucket));
        assert_eq!(code_kind("AuthorizationHeaderMalformed", ""), Some(ErrorKind::WrongRegion));
        assert_eq!(code_kind("SomethingNew", ""), None);
        assert_eq!(
            code_kind("AccessDenied", "Forbidden: Invalid signature"),
            Some(ErrorKind::BadCredentials)
        );
        assert_eq!(code_kind("AccessDenied", "not allowed"), Some(ErrorKind::PermissionDenied));
        assert_eq!(status_kind(503), Some(ErrorKind::Throttled));
        assert_eq!(status_kind(200), None);
    }

    #[test]
    fn only_transient_kinds_are_retryable() {
        assert!(ErrorKind::Offline.retryable());
        assert!(!ErrorKind::BadCredentials.retryable());
        assert!(!ErrorKind::NoSuchBucket.retryable());
    }
}
