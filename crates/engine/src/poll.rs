//! The runner's bucket poll while the watcher covers the folder: the
//! listing of the whole prefix, compared page by page with the base rows,
//! without a scan of the folder.
//!
//! A full pass every poll stats every local file and holds the scan, the
//! base rows and the listing at once (at 100,000 files about a second of
//! CPU and over 100 MiB). Between the runner's periodic full passes, local
//! changes come from the watcher as dirty passes; what the poll must find
//! is what changed in the bucket. So it walks the listing and the base rows
//! side by side, both in key order, holding one page of each, and names
//! the paths whose object is new or differs from its base row.
//!
//! It decides nothing and writes nothing: the runner hands the paths it
//! names to a dirty pass, which stats them, lists them again and plans as a
//! full pass would (with the executor's checks before every write), and
//! anything it cannot judge alone (an object gone from the bucket, a name
//! that cannot sync, a listing out of order, many changes) goes to a full
//! pass. A local change the watcher did not report waits for the next full
//! pass, as it did between polls before.

use crate::ignore::IgnoreRules;
use crate::keypath::{self, KeyMeaning, Side, Unsyncable};
use crate::pass::{PassContext, PassError};
use bucketsync_store::RemoteBase;
use std::collections::VecDeque;

/// Base rows read at a time: about one listing page.
const BASE_PAGE: usize = 1000;

/// What the poll found.
#[derive(Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// Every object matches its base row, and every base row has its object.
    Unchanged,
    /// These paths (relative, in order) are new in the bucket or changed
    /// there: a dirty pass looks at them.
    Changed(Vec<String>),
    /// A full pass must look (the reason, for the log).
    NeedsFull(String),
}

/// Lists the pair's prefix and compares it with the base rows.
/// `known` is what the last pass reported as unable to sync: a remote name
/// among them is no news; any other such name is, for a full pass.
pub async fn poll_bucket(ctx: &PassContext, known: &[Unsyncable]) -> Result<PollOutcome, PassError> {
    let full = |why: &str| Ok(PollOutcome::NeedsFull(why.to_string()));
    let pair = &ctx.pair;
    if ctx.bucket_in_use != pair.bucket {
        return full("the policy points at another bucket");
    }
    let root = pair.root.clone();
    let rules = tokio::task::spawn_blocking(move || IgnoreRules::load(&root))
        .await
        .expect("loading the rules does not panic");
    let Ok(rules) = rules else { return full("the ignore file cannot be read") };
    let prefix = pair.prefix.as_str();
    // Objects the last pass could not sync (a hostile name, one of a
    // collision group): a full pass reported them and a full pass looks
    // again; handing them to a dirty pass every poll would decide nothing.
    let known: std::collections::HashSet<&str> =
        known.iter().filter(|u| u.side == Side::Remote).map(|u| u.name.as_str()).collect();
    let mut base = BaseRows { ctx, rows: VecDeque::new(), after: String::new(), done: false };
    let mut changed = Vec::new();
    let mut last: Option<String> = None;
    let mut token = None;
    loop {
        let page = ctx.remote.list_page(prefix, token).await.map_err(PassError::Listing)?;
        for o in page.objects {
            if !o.key.starts_with(prefix) {
                continue; // never ours
            }
            let unsyncable = known.contains(o.key.as_str());
            let rel = match keypath::relative_from_key(prefix, &o.key, o.size) {
                Ok(KeyMeaning::FolderMarker) => continue,
                Ok(KeyMeaning::File(rel)) => rel,
                Err(_) if unsyncable => continue,
                Err(_) => return full(&format!("{} cannot be synced (new in the bucket)", o.key)),
            };
            if rules.is_ignored(&rel) {
                continue;
            }
            // The walk side by side needs the server's order (UTF-8 bytes,
            // as S3 sorts keys and as the base rows are read).
            if last.as_ref().is_some_and(|l| *l >= rel) {
                return full("the listing is not in key order");
            }
            // Base rows before this key have no object any more.
            while let Some(b) = base.peek()? {
                if b.path >= rel {
                    break;
                }
                if !rules.is_ignored(&b.path) {
                    return full(&format!("{} is gone from the bucket", b.path));
                }
                base.pop();
            }
            let differs = match base.peek()? {
                Some(b) if b.path == rel => {
                    let differs = b.size != o.size || b.etag != o.etag;
                    base.pop();
                    differs
                }
                _ => true,
            };
            if differs && !unsyncable {
                changed.push(rel.clone());
            }
            if changed.len() > crate::dirty::MAX_DIRTY_PATHS {
                return full("many objects changed in the bucket");
            }
            last = Some(rel);
        }
        match page.continuation {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    while let Some(b) = base.peek()? {
        if !rules.is_ignored(&b.path) {
            return full(&format!("{} is gone from the bucket", b.path));
        }
        base.pop();
    }
    Ok(match changed.is_empty() {
        true => PollOutcome::Unchanged,
        false => PollOutcome::Changed(changed),
    })
}

/// The remote half of the pair's base rows in path order, read a page at
/// a time (the same (size, ETag) token as [`crate::base::remote_matches`]).
struct BaseRows<'a> {
    ctx: &'a PassContext,
    rows: VecDeque<RemoteBase>,
    /// The last path read.
    after: String,
    done: bool,
}

impl BaseRows<'_> {
    fn peek(&mut self) -> Result<Option<&RemoteBase>, PassError> {
        if self.rows.is_empty() && !self.done {
            let page = {
                let store = self.ctx.store.lock().unwrap_or_else(|p| p.into_inner());
                store.remote_bases_after(self.ctx.pair.id, &self.after, BASE_PAGE)?
            };
            self.done = page.len() < BASE_PAGE;
            if let Some(last) = page.last() {
                self.after = last.path.clone();
            }
            self.rows = page.into();
        }
        Ok(self.rows.front())
    }

    fn pop(&mut self) {
        self.rows.pop_front();
    }
}
