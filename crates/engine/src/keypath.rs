//! Key <-> relative path mapping, and why some keys (or local names) cannot
//! be synced.
//!
//! A relative path is a `/`-separated string below the pair's root; its key
//! is the pair's prefix followed by the path. Only paths that pass
//! [`check_relative`] are ever turned into file system paths, so nothing is
//! written outside the root. Collisions ([`collisions`]) are judged over the
//! union of both sides, because two keys that are distinct in the bucket can
//! be one file on disk.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// Longest file name most local file systems accept, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest relative path we write, in bytes (Linux PATH_MAX less room for the root).
pub const PATH_MAX: usize = 3800;

/// Which side a name was found on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Local,
    Remote,
}

/// Why a name is left alone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case", tag = "kind", content = "with")]
pub enum Reason {
    /// A `.` or `..` segment.
    DotSegment,
    /// `a//b`, or a name ending in `/` that is not a folder marker.
    EmptySegment,
    LeadingSlash,
    /// NUL or another control character.
    ControlCharacter,
    NameTooLong,
    PathTooLong,
    /// A name this platform's file system refuses.
    RefusedName,
    /// A local name that is not valid UTF-8, so it cannot be a key.
    NotUtf8,
    /// A file and a folder of the same name; holds the other path.
    FileFolderCollision(String),
    /// Differs from another path only in letter case, on a file system that folds case.
    CaseCollision(String),
    /// Differs from another path only in Unicode normalisation.
    NormalisationCollision(String),
    /// Symbolic links are never followed.
    SymbolicLink,
    /// Devices, sockets, pipes.
    SpecialFile,
    /// A synced file now empty with the old modification time, as a crash
    /// leaves it: not sent over the synced copy.
    EmptiedByCrash,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::DotSegment => f.write_str("contains a '.' or '..' segment"),
            Reason::EmptySegment => f.write_str("contains an empty segment ('//')"),
            Reason::LeadingSlash => f.write_str("starts with '/'"),
            Reason::ControlCharacter => f.write_str("contains NUL or a control character"),
            Reason::NameTooLong => write!(f, "a name is longer than {NAME_MAX} bytes"),
            Reason::PathTooLong => write!(f, "the path is longer than {PATH_MAX} bytes"),
            Reason::RefusedName => f.write_str("the local file system refuses this name"),
            Reason::NotUtf8 => f.write_str("the local name is not valid UTF-8"),
            Reason::FileFolderCollision(o) => write!(f, "a file and a folder share this name (with '{o}')"),
            Reason::CaseCollision(o) => write!(f, "differs only in letter case from '{o}'"),
            Reason::NormalisationCollision(o) => {
                write!(f, "differs only in Unicode normalisation from '{o}'")
            }
            Reason::SymbolicLink => f.write_str("symbolic links are not followed"),
            Reason::SpecialFile => f.write_str("not a regular file"),
            Reason::EmptiedByCrash => f.write_str(
                "empty with the synced version's modification time, as a crash leaves files; \
                 not uploaded over the synced copy (save or touch it to send it)",
            ),
        }
    }
}

/// A name that is reported instead of synced.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Unsyncable {
    pub side: Side,
    /// The key (remote) or the path below the root (local), lossily printable.
    pub name: String,
    pub reason: Reason,
}

/// The key of a relative path.
pub fn key_for(prefix: &str, rel: &str) -> String {
    format!("{prefix}{rel}")
}

/// What a listed key means for the pair.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyMeaning {
    /// A syncable file at this relative path.
    File(String),
    /// `dir/`, a zero-byte "folder" object some consoles create: not a file.
    FolderMarker,
}

/// Maps a key under `prefix` to a relative path, or says why it cannot be one.
pub fn relative_from_key(prefix: &str, key: &str, size: u64) -> Result<KeyMeaning, Reason> {
    let Some(rest) = key.strip_prefix(prefix) else {
        // A listing of `prefix` only returns keys below it; anything else is
        // never ours to touch.
        return Err(Reason::DotSegment);
    };
    if rest.is_empty()
        || (size == 0 && rest.ends_with('/') && check_relative(rest.trim_end_matches('/')).is_ok())
    {
        return Ok(KeyMeaning::FolderMarker);
    }
    check_relative(rest)?;
    Ok(KeyMeaning::File(rest.to_string()))
}

