//! `engine-status.json` in the home: the running engine's view of every
//! pair, so `bucketsync status` in another process (and the app, when a
//! daemon runs the pairs) can show live states without the engine lock.

use crate::event::PairState;
use crate::lock::Holder;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's content.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub pid: u32,
    pub holder: Option<Holder>,
    pub pairs: BTreeMap<String, PairState>,
}

pub(crate) fn path(home: &Path) -> PathBuf {
    home.join("engine-status.json")
}

impl EngineStatus {
    /// Writes atomically (temp file + rename), so a reader never sees half.
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        let file = path(home);
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &file)
    }

    /// The file of an engine that is still alive; `None` when there is none,
    /// it is unreadable, or its process is gone (a crash leaves the file).
    pub fn read(home: &Path) -> Option<EngineStatus> {
        let text = std::fs::read_to_string(path(home)).ok()?;
        let status: EngineStatus = serde_json::from_str(&text).ok()?;
        Path::new(&format!("/proc/{}", status.pid)).exists().then_some(status)
    }

    pub fn remove(home: &Path) {
        let _ = std::fs::remove_file(path(home));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_dead_engines_file_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(EngineStatus::read(tmp.path()), None);
        let mut s =
            EngineStatus { pid: std::process::id(), holder: Some(Holder::Daemon), ..Default::default() };
        s.pairs.insert("docs".into(), PairState::Idle { last_sync_ms: Some(7) });
        s.write(tmp.path()).unwrap();
        assert_eq!(EngineStatus::read(tmp.path()), Some(s.clone()));
        // pid_max on Linux is at most 2^22: this pid cannot be alive.
        s.pid = 4_194_305;
        s.write(tmp.path()).unwrap();
        assert_eq!(EngineStatus::read(tmp.path()), None);
        EngineStatus::remove(tmp.path());
        assert!(!path(tmp.path()).exists());
    }
}
