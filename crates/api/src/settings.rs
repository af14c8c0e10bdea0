//! The app's settings: how often buckets are polled, how many transfers run
//! at once and how fast, notifications, start at login. Stored in the home's
//! database, applied to the running engine when saved.

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
    /// Upload at most this fast, all pairs together, as people write rates
    /// (`10M`, `500K`, `2MiB`); empty for no limit.
    pub limit_up: String,
    /// Download at most this fast (as `limit_up`).
    pub limit_down: String,
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
            limit_up: String::new(),
            limit_down: String::new(),
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
        )?;
        rate("limit-up", &self.limit_up)?;
        rate("limit-down", &self.limit_down)?;
        Ok(())
    }

    /// The bandwidth limits these settings give: (up, down) bytes per
    /// second, 0 for none. Stored values were checked when saved; one that
    /// no longer parses (edited by hand) means no limit.
    pub fn bandwidth(&self) -> (u64, u64) {
        let bps = |text: &str| rate_bps(text).unwrap_or(0);
        (bps(&self.limit_up), bps(&self.limit_down))
    }

    /// The same settings with each rate as it is kept: trimmed, and empty
    /// where it means no limit (`off`, `0`).
    fn normalised(mut self) -> AppSettings {
        for text in [&mut self.limit_up, &mut self.limit_down] {
            *text = if rate_bps(text) == Ok(0) { String::new() } else { text.trim().to_string() };
        }
        self
    }

    /// The runners' timings these settings give.
    pub fn runner_config(&self) -> RunnerConfig {
        RunnerConfig {
            poll_interval: Duration::from_secs(self.poll_seconds.into()),
            ..RunnerConfig::default()
        }
    }
}

/// A rate setting in bytes per second: empty means no limit.
fn rate_bps(text: &str) -> Result<u64, String> {
    if text.trim().is_empty() {
        return Ok(0);
    }
    bucketsync_remote::bandwidth::parse_rate(text)
}

/// `text` (of `field`) as a rate, or the error that says how to write one.
fn rate(field: &str, text: &str) -> Result<(), ApiError> {
    rate_bps(text).map(drop).map_err(|problem| {
        ApiError::invalid(
            field,
            problem,
            "bytes per second, K, M, G being powers of 1,000 and KiB, MiB, GiB of 1,024; \
             leave it empty for no limit",
        )
    })
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

const KEYS: [&str; 7] = [
    "poll-seconds",
    "transfer-concurrency",
    "notifications",
    "start-at-login",
    "trash-keep-days",
    "limit-up",
    "limit-down",
];

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
        if let Some(v) = get(KEYS[5])? {
            s.limit_up = v;
        }
        if let Some(v) = get(KEYS[6])? {
            s.limit_down = v;
        }
        Ok(s)
    }

    /// Checks, stores and applies new settings: the runners restart with
    /// the new poll interval and transfer limit; bandwidth limits hold for
    /// every request that starts from now on.
    pub async fn save_settings(&self, new: AppSettings) -> Result<AppSettings, ApiError> {
        new.check()?;
        let new = new.normalised();
        let old = self.settings()?;
        {
            let mut store = self.store();
            store.set_setting(KEYS[0], &new.poll_seconds.to_string())?;
            store.set_setting(KEYS[1], &new.transfer_concurrency.to_string())?;
            store.set_setting(KEYS[2], &new.notifications.to_string())?;
            store.set_setting(KEYS[3], &new.start_at_login.to_string())?;
            store.set_setting(KEYS[4], &new.trash_keep_days.to_string())?;
            store.set_setting(KEYS[5], &new.limit_up)?;
            store.set_setting(KEYS[6], &new.limit_down)?;
        }
        let (up, down) = new.bandwidth();
        self.set_bandwidth(up, down);
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
            limit_up: " 10M ".into(),
            limit_down: "off".into(),
        };
        let kept = api.save_settings(mine.clone()).await.unwrap();
        assert_eq!(
            (kept.limit_up.as_str(), kept.limit_down.as_str()),
            ("10M", ""),
            "kept as written, off as empty"
        );
        assert_eq!(api.bandwidth(), (10_000_000, 0), "applied at once");
        let reopened = Api::open(tmp.path()).unwrap();
        assert_eq!(reopened.settings().unwrap(), kept, "kept across restarts");
        assert_eq!(reopened.bandwidth(), (10_000_000, 0), "applied when the home opens");
        let e = api.save_settings(AppSettings { poll_seconds: 1, ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("poll-seconds"));
        let e = api.save_settings(AppSettings { transfer_concurrency: 0, ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("transfer-concurrency"));
        let e = api.save_settings(AppSettings { trash_keep_days: 0, ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trash-keep-days"));
        let e =
            api.save_settings(AppSettings { limit_down: "fast".into(), ..mine.clone() }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limit-down"));
        let e = api.save_settings(AppSettings { limit_up: "100".into(), ..mine }).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limit-up"), "100 B/s is a typo for 100K, refused");
        assert_eq!(api.bandwidth(), (10_000_000, 0), "a refused save changes nothing");
    }
}
