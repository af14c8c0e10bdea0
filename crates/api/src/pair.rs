//! Pairs: a local folder bound to a policy's bucket under a key prefix.

use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::pair::{check_new, BucketLocation, ExistingPair, Mode, PairProblem, PairRequest};
use bucketsync_store::{PairRow, PolicyRow};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use ts_rs::TS;

#[derive(Clone, Debug, Deserialize, TS)]
pub struct AddPairRequest {
    /// The local folder; must exist.
    pub dir: String,
    pub policy: String,
    /// Key prefix in the bucket; default: the whole bucket.
    pub prefix: Option<String>,
    /// `two-way` (default), `upload` or `download`.
    pub mode: Option<String>,
    /// Default: the folder's name.
    pub name: Option<String>,
    /// A pass that would delete more than this share (percent) of the
    /// pair's files asks first. Default 50; 0 always asks, 100 never does.
    pub max_delete_percent: Option<u32>,
    /// Add it paused (the app shows the first pass's preview, then resumes).
    #[serde(default)]
    pub paused: bool,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PairView {
    pub name: String,
    pub policy: String,
    pub local_root: String,
    pub bucket: String,
    pub prefix: String,
    pub mode: String,
    pub paused: bool,
    pub max_delete_percent: u32,
}

pub(crate) fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("there is no pair named '{name}'"))
        .with_hint("see the names with `bucketsync pair list`")
}

impl From<PairProblem> for ApiError {
    fn from(p: PairProblem) -> Self {
        ApiError::invalid(p.field, p.message, p.hint)
    }
}

/// Where a policy's objects live, for overlap checks.
pub(crate) fn location_of(policy: &PolicyRow) -> BucketLocation {
    BucketLocation::new(policy.endpoint.as_deref(), &policy.region, &policy.bucket)
}

/// Changes to how a pair syncs; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct UpdatePairRequest {
    pub name: String,
    /// `two-way`, `upload` or `download`.
    pub mode: Option<String>,
    pub max_delete_percent: Option<u32>,
}

