//! What a listing or a HEAD tells about objects.

use serde::{Deserialize, Serialize};

/// One object as the bucket describes it. `etag` is an opaque change token
/// (without quotes), never assumed to be an MD5 of the content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// Server time of the last write, Unix milliseconds.
    pub last_modified_ms: Option<i64>,
    /// The `mtime` user metadata (rclone's), Unix milliseconds, when a HEAD read it.
    pub mtime_ms: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Present when more pages follow.
    pub continuation: Option<String>,
}

/// A multipart upload the server holds open (begun, neither completed nor aborted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenUpload {
    pub key: String,
    pub upload_id: String,
    /// When it was begun, by the server's clock.
    pub initiated_ms: Option<i64>,
}

/// A finished multipart part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub number: i32,
    pub etag: String,
    pub size: u64,
}

/// What a write asks the server to check before it lands: the HTTP
/// conditional headers of PutObject and CompleteMultipartUpload. Sent only
/// where `policy probe` saw the server honour them; a server that ignores
/// them writes anyway, so callers that rely on them must know it honours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WriteIf {
    /// No condition.
    #[default]
    Always,
    /// Only if no object exists at the key (`If-None-Match: *`).
    Absent,
    /// Only if the object at the key has this ETag, unquoted
    /// (`If-Match: "<etag>"`).
    Etag(String),
}

impl WriteIf {
    /// The `If-None-Match` header's value, when there is one.
    pub fn if_none_match(&self) -> Option<String> {
        matches!(self, WriteIf::Absent).then(|| "*".to_string())
    }

    /// The `If-Match` header's value (quoted ETag), when there is one.
    pub fn if_match(&self) -> Option<String> {
        match self {
            WriteIf::Etag(etag) => Some(format!("\"{etag}\"")),
            _ => None,
        }
    }
}

/// ETags arrive quoted (`"abc"`); the quotes carry no meaning for us.
pub fn unquote_etag(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

/// rclone writes `mtime` as seconds with a fraction ("1700000000.123456789").
pub fn parse_mtime_metadata(value: &str) -> Option<i64> {
    let seconds: f64 = value.trim().parse().ok()?;
    if !seconds.is_finite() {
        return None;
    }
    Some((seconds * 1000.0).round() as i64)
}

/// The inverse of [`parse_mtime_metadata`], at millisecond precision.
/// Seconds and fraction are both of the absolute value: before 1970 the
/// sign covers the whole number (-1 ms is "-0.001", not "-1.999").
pub fn format_mtime_metadata(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// The Content-Type an upload of `key` is sent with, from the extension of
/// its last segment: a public or CDN link to a photo then shows the photo
/// instead of downloading `binary/octet-stream`. None (the server's
/// default) for no or an unknown extension.
pub fn content_type_for(key: &str) -> Option<&'static str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None; // ".bashrc" is a name, not an extension
    }
    mime_guess::from_ext(ext).first_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_last_segments_extension() {
        assert_eq!(content_type_for("photos/2024/IMG_1.JPG"), Some("image/jpeg"));
        assert_eq!(content_type_for("a.b/readme.txt"), Some("text/plain"));
        assert_eq!(content_type_for("site/index.html"), Some("text/html"));
        assert_eq!(content_type_for("folder.d/noext"), None);
        assert_eq!(content_type_for(".bashrc"), None);
        assert_eq!(content_type_for("x.no-such-extension-here"), None);
    }

    #[test]
    fn write_conditions_become_headers() {
        assert_eq!((WriteIf::Always.if_none_match(), WriteIf::Always.if_match()), (None, None));
        assert_eq!(WriteIf::Absent.if_none_match().as_deref(), Some("*"));
        assert_eq!(WriteIf::Absent.if_match(), None);
        let e = WriteIf::Etag("abc-2".into());
        assert_eq!((e.if_none_match(), e.if_match().as_deref()), (None, Some("\"abc-2\"")));
    }

    #[test]
    fn etag_quotes_are_dropped() {
        assert_eq!(unquote_etag("\"abc-2\""), "abc-2");
        assert_eq!(unquote_etag("abc"), "abc");
    }

    #[test]
    fn mtime_round_trips_and_reads_rclone_format() {
        assert_eq!(parse_mtime_metadata("1700000000.123456789"), Some(1_700_000_000_123));
        assert_eq!(parse_mtime_metadata("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_mtime_metadata("not a number"), None);
        assert_eq!(parse_mtime_metadata("NaN"), None);
        let ms = 1_650_000_000_042;
        assert_eq!(parse_mtime_metadata(&format_mtime_metadata(ms)), Some(ms));
    }

    #[test]
    fn pre_1970_mtimes_round_trip() {
        // A millisecond before the epoch is -0.001 s, not -1.999 s.
        assert_eq!(format_mtime_metadata(-1), "-0.001");
        assert_eq!(format_mtime_metadata(-1_500), "-1.500");
        for ms in [-1, -999, -1_000, -1_001, -86_400_000_123, 0, 999] {
            assert_eq!(parse_mtime_metadata(&format_mtime_metadata(ms)), Some(ms), "{ms}");
        }
    }
}
