//! Ignore rules: built-in defaults (our own temp files, editor swap and lock
//! files, OS litter) plus the pair's `.bucketsyncignore` in gitignore syntax.
//! Ignored paths are neither transferred nor deleted on either side.

use ::ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::Path;

/// The per-pair rules file, at the root of the pair (it syncs like any file,
/// so every device applies the same rules).
pub const IGNORE_FILE: &str = ".bucketsyncignore";

/// Names every pair ignores. `.bucketsync-*` is reserved for the app's own
/// temp and probe files (downloads in progress, conflict staging).
pub const DEFAULTS: &[&str] = &[
    // ours
    ".bucketsync-*",
    // editors: vim, emacs, LibreOffice, MS Office, generic backups
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    ".~lock.*#",
    "~$*",
    // operating systems
    ".DS_Store",
    "._*",
    ".Spotlight-V100/",
    ".Trashes/",
    ".fseventsd/",
    ".TemporaryItems/",
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "$RECYCLE.BIN/",
    ".Trash-*/",
    ".directory",
];

/// Compiled rules of one pair.
pub struct IgnoreRules {
    matcher: Gitignore,
}

#[derive(Debug, thiserror::Error)]
#[error("{IGNORE_FILE}: {0}")]
pub struct IgnoreError(String);

impl IgnoreRules {
    /// The defaults plus `root/.bucketsyncignore` when it exists.
    pub fn load(root: &Path) -> Result<IgnoreRules, IgnoreError> {
        let file = root.join(IGNORE_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(IgnoreError(e.to_string())),
        };
        IgnoreRules::from_text(&text)
    }

    /// The defaults plus the rules in `text` (gitignore syntax).
    pub fn from_text(text: &str) -> Result<IgnoreRules, IgnoreError> {
        // Patterns are matched against relative paths, so the root is "".
        let mut builder = GitignoreBuilder::new("");
        for pattern in DEFAULTS {
            builder.add_line(None, pattern).map_err(|e| IgnoreError(e.to_string()))?;
        }
        for line in text.lines() {
            builder.add_line(None, line).map_err(|e| IgnoreError(e.to_string()))?;
        }
        Ok(IgnoreRules { matcher: builder.build().map_err(|e| IgnoreError(e.to_string()))? })
    }

    /// Whether the file at relative path `rel` (or any folder above it) is ignored.
    pub fn is_ignored(&self, rel: &str) -> bool {
        self.matcher.matched_path_or_any_parents(Path::new(rel), false).is_ignore()
    }

    /// Whether the folder at `rel` is ignored, so a scan need not enter it.
    pub fn is_ignored_dir(&self, rel: &str) -> bool {
        self.matcher.matched_path_or_any_parents(Path::new(rel), true).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_temp_swap_lock_and_litter() {
        let r = IgnoreRules::from_text("").unwrap();
        for p in [
            ".bucketsync-tmp-123",
            "d/.bucketsync-part",
            "notes.txt.swp",
            "d/.notes.txt.swp",
            "draft~",
            ".#draft",
            ".~lock.report.odt#",
            "~$report.docx",
            ".DS_Store",
            "photos/Thumbs.db",
            "$RECYCLE.BIN/x",
            ".Trash-1000/files/a",
        ] {
            assert!(r.is_ignored(p), "{p} should be ignored by default");
        }
        for p in ["notes.txt", "d/report.docx", ".bucketsyncignore", "swp", "a.txt.bak"] {
            assert!(!r.is_ignored(p), "{p} should sync");
        }
    }

    #[test]
    fn user_rules_use_gitignore_syntax() {
        let r = IgnoreRules::from_text("# build output\n/target/\n*.log\n!keep.log\n").unwrap();
        assert!(r.is_ignored("target/debug/x"), "anchored folder rule covers its contents");
        assert!(r.is_ignored_dir("target"));
        assert!(!r.is_ignored("src/target.rs"));
        assert!(r.is_ignored("a/b/c.log"));
        assert!(!r.is_ignored("keep.log"), "negation re-includes");
    }

    #[test]
    fn missing_file_means_defaults_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = IgnoreRules::load(dir.path()).unwrap();
        assert!(r.is_ignored(".DS_Store"));
        std::fs::write(dir.path().join(IGNORE_FILE), "secret/\n").unwrap();
        assert!(IgnoreRules::load(dir.path()).unwrap().is_ignored("secret/key"));
    }
}
