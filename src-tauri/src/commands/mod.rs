//! Tauri commands, one module per screen. Each command is a one-line
//! delegation to bucketsync-api; the list is declared in
//! crates/api/src/command.rs, which also generates the TypeScript side.
//! Every command is async, so SQLite and network work never runs on the
//! UI thread.

pub mod activity;
pub mod browse;
pub mod overview;
pub mod pairs;
pub mod settings;
pub mod wizard;
