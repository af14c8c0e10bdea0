//! Pairs: a local folder bound to a policy's bucket under a key prefix.

use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::pair::{normalise_prefix, Mode};
use bucketsync_store::PairRow;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
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

fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("there is no pair named '{name}'"))
        .with_hint("see the names with `bucketsync pair list`")
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            format!("'{name}' cannot name a pair"),
            "use up to 64 letters, digits, '-', '_' or '.', not starting with '-' or '.' (--name photos)",
        ))
    }
}

/// Whether one of two folders contains the other (or they are the same).
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl Api {
    pub fn add_pair(&self, req: AddPairRequest) -> Result<PairView, ApiError> {
        let dir = PathBuf::from(&req.dir);
        let root = dir.canonicalize().map_err(|e| {
            ApiError::invalid("dir", format!("cannot use {}: {e}", dir.display()), "give an existing folder")
        })?;
        if !root.is_dir() {
            return Err(ApiError::invalid(
                "dir",
                format!("{} is not a folder", root.display()),
                "give a folder",
            ));
        }
        let home = self.home().canonicalize().unwrap_or_else(|_| self.home().to_path_buf());
        if nested(&root, &home) {
            return Err(ApiError::invalid(
                "dir",
                format!(
                    "{} and Bucketsync's own data ({}) would be inside each other",
                    root.display(),
                    home.display()
                ),
                "choose a folder that neither contains nor lies inside the Bucketsync home",
            ));
        }
        let name = match &req.name {
            Some(n) => n.clone(),
            None => root
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                        .collect()
                })
                .unwrap_or_else(|| "root".into()),
        };
        check_name(&name)?;
        let mode = match req.mode.as_deref() {
            None => Mode::TwoWay,
            Some(m) => Mode::parse(m).ok_or_else(|| {
                ApiError::invalid("mode", format!("unknown mode '{m}'"), "use two-way, upload or download")
            })?,
        };
        let max_delete_percent = match req.max_delete_percent {
            None => 50,
            Some(p @ 0..=100) => p,
            Some(p) => {
                return Err(ApiError::invalid(
                    "max-delete",
                    format!("{p} is not a percentage"),
                    "give a share between 0 (always ask before deleting) and 100 (never ask)",
                ))
            }
        };
        let prefix = normalise_prefix(req.prefix.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::invalid("prefix", e, "use a key prefix such as photos/2024/"))?;
        let policy = self.store().policy(&req.policy)?.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, format!("there is no storage policy named '{}'", req.policy))
                .with_hint("see the names with `bucketsync policy list`")
        })?;
        let others = self.store().list_pairs()?;
        for other in others {
            if nested(&root, Path::new(&other.local_root)) {
                return Err(ApiError::invalid(
                    "dir",
                    format!(
                        "{} overlaps the folder of pair '{}' ({})",
                        root.display(),
                        other.name,
                        other.local_root
                    ),
                    "a folder can belong to one pair only, and pairs cannot be nested",
                ));
            }
            if other.policy_id == policy.id
                && (other.prefix.starts_with(&prefix) || prefix.starts_with(&other.prefix))
            {
                return Err(ApiError::invalid(
                    "prefix",
                    format!(
                        "prefix '{prefix}' overlaps the prefix '{}' of pair '{}' in the same bucket",
                        other.prefix, other.name
                    ),
                    "give each pair its own, non-overlapping --prefix",
                ));
            }
        }
        let row = PairRow {
            id: 0,
            name,
            policy_id: policy.id,
            local_root: root.display().to_string(),
            prefix,
            mode: mode.as_str().into(),
            paused: false,
            max_delete_percent,
            bucket: policy.bucket.clone(),
            created_ms: now_ms(),
        };
        self.store().insert_pair(&row)?;
        self.pair_view(&row.name)
    }

    pub fn list_pairs(&self) -> Result<Vec<PairView>, ApiError> {
        let rows = self.store().list_pairs()?;
        rows.iter().map(|r| self.view_of(r)).collect()
    }

    pub fn pair_view(&self, name: &str) -> Result<PairView, ApiError> {
        let row = self.pair_row(name)?;
        self.view_of(&row)
    }

    /// Removes the pair and its sync state; files on both sides stay.
    pub fn remove_pair(&self, name: &str) -> Result<(), ApiError> {
        self.store().delete_pair(name).map_err(|e| match e {
            bucketsync_store::StoreError::NotFound { .. } => not_found(name),
            e => e.into(),
        })
    }

    pub fn set_pair_paused(&self, name: &str, paused: bool) -> Result<PairView, ApiError> {
        self.store().set_pair_paused(name, paused).map_err(|e| match e {
            bucketsync_store::StoreError::NotFound { .. } => not_found(name),
            e => e.into(),
        })?;
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
