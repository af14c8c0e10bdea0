//! The engine of a home, hosted in this process: the home's lock, one
//! runner per pair, and what they report (each pair's [`PairState`], the
//! last pass report). The desktop app and `bucketsync daemon` both run it;
//! whoever holds the lock is the only one touching the pairs.

use crate::event::{PairState, UiEvents};
use crate::lock::{self, Holder, HomeLock, LockHolder};
use crate::status_file::EngineStatus;
use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::event::{Event, EventKind, EventSink};
use bucketsync_engine::report::PassReport;
use bucketsync_engine::runner::{self, Command, PairHandle, RunnerConfig};
use bucketsync_store::PairRow;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use ts_rs::TS;

/// Who hears the engine: a front end's own renderer (the CLI's lines and
/// progress bars), or the UI's typed, throttled events.
#[derive(Clone)]
pub enum Listener {
    Engine(EventSink),
    Ui(UiEvents),
}

/// The engine as the UI shows it.
#[derive(Clone, Debug, Serialize, TS)]
pub struct EngineView {
    /// This process runs the pairs.
    pub running: bool,
    /// Who holds the home's lock when it is not this process.
    pub held_by: Option<LockHolder>,
    /// Why starting failed (another engine, an unreadable home, ...).
    pub refused: Option<ApiError>,
}

/// What every runner's events update, shared with the event callbacks.
pub(crate) struct Shared {
    home: PathBuf,
    holder: Mutex<Option<Holder>>,
    states: Mutex<BTreeMap<String, PairState>>,
    reports: Mutex<HashMap<String, PassReport>>,
}

impl Shared {
    fn record(&self, pair: &str, state: PairState) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.insert(pair.to_string(), state);
        let status = EngineStatus {
            pid: std::process::id(),
            holder: *self.holder.lock().unwrap_or_else(|p| p.into_inner()),
            pairs: states.clone(),
        };
        drop(states);
        if let Err(e) = status.write(&self.home) {
            tracing::warn!(error = %e, "cannot write the engine status file");
        }
    }
}

struct Running {
    _lock: HomeLock,
    config: RunnerConfig,
    listener: Listener,
    /// Every runner reports here: it records, then tells the listener.
    tracking: EventSink,
    handles: BTreeMap<String, PairHandle>,
}

#[derive(Default)]
struct HostState {
    running: Option<Running>,
    /// The last start's arguments, for a retry.
    last: Option<(Holder, RunnerConfig, Listener)>,
    refused: Option<ApiError>,
}

/// The engine slot of an [`Api`].
pub struct EngineHost {
    state: tokio::sync::Mutex<HostState>,
    pub(crate) shared: Arc<Shared>,
}

impl EngineHost {
    pub(crate) fn new(home: PathBuf) -> EngineHost {
        EngineHost {
            state: Default::default(),
            shared: Arc::new(Shared {
                home,
                holder: Mutex::new(None),
                states: Mutex::new(BTreeMap::new()),
                reports: Mutex::new(HashMap::new()),
            }),
        }
    }
}

fn tracking_sink(shared: Arc<Shared>, listener: Listener) -> EventSink {
    EventSink::new(move |e: &Event| {
        match &e.kind {
            EventKind::Status { status } => shared.record(&e.pair, status.into()),
            EventKind::PassFinished { report } => {
                shared
                    .reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(e.pair.clone(), (**report).clone());
            }
            _ => {}
        }
        match &listener {
            Listener::Engine(sink) => sink.emit(e.clone()),
            Listener::Ui(ui) => ui.engine_event(e),
        }
    })
}

fn not_running() -> ApiError {
    ApiError::new(ErrorKind::Busy, "this window is not running the sync engine")
        .with_hint("another Bucketsync (a daemon) runs the pairs: stop it, then choose Retry")
}

