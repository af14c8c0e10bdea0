//! Listing a bucket the way a person browses it: one folder level at a time
//! (delimiter `/`), one page at a time, with what the listing says about each
//! object (size, change token, time, storage class). Also the details of one
//! object (HEAD with content type and user metadata).
//!
//! Pages are handed out one by one so a caller's memory stays flat in the
//! number of objects under a prefix.

use crate::error::{ErrorKind, RemoteError};
use crate::object::{parse_mtime_metadata, unquote_etag};
use crate::S3Remote;
use aws_sdk_s3::types::EncodingType;
use serde::Serialize;

/// The folder separator of a folder view.
pub const DELIMITER: &str = "/";

/// ListObjectsV2 returns at most this many entries a page.
pub const MAX_PAGE: i32 = 1000;

/// One object as a listing describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// Server time of the last write, Unix milliseconds.
    pub last_modified_ms: Option<i64>,
    /// `STANDARD`, `GLACIER`, ... when the server says.
    pub storage_class: Option<String>,
}

/// One page of a folder (or recursive) listing.
#[derive(Clone, Debug, Default)]
pub struct FolderPage {
    /// Sub-folders (common prefixes), each ending with the delimiter.
    pub prefixes: Vec<String>,
    pub objects: Vec<ListedObject>,
    /// Present when more pages follow.
    pub continuation: Option<String>,
}

/// What a HEAD says about one object, for a details view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectDetails {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: Option<i64>,
    pub content_type: Option<String>,
    pub storage_class: Option<String>,
    /// rclone's `mtime` metadata, Unix milliseconds, when present and readable.
    pub mtime_ms: Option<i64>,
    /// `x-amz-meta-*`, names lower-cased and without the prefix, sorted.
    pub user_metadata: Vec<(String, String)>,
}

/// Undoes `encoding-type=url` in a listing: form encoding, so `+` is a space
/// (servers send a literal `+` as `%2B`).
pub(crate) fn decode_listed_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl S3Remote {
    /// One page under `prefix`: with `delimiter` (normally [`DELIMITER`])
    /// sub-folders come back as prefixes; without, every key below. Keys
    /// are listed with `encoding-type=url` as in sync, so no key makes a
    /// folder unreadable.
    pub async fn list_folder(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<String>,
        max_keys: Option<i32>,
    ) -> Result<FolderPage, RemoteError> {
        let out = self
            .client()
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .encoding_type(EncodingType::Url)
            .set_continuation_token(continuation)
            .set_max_keys(max_keys.map(|m| m.clamp(1, MAX_PAGE)))
            .send()
            .await
            .map_err(RemoteError::from_sdk)?;
        // Decode only when the server says it encoded: decoding a raw key
        // would turn a literal `+` or `%41` into another name.
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let decode = |k: &str| if encoded { decode_listed_key(k) } else { k.to_string() };
        let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix()).map(decode).collect();
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ListedObject {
                    key: decode(o.key()?),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(unquote_etag).unwrap_or_default(),
                    last_modified_ms: o.last_modified().and_then(|d| d.to_millis().ok()),
                    storage_class: o.storage_class().map(|c| c.as_str().to_string()),
                })
            })
            .collect();
        let continuation = match (out.is_truncated(), out.next_continuation_token()) {
            (Some(true), Some(t)) => Some(t.to_string()),
            // A truncated page without a token would end the listing early
            // and hide objects (a delete of a prefix would miss them).
            (Some(true), None) => {
                return Err(RemoteError::new(
                    ErrorKind::Server,
                    "the server said the listing is truncated but gave no continuation token",
                ))
            }
            _ => None,
        };
        Ok(FolderPage { prefixes, objects, continuation })
    }

    /// HEAD with everything a details view shows.
    pub async fn details(&self, key: &str) -> Result<ObjectDetails, RemoteError> {
        let out = self
            .client()
            .head_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(RemoteError::from_sdk)?;
        let mut user_metadata: Vec<(String, String)> = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default();
        user_metadata.sort();
        Ok(ObjectDetails {
            key: key.to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: out.last_modified().and_then(|d| d.to_millis().ok()),
            content_type: out.content_type().map(str::to_string),
            storage_class: out.storage_class().map(|c| c.as_str().to_string()),
            mtime_ms: user_metadata
                .iter()
                .find(|(k, _)| k == "mtime")
                .and_then(|(_, v)| parse_mtime_metadata(v)),
            user_metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_decode_form_style() {
        assert_eq!(decode_listed_key("a+b%2Bc%2F%01"), "a b+c/\u{1}");
    }
}
