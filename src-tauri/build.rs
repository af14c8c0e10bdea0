// The app's own commands are permission-gated through the app manifest:
// each gets an `allow-<command>` permission, and capabilities/main.json
// grants exactly the ones the window uses (a test in crates/api checks
// that both lists match the declared commands).
const COMMANDS: &[&str] = &[
    "overview",
    "engine_state",
    "retry_engine",
    "providers",
    "list_policies",
    "check_policy",
    "test_policy",
    "save_policy",
    "discard_draft",
    "remove_policy",
    "apply_cors",
    "dashboard",
    "add_pair",
    "preview_pair",
    "bucket_folders",
    "update_pair",
    "remove_pair",
    "sync_now",
    "pause_pair",
    "resume_pair",
    "pause_all",
    "resume_all",
    "confirm_deletes",
    "keep_files",
    "activity",
    "settings",
    "save_settings",
    "browse_list",
    "browse_stat",
    "browse_new_folder",
    "browse_delete_preview",
    "browse_delete",
    "browse_rename",
    "browse_link",
    "browse_preview",
    "browse_upload",
    "browse_download",
    "cancel_transfer",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}