impl Api {
    /// Takes the home's lock and starts a runner for every pair. Refused
    /// (with who holds the lock) when another engine runs this home; the
    /// refusal is kept for [`Api::engine_view`] and [`Api::retry_engine`].
    pub async fn start_engine(
        &self,
        holder: Holder,
        config: RunnerConfig,
        listener: Listener,
    ) -> Result<(), ApiError> {
        let mut state = self.engine.state.lock().await;
        if state.running.is_some() {
            return Ok(());
        }
        state.last = Some((holder, config, listener.clone()));
        let lock = match lock::acquire(self.home(), holder) {
            Ok(lock) => lock,
            Err(e) => {
                state.refused = Some(e.clone());
                return Err(e);
            }
        };
        state.refused = None;
        if let Listener::Ui(ui) = &listener {
            ui.set_notices(self.settings().map(|s| s.notifications).unwrap_or(true));
        }
        *self.engine.shared.holder.lock().unwrap_or_else(|p| p.into_inner()) = Some(holder);
        let tracking = tracking_sink(self.engine.shared.clone(), listener.clone());
        let mut running = Running { _lock: lock, config, listener, tracking, handles: BTreeMap::new() };
        let rows = self.store().list_pairs()?;
        for row in rows {
            self.spawn_pair(&mut running, &row).await;
        }
        // An engine with no pairs still tells `status` it runs.
        self.engine.shared.record_all();
        tracing::info!(holder = holder.describe(), pairs = running.handles.len(), "engine started");
        state.running = Some(running);
        Ok(())
    }

