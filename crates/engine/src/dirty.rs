//! Dirty passes: a pass over only the paths the watcher named, instead of a
//! stat of the whole tree and a listing of the whole prefix.
//!
//! Each named path is a *scope*: the path and everything below it (a file,
//! a folder, or nothing any more). A dirty pass stats or scans just that
//! part of the folder, reads the base rows of just that part, and lists
//! just that part of the prefix (one LIST with the key as its prefix); then
//! it settles doubts and plans as a full pass does, over that part.
//!
//! It never decides more than a full pass would, and it decides less:
//! anything it cannot judge from its scopes alone goes to a full pass
//! ([`DirtyOutcome::NeedsFull`]): a plan with a delete or a conflict (the
//! delete guards count the whole pair, and a conflict copy's name must be
//! free among all names), a name that may collide with one outside its
//! scopes (case or Unicode spellings, a file where another side has a
//! folder: [`NameIndex`]), a path below something the last full scan could
//! not read or sync, a link or special file, a folder above that is not a
//! folder, the ignore file itself, a list of deletes waiting for the user,
//! too many paths at once. So nothing is ever deleted by a dirty pass, and
//! a dirty pass decides nothing about a path it did not look at.
//!
//! A scope whose local side still matches its base rows exactly (the
//! executor's own download landing, a read, a touch that changed nothing)
//! costs a stat and a query, no request: the runner's echo filter.

use crate::base;
use crate::ignore::{IgnoreRules, IGNORE_FILE};
use crate::keypath::{self, Side};
use crate::pair::Mode;
use crate::pass::{self, Hints, PassContext, PassError};
use crate::plan::{self, PlanInput};
use crate::report::PassReport;
use crate::snapshot::{self, LocalSnapshot, RemoteSnapshot};
use bucketsync_store::BaselineRow;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

/// More changed paths than this at once, not counting those below another
/// (a checkout, files written all over): a full pass looks instead.
pub const MAX_DIRTY_PATHS: usize = 256;

/// At most this many scopes are listed by one dirty pass.
const MAX_LISTINGS: usize = 64;

/// Listings of one dirty pass in flight at once.
const LISTINGS_IN_FLIGHT: usize = 8;

/// One path the watcher named, as the runner hands it over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirtyPath {
    /// Look at the bucket even if the local side still matches its base:
    /// the path waited in the last pass (a download blocked by something in
    /// the way, a remote object that changed under an upload).
    pub force: bool,
}

/// What a dirty pass came to.
#[derive(Debug)]
pub enum DirtyOutcome {
    /// Every scope still matches its base rows locally: nothing to do, no
    /// request sent, no status shown.
    Clean,
    /// Only files still being written (inside the quiet period, not seen
    /// closed since their last write): nothing asked of the bucket until
    /// `ready_ms`, when the first of them is quiet.
    Deferred {
        waiting: Vec<String>,
        ready_ms: i64,
    },
    /// A full pass must decide (the reason, for the log).
    NeedsFull(String),
    Done(Box<DirtyDone>),
}

#[derive(Debug)]
pub struct DirtyDone {
    pub report: PassReport,
    /// The paths looked at (each with everything below it).
    pub scopes: Vec<String>,
    /// Files still being written, deferred without asking the bucket
    /// (also in `report.waiting`).
    pub deferred: Vec<String>,
    /// When the first of `deferred` is quiet.
    pub ready_ms: Option<i64>,
}

/// What the last full pass saw of every name, so a dirty pass can tell
/// whether a name it looks at may collide with one it does not: another
/// spelling of the same name (Unicode normalisation, and case where the
/// file system folds it), or a file where the path needs a folder. Kept as
/// hashes (a few MiB at 100,000 names); a false match only costs a full
/// pass.
#[derive(Debug, Default)]
pub struct NameIndex {
    folds_case: bool,
    /// Hash of a folded name (each file and each folder above it) -> hash
    /// of its one spelling, or [`MANY`].
    spellings: HashMap<u64, u64>,
    /// Hashes of every file path, on either side or in the base.
    files: HashSet<u64>,
    /// Local paths the scan could not read or cannot sync: nothing at or
    /// below them is decided, so a dirty pass leaves them to a full one.
    unknown: Vec<String>,
}

