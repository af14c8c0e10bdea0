//! The commands the desktop app exposes, declared once.
//!
//! The declaration below is the single source for the TypeScript side:
//! `cargo test -p bucketsync-api` writes every request/response type and
//! `commands.ts` (typed `invoke` wrappers) into `ui/src/lib/bindings`, and CI
//! fails when the checked-in files differ. A test also checks that
//! src-tauri registers exactly these commands, so the names cannot drift.

use std::collections::BTreeSet;
use std::path::Path;
use ts_rs::{Config, TypeVisitor, TS};

/// A type used by a command, with a way to export it and what it needs.
pub struct TypeRef {
    name: fn(&Config) -> String,
    visit: fn(&mut Exporter),
}

impl TypeRef {
    pub fn of<T: TS + 'static>() -> TypeRef {
        TypeRef { name: T::name, visit: |e| e.visit::<T>() }
    }
}

pub struct CommandSpec {
    /// The Rust (and Tauri) command name, snake_case.
    pub name: &'static str,
    pub doc: &'static str,
    pub args: Vec<(&'static str, TypeRef)>,
    pub returns: TypeRef,
}

macro_rules! commands {
    ($( $(#[doc = $doc:expr])* fn $name:ident($($arg:ident : $ty:ty),*) -> $ret:ty; )*) => {
        /// Every command, in declaration order.
        pub fn specs() -> Vec<CommandSpec> {
            vec![$(CommandSpec {
                name: stringify!($name),
                doc: concat!($($doc, "\n"),*),
                args: vec![$((stringify!($arg), TypeRef::of::<$ty>())),*],
                returns: TypeRef::of::<$ret>(),
            }),*]
        }
    };
}

/// An event the desktop emits to the UI, declared with its payload type.
pub struct EventSpec {
    /// The Tauri event name, kebab-case.
    pub name: &'static str,
    pub doc: &'static str,
    pub payload: TypeRef,
}

macro_rules! events {
    ($( $(#[doc = $doc:expr])* $name:literal => $variant:ident($ty:ty); )*) => {
        /// Every event the UI can hear; `name()` is the Tauri event name and
        /// the payload serialises on its own (untagged).
        #[derive(Clone, Debug, serde::Serialize)]
        #[serde(untagged)]
        pub enum UiEvent {
            $( $(#[doc = $doc])* $variant($ty), )*
        }

        impl UiEvent {
            pub fn name(&self) -> &'static str {
                match self {
                    $( UiEvent::$variant(_) => $name, )*
                }
            }
        }

        /// Every event, in declaration order.
        pub fn event_specs() -> Vec<EventSpec> {
            vec![$(EventSpec {
                name: $name,
                doc: concat!($($doc, "\n"),*),
                payload: TypeRef::of::<$ty>(),
            }),*]
        }
    };
}

use crate::browse::transfer::{DownloadRequest, TransferEvent, TransferReport, UploadRequest};
use crate::browse::{
    DeletePreview, DeleteReport, DeleteRequest, LinkRequest, LinkView, ListPageView, ListRequest,
    ObjectDetailsView, ObjectPreview, RenameReport, RenameRequest,
};
use crate::dashboard::{ActivityQuery, Dashboard};
use crate::draft::{DraftCheck, DraftTest, PolicyDraft};
use crate::engine::EngineView;
use crate::event::{NoticeEvent, PairPassEvent, PairStatusEvent, PairWarningEvent};
use crate::pair::{AddPairRequest, PairView, UpdatePairRequest};
use crate::policy::{CorsResult, PolicySaved, PolicyView};
use crate::provider::ProviderInfo;
use crate::settings::AppSettings;
use crate::sync::{ActivityView, PreviewView};
use crate::Overview;

commands! {
    /// The state the first screen shows.
    fn overview() -> Overview;
    /// The providers the setup wizard offers.
    fn providers() -> Vec<ProviderInfo>;

    // The engine in the app.
    /// Whether this window runs the sync engine, or who does.
    fn engine_state() -> EngineView;
    /// Tries to start the engine again (after another one quit).
    fn retry_engine() -> EngineView;

    // Storage policies and the setup wizard.
    fn list_policies() -> Vec<PolicyView>;
    /// The wizard's fields checked with the provider's rules, as typed.
    fn check_policy(draft: PolicyDraft) -> DraftCheck;
    /// Tests the draft against the bucket; nothing is saved.
    fn test_policy(draft: PolicyDraft) -> DraftTest;
    /// Saves the draft after a passing test (or `anyway`).
    fn save_policy(draft: PolicyDraft, anyway: bool) -> PolicySaved;
    /// Forgets an abandoned draft and the secret held for it.
    fn discard_draft(draft_id: String) -> ();
    fn remove_policy(name: String) -> ();
    /// Creates or extends the bucket's CORS rule with these origins.
    fn apply_cors(name: String, origins: Vec<String>) -> CorsResult;

    // Pairs.
    /// Every pair with its live state and issues, and the engine.
    fn dashboard() -> Dashboard;
    fn add_pair(req: AddPairRequest) -> PairView;
    /// What a full pass of the pair would do; changes nothing.
    fn preview_pair(name: String) -> PreviewView;
    /// Folder names under `prefix` in the policy's bucket, for the prefix picker.
    fn bucket_folders(policy: String, prefix: String) -> Vec<String>;
    fn update_pair(req: UpdatePairRequest) -> PairView;
    /// Removes the pair; files on both sides stay.
    fn remove_pair(name: String) -> ();
    fn sync_now(name: String) -> ();
    fn pause_pair(name: String) -> PairView;
    fn resume_pair(name: String) -> PairView;
    fn pause_all() -> ();
    fn resume_all() -> ();
    /// Goes ahead with the deletes of the list shown (its id); refused with
    /// a `stale` error when another list waits by now.
    fn confirm_deletes(name: String, set: String) -> ();
    /// Refuses the deletes of the list shown (its id): the files are kept
    /// (restored); refused with a `stale` error when another list waits.
    fn keep_files(name: String, set: String) -> ();

    // Activity and settings.
    /// The journal, newest first.
    fn activity(query: ActivityQuery) -> Vec<ActivityView>;
    fn settings() -> AppSettings;
    fn save_settings(settings: AppSettings) -> AppSettings;

    // The bucket browser.
    /// One page of a folder; pass `continuation` back for the next.
    fn browse_list(req: ListRequest) -> ListPageView;
    /// Everything a HEAD tells about one object.
    fn browse_stat(policy: String, key: String) -> ObjectDetailsView;
    /// Creates an empty folder (a zero-byte `name/` key); returns its key.
    fn browse_new_folder(policy: String, key: String) -> String;
    /// What a delete would remove, for the question asked first.
    fn browse_delete_preview(req: DeleteRequest) -> DeletePreview;
    fn browse_delete(req: DeleteRequest) -> DeleteReport;
    /// Renames (moves) an object or a whole prefix.
    fn browse_rename(req: RenameRequest) -> RenameReport;
    /// A public URL, or a presigned one with the chosen expiry.
    fn browse_link(req: LinkRequest) -> LinkView;
    /// The beginning of an image or text object, fetched by Rust.
    fn browse_preview(policy: String, key: String) -> ObjectPreview;
    /// Uploads local files and folders; progress comes as `transfer` events.
    fn browse_upload(req: UploadRequest) -> TransferReport;
    /// Downloads objects and prefixes into a local folder; progress as `transfer` events.
    fn browse_download(req: DownloadRequest) -> TransferReport;
    /// Cancels a running upload or download; false when none has this id.
    fn cancel_transfer(id: String) -> bool;
}

events! {
    /// A pair's state changed (progress at most ~10 times a second per pair).
    "pair-status" => PairStatus(PairStatusEvent);
    /// Something about a pair worth showing that did not stop it.
    "pair-warning" => PairWarning(PairWarningEvent);
    /// A pass ended; the pair's issues may have changed.
    "pair-pass" => PairPass(PairPassEvent);
    /// The engine started, was refused, or stopped.
    "engine" => Engine(EngineView);
    /// Worth a native notification.
    "notice" => Notice(NoticeEvent);
    /// Progress of one file of a browser upload or download.
    "transfer" => Transfer(TransferEvent);
}

/// Exports named types (with their dependencies) and remembers their names
/// for the import lines of commands.ts.
pub struct Exporter<'a> {
    cfg: &'a Config,
    names: BTreeSet<String>,
    error: Option<String>,
}

impl TypeVisitor for Exporter<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_some() {
            self.names.insert(T::ident(self.cfg));
            if let Err(e) = T::export_all(self.cfg) {
                self.error.get_or_insert(e.to_string());
            }
        } else {
            T::visit_dependencies(self);
            T::visit_generics(self);
        }
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes every binding into `dir` (the types, then commands.ts).
pub fn write_bindings(dir: &Path) -> Result<(), String> {
    let cfg = Config::new().with_out_dir(dir);
    let mut exporter = Exporter { cfg: &cfg, names: BTreeSet::new(), error: None };
    let specs = specs();
    // ApiError is what every command rejects with.
    exporter.visit::<crate::ApiError>();
    for spec in &specs {
        for (_, ty) in &spec.args {
            (ty.visit)(&mut exporter);
        }
        (spec.returns.visit)(&mut exporter);
    }
    let command_types = exporter.names.clone();
    for e in event_specs() {
        (e.payload.visit)(&mut exporter);
    }
    if let Some(e) = exporter.error {
        return Err(e);
    }
    let mut ts = String::from(
        "// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.\n\
         import { invoke } from \"@tauri-apps/api/core\";\n",
    );
    for name in &command_types {
        ts.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    ts.push_str("\n/** Every command rejects with an ApiError. */\nexport type CommandError = ApiError;\n");
    for spec in &specs {
        ts.push('\n');
        let doc = spec.doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        if !doc.is_empty() {
            ts.push_str(&format!("/** {doc} */\n"));
        }
        let params: Vec<String> =
            spec.args.iter().map(|(n, t)| format!("{}: {}", camel(n), (t.name)(&cfg))).collect();
        let payload = if spec.args.is_empty() {
            String::new()
        } else {
            format!(", {{ {} }}", spec.args.iter().map(|(n, _)| camel(n)).collect::<Vec<_>>().join(", "))
        };
        ts.push_str(&format!(
            "export function {}({}): Promise<{}> {{\n  return invoke(\"{}\"{payload});\n}}\n",
            camel(spec.name),
            params.join(", "),
            (spec.returns.name)(&cfg),
            spec.name,
        ));
    }
    std::fs::write(dir.join("commands.ts"), ts).map_err(|e| e.to_string())?;

    // events.ts: one typed listener per event.
    let events = event_specs();
    let mut names = BTreeSet::new();
    for e in &events {
        names.insert((e.payload.name)(&cfg));
    }
    let mut ts = String::from(
        "// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.\n\
         import { listen, type UnlistenFn } from \"@tauri-apps/api/event\";\n",
    );
    for name in &names {
        ts.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    ts.push_str("\n/** Every event name the desktop emits. */\nexport const EVENT_NAMES = [");
    ts.push_str(&events.iter().map(|e| format!("\"{}\"", e.name)).collect::<Vec<_>>().join(", "));
    ts.push_str("] as const;\n");
    for e in &events {
        ts.push('\n');
        let doc = e.doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        if !doc.is_empty() {
            ts.push_str(&format!("/** {doc} */\n"));
        }
        let ty = (e.payload.name)(&cfg);
        let fname = format!("on{}", camel(&format!("_{}", e.name.replace('-', "_"))));
        ts.push_str(&format!(
            "export function {fname}(handler: (payload: {ty}) => void): Promise<UnlistenFn> {{\n  return listen<{ty}>(\"{}\", (e) => handler(e.payload));\n}}\n",
            e.name
        ));
    }
    std::fs::write(dir.join("events.ts"), ts).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Regenerates ui/src/lib/bindings; CI then fails on `git diff`.
    #[test]
    fn export_bindings() {
        let dir = repo_root().join("ui/src/lib/bindings");
        std::fs::create_dir_all(&dir).unwrap();
        write_bindings(&dir).unwrap();
        let commands = std::fs::read_to_string(dir.join("commands.ts")).unwrap();
        assert!(commands.contains("export function overview(): Promise<Overview>"));
        assert!(dir.join("ProviderInfo.ts").exists());
        let events = std::fs::read_to_string(dir.join("events.ts")).unwrap();
        assert!(events.contains("export function onPairStatus(handler: (payload: PairStatusEvent) => void)"));
    }

    /// Every event variant has a distinct name (the UI listens by name).
    #[test]
    fn event_names_are_distinct() {
        let names: BTreeSet<&str> = event_specs().iter().map(|e| e.name).collect();
        assert_eq!(names.len(), event_specs().len());
    }

    /// src-tauri must register every command declared here and no other.
    #[test]
    fn tauri_registers_exactly_these_commands() {
        let lib = std::fs::read_to_string(repo_root().join("src-tauri/src/lib.rs")).unwrap();
        let start = lib.find("generate_handler![").expect("generate_handler! in src-tauri/src/lib.rs");
        let end = start + lib[start..].find(']').unwrap();
        let registered: BTreeSet<String> = lib[start + "generate_handler![".len()..end]
            .split(',')
            .map(|s| s.trim().rsplit("::").next().unwrap().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let declared: BTreeSet<String> = specs().iter().map(|s| s.name.to_string()).collect();
        assert_eq!(registered, declared);
    }

    /// The app manifest (src-tauri/build.rs) gates every declared command,
    /// and the window's capability grants exactly those: a new command
    /// cannot be forgotten in either, nor an old one linger.
    #[test]
    fn every_command_is_permission_gated_and_granted() {
        let declared: BTreeSet<String> = specs().iter().map(|s| s.name.to_string()).collect();
        let build = std::fs::read_to_string(repo_root().join("src-tauri/build.rs")).unwrap();
        let start = build.find("const COMMANDS: &[&str] = &[").expect("COMMANDS in build.rs");
        let end = start + build[start..].find("];").unwrap();
        let manifest: BTreeSet<String> = build[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_end_matches(',').trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(manifest, declared, "src-tauri/build.rs COMMANDS");
        let cap: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("src-tauri/capabilities/main.json")).unwrap(),
        )
        .unwrap();
        let perms: Vec<String> = cap["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().or(p["identifier"].as_str()).unwrap().to_string())
            .collect();
        assert!(!perms.iter().any(|p| p.ends_with(":default")), "no default permission sets: {perms:?}");
        let granted: BTreeSet<String> =
            perms.iter().filter_map(|p| p.strip_prefix("allow-")).map(|c| c.replace('-', "_")).collect();
        assert_eq!(granted, declared, "src-tauri/capabilities/main.json");
    }

    #[test]
    fn snake_to_camel() {
        assert_eq!(camel("add_policy"), "addPolicy");
        assert_eq!(camel("overview"), "overview");
        assert_eq!(camel("_pair_status"), "PairStatus");
    }
}
