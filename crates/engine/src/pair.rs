//! A pair binds a local folder to a key prefix in a bucket, in a mode.

use serde::{Deserialize, Serialize};

/// Which directions a pair syncs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    TwoWay,
    /// Local -> bucket; never deletes local files.
    Upload,
    /// Bucket -> local; never writes the bucket.
    Download,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TwoWay => "two-way",
            Mode::Upload => "upload",
            Mode::Download => "download",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "two-way" => Mode::TwoWay,
            "upload" => Mode::Upload,
            "download" => Mode::Download,
            _ => return None,
        })
    }
}

/// Normalises a key prefix: no leading `/`, one trailing `/`, no empty
/// segments. The empty prefix (whole bucket) stays empty. A prefix with `.`
/// or `..` segments is refused: objects outside it must never be touched.
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(bad) = segments.iter().find(|s| **s == "." || **s == "..") {
        return Err(format!("the prefix may not contain a '{bad}' segment"));
    }
    if segments.iter().any(|s| s.chars().any(char::is_control)) {
        return Err("the prefix may not contain control characters".into());
    }
    if segments.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("{}/", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_with_one_slash() {
        assert_eq!(normalise_prefix("photos").unwrap(), "photos/");
        assert_eq!(normalise_prefix("/photos//2024/").unwrap(), "photos/2024/");
        assert_eq!(normalise_prefix("").unwrap(), "");
        assert_eq!(normalise_prefix("/").unwrap(), "");
        assert!(normalise_prefix("a/../b").is_err());
    }

    #[test]
    fn mode_round_trips() {
        for m in [Mode::TwoWay, Mode::Upload, Mode::Download] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("sideways"), None);
    }
}