/// More than one spelling of a folded name is known.
const MANY: u64 = u64::MAX;

fn digest(s: &str) -> u64 {
    // SipHash with fixed keys: the same in every process, no seed needed.
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// `a`, `a/b`, `a/b/c` for `a/b/c`: each folder above a path, then the path.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i]).chain([path])
}

/// Whether `path` is `scope` or below it.
pub fn within(path: &str, scope: &str) -> bool {
    scope.is_empty() || path == scope || path.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
}

impl NameIndex {
    pub fn build(
        base: &BTreeMap<String, BaselineRow>,
        local: &LocalSnapshot,
        remote: &RemoteSnapshot,
        folds_case: bool,
    ) -> NameIndex {
        let mut index = NameIndex { folds_case, ..Default::default() };
        for path in base.keys().chain(local.files.keys()).chain(remote.files.keys()) {
            index.add(path);
        }
        index.unknown = local
            .unreadable
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .chain(local.unsyncable.iter().filter(|u| u.side == Side::Local).map(|u| u.name.clone()))
            .collect();
        index
    }

    /// Records a file path (a name a dirty pass saw).
    pub fn add(&mut self, path: &str) {
        if !self.files.insert(digest(path)) {
            return; // known, with the folders above it
        }
        for spelling in prefixes(path) {
            let spelled = digest(spelling);
            self.spellings
                .entry(digest(&keypath::folded(spelling, self.folds_case)))
                .and_modify(|known| {
                    if *known != spelled {
                        *known = MANY
                    }
                })
                .or_insert(spelled);
        }
    }

    /// Whether `path`, or a folder above it, may collide with a known name:
    /// another spelling of it or of a folder above it, or a known file
    /// where it has a folder.
    pub fn may_collide(&self, path: &str) -> bool {
        prefixes(path).any(|spelling| {
            let known = self.spellings.get(&digest(&keypath::folded(spelling, self.folds_case)));
            let above = spelling.len() < path.len();
            known.is_some_and(|&k| k != digest(spelling)) || (above && self.files.contains(&digest(spelling)))
        })
    }

    /// Whether `path` is at or below a path the last full scan could not read or sync.
    fn unknown_covers(&self, path: &str) -> bool {
        self.unknown.iter().any(|u| within(path, u))
    }
}

/// One scope as the local look found it.
struct Scope {
    rel: String,
    force: bool,
    local: LocalSnapshot,
    base: Vec<BaselineRow>,
}

impl Scope {
    /// Whether the local side is exactly its base rows. A row recorded so
    /// soon after a write that its stat proves nothing (a download that
    /// just landed) needs the content's hash too ([`Scope::hash_racy`]).
    fn matches_base(&self) -> bool {
        self.local.unsyncable.is_empty()
            && self.local.unreadable.is_empty()
            && self.local.files.len() == self.base.len()
            && self.base.iter().all(|b| {
                self.local.files.get(&b.path).is_some_and(|l| {
                    base::local_matches(b, l)
                        && (!base::racy(b) || (l.hash.is_some() && l.hash == b.local.hash))
                })
            })
    }

    /// Hashes the files whose stat matches a racy base row (as a full pass
    /// would before planning), up to [`ECHO_HASH_MAX`] bytes each: enough
    /// to tell the executor's own fresh download from a change, without a
    /// request. A bigger one is left to the pass's own doubt settling.
    fn hash_racy(&mut self, root: &Path) {
        for b in self.base.iter().filter(|b| base::racy(b) && b.local.hash.is_some()) {
            if let Some(l) = self.local.files.get_mut(&b.path) {
                if base::local_matches(b, l) && l.size <= ECHO_HASH_MAX {
                    l.hash = snapshot::hash_file(&root.join(&b.path)).ok();
                }
            }
        }
    }
}

/// The largest file a dirty pass hashes to see whether it is only the
/// executor's own write coming back.
const ECHO_HASH_MAX: u64 = 8 * 1024 * 1024;