    /// Starts again with the last start's arguments (after the other engine quit).
    pub async fn retry_engine(&self) -> Result<EngineView, ApiError> {
        let last = self.engine.state.lock().await.last.clone();
        let (holder, config, listener) = last.ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "the engine was never started in this process")
        })?;
        // A second refusal is shown through the view, not as a failed command.
        let _ = self.start_engine(holder, config, listener).await;
        Ok(self.engine_view().await)
    }

    /// Stops every runner (each finishes or abandons its current step
    /// safely), removes the status file and releases the lock.
    pub async fn stop_engine(&self) {
        let running = self.engine.state.lock().await.running.take();
        if let Some(running) = running {
            for (_, handle) in running.handles {
                handle.stop().await;
            }
            EngineStatus::remove(self.home());
            *self.engine.shared.holder.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::info!("engine stopped");
        }
    }

    pub async fn engine_view(&self) -> EngineView {
        let state = self.engine.state.lock().await;
        EngineView {
            running: state.running.is_some(),
            held_by: if state.running.is_some() { None } else { lock::holder(self.home()) },
            refused: state.refused.clone(),
        }
    }

    /// Changes the runners' timings: every runner restarts with them.
    pub async fn set_runner_config(&self, config: RunnerConfig) {
        let names = {
            let mut state = self.engine.state.lock().await;
            if let Some(last) = state.last.as_mut() {
                last.1 = config;
            }
            match state.running.as_mut() {
                Some(r) => {
                    r.config = config;
                    r.handles.keys().cloned().collect::<Vec<_>>()
                }
                None => return,
            }
        };
        self.engine_restart_pairs(&names).await;
    }

    /// Turns the UI's notices on or off (the "notifications" setting).
    pub(crate) async fn set_notices(&self, on: bool) {
        if let Some((_, _, Listener::Ui(ui))) = &self.engine.state.lock().await.last {
            ui.set_notices(on);
        }
    }

    async fn spawn_pair(&self, running: &mut Running, row: &PairRow) {
        match self.pass_context(row, running.tracking.clone()).await {
            Ok(ctx) => {
                running.handles.insert(row.name.clone(), runner::spawn(ctx, running.config, row.paused));
            }
            Err(e) => {
                tracing::warn!(pair = %row.name, error = %e, "pair cannot start");
                let state = PairState::from_error(&e);
                self.engine.shared.record(&row.name, state.clone());
                match &running.listener {
                    Listener::Engine(sink) => sink.emit(Event {
                        pair_id: row.id,
                        pair: row.name.clone(),
                        kind: EventKind::Warning { message: format!("cannot start: {e}") },
                    }),
                    Listener::Ui(ui) => ui.state(&row.name, state),
                }
            }
        }
    }

    /// A new pair starts at once when this process runs the engine.
    pub(crate) async fn engine_pair_added(&self, name: &str) {
        let mut state = self.engine.state.lock().await;
        let Some(running) = state.running.as_mut() else { return };
        if let Ok(row) = self.pair_row(name) {
            self.spawn_pair(running, &row).await;
        }
    }

    pub(crate) async fn engine_pair_paused(&self, name: &str, paused: bool) {
        let mut state = self.engine.state.lock().await;
        let Some(running) = state.running.as_mut() else { return };
        match running.handles.get(name) {
            Some(h) => h.send(if paused { Command::Pause } else { Command::Resume }),
            // It could not start before (e.g. its secret was unreadable): try again.
            None => {
                if let Ok(row) = self.pair_row(name) {
                    self.spawn_pair(running, &row).await;
                }
            }
        }
    }

    pub(crate) async fn engine_pair_removed(&self, name: &str) {
        let handle = match self.engine.state.lock().await.running.as_mut() {
            Some(running) => {
                if let Listener::Ui(ui) = &running.listener {
                    ui.forget(name);
                }
                running.handles.remove(name)
            }
            None => None,
        };
        if let Some(h) = handle {
            h.stop().await;
        }
        self.engine.shared.states.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.engine.shared.reports.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.engine.shared.record_all();
    }

    /// Restarts the named pairs' runners with their stored settings and a
    /// fresh context (new keys, a new mode, new timings).
    pub(crate) async fn engine_restart_pairs(&self, names: &[String]) {
        let mut state = self.engine.state.lock().await;
        let Some(running) = state.running.as_mut() else { return };
        for name in names {
            if let Some(h) = running.handles.remove(name) {
                h.stop().await;
            }
            if let Ok(row) = self.pair_row(name) {
                self.spawn_pair(running, &row).await;
            }
        }
    }

    /// Every pair of a policy starts over after the policy changed (new keys
    /// after "Enter new keys": the pair resumes by itself).
    pub(crate) async fn engine_restart_policy(&self, policy: &str) {
        let found = self.store().policy(policy);
        let Ok(Some(p)) = found else { return };
        let rows = self.store().pairs_of_policy(p.id).unwrap_or_default();
        let names: Vec<String> = rows.into_iter().map(|r| r.name).collect();
        self.engine_restart_pairs(&names).await;
    }

    async fn send(&self, name: &str, command: Command) -> Result<(), ApiError> {
        self.pair_row(name)?;
        let state = self.engine.state.lock().await;
        let running = state.running.as_ref().ok_or_else(not_running)?;
        let handle = running.handles.get(name).ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, format!("pair '{name}' is not running"))
                .with_hint("see its error on the dashboard")
        })?;
        handle.send(command);
        Ok(())
    }

    /// Tells the pair's runner to sync now when this process runs it;
    /// false when no runner here has it (the caller syncs another way).
    pub(crate) async fn engine_sync_if_running(&self, name: &str) -> bool {
        let state = self.engine.state.lock().await;
        match state.running.as_ref().and_then(|r| r.handles.get(name)) {
            Some(h) => {
                h.send(Command::SyncNow);
                true
            }
            None => false,
        }
    }

    /// A pass now, without waiting for the next poll.
    pub async fn sync_now(&self, name: &str) -> Result<(), ApiError> {
        match self.send(name, Command::SyncNow).await {
            // A pair that could not start (unreadable secret, ...) gets another try.
            Err(e) if e.kind == ErrorKind::Internal => {
                self.engine_restart_pairs(&[name.to_string()]).await;
                Ok(())
            }
            other => other,
        }
    }

    /// Goes ahead with the deletes of list `set`, as shown; refused (and
    /// nothing deleted) when the list waiting is another one by now.
    pub async fn confirm_deletes(&self, name: &str, set: &str) -> Result<(), ApiError> {
        self.check_waiting_list(name, set)?;
        self.send(name, Command::ConfirmDeletes { set: set.to_string() }).await
    }

    /// Refuses the deletes of list `set`: nothing is deleted, and the next
    /// pass copies each file back to the side it is missing from. Refused
    /// when the list waiting is another one by now.
    pub async fn keep_files(&self, name: &str, set: &str) -> Result<(), ApiError> {
        self.check_waiting_list(name, set)?;
        self.send(name, Command::KeepFiles { set: set.to_string() }).await
    }

    /// The list the user decided on must be the one waiting. (The runner
    /// checks again before acting: a pass may replace the list meanwhile.)
    fn check_waiting_list(&self, name: &str, set: &str) -> Result<(), ApiError> {
        let row = self.pair_row(name)?;
        let pending = self.store().pending_deletes(row.id)?;
        match pending {
            Some(p) if p.set_id == set => Ok(()),
            Some(p) => Err(crate::sync::stale_list(
                set,
                &[format!("{name} waits for list {} with {} file(s)", p.set_id, p.deletes.len())],
            )),
            None => Err(crate::sync::stale_list(set, &[])),
        }
    }

    pub async fn pause_all(&self) -> Result<(), ApiError> {
        let pairs = self.store().list_pairs()?;
        for p in pairs {
            self.set_pair_paused(&p.name, true).await?;
        }
        Ok(())
    }

    pub async fn resume_all(&self) -> Result<(), ApiError> {
        let pairs = self.store().list_pairs()?;
        for p in pairs {
            self.set_pair_paused(&p.name, false).await?;
        }
        Ok(())
    }

    /// A pair's state: from this process's engine, else from the engine
    /// that runs the home (its status file), else paused / not running.
    pub fn pair_state(&self, row: &PairRow) -> PairState {
        if let Some(s) = self.engine.shared.states.lock().unwrap_or_else(|p| p.into_inner()).get(&row.name) {
            return s.clone();
        }
        if let Some(s) = EngineStatus::read(self.home()).and_then(|f| f.pairs.get(&row.name).cloned()) {
            return s;
        }
        if row.paused {
            PairState::Paused
        } else {
            PairState::NotRunning
        }
    }

    /// Every pair at a glance (the tray).
    pub fn overall(&self) -> crate::event::Overall {
        let running = self.engine.shared.holder.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        let states = self.engine.shared.states.lock().unwrap_or_else(|p| p.into_inner());
        crate::event::Overall::of(running, states.values())
    }

    /// The last pass report of a pair run by this process.
    pub(crate) fn last_report(&self, pair: &str) -> Option<PassReport> {
        self.engine.shared.reports.lock().unwrap_or_else(|p| p.into_inner()).get(pair).cloned()
    }
}

