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

use crate::provider::ProviderInfo;
use crate::Overview;

commands! {
    /// The state the first screen shows.
    fn overview() -> Overview;
    /// The providers the setup wizard offers.
    fn providers() -> Vec<ProviderInfo>;
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
    if let Some(e) = exporter.error {
        return Err(e);
    }
    let mut ts = String::from(
        "// Generated from crates/api/src/command.rs by `cargo test -p bucketsync-api`. Do not edit.\n\
         import { invoke } from \"@tauri-apps/api/core\";\n",
    );
    for name in &exporter.names {
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
    std::fs::write(dir.join("commands.ts"), ts).map_err(|e| e.to_string())
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

    #[test]
    fn snake_to_camel() {
        assert_eq!(camel("add_policy"), "addPolicy");
        assert_eq!(camel("overview"), "overview");
    }
}