enum Look {
    Full(String),
    Scopes(Arc<IgnoreRules>, Vec<Scope>),
}

/// The local side of each path: stats, scans of changed folders, base rows.
/// Blocking (file system and database).
fn look_locally(ctx: &PassContext, paths: &BTreeMap<String, DirtyPath>) -> Result<Look, PassError> {
    let root = &ctx.pair.root;
    if snapshot::check_root(root).is_err() {
        return Ok(Look::Full("the folder cannot be read".into()));
    }
    let rules = match IgnoreRules::load(root) {
        Ok(r) => r,
        Err(_) => return Ok(Look::Full("the ignore file cannot be read".into())),
    };
    // A path below another changed path is that one's scope.
    let mut covering: BTreeMap<&str, DirtyPath> = BTreeMap::new();
    for (path, d) in paths {
        let above = prefixes(path).filter(|a| a.len() < path.len()).find(|a| paths.contains_key(*a));
        match above {
            Some(a) => covering.entry(a).or_default().force |= d.force,
            None => covering.entry(path).or_default().force |= d.force,
        }
    }
    if covering.len() > MAX_DIRTY_PATHS {
        return Ok(Look::Full("many paths changed at once".into()));
    }
    let mut scopes = Vec::new();
    for (rel, d) in covering {
        if rel == IGNORE_FILE {
            return Ok(Look::Full("the ignore rules changed".into()));
        }
        if keypath::check_relative(rel).is_err() {
            return Ok(Look::Full(format!("{rel} cannot be a key")));
        }
        let Some(local) = look_at(root, rel, &rules) else { continue };
        let local = match local {
            Ok(local) => local,
            Err(why) => return Ok(Look::Full(why)),
        };
        let base = {
            let store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
            store.baselines_below(ctx.pair.id, rel)?
        };
        let mut scope = Scope { rel: rel.to_string(), force: d.force, local, base };
        if !scope.force {
            scope.hash_racy(root);
        }
        scopes.push(scope);
    }
    Ok(Look::Scopes(Arc::new(rules), scopes))
}

/// What is at `rel` and below it locally: `None` when it is ignored (or
/// our own temp file), `Err` with why a full pass must look instead.
fn look_at(root: &Path, rel: &str, rules: &IgnoreRules) -> Option<Result<LocalSnapshot, String>> {
    // Every folder above must be a folder (never a link: a scan does not
    // follow them, and a stat through one would look outside the root).
    let mut gone = false;
    for above in prefixes(rel).filter(|a| a.len() < rel.len()) {
        if rules.is_ignored_dir(above) {
            return None;
        }
        match root.join(above).symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                gone = true;
                break;
            }
            Ok(_) => return Some(Err(format!("{above} is no longer a folder"))),
            Err(e) => return Some(Err(format!("{above}: {e}"))),
        }
    }
    let meta = match gone {
        true => None,
        false => match root.join(rel).symlink_metadata() {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Some(Err(format!("{rel}: {e}"))),
        },
    };
    let mut local = LocalSnapshot::default();
    match meta {
        // Gone: its base rows (the file's, or a folder's) against the bucket.
        None if rules.is_ignored(rel) && rules.is_ignored_dir(rel) => return None,
        None => {}
        Some(m) if m.is_dir() => {
            if rules.is_ignored_dir(rel) {
                return None;
            }
            local = snapshot::scan_below(root, rel, rules);
        }
        Some(m) if m.is_file() => {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if name.starts_with(crate::transfer::TEMP_PREFIX) || rules.is_ignored(rel) {
                return None;
            }
            local.files.insert(rel.to_string(), snapshot::stat(&m));
        }
        Some(_) => return Some(Err(format!("{rel} is a link or a special file"))),
    }
    Some(Ok(local))
}

