//! Where a home (database, logs, trash) lives.

use std::path::PathBuf;

/// `--home` wins, then `BUCKETSYNC_HOME`, then the platform's config dir
/// (`~/.config/bucketsync` on Linux).
pub fn resolve(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    if let Some(dir) = std::env::var_os("BUCKETSYNC_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "bucketsync")
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".bucketsync"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn explicit_home_wins() {
        let p = std::path::PathBuf::from("/tmp/x");
        assert_eq!(super::resolve(Some(p.clone())), p);
    }
}
