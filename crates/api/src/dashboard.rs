//! What the pairs dashboard shows in one call: the engine, every pair with
//! its state and its issues (conflicts, unsyncable names, failed actions,
//! each with a path to show in the folder), key-expiry reminders, and the
//! activity journal.

use crate::engine::EngineView;
use crate::event::{NoticeEvent, PairState};
use crate::pair::PairView;
use crate::sync::{ActionError, ActivityView, UnsyncableView};
use crate::{Api, ApiError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use ts_rs::TS;

/// A conflict copy the last pass made.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ConflictView {
    /// The copy's path below the pair's folder.
    pub path: String,
    /// The absolute path, for "Show in folder".
    pub reveal: String,
}

/// A name left alone, with where to look.
#[derive(Clone, Debug, Serialize, TS)]
pub struct UnsyncableIssue {
    #[serde(flatten)]
    #[ts(flatten)]
    pub name: UnsyncableView,
    /// The file (local names) or the pair's folder (keys in the bucket).
    pub reveal: String,
}

/// What the last pass left for the user to look at.
#[derive(Clone, Debug, Default, Serialize, TS)]
pub struct PairIssues {
    pub conflicts: Vec<ConflictView>,
    pub unsyncable: Vec<UnsyncableIssue>,
    pub errors: Vec<ActionError>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PairCard {
    pub pair: PairView,
    pub state: PairState,
    pub issues: PairIssues,
    /// Where the pair's ignore rules live (gitignore syntax).
    pub ignore_file: String,
}

/// A policy whose keys expire soon (or have).
#[derive(Clone, Debug, Serialize, TS)]
pub struct Reminder {
    pub policy: String,
    pub expires_on: String,
    /// Negative once expired.
    pub days_left: i64,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct Dashboard {
    pub engine: EngineView,
    /// Every pair at a glance (what the tray says).
    pub overall: crate::event::Overall,
    pub pairs: Vec<PairCard>,
    pub reminders: Vec<Reminder>,
}

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct ActivityQuery {
    /// One pair's entries; every pair's when absent.
    pub pair: Option<String>,
    /// Newest first, at most this many (default 200, at most 2,000).
    pub limit: Option<u32>,
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// The reminder for keys expiring on `expires_on`, as seen on `today`:
/// from a week ahead, on the day, and after.
pub fn reminder(policy: &str, expires_on: &str, today: time::Date) -> Option<Reminder> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(expires_on, &format).ok()?;
    let days_left = (day - today).whole_days();
    let message = match days_left {
        8.. => return None,
        1..=7 => format!(
            "The keys of {policy} expire on {expires_on} ({days_left} day(s) left). Create new ones at the provider and choose Enter new keys."
        ),
        0 => format!("The keys of {policy} expire today. Create new ones at the provider and choose Enter new keys."),
        _ => format!("The keys of {policy} expired on {expires_on}. Create new ones at the provider and choose Enter new keys."),
    };
    Some(Reminder { policy: policy.to_string(), expires_on: expires_on.to_string(), days_left, message })
}

impl Api {
    fn issues(&self, pair: &PairView) -> PairIssues {
        let Some(report) = self.last_report(&pair.name) else { return PairIssues::default() };
        let root = Path::new(&pair.local_root);
        PairIssues {
            conflicts: report
                .conflicts
                .iter()
                .map(|c| ConflictView { path: c.clone(), reveal: root.join(c).display().to_string() })
                .collect(),
            unsyncable: report
                .unsyncable
                .iter()
                .map(|u| UnsyncableIssue {
                    reveal: match u.side {
                        bucketsync_engine::keypath::Side::Local => root.join(&u.name).display().to_string(),
                        bucketsync_engine::keypath::Side::Remote => pair.local_root.clone(),
                    },
                    name: crate::sync::unsyncable_view(u.clone()),
                })
                .collect(),
            errors: report.errors.clone(),
        }
    }

