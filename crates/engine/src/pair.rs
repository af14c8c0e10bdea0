//! A pair binds a local folder to a key prefix in a bucket, in a mode.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// Where a pair's objects live: the endpoint and the bucket. Two policies
/// can name the same bucket (new keys, another addressing style), so
/// overlap is judged on this, never on which policy a pair uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketLocation {
    /// The endpoint URL, lower-cased and without a trailing `/`, or
    /// `aws:<region>` for AWS's own endpoints.
    pub endpoint: String,
    pub bucket: String,
}

impl BucketLocation {
    pub fn new(endpoint: Option<&str>, region: &str, bucket: &str) -> BucketLocation {
        let endpoint = match endpoint {
            Some(e) => e.trim().trim_end_matches('/').to_ascii_lowercase(),
            None => format!("aws:{region}"),
        };
        BucketLocation { endpoint, bucket: bucket.to_string() }
    }
}

/// A pair as asked for, before any check.
#[derive(Clone, Debug)]
pub struct PairRequest<'a> {
    pub dir: &'a Path,
    pub location: BucketLocation,
    pub prefix: &'a str,
    /// `None`: two-way.
    pub mode: Option<&'a str>,
    /// `None`: from the folder's name.
    pub name: Option<&'a str>,
    /// `None`: 50.
    pub max_delete_percent: Option<u32>,
}

/// A pair that exists already.
#[derive(Clone, Debug)]
pub struct ExistingPair {
    pub name: String,
    pub root: PathBuf,
    pub location: BucketLocation,
    pub prefix: String,
}

/// A checked pair: canonical root, normalised prefix, a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPair {
    pub name: String,
    pub root: PathBuf,
    pub prefix: String,
    pub mode: Mode,
    pub max_delete_percent: u32,
}

/// Why a pair cannot be made; `field` names the request field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PairProblem {
    /// `dir`, `prefix`, `mode`, `name` or `max-delete`.
    pub field: &'static str,
    pub message: String,
    pub hint: String,
}

fn problem(field: &'static str, message: impl Into<String>, hint: impl Into<String>) -> PairProblem {
    PairProblem { field, message: message.into(), hint: hint.into() }
}

/// Whether one of two folders contains the other (or they are the same).
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Whether two normalised prefixes overlap (one contains the other).
fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Checks a new pair against the folder, the home (the app's own data must
/// never be synced, nor contain a synced folder) and every existing pair:
/// folders may not nest, and prefixes in one bucket may not overlap.
pub fn check_new(
    req: &PairRequest<'_>,
    existing: &[ExistingPair],
    home: &Path,
) -> Result<ValidPair, PairProblem> {
    let root = req.dir.canonicalize().map_err(|e| {
        problem("dir", format!("cannot use {}: {e}", req.dir.display()), "give an existing folder")
    })?;
    if !root.is_dir() {
        return Err(problem("dir", format!("{} is not a folder", root.display()), "give a folder"));
    }
    let home = home.canonicalize().unwrap_or_else(|_| home.to_path_buf());
    if nested(&root, &home) {
        return Err(problem(
            "dir",
            format!(
                "{} and Bucketsync's own data ({}) would be inside each other",
                root.display(),
                home.display()
            ),
            "choose a folder that neither contains nor lies inside the Bucketsync home",
        ));
    }
    let name = match req.name {
        Some(n) => n.trim().to_string(),
        None => root
            .file_name()
            .map(|n| {
                n.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
            })
            .unwrap_or_else(|| "root".into()),
    };
    check_name(&name)?;
    let mode = match req.mode {
        None => Mode::TwoWay,
        Some(m) => Mode::parse(m).ok_or_else(|| {
            problem("mode", format!("unknown mode '{m}'"), "use two-way, upload or download")
        })?,
    };
    let max_delete_percent = check_max_delete(req.max_delete_percent.unwrap_or(50))?;
    let prefix = normalise_prefix(req.prefix)
        .map_err(|e| problem("prefix", e, "use a key prefix such as photos/2024/"))?;
    for other in existing {
        if other.name == name {
            return Err(problem(
                "name",
                format!("a pair named '{name}' exists already"),
                "choose another name for this pair",
            ));
        }
        if nested(&root, &other.root) {
            return Err(problem(
                "dir",
                format!(
                    "{} overlaps the folder of pair '{}' ({})",
                    root.display(),
                    other.name,
                    other.root.display()
                ),
                "a folder can belong to one pair only, and pairs cannot be nested",
            ));
        }
        if other.location == req.location && prefixes_overlap(&prefix, &other.prefix) {
            let shown =
                |p: &str| if p.is_empty() { "the whole bucket".to_string() } else { format!("'{p}'") };
            return Err(problem(
                "prefix",
                format!(
                    "{} overlaps {} of pair '{}' in the same bucket",
                    shown(&prefix),
                    shown(&other.prefix),
                    other.name
                ),
                "give each pair its own prefix, neither inside the other",
            ));
        }
    }
    Ok(ValidPair { name, root, prefix, mode, max_delete_percent })
}

/// A pair's name: short, plain, usable on a command line.
pub fn check_name(name: &str) -> Result<(), PairProblem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(problem(
            "name",
            format!("'{name}' cannot name a pair"),
            "use up to 64 letters, digits, '-', '_' or '.', not starting with '-' or '.' (e.g. photos)",
        ))
    }
}

