//! Syncing: one pass per pair (`sync`), the watching daemon, status, and
//! listing a bucket (`ls`).

use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::clock::SystemClock;
pub use bucketsync_engine::event::{Event, EventKind, EventSink, PairStatus};
use bucketsync_engine::event::{FaultKind, PairEvents};
pub use bucketsync_engine::keypath::{Reason, Side, Unsyncable};
use bucketsync_engine::pair::Mode;
use bucketsync_engine::pass::{run_pass, Pair, PassContext, PassError, PassOptions};
pub use bucketsync_engine::report::{ActionError, PassReport};
use bucketsync_engine::runner;
pub use bucketsync_engine::runner::RunnerConfig;
use bucketsync_engine::transfer::{TransferLimits, Transfers};
use bucketsync_remote::Remote;
use bucketsync_store::PairRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use ts_rs::TS;

/// What one pass of one pair did (the CLI's summary, the UI's result): the
/// engine's pass report as it is, plus how the pass ended.
#[derive(Clone, Debug, Default, Serialize, TS)]
pub struct SyncSummary {
    /// Empty lists when the pass stopped before executing.
    #[serde(flatten)]
    #[ts(flatten)]
    pub report: PassReport,
    /// Both sides agree on everything syncable and nothing failed.
    pub converged: bool,
    /// The pass stopped before deleting; the user must confirm.
    pub needs_confirmation: Option<ConfirmationView>,
    /// The pass stopped before planning (root missing, bucket unreachable, ...).
    pub error: Option<ApiError>,
}

