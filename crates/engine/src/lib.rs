//! `bucketsync-engine` keeps one local folder and one key prefix in sync.
//!
//! It knows: local scanning and watching (the only crate on notify), ignore
//! rules, snapshots of both sides, the pure planner, conflicts, transfers and
//! the per-pair runner with its events.
//!
//! It must not know: Tauri or any UI, how secrets are stored, or SQL (it goes
//! through bucketsync-store) and aws-sdk-s3 (it goes through the
//! `bucketsync_remote::Remote` trait, so tests can pass in another remote).

pub mod base;
pub mod clock;
pub mod conflict;
pub mod crash;
pub mod dirty;
pub mod event;
pub mod execute;
pub mod guard;
pub mod ignore;
pub mod keypath;
pub mod pair;
pub mod pass;
pub mod plan;
pub mod poll;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod transfer;
pub mod trash;