/// Whether `rel` is a safe relative path: no `.`/`..`/empty segments, no
/// leading `/`, no control characters, names and path within limits, and
/// (on Windows) no names Windows refuses.
pub fn check_relative(rel: &str) -> Result<(), Reason> {
    if rel.starts_with('/') {
        return Err(Reason::LeadingSlash);
    }
    if rel.chars().any(char::is_control) {
        return Err(Reason::ControlCharacter);
    }
    for segment in rel.split('/') {
        match segment {
            "" => return Err(Reason::EmptySegment),
            "." | ".." => return Err(Reason::DotSegment),
            s if s.len() > NAME_MAX => return Err(Reason::NameTooLong),
            s if cfg!(windows) && windows_refuses(s) => return Err(Reason::RefusedName),
            _ => {}
        }
    }
    if rel.len() > PATH_MAX {
        return Err(Reason::PathTooLong);
    }
    Ok(())
}

/// Names Windows cannot store: reserved device names, `\ : * ? " < > |`,
/// and a trailing dot or space.
pub fn windows_refuses(segment: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    let stem = segment.split('.').next().unwrap_or("").trim_end().to_ascii_uppercase();
    segment.chars().any(|c| matches!(c, '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|'))
        || segment.ends_with('.')
        || segment.ends_with(' ')
        || RESERVED.contains(&stem.as_str())
}

/// The form under which two spellings of a name are one file: Unicode NFC,
/// and lower case when the file system folds case. Two paths collide when
/// their folded forms are equal and they are not.
pub fn folded(s: &str, folds_case: bool) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // ASCII is its own NFC; most names are, so most names skip the tables.
    let nfc: Cow<'_, str> = if s.is_ascii() { Cow::Borrowed(s) } else { Cow::Owned(s.nfc().collect()) };
    if folds_case {
        Cow::Owned(nfc.to_lowercase())
    } else {
        nfc
    }
}