/// The delete guard's share, in percent.
pub fn check_max_delete(percent: u32) -> Result<u32, PairProblem> {
    if percent <= 100 {
        Ok(percent)
    } else {
        Err(problem(
            "max-delete",
            format!("{percent} is not a percentage"),
            "give a share between 0 (always ask before deleting) and 100 (never ask)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(bucket: &str) -> BucketLocation {
        BucketLocation::new(Some("http://127.0.0.1:3900/"), "garage", bucket)
    }

    fn existing(name: &str, root: &Path, location: BucketLocation, prefix: &str) -> ExistingPair {
        ExistingPair { name: name.into(), root: root.to_path_buf(), location, prefix: prefix.into() }
    }

    fn request<'a>(dir: &'a Path, location: BucketLocation, prefix: &'a str) -> PairRequest<'a> {
        PairRequest { dir, location, prefix, mode: None, name: None, max_delete_percent: None }
    }

    #[test]
    fn two_policies_on_one_bucket_cannot_sync_overlapping_prefixes() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, home) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("home"));
        for d in [&a, &b, &home] {
            std::fs::create_dir(d).unwrap();
        }
        // Same endpoint (spelled with a trailing slash and another case) and bucket: one place.
        let others =
            [existing("a", &a, BucketLocation::new(Some("HTTP://127.0.0.1:3900"), "x", "photos"), "2024/")];
        let err = check_new(&request(&b, here("photos"), "2024/june"), &others, &home).unwrap_err();
        assert_eq!(err.field, "prefix");
        let err = check_new(&request(&b, here("photos"), ""), &others, &home).unwrap_err();
        assert!(err.message.contains("the whole bucket"), "{err}");
        // Another prefix, or another bucket, is fine.
        assert!(check_new(&request(&b, here("photos"), "2023/"), &others, &home).is_ok());
        let ok = check_new(&request(&b, here("music"), "2024/"), &others, &home).unwrap();
        assert_eq!((ok.name.as_str(), ok.prefix.as_str(), ok.mode), ("b", "2024/", Mode::TwoWay));
        assert_eq!(ok.max_delete_percent, 50);
    }

    #[test]
    fn folders_may_not_nest_with_each_other_or_with_the_home() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::create_dir_all(a.join("inner")).unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let others = [existing("a", &a.canonicalize().unwrap(), here("x"), "a/")];
        let err = check_new(&request(&a.join("inner"), here("y"), ""), &others, &home).unwrap_err();
        assert_eq!(err.field, "dir");
        let err = check_new(&request(tmp.path(), here("y"), ""), &[], &home).unwrap_err();
        assert!(err.message.contains("Bucketsync's own data"), "{err}");
        let err = check_new(&request(&tmp.path().join("missing"), here("y"), ""), &[], &home).unwrap_err();
        assert_eq!(err.field, "dir");
    }

    #[test]
    fn names_modes_and_shares_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = tmp.path().join("My Photos");
        std::fs::create_dir(&dir).unwrap();
        let ok = check_new(&request(&dir, here("b"), ""), &[], &home).unwrap();
        assert_eq!(ok.name, "My-Photos", "derived from the folder, made plain");
        let bad = |f: &dyn Fn(&mut PairRequest<'_>)| {
            let mut r = request(&dir, here("b"), "");
            f(&mut r);
            check_new(&r, &[], &home).unwrap_err().field
        };
        assert_eq!(bad(&|r| r.mode = Some("sideways")), "mode");
        assert_eq!(bad(&|r| r.name = Some("-x")), "name");
        assert_eq!(bad(&|r| r.max_delete_percent = Some(101)), "max-delete");
        assert_eq!(bad(&|r| r.prefix = "a/../b"), "prefix");
        let others = [existing("My-Photos", &tmp.path().join("elsewhere"), here("z"), "")];
        assert_eq!(check_new(&request(&dir, here("b"), ""), &others, &home).unwrap_err().field, "name");
    }

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