impl Shared {
    /// Rewrites the status file with the current states.
    fn record_all(&self) {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let status = EngineStatus {
            pid: std::process::id(),
            holder: *self.holder.lock().unwrap_or_else(|p| p.into_inner()),
            pairs: states,
        };
        if let Err(e) = status.write(&self.home) {
            tracing::warn!(error = %e, "cannot write the engine status file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bucketsync_store::{PendingDelete, PendingDeleteSet, PolicyRow};

    /// A home with one pair whose list of deletes `shown` waits.
    fn home_with_waiting_list(shown: &str) -> (tempfile::TempDir, Api) {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let policy_id = api
            .store()
            .insert_policy(&PolicyRow {
                id: 0,
                name: "g".into(),
                provider: "garage".into(),
                endpoint: Some("http://127.0.0.1:1".into()),
                region: "garage".into(),
                bucket: "b".into(),
                addressing: "path-style".into(),
                public: false,
                cdn_url: None,
                account_id: None,
                access_key_id: "k".into(),
                secret_source: "env:UNUSED".into(),
                created_ms: 0,
                updated_ms: 0,
                conditional_writes: "unknown".into(),
            })
            .unwrap();
        let pair_id = api
            .store()
            .insert_pair(&PairRow {
                id: 0,
                name: "docs".into(),
                policy_id,
                local_root: tmp.path().join("docs").display().to_string(),
                prefix: "docs/".into(),
                mode: "two-way".into(),
                paused: false,
                max_delete_percent: 50,
                bucket: "b".into(),
                created_ms: 0,
            })
            .unwrap();
        api.store()
            .put_pending_deletes(&PendingDeleteSet {
                pair_id,
                set_id: shown.into(),
                why: "share".into(),
                reason: "3 of 4".into(),
                asked_ms: 0,
                confirmed: false,
                kept: false,
                deletes: vec![PendingDelete {
                    side: "remote".into(),
                    path: "a".into(),
                    version: "1:e".into(),
                }],
            })
            .unwrap();
        (tmp, api)
    }

    /// The app's Confirm and Keep name the list on screen; another list
    /// waiting by now is refused as stale, before the runner is told.
    #[tokio::test]
    async fn a_decision_on_a_list_that_is_not_waiting_is_refused_as_stale() {
        let (_tmp, api) = home_with_waiting_list("current");
        for e in [
            api.confirm_deletes("docs", "earlier").await.unwrap_err(),
            api.keep_files("docs", "earlier").await.unwrap_err(),
        ] {
            assert_eq!(e.kind, ErrorKind::Stale, "{e:?}");
            assert!(e.message.contains("earlier") && e.message.contains("current"), "{}", e.message);
        }
        // The list waiting passes the check (and then needs a running engine).
        assert_eq!(api.confirm_deletes("docs", "current").await.unwrap_err().kind, ErrorKind::Busy);
    }

    /// `sync --confirm-deletes=ID` with an ID no pair waits for runs nothing.
    #[tokio::test]
    async fn sync_confirming_a_list_that_is_not_waiting_is_refused_before_any_pass() {
        let (_tmp, api) = home_with_waiting_list("current");
        let req = crate::sync::SyncRequest {
            pair: Some("docs".into()),
            confirm_deletes: true,
            confirm_set: Some("earlier".into()),
            keep_set: None,
        };
        let e = api.sync(req, EventSink::none()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Stale, "{e:?}");
        assert!(e.message.contains("docs waits for list current"), "{}", e.message);
    }
}