impl Api {
    /// Adds a pair after checking it against the folder, the home and every
    /// other pair (engine::pair::check_new). When this process runs the
    /// engine, the pair starts at once (or waits, if added paused).
    pub async fn add_pair(&self, req: AddPairRequest) -> Result<PairView, ApiError> {
        let policy = self.store().policy(&req.policy)?.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, format!("there is no storage policy named '{}'", req.policy))
                .with_hint("see the names with `bucketsync policy list`")
        })?;
        let existing = {
            let store = self.store();
            let mut out = Vec::new();
            for row in store.list_pairs()? {
                let location = match store.policy_by_id(row.policy_id)? {
                    Some(p) => BucketLocation::new(p.endpoint.as_deref(), &p.region, &row.bucket),
                    None => continue,
                };
                out.push(ExistingPair {
                    name: row.name.clone(),
                    root: PathBuf::from(&row.local_root),
                    location,
                    prefix: row.prefix.clone(),
                });
            }
            out
        };
        let dir = PathBuf::from(req.dir.trim());
        let valid = check_new(
            &PairRequest {
                dir: &dir,
                location: location_of(&policy),
                prefix: req.prefix.as_deref().unwrap_or(""),
                mode: req.mode.as_deref(),
                name: req.name.as_deref(),
                max_delete_percent: req.max_delete_percent,
            },
            &existing,
            self.home(),
        )?;
        let row = PairRow {
            id: 0,
            name: valid.name,
            policy_id: policy.id,
            local_root: valid.root.display().to_string(),
            prefix: valid.prefix,
            mode: valid.mode.as_str().into(),
            paused: req.paused,
            max_delete_percent: valid.max_delete_percent,
            bucket: policy.bucket.clone(),
            created_ms: now_ms(),
        };
        self.store().insert_pair(&row)?;
        tracing::info!(pair = %row.name, policy = %policy.name, "pair added");
        self.engine_pair_added(&row.name).await;
        self.pair_view(&row.name)
    }

    /// Changes a pair's mode or delete guard; its runner restarts with them.
    pub async fn update_pair(&self, req: UpdatePairRequest) -> Result<PairView, ApiError> {
        let row = self.pair_row(&req.name)?;
        let mode = match req.mode.as_deref() {
            None => row.mode.clone(),
            Some(m) => Mode::parse(m)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "mode",
                        format!("unknown mode '{m}'"),
                        "use two-way, upload or download",
                    )
                })?
                .as_str()
                .to_string(),
        };
        let max_delete = bucketsync_engine::pair::check_max_delete(
            req.max_delete_percent.unwrap_or(row.max_delete_percent),
        )?;
        self.store().update_pair_settings(&row.name, &mode, max_delete)?;
        self.engine_restart_pairs(std::slice::from_ref(&row.name)).await;
        self.pair_view(&row.name)
    }

    /// Folder names one level below `prefix` in a policy's bucket, for the
    /// prefix picker. Reads at most a few listing pages: a suggestion list,
    /// not an inventory.
    pub async fn bucket_folders(&self, policy: &str, prefix: &str) -> Result<Vec<String>, ApiError> {
        const PAGES: usize = 5;
        let prefix = bucketsync_engine::pair::normalise_prefix(prefix)
            .map_err(|e| ApiError::invalid("prefix", e, "use a key prefix such as photos/2024/"))?;
        let remote = self.remote(policy).await?;
        let mut folders = std::collections::BTreeSet::new();
        let mut token = None;
        for _ in 0..PAGES {
            let page = bucketsync_remote::Remote::list_page(remote.as_ref(), &prefix, token).await?;
            for o in page.objects {
                if let Some((dir, _)) = o.key.strip_prefix(&prefix).and_then(|rest| rest.split_once('/')) {
                    if !dir.is_empty() {
                        folders.insert(format!("{prefix}{dir}/"));
                    }
                }
            }
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(folders.into_iter().collect())
    }

    pub fn list_pairs(&self) -> Result<Vec<PairView>, ApiError> {
        let rows = self.store().list_pairs()?;
        rows.iter().map(|r| self.view_of(r)).collect()
    }

    pub fn pair_view(&self, name: &str) -> Result<PairView, ApiError> {
        let row = self.pair_row(name)?;
        self.view_of(&row)
    }

    /// Removes the pair and its sync state; files on both sides stay. Its
    /// runner (if this process runs the engine) stops first.
    pub async fn remove_pair(&self, name: &str) -> Result<(), ApiError> {
        self.pair_row(name)?;
        self.engine_pair_removed(name).await;
        self.store().delete_pair(name).map_err(|e| match e {
            bucketsync_store::StoreError::NotFound { .. } => not_found(name),
            e => e.into(),
        })
    }

    /// Pauses or resumes a pair: stored (a restart keeps it), and told to
    /// its runner when this process runs the engine.
    pub async fn set_pair_paused(&self, name: &str, paused: bool) -> Result<PairView, ApiError> {
        self.store().set_pair_paused(name, paused).map_err(|e| match e {
            bucketsync_store::StoreError::NotFound { .. } => not_found(name),
            e => e.into(),
        })?;
        self.engine_pair_paused(name, paused).await;
        self.pair_view(name)
    }

    pub(crate) fn pair_row(&self, name: &str) -> Result<PairRow, ApiError> {
        self.store().pair(name)?.ok_or_else(|| not_found(name))
    }

    fn view_of(&self, r: &PairRow) -> Result<PairView, ApiError> {
        let policy = self.store().policy_by_id(r.policy_id)?.map(|p| p.name).unwrap_or_default();
        Ok(PairView {
            name: r.name.clone(),
            policy,
            local_root: r.local_root.clone(),
            bucket: r.bucket.clone(),
            prefix: r.prefix.clone(),
            mode: r.mode.clone(),
            paused: r.paused,
            max_delete_percent: r.max_delete_percent,
        })
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::AddPolicyRequest;

    fn policy(name: &str, bucket: &str, key: &str) -> AddPolicyRequest {
        AddPolicyRequest {
            name: name.into(),
            provider: "garage".into(),
            bucket: bucket.into(),
            endpoint: Some("http://127.0.0.1:3900".into()),
            access_key_id: key.into(),
            secret_source: Some("env:BUCKETSYNC_TEST_UNUSED".into()),
            ..Default::default()
        }
    }

    fn pair(dir: &std::path::Path, policy: &str, prefix: &str) -> AddPairRequest {
        AddPairRequest {
            dir: dir.display().to_string(),
            policy: policy.into(),
            prefix: Some(prefix.into()),
            mode: None,
            name: None,
            max_delete_percent: None,
            paused: false,
        }
    }

    /// Two policies on one bucket (say, old and new keys) are one place: a
    /// second pair there with an overlapping prefix would have two pairs
    /// deleting each other's files. It was accepted while overlap compared
    /// policy ids.
    #[tokio::test]
    async fn a_second_policy_on_the_same_bucket_cannot_sync_an_overlapping_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(&tmp.path().join("home")).unwrap();
        api.add_policy(policy("old-keys", "photos", "GKold")).await.unwrap();
        api.add_policy(policy("new-keys", "photos", "GKnew")).await.unwrap();
        api.add_policy(policy("music", "music", "GKnew")).await.unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        api.add_pair(pair(&a, "old-keys", "2024/")).await.unwrap();
        let e = api.add_pair(pair(&b, "new-keys", "2024/june/")).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("prefix"), "{e:?}");
        api.add_pair(pair(&b, "music", "2024/")).await.unwrap();
    }
}
