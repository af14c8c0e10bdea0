//! What the browser says about a key: whether it can be a file (the same
//! rules sync applies), a safe name to rename it to when it cannot, and
//! which kind of preview it gets. Pure.

use bucketsync_engine::keypath::{check_relative, NAME_MAX};

/// `(why it cannot be a file, a safe key to rename it to)`, both `None`
/// for a key that can be a file. A trailing `/` (a folder) is allowed.
pub fn judge(key: &str) -> (Option<String>, Option<String>) {
    let body = key.strip_suffix('/').unwrap_or(key);
    match check_relative(body) {
        Ok(()) => (None, None),
        Err(reason) => (Some(reason.to_string()), Some(safe_key(key))),
    }
}

/// A key close to `key` that can be a file: empty segments and a leading
/// `/` dropped, `.` and `..` spelt `_` and `__`, control characters as `_`,
/// each name cut to 255 bytes (before its extension, which is kept, so
/// the file still opens with the right program). Keeps a trailing `/`.
pub fn safe_key(key: &str) -> String {
    let folder = key.ends_with('/');
    let mut segments = Vec::new();
    for seg in key.split('/') {
        let seg: String = seg.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
        let seg = match seg.as_str() {
            "" => continue,
            "." => "_".to_string(),
            ".." => "__".to_string(),
            _ => seg,
        };
        segments.push(cut(&seg, NAME_MAX));
    }
    if segments.is_empty() {
        segments.push("_".to_string());
    }
    let mut out = segments.join("/");
    if folder {
        out.push('/');
    }
    out
}

/// Longest extension kept whole when a name is cut (`.jpeg`, `.tar.gz`'s
/// `.gz`; anything longer is likely not an extension at all).
const EXTENSION_MAX: usize = 16;

/// At most `max` bytes, on a character boundary; a short extension survives.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ext = match s.rfind('.') {
        Some(i) if i > 0 && s.len() - i <= EXTENSION_MAX => &s[i..],
        _ => "",
    };
    let mut end = max - ext.len();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &s[..end])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviewKind {
    Image,
    Text,
    None,
}

/// Images the webview shows from a data: URL, and text, by content type or,
/// when the store says nothing useful, by extension.
pub fn preview_kind(key: &str, content_type: Option<&str>) -> PreviewKind {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    // SVG can carry scripts: shown as text, never as an image.
    if ct.starts_with("image/") && !ct.contains("svg") {
        return PreviewKind::Image;
    }
    if ct.starts_with("text/") || ct.contains("json") || ct.contains("xml") || ct.contains("yaml") {
        return PreviewKind::Text;
    }
    let ext = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp" | "ico" | "avif" => PreviewKind::Image,
        "txt" | "md" | "csv" | "tsv" | "json" | "yaml" | "yml" | "toml" | "xml" | "html" | "css" | "js"
        | "ts" | "rs" | "py" | "sh" | "log" | "ini" | "conf" | "svg" | "c" | "h" | "go" | "java" => {
            PreviewKind::Text
        }
        _ => PreviewKind::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_keys_pass_the_sync_rules() {
        for hostile in
            ["a//b", "/lead", "x/../y", "./z", "tab\there", "nul\0x", "dir//", "//", &"n".repeat(300)]
        {
            let (reason, safe) = judge(hostile);
            assert!(reason.is_some(), "{hostile:?} should be marked");
            let safe = safe.unwrap();
            assert_eq!(judge(&safe), (None, None), "{hostile:?} -> {safe:?}");
        }
        assert_eq!(safe_key("x/../y"), "x/__/y");
        assert_eq!(safe_key("a//b"), "a/b");
        assert_eq!(safe_key("dir//"), "dir/");
        assert_eq!(judge("photos/cat.jpg"), (None, None));
        assert_eq!(judge("photos/"), (None, None));
    }

    #[test]
    fn a_long_name_is_cut_before_its_extension() {
        let long = format!("odd/{}.txt", "é".repeat(200));
        let safe = safe_key(&long);
        let name = safe.strip_prefix("odd/").unwrap();
        assert!(name.len() <= NAME_MAX, "{} bytes", name.len());
        assert!(name.ends_with("é.txt"), "cut on a character boundary, extension kept: {name}");
        // No dot, or a "extension" too long to be one: a plain cut.
        assert_eq!(safe_key(&"n".repeat(300)).len(), NAME_MAX);
        assert_eq!(safe_key(&format!("a.{}", "x".repeat(300))).len(), NAME_MAX);
    }

    #[test]
    fn previews_by_type_then_extension() {
        assert_eq!(preview_kind("a.bin", Some("image/png")), PreviewKind::Image);
        assert_eq!(preview_kind("a.svg", Some("image/svg+xml")), PreviewKind::Text);
        assert_eq!(preview_kind("notes.md", Some("binary/octet-stream")), PreviewKind::Text);
        assert_eq!(preview_kind("cat.JPG", None), PreviewKind::Image);
        assert_eq!(preview_kind("archive.zip", Some("application/zip")), PreviewKind::None);
    }
}
