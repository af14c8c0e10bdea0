//! The error every api call returns: a kind the UI can act on, a message for
//! people, and what to do next. Never carries a secret.

use bucketsync_remote::ErrorKind as RemoteKind;
use bucketsync_store::StoreError;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A field of the request is wrong; `field` names it.
    InvalidInput,
    NotFound,
    AlreadyExists,
    BadCredentials,
    ExpiredCredentials,
    PermissionDenied,
    WrongRegion,
    NoSuchBucket,
    ClockSkew,
    Throttled,
    Offline,
    NotSupported,
    Server,
    /// The OS keyring is not reachable; use another secret source.
    KeyringUnavailable,
    DiskFull,
    /// Local file system trouble other than a full disk.
    Io,
    /// Another engine (the desktop app, a daemon) runs this home's pairs.
    Busy,
    /// What the request names changed since it was shown (a list of
    /// deletes to confirm): look at it again.
    Stale,
    /// A bug or an unexpected state.
    Internal,
}

#[derive(Clone, Debug, Serialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// What to do next, in plain words.
    pub hint: Option<String>,
    /// The request field at fault, for `invalid-input`.
    pub field: Option<String>,
    /// Whether trying again later may work without changes.
    pub retryable: bool,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into(), hint: None, field: None, retryable: false }
    }

    pub fn invalid(field: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
            hint: Some(hint.into()),
            field: Some(field.to_string()),
            retryable: false,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Exists { .. } => ErrorKind::AlreadyExists,
            StoreError::Open { source, .. } if source.raw_os_error() == Some(28) => ErrorKind::DiskFull,
            StoreError::Open { .. } => ErrorKind::Io,
            _ => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<RemoteKind> for ErrorKind {
    fn from(kind: RemoteKind) -> Self {
        match kind {
            RemoteKind::BadCredentials => ErrorKind::BadCredentials,
            RemoteKind::ExpiredCredentials => ErrorKind::ExpiredCredentials,
            RemoteKind::PermissionDenied => ErrorKind::PermissionDenied,
            RemoteKind::WrongRegion => ErrorKind::WrongRegion,
            RemoteKind::NoSuchBucket => ErrorKind::NoSuchBucket,
            RemoteKind::NotFound => ErrorKind::NotFound,
            RemoteKind::ClockSkew => ErrorKind::ClockSkew,
            RemoteKind::Throttled => ErrorKind::Throttled,
            RemoteKind::Offline => ErrorKind::Offline,
            RemoteKind::NotSupported => ErrorKind::NotSupported,
            RemoteKind::Precondition | RemoteKind::Server | RemoteKind::Rejected => ErrorKind::Server,
        }
    }
}

impl From<bucketsync_remote::RemoteError> for ApiError {
    fn from(e: bucketsync_remote::RemoteError) -> Self {
        ApiError {
            kind: e.kind.into(),
            message: e.to_string(),
            hint: Some(e.kind.hint().to_string()),
            field: None,
            retryable: e.retryable(),
        }
    }
}