/// Runs a pass over `paths` (relative, each with everything below it).
/// Emits a status only once it asks the bucket something.
pub async fn run_dirty_pass(
    ctx: &PassContext,
    paths: &BTreeMap<String, DirtyPath>,
    hints: &Hints,
    index: &mut NameIndex,
) -> Result<DirtyOutcome, PassError> {
    let full = |why: &str| Ok(DirtyOutcome::NeedsFull(why.to_string()));
    let pair = &ctx.pair;
    if ctx.bucket_in_use != pair.bucket {
        return full("the policy points at another bucket");
    }
    if let Some(p) = paths.keys().find(|p| index.unknown_covers(p)) {
        return Ok(DirtyOutcome::NeedsFull(format!(
            "{p} is at or below a path the last scan could not read"
        )));
    }
    {
        let store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        if store.pending_deletes(pair.id)?.is_some() {
            return full("a list of deletes waits for a decision");
        }
    }
    let (rules, scopes) = {
        let ctx = ctx.clone();
        let paths = paths.clone();
        match tokio::task::spawn_blocking(move || look_locally(&ctx, &paths))
            .await
            .expect("the local look does not panic")?
        {
            Look::Full(why) => return Ok(DirtyOutcome::NeedsFull(why)),
            Look::Scopes(rules, scopes) => (rules, scopes),
        }
    };
    // The echo filter: what still matches its base changed nothing.
    let scopes: Vec<Scope> = scopes.into_iter().filter(|s| s.force || !s.matches_base()).collect();
    if scopes.is_empty() {
        return Ok(DirtyOutcome::Clean);
    }
    for s in &scopes {
        let names = s.local.files.keys().map(String::as_str).chain([s.rel.as_str()]);
        if let Some(p) = names.into_iter().find(|p| index.may_collide(p)) {
            return Ok(DirtyOutcome::NeedsFull(format!("{p} may collide with another name")));
        }
    }

    // Files still being written wait whatever the bucket holds (in these
    // modes a local change is sent, and sending waits for quiet): no
    // request for them until they are quiet.
    let now_ms = ctx.clock.now_ms();
    let (mut deferred, mut ready_ms) = (Vec::new(), None::<i64>);
    let scopes: Vec<Scope> = scopes
        .into_iter()
        .filter(|s| {
            let Some(quiet_at) = still_written(ctx, hints, s, now_ms) else { return true };
            deferred.push(s.rel.clone());
            ready_ms = Some(ready_ms.map_or(quiet_at, |r| r.min(quiet_at)));
            false
        })
        .collect();
    if scopes.is_empty() {
        return Ok(DirtyOutcome::Deferred { waiting: deferred, ready_ms: ready_ms.unwrap_or(now_ms) });
    }
    if scopes.len() > MAX_LISTINGS {
        return full("many paths changed at once");
    }

    ctx.events.status(crate::event::PairStatus::Scanning);
    // Owned names into the stream (a closure over `&Scope` would make the
    // runner's future not provably `Send`).
    let rels: Vec<String> = scopes.iter().map(|s| s.rel.clone()).collect();
    let listings: Vec<RemoteSnapshot> = futures::stream::iter(rels)
        .map(|rel| {
            let rules = rules.clone();
            async move { snapshot::list_remote_below(ctx.remote.as_ref(), &pair.prefix, &rel, &rules).await }
        })
        .buffered(LISTINGS_IN_FLIGHT)
        .try_collect()
        .await
        .map_err(PassError::Listing)?;
    for listing in &listings {
        if let Some(p) = listing.files.keys().find(|p| index.may_collide(p)) {
            return Ok(DirtyOutcome::NeedsFull(format!("{p} may collide with another name")));
        }
    }

    let mut local = LocalSnapshot::default();
    let mut remote = RemoteSnapshot::default();
    let mut base = BTreeMap::new();
    let mut rels = Vec::new();
    for (s, listed) in scopes.into_iter().zip(listings) {
        rels.push(s.rel);
        local.files.extend(s.local.files);
        local.unsyncable.extend(s.local.unsyncable);
        local.unreadable.extend(s.local.unreadable);
        remote.files.extend(listed.files);
        remote.unsyncable.extend(listed.unsyncable);
        base.extend(s.base.into_iter().map(|b| (b.path.clone(), b)));
    }
    local.unsyncable.sort();
    local.unreadable.sort();
    remote.unsyncable.sort();
    pass::settle_doubts(ctx, &base, &mut local, &mut remote).await;

    let planned = plan::plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: pair.mode,
        now_ms: ctx.clock.now_ms(),
        device: &ctx.device,
        quiet_ms: ctx.quiet_ms,
        folds_case: index.folds_case,
        settled: &hints.settled,
    });
    if let Some(a) =
        planned.actions.iter().find(|a| a.is_delete() || matches!(a, plan::Action::Conflict { .. }))
    {
        return Ok(DirtyOutcome::NeedsFull(format!(
            "{} is a delete or a conflict, decided by a full pass",
            a.path()
        )));
    }
    for path in local.files.keys().chain(remote.files.keys()) {
        index.add(path);
    }
    let mut report = PassReport {
        pair: pair.name.clone(),
        unsyncable: planned.unsyncable,
        waiting: planned.waiting,
        warnings: planned.warnings,
        unreadable: std::mem::take(&mut local.unreadable),
        ..Default::default()
    };
    report.waiting.extend(deferred.iter().cloned());
    pass::execute(ctx, planned.actions, &mut report).await;
    report.sort();
    rels.extend(deferred.iter().cloned());
    rels.sort();
    Ok(DirtyOutcome::Done(Box::new(DirtyDone { report, scopes: rels, deferred, ready_ms })))
}