    /// Everything the dashboard shows.
    pub async fn dashboard(&self) -> Result<Dashboard, ApiError> {
        let engine = self.engine_view().await;
        let rows = self.store().list_pairs()?;
        let mut pairs = Vec::new();
        for row in &rows {
            let pair = self.pair_view(&row.name)?;
            pairs.push(PairCard {
                state: self.pair_state(row),
                issues: self.issues(&pair),
                ignore_file: Path::new(&row.local_root).join(".bucketsyncignore").display().to_string(),
                pair,
            });
        }
        Ok(Dashboard { engine, overall: self.overall(), pairs, reminders: self.reminders()? })
    }

    /// Key-expiry reminders due today.
    pub fn reminders(&self) -> Result<Vec<Reminder>, ApiError> {
        let today = today();
        let store = self.store();
        let mut out = Vec::new();
        for k in store.key_expiries()? {
            if let Some(policy) = store.policy_by_id(k.policy_id)? {
                out.extend(reminder(&policy.name, &k.expires_on, today));
            }
        }
        Ok(out)
    }

    /// Reminders not yet notified at their stage (a week ahead, the day):
    /// each is marked so it is notified once.
    pub fn due_reminder_notices(&self) -> Result<Vec<NoticeEvent>, ApiError> {
        let today = today();
        let mut store = self.store();
        let mut out = Vec::new();
        for k in store.key_expiries()? {
            let Some(policy) = store.policy_by_id(k.policy_id)? else { continue };
            let Some(r) = reminder(&policy.name, &k.expires_on, today) else { continue };
            let stage = if r.days_left > 0 { "week" } else { "day" };
            if k.reminded.as_deref() == Some(stage) || k.reminded.as_deref() == Some("day") {
                continue;
            }
            store.set_key_reminded(k.policy_id, stage)?;
            out.push(NoticeEvent { title: "Keys expire soon".into(), body: r.message, pair: None });
        }
        Ok(out)
    }

    /// The journal, newest first: what was uploaded, downloaded, deleted,
    /// conflicted, when and why.
    pub fn activity(&self, q: &ActivityQuery) -> Result<Vec<ActivityView>, ApiError> {
        let store = self.store();
        let pair_id = match &q.pair {
            Some(name) => Some(store.pair(name)?.ok_or_else(|| crate::pair::not_found(name))?.id),
            None => None,
        };
        let names: std::collections::HashMap<i64, String> =
            store.list_pairs()?.into_iter().map(|p| (p.id, p.name)).collect();
        let limit = q.limit.unwrap_or(200).clamp(1, 2_000);
        Ok(store
            .recent_journal(pair_id, limit)?
            .into_iter()
            .map(|j| ActivityView {
                pair: j.pair_id.and_then(|id| names.get(&id).cloned()).unwrap_or_default(),
                at_ms: j.at_ms,
                action: j.action,
                path: j.path,
                detail: j.detail,
                bytes: j.bytes,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_start_a_week_ahead_and_stay_after_the_day() {
        let today = time::macros::date!(2030 - 01 - 10);
        assert!(reminder("r2", "2030-01-18", today).is_none(), "8 days ahead: not yet");
        assert_eq!(reminder("r2", "2030-01-17", today).unwrap().days_left, 7);
        assert!(reminder("r2", "2030-01-10", today).unwrap().message.contains("today"));
        assert!(reminder("r2", "2030-01-01", today).unwrap().message.contains("expired"));
        assert!(reminder("r2", "not a date", today).is_none());
    }

    #[tokio::test]
    async fn a_reminder_is_notified_once_per_stage() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let row = bucketsync_store::PolicyRow {
            id: 0,
            name: "r2".into(),
            provider: "r2".into(),
            endpoint: None,
            region: "auto".into(),
            bucket: "b".into(),
            addressing: "path-style".into(),
            public: false,
            cdn_url: None,
            account_id: None,
            access_key_id: "k".into(),
            secret_source: "env:X".into(),
            created_ms: 0,
            updated_ms: 0,
            conditional_writes: "unknown".into(),
        };
        let id = api.store().insert_policy(&row).unwrap();
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let soon = (today() + time::Duration::days(3)).format(&format).unwrap();
        api.store().set_key_expiry(id, Some(&soon)).unwrap();
        assert_eq!(api.reminders().unwrap().len(), 1);
        assert_eq!(api.due_reminder_notices().unwrap().len(), 1);
        assert!(api.due_reminder_notices().unwrap().is_empty(), "once a stage");
    }
}
