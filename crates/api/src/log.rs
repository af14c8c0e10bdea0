//! Where the app and the CLI write their logs: stderr (for a terminal or a
//! service manager) and a daily-rotated file in the home's `logs/` folder,
//! so a user can send a log after the fact. Both front ends call [`init`].
//!
//! `BUCKETSYNC_LOG` sets the filter (tracing's `EnvFilter` syntax, e.g.
//! `debug` or `bucketsync_engine=trace`); without it stderr shows warnings
//! and the file keeps `info` and up. Nothing logged may carry a secret or a
//! presigned URL: log keys, sizes and kinds, never credentials.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Rotated files kept per program (one a day).
pub const KEPT_FILES: usize = 7;

/// Keeps the file writer flushing; drop it last, on exit.
#[must_use = "dropping the guard stops writing the log file"]
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// The folder a home's logs live in.
pub fn dir(home: &Path) -> PathBuf {
    home.join("logs")
}

/// Sets up logging for `program` (`bucketsync`, `bucketsync-desktop`).
/// A home whose log folder cannot be created still logs to stderr: logging
/// must never be the reason the app does not start.
pub fn init(home: &Path, program: &str) -> LogGuard {
    let env = std::env::var("BUCKETSYNC_LOG").ok().filter(|v| !v.is_empty());
    let filter = |default: &str| EnvFilter::new(env.as_deref().unwrap_or(default));
    let stderr = fmt::layer().with_writer(std::io::stderr).with_filter(filter("warn"));
    let (file_layer, guard) = match file_appender(home, program) {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer().with_writer(writer).with_ansi(false).with_filter(filter("info"));
            (Some(layer), Some(guard))
        }
        Err(e) => {
            eprintln!("warning: cannot write logs under {}: {e}", dir(home).display());
            (None, None)
        }
    };
    // A second init (tests that run several front-end entry points in one
    // process) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(stderr).with(file_layer).try_init();
    LogGuard { _file: guard }
}

fn file_appender(
    home: &Path,
    program: &str,
) -> std::io::Result<tracing_appender::rolling::RollingFileAppender> {
    let dir = dir(home);
    // The home may not exist yet (the store creates it 0700 too).
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    restrict(&dir, 0o700)?;
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(program)
        .filename_suffix("log")
        .max_log_files(KEPT_FILES)
        .build(&dir)
        .map_err(std::io::Error::other)
}

/// Logs describe the user's files: readable by the user only.
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_folder_is_private_to_the_user() {
        let home = tempfile::tempdir().unwrap();
        let appender = file_appender(home.path(), "bucketsync-test").unwrap();
        drop(appender);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir(home.path())).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
