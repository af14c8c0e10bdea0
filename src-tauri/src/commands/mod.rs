//! Tauri commands, one module per screen. Each command is a one-line
//! delegation to bucketsync-api; the list is declared in
//! crates/api/src/command.rs, which also generates the TypeScript side.

pub mod overview;
pub mod wizard;