/// Paths (from both sides together) that cannot coexist as files: a file
/// and a folder of the same name, and names equal up to Unicode
/// normalisation (and letter case when `folds_case`). Every path involved is
/// returned with its reason; such paths are neither written nor deleted.
pub fn collisions<'a>(files: &BTreeSet<&'a str>, folds_case: bool) -> BTreeMap<String, Reason> {
    let mut out = BTreeMap::new();
    // File/folder: a file whose name is also a parent of another file.
    for path in files {
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            if files.contains(parent) {
                out.entry(parent.to_string())
                    .or_insert_with(|| Reason::FileFolderCollision(path.to_string()));
                out.entry(path.to_string())
                    .or_insert_with(|| Reason::FileFolderCollision(parent.to_string()));
            }
        }
    }
    // Spellings: every file and every folder prefix, grouped by folded form.
    // Two spellings of one folded form cannot both equal it, so a group
    // exists only where some spelling is not its own folded form; only
    // those forms are grouped (none in an ASCII tree on a case-sensitive
    // file system, which then costs no memory per path).
    let fold = |s: &'a str| folded(s, folds_case);
    // Linear in the paths' total length: each path looks up the groups of
    // its own prefixes, instead of every group scanning every path (many
    // case or NFC collision groups in one bucket made a pass quadratic).
    let prefixes =
        |path: &'a str| path.match_indices('/').map(|(i, _)| i).chain([path.len()]).map(|end| &path[..end]);
    let mut spellings: HashMap<String, BTreeSet<&str>> = HashMap::new();
    for &path in files {
        for prefix in prefixes(path) {
            if let std::borrow::Cow::Owned(f) = fold(prefix) {
                if f != prefix {
                    spellings.entry(f).or_default();
                }
            }
        }
    }
    if spellings.is_empty() {
        return out;
    }
    for &path in files {
        for prefix in prefixes(path) {
            if let Some(group) = spellings.get_mut(fold(prefix).as_ref()) {
                group.insert(prefix);
            }
        }
    }
    for &path in files {
        // The shortest colliding prefix names the reason, as a user would
        // look for it: the folder `Dir` next to `dir`, not each file below.
        for spelling in prefixes(path) {
            let Some(group) = spellings.get(fold(spelling).as_ref()) else { continue };
            let Some(other) = group.iter().find(|s| **s != spelling) else { continue };
            let reason = if spelling.nfc().eq(other.nfc()) {
                Reason::NormalisationCollision(other.to_string())
            } else {
                Reason::CaseCollision(other.to_string())
            };
            out.entry(path.to_string()).or_insert(reason);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(prefix: &str, key: &str) -> Result<KeyMeaning, Reason> {
        relative_from_key(prefix, key, 1)
    }

    #[test]
    fn good_keys_map_to_paths_below_the_prefix() {
        assert_eq!(file("p/", "p/a/b.txt"), Ok(KeyMeaning::File("a/b.txt".into())));
        assert_eq!(file("", "x"), Ok(KeyMeaning::File("x".into())));
        assert_eq!(key_for("p/", "a/b.txt"), "p/a/b.txt");
        // Unicode and spaces are fine; only structure and control characters are not.
        assert_eq!(file("", "Ünï cödé/ファイル.txt"), Ok(KeyMeaning::File("Ünï cödé/ファイル.txt".into())));
    }

    #[test]
    fn hostile_keys_are_refused_with_a_reason() {
        // Each of these would escape the root, or is not a name a file can have.
        assert_eq!(file("p/", "p/../x"), Err(Reason::DotSegment));
        assert_eq!(file("p/", "p/a/./x"), Err(Reason::DotSegment));
        assert_eq!(file("p/", "p/.."), Err(Reason::DotSegment));
        assert_eq!(file("p/", "p/a//x"), Err(Reason::EmptySegment));
        assert_eq!(file("p/", "p//x"), Err(Reason::LeadingSlash));
        assert_eq!(file("", "/etc/passwd"), Err(Reason::LeadingSlash));
        assert_eq!(file("", "a\0b"), Err(Reason::ControlCharacter));
        assert_eq!(file("", "a\nb"), Err(Reason::ControlCharacter));
        assert_eq!(file("", &"n".repeat(256)), Err(Reason::NameTooLong));
        assert_eq!(file("", &["d"; 2000].join("/")), Err(Reason::PathTooLong));
        assert_eq!(file("p/", "q/x"), Err(Reason::DotSegment), "outside the prefix is never ours");
    }

    #[test]
    fn folder_markers_are_not_files() {
        assert_eq!(relative_from_key("p/", "p/", 0), Ok(KeyMeaning::FolderMarker));
        assert_eq!(relative_from_key("p/", "p/d/", 0), Ok(KeyMeaning::FolderMarker));
        // A non-empty object ending in '/' cannot be a file: reported.
        assert_eq!(relative_from_key("p/", "p/d/", 3), Err(Reason::EmptySegment));
    }

    #[test]
    fn windows_names() {
        assert!(windows_refuses("CON"));
        assert!(windows_refuses("com1.txt"));
        assert!(windows_refuses("a:b"));
        assert!(windows_refuses("trailing."));
        assert!(!windows_refuses("console.txt"));
    }

    #[test]
    fn file_and_folder_of_one_name_both_collide() {
        let c = collisions(&["a", "a/b", "c"].into(), false);
        assert_eq!(c.get("a"), Some(&Reason::FileFolderCollision("a/b".into())));
        assert_eq!(c.get("a/b"), Some(&Reason::FileFolderCollision("a".into())));
        assert!(!c.contains_key("c"));
    }

    #[test]
    fn normalisation_collisions_always_case_only_when_folding() {
        let nfc = "caf\u{e9}";
        let nfd = "cafe\u{301}";
        let c = collisions(&[nfc, nfd].into(), false);
        assert_eq!(c.get(nfc), Some(&Reason::NormalisationCollision(nfd.into())));
        assert_eq!(c.get(nfd), Some(&Reason::NormalisationCollision(nfc.into())));
        assert!(
            collisions(&["A.txt", "a.txt"].into(), false).is_empty(),
            "case-sensitive file systems keep both"
        );
        let folded = collisions(&["A.txt", "a.txt", "b.txt"].into(), true);
        assert_eq!(folded.len(), 2);
        assert_eq!(folded.get("a.txt"), Some(&Reason::CaseCollision("A.txt".into())));
    }

    #[test]
    fn an_ascii_name_collides_with_a_spelling_that_normalises_to_it() {
        // U+212A KELVIN SIGN is NFC `K`: the group is formed by the one
        // spelling that is not its own folded form, and holds both.
        let kelvin = "\u{212a}";
        let c = collisions(&["K", kelvin, "k"].into(), false);
        assert_eq!(c.get("K"), Some(&Reason::NormalisationCollision(kelvin.into())));
        assert_eq!(c.get(kelvin), Some(&Reason::NormalisationCollision("K".into())));
        assert!(!c.contains_key("k"));
    }

    #[test]
    fn many_collision_groups_are_all_found() {
        let paths: Vec<String> =
            (0..5_000).flat_map(|i| [format!("d{i}/File.txt"), format!("d{i}/file.txt")]).collect();
        let c = collisions(&paths.iter().map(String::as_str).collect(), true);
        assert_eq!(c.len(), 10_000);
        assert_eq!(c.get("d42/file.txt"), Some(&Reason::CaseCollision("d42/File.txt".into())));
        assert!(collisions(&paths.iter().map(String::as_str).collect(), false).is_empty());
    }

    #[test]
    fn folders_differing_in_case_collide_for_everything_below() {
        let c = collisions(&["Dir/x", "dir/y", "other"].into(), true);
        assert!(c.contains_key("Dir/x") && c.contains_key("dir/y"));
        assert!(!c.contains_key("other"));
    }
}
