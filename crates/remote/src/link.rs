//! Links to objects: presigned GET URLs (SigV4 query signing). A presigned
//! URL is a bearer credential for its lifetime: it is returned to the caller
//! and never logged.

use crate::error::{ErrorKind, RemoteError};
use crate::S3Remote;
use aws_sdk_s3::presigning::PresigningConfig;
use std::time::Duration;

/// SigV4 query signatures live at most seven days.
pub const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

impl S3Remote {
    /// A URL anyone can GET `key` with until `expires_in` has passed.
    pub async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, RemoteError> {
        if expires_in > MAX_PRESIGN || expires_in.is_zero() {
            return Err(RemoteError::new(
                ErrorKind::Rejected,
                format!(
                    "a presigned link can live from 1 second to 7 days (the SigV4 maximum), not {} s",
                    expires_in.as_secs()
                ),
            ));
        }
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| RemoteError::new(ErrorKind::Rejected, e.to_string()))?;
        let request = self
            .client()
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .presigned(config)
            .await
            .map_err(RemoteError::from_sdk)?;
        Ok(request.uri().to_string())
    }
}