impl SyncSummary {
    fn stopped(pair: &str) -> SyncSummary {
        SyncSummary { report: PassReport { pair: pair.into(), ..Default::default() }, ..Default::default() }
    }
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ConfirmationView {
    pub reason: String,
    pub deletes: Vec<PlannedDeleteView>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PlannedDeleteView {
    pub side: String,
    pub path: String,
}

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct SyncRequest {
    /// One pair by name; every pair that is not paused when absent.
    pub pair: Option<String>,
    /// Go ahead with deletes a guard would stop.
    #[serde(default)]
    pub confirm_deletes: bool,
}

/// A pair's state for `status`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairStatusView {
    pub name: String,
    pub local_root: String,
    pub remote: String,
    pub mode: String,
    pub paused: bool,
    /// `idle`, `scanning`, `transferring`, `paused`, `needs-confirmation`,
    /// `error`, or `not-running` when no daemon runs.
    pub state: String,
    /// The daemon's last status event for the pair, as JSON.
    #[ts(type = "unknown")]
    pub detail: Option<serde_json::Value>,
    /// The newest activity entries, newest first.
    pub recent: Vec<ActivityView>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ActivityView {
    pub at_ms: i64,
    pub action: String,
    pub path: String,
    pub detail: Option<String>,
}

/// One object for `ls`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ObjectView {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: Option<i64>,
}

fn summary_of(report: PassReport) -> SyncSummary {
    SyncSummary { converged: report.converged(), report, needs_confirmation: None, error: None }
}

fn pass_error(pair: &str, e: PassError) -> SyncSummary {
    let mut s = SyncSummary::stopped(pair);
    match e {
        PassError::NeedsConfirmation(n) => {
            s.needs_confirmation = Some(ConfirmationView {
                reason: n.reason,
                deletes: n
                    .deletes
                    .into_iter()
                    .map(|d| PlannedDeleteView {
                        side: match d.side {
                            bucketsync_engine::keypath::Side::Local => "local".into(),
                            bucketsync_engine::keypath::Side::Remote => "bucket".into(),
                        },
                        path: d.path,
                    })
                    .collect(),
            })
        }
        PassError::Listing(r) => s.error = Some(r.into()),
        e => {
            let (kind, hint) = match e.kind() {
                Some(FaultKind::RootMissing) => {
                    (ErrorKind::Io, "reconnect the drive or folder; nothing was deleted")
                }
                Some(FaultKind::StateMismatch) => (
                    ErrorKind::InvalidInput,
                    "point the policy back at the pair's bucket, or remove and re-add the pair",
                ),
                Some(FaultKind::IgnoreFile) => (ErrorKind::InvalidInput, "fix the .bucketsyncignore file"),
                Some(FaultKind::Store) => (ErrorKind::Internal, "see the log"),
                _ => (ErrorKind::Io, "check the folder's permissions"),
            };
            s.error = Some(ApiError::new(kind, e.to_string()).with_hint(hint));
        }
    }
    s
}

impl Api {
    /// Builds everything a pass of `row` needs.
    async fn pass_context(&self, row: &PairRow, sink: EventSink) -> Result<PassContext, ApiError> {
        let policy = self.store().policy_by_id(row.policy_id)?.ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, format!("pair '{}' refers to a missing policy", row.name))
        })?;
        let remote: Arc<dyn Remote> = self.remote(&policy.name).await?;
        let quirks = bucketsync_remote::provider::preset(&policy.provider).map(|p| p.quirks);
        let defaults = TransferLimits::default();
        let limits = TransferLimits {
            min_part_size: quirks
                .map_or(defaults.min_part_size, |q| q.min_part_size.max(defaults.min_part_size)),
            max_parts: quirks.map_or(defaults.max_parts, |q| q.max_parts),
            ..defaults
        };
        let clock: Arc<dyn bucketsync_engine::clock::Clock> = Arc::new(SystemClock);
        let transfers = Transfers::new(
            remote.clone(),
            self.store.clone(),
            limits,
            self.transfer_slots.clone(),
            clock.clone(),
        );
        let mode = Mode::parse(&row.mode).ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, format!("pair '{}' has an unknown mode", row.name))
        })?;
        Ok(PassContext {
            pair: Pair {
                id: row.id,
                name: row.name.clone(),
                root: row.local_root.clone().into(),
                prefix: row.prefix.clone(),
                mode,
                max_delete_percent: row.max_delete_percent,
                bucket: row.bucket.clone(),
            },
            remote,
            bucket_in_use: policy.bucket,
            transfers,
            store: self.store.clone(),
            trash_dir: self.home().join("trash").join(format!("{}-{}", row.id, row.name)),
            clock,
            device: bucketsync_engine::conflict::device_name(),
            quiet_ms: 0,
            events: PairEvents { pair_id: row.id, pair: row.name.clone(), sink },
        })
    }

    /// One full pass of one pair, or of every pair that is not paused.
    pub async fn sync(&self, req: SyncRequest, sink: EventSink) -> Result<Vec<SyncSummary>, ApiError> {
        let rows = match &req.pair {
            Some(name) => vec![self.pair_row(name)?],
            None => self.store().list_pairs()?.into_iter().filter(|p| !p.paused).collect(),
        };
        let mut out = Vec::new();
        for row in rows {
            let ctx = match self.pass_context(&row, sink.clone()).await {
                Ok(ctx) => ctx,
                Err(e) => {
                    out.push(SyncSummary { error: Some(e), ..SyncSummary::stopped(&row.name) });
                    continue;
                }
            };
            let opts = PassOptions { confirm_deletes: req.confirm_deletes, recover_uploads: true };
            out.push(match run_pass(&ctx, opts).await {
                Ok(report) => summary_of(report),
                Err(e) => pass_error(&row.name, e),
            });
        }
        Ok(out)
    }

    /// Runs every pair (watching, polling) until `shutdown` completes, then
    /// stops them all. The pairs' status is kept in `daemon-status.json` in
    /// the home for `status` in other processes.
    pub async fn daemon(
        &self,
        config: RunnerConfig,
        sink: EventSink,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ApiError> {
        let status_file = self.home().join("daemon-status.json");
        let statuses: Arc<Mutex<BTreeMap<String, PairStatus>>> = Default::default();
        let write_status = {
            let statuses = statuses.clone();
            let file = status_file.clone();
            move || {
                let doc = serde_json::json!({ "pid": std::process::id(), "pairs": &*statuses.lock().unwrap_or_else(|p| p.into_inner()) });
                let tmp = file.with_extension("json.tmp");
                if std::fs::write(&tmp, doc.to_string()).is_ok() {
                    let _ = std::fs::rename(&tmp, &file);
                }
            }
        };
        let tracking = {
            let statuses = statuses.clone();
            let write_status = write_status.clone();
            EventSink::new(move |e| {
                if let EventKind::Status { status } = &e.kind {
                    statuses.lock().unwrap_or_else(|p| p.into_inner()).insert(e.pair.clone(), status.clone());
                    write_status();
                }
                sink.emit(e.clone());
            })
        };
        let mut handles = Vec::new();
        let rows = self.store().list_pairs()?;
        for row in rows {
            match self.pass_context(&row, tracking.clone()).await {
                Ok(ctx) => {
                    let handle = Arc::new(runner::spawn(ctx, config, row.paused));
                    self.hosted.insert(&row.name, handle.clone());
                    handles.push(handle);
                }
                Err(e) => tracking.emit(Event {
                    pair_id: row.id,
                    pair: row.name.clone(),
                    kind: EventKind::Warning { message: format!("cannot start: {e}") },
                }),
            }
        }
        write_status();
        shutdown.await;
        drop(self.hosted.take_all());
        for h in handles {
            // A browser call may hold a clone for a moment; then dropping
            // it cancels the runner without waiting.
            if let Ok(h) = Arc::try_unwrap(h) {
                h.stop().await;
            }
        }
        let _ = std::fs::remove_file(&status_file);
        Ok(())
    }

    /// Every pair with its state (from a running daemon, if any) and recent activity.
    pub fn status(&self) -> Result<Vec<PairStatusView>, ApiError> {
        let daemon: Option<serde_json::Value> =
            std::fs::read_to_string(self.home().join("daemon-status.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .filter(|v: &serde_json::Value| {
                    v["pid"]
                        .as_u64()
                        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
                });
        let mut out = Vec::new();
        let rows = self.store().list_pairs()?;
        for row in rows {
            let detail = daemon.as_ref().map(|d| d["pairs"][&row.name].clone()).filter(|v| !v.is_null());
            let state = match (&detail, row.paused) {
                (Some(d), _) => d["state"].as_str().unwrap_or("idle").to_string(),
                (None, true) => "paused".into(),
                (None, false) => "not-running".into(),
            };
            let recent = self
                .store()
                .recent_journal(Some(row.id), 5)?
                .into_iter()
                .map(|j| ActivityView { at_ms: j.at_ms, action: j.action, path: j.path, detail: j.detail })
                .collect();
            out.push(PairStatusView {
                name: row.name.clone(),
                local_root: row.local_root.clone(),
                remote: format!("{}/{}", row.bucket, row.prefix),
                mode: row.mode.clone(),
                paused: row.paused,
                state,
                detail,
                recent,
            });
        }
        Ok(out)
    }

    /// Lists the objects of a policy's bucket under `prefix`.
    pub async fn ls(&self, policy: &str, prefix: &str) -> Result<Vec<ObjectView>, ApiError> {
        let remote = self.remote(policy).await?;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = remote.list_page(prefix, token).await?;
            out.extend(page.objects.into_iter().map(|o| ObjectView {
                key: o.key,
                size: o.size,
                etag: o.etag,
                last_modified_ms: o.last_modified_ms,
            }));
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }
}