/// When a scope is one file still being written (changed since its base,
/// modified inside the quiet period, not seen closed since), in a mode
/// where that makes it wait whatever the bucket holds: when it is quiet.
fn still_written(ctx: &PassContext, hints: &Hints, s: &Scope, now_ms: i64) -> Option<i64> {
    if ctx.pair.mode == Mode::Download || s.force {
        return None;
    }
    let l = s.local.files.get(&s.rel)?;
    let only_itself = s.local.files.len() == 1 && s.base.iter().all(|b| b.path == s.rel);
    let changed = s.base.iter().all(|b| !base::local_matches(b, l));
    let quiet = now_ms - l.mtime_ms >= ctx.quiet_ms
        || base::from_the_future(l.mtime_ms, now_ms)
        || hints.settled.get(&s.rel).is_some_and(|&closed| plan::settled(l, closed));
    (only_itself && changed && !quiet).then(|| l.mtime_ms + ctx.quiet_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[&str], folds_case: bool) -> NameIndex {
        let mut i = NameIndex { folds_case, ..Default::default() };
        for p in paths {
            i.add(p);
        }
        i
    }

    #[test]
    fn known_names_do_not_collide_with_themselves() {
        let i = index(&["docs/a.txt", "docs/b.txt", "top"], false);
        assert!(!i.may_collide("docs/a.txt"));
        assert!(!i.may_collide("docs/new.txt"), "a new name in a known folder");
        assert!(!i.may_collide("elsewhere/x"));
    }

    #[test]
    fn another_spelling_of_a_name_or_a_folder_above_may_collide() {
        let nfc = "caf\u{e9}";
        let nfd = "cafe\u{301}";
        let i = index(&[&format!("{nfc}/menu.txt"), "Docs/a.txt"], false);
        assert!(i.may_collide(&format!("{nfd}/menu.txt")), "the folder in another normalisation");
        assert!(i.may_collide(nfd));
        assert!(!i.may_collide("docs/a.txt"), "case is no collision here");
        let folding = index(&["Docs/a.txt"], true);
        assert!(folding.may_collide("docs/a.txt"));
        assert!(folding.may_collide("DOCS"));
        assert!(!folding.may_collide("Docs/b.txt"));
    }

    #[test]
    fn a_known_file_where_a_folder_is_needed_may_collide() {
        let i = index(&["report", "d/x"], false);
        assert!(i.may_collide("report/part-1"));
        assert!(!i.may_collide("d/y"), "d is a folder");
    }

    #[test]
    fn paths_within_a_scope() {
        assert!(within("a", "a") && within("a/b", "a") && within("x", ""));
        assert!(!within("ab", "a") && !within("a.txt", "a") && !within("b/a", "a"));
    }
}
