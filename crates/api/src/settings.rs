//! The app's settings: how often buckets are polled, how many transfers run
//! at once, notifications, start at login. Stored in the home's database,
//! applied to the running engine when saved.

use crate::{Api, ApiError};
use bucketsync_engine::runner::RunnerConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use ts_rs::TS;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AppSettings {
    /// How often each bucket is listed when nothing changes locally.
    pub poll_seconds: u32,
    /// Transfers (parts) in flight across all pairs.
    pub transfer_concurrency: u32,
    /// Native notifications for conflicts, errors that need you, and deletes to confirm.
    pub notifications: bool,
    /// Start Bucketsync (in the tray) when you log in.
    pub start_at_login: bool,
    /// Files a remote delete moved to the trash are removed after this many days.
    pub trash_keep_days: u32,
}

impl Default for AppSettings {
    fn default() -> Self {
        let runner = RunnerConfig::default();
        AppSettings {
            poll_seconds: runner.poll_interval.as_secs() as u32,
            transfer_concurrency: bucketsync_engine::transfer::DEFAULT_CONCURRENCY as u32,
            notifications: true,
            start_at_login: false,
            trash_keep_days: bucketsync_engine::trash::DEFAULT_KEEP_DAYS,
        }
    }
}

pub const POLL_SECONDS: std::ops::RangeInclusive<u32> = 10..=3600;
pub const CONCURRENCY: std::ops::RangeInclusive<u32> = 1..=64;
pub const TRASH_KEEP_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

impl AppSettings {
    fn check(&self) -> Result<(), ApiError> {
        within(
            "poll-seconds",
            self.poll_seconds,
            POLL_SECONDS,
            " seconds",
            "buckets push nothing, so they are listed on a timer: every 10 seconds to every hour",
        )?;
        within(
            "transfer-concurrency",
            self.transfer_concurrency,
            CONCURRENCY,
            "",
            "16 suits most connections; fewer spares a slow link, more helps fast links with many small files",
        )?;
        within(
            "trash-keep-days",
            self.trash_keep_days,
            TRASH_KEEP_DAYS,
            " days",
            "files deleted in the bucket wait in the trash this long: 30 days gives time to notice",
        )
    }

    /// The runners' timings these settings give.
    pub fn runner_config(&self) -> RunnerConfig {
        RunnerConfig {
            poll_interval: Duration::from_secs(self.poll_seconds.into()),
            ..RunnerConfig::default()
        }
    }
}

/// `value` (of `field`, shown with `unit`) inside `range`, or the error that says so.
fn within(
    field: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
    hint: &str,
) -> Result<(), ApiError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ApiError::invalid(field, format!("{value}{unit} is outside {}-{}", range.start(), range.end()), hint))
}

const KEYS: [&str; 5] =
    ["poll-seconds", "transfer-concurrency", "notifications", "start-at-login", "trash-keep-days"];

impl Api {
    /// The stored settings (defaults for anything never saved).
    pub fn settings(&self) -> Result<AppSettings, ApiError> {
        let store = self.store();
        let mut s = AppSettings::default();
        let get = |k: &str| store.setting(k);
        if let Some(v) = get(KEYS[0])?.and_then(|v| v.parse().ok()) {
            s.poll_seconds = v;
        }
        if let Some(v) = get(KEYS[1])?.and_then(|v| v.parse().ok()) {
            s.transfer_concurrency = v;
        }
        if let Some(v) = get(KEYS[2])? {
            s.notifications = v == "true";
        }
        if let Some(v) = get(KEYS[3])? {
            s.start_at_login = v == "true";
        }
        if let Some(v) = get(KEYS[4])?.and_then(|v| v.parse().ok()) {
            s.trash_keep_days = v;
        }
        Ok(s)
    }

    /// Checks, stores and applies new settings: the runners restart with
    /// the new poll interval and transfer limit.
    pub async fn save_settings(&self, new: AppSettings) -> Result<AppSettings, ApiError> {
        new.check()?;
        let old = self.settings()?;
        {
            let mut store = self.store();
            store.set_setting(KEYS[0], &new.poll_seconds.to_string())?;
            store.set_setting(KEYS[1], &new.transfer_concurrency.to_string())?;
            store.set_setting(KEYS[2], &new.notifications.to_string())?;
            store.set_setting(KEYS[3], &new.start_at_login.to_string())?;
            store.set_setting(KEYS[4], &new.trash_keep_days.to_string())?;
        }
        self.set_notices(new.notifications).await;
        if (old.poll_seconds, old.transfer_concurrency) != (new.poll_seconds, new.transfer_concurrency) {
            self.set_transfer_concurrency(new.transfer_concurrency as usize);
            self.set_runner_config(new.runner_config()).await;
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn defaults_until_saved_then_kept_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        assert_eq!(api.settings().unwrap(), AppSettings::default());
        let mine = AppSettings {
            poll_seconds: 30,
            transfer_concurrency: 8,
            notifications: false,
            start_at_login: true,
            trash_keep_days: 7,
        };
        api.save_settings(mine.clone()).await.unwrap();
        assert_eq!(Api::open(tmp.path()).unwrap().settings().unwrap(), mine, "kept across restarts");
        let e = api.save_settings(AppSettings { poll_seconds: 1, ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("poll-seconds"));
        let e = api.save_settings(AppSettings { transfer_concurrency: 0, ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("transfer-concurrency"));
        let e = api.save_settings(AppSettings { trash_keep_days: 0, ..mine }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trash-keep-days"));
    }
}
