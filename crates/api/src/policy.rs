//! Storage policies: everything needed to reach one bucket. Add, update,
//! list, show, remove, probe, CORS; and the connection (and shared client)
//! the sync engine uses.

use crate::secret::{self, SecretSource};
use crate::{Api, ApiError, ErrorKind};
use bucketsync_remote::provider::{preset, RegionRule};
use bucketsync_remote::{cors, probe, Addressing, Connection, RawPolicy, S3Remote, Settings};

/// The secret access key a request carries in (never serialised out).
pub use bucketsync_remote::Secret;
use bucketsync_store::PolicyRow;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ts_rs::TS;

/// `policy add`: every field of a new policy.
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct AddPolicyRequest {
    pub name: String,
    /// A provider id: aws, b2, r2, minio, garage, wasabi, digitalocean, scaleway, storj, idrive, custom.
    pub provider: String,
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Cloudflare R2: builds the endpoint when none is given.
    pub account_id: Option<String>,
    /// Absent: the provider's default.
    pub addressing: Option<AddressingChoice>,
    /// "Allow public read" (true) or "block all public access" (false).
    pub public: bool,
    /// Public base URL for links (CDN, r2.dev, custom domain).
    pub cdn_url: Option<String>,
    pub access_key_id: String,
    /// `keyring` (default) | `env:VAR` | `file:PATH`
    pub secret_source: Option<String>,
    /// The secret access key: required for the keyring; creates a missing
    /// `file:` source. Never stored in the database, never echoed.
    #[ts(type = "string | null")]
    pub secret: Option<Secret>,
}

/// `policy update`: only the fields given change. An empty string clears an
/// optional field (endpoint, region, account id, CDN URL).
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct UpdatePolicyRequest {
    pub name: String,
    pub provider: Option<String>,
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub addressing: Option<AddressingChoice>,
    pub public: Option<bool>,
    pub cdn_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_source: Option<String>,
    #[ts(type = "string | null")]
    pub secret: Option<Secret>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum AddressingChoice {
    PathStyle,
    VirtualHost,
}

impl From<AddressingChoice> for Addressing {
    fn from(a: AddressingChoice) -> Addressing {
        match a {
            AddressingChoice::PathStyle => Addressing::PathStyle,
            AddressingChoice::VirtualHost => Addressing::VirtualHost,
        }
    }
}

fn addressing_name(a: Addressing) -> &'static str {
    match a {
        Addressing::PathStyle => "path-style",
        Addressing::VirtualHost => "virtual-host",
    }
}

fn parse_addressing(text: &str) -> Result<Addressing, ApiError> {
    match text {
        "path-style" => Ok(Addressing::PathStyle),
        "virtual-host" => Ok(Addressing::VirtualHost),
        other => Err(ApiError::new(ErrorKind::Internal, format!("stored addressing '{other}' is unknown"))),
    }
}

/// A policy as shown: no secret, only where it lives.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PolicyView {
    pub name: String,
    pub provider: String,
    pub provider_name: String,
    /// Absent: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `path-style` | `virtual-host`
    pub addressing: String,
    pub public: bool,
    pub cdn_url: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: String,
    /// `keyring` | `env:VAR` | `file:PATH`
    pub secret_source: String,
    #[ts(type = "number")]
    pub created_ms: i64,
    #[ts(type = "number")]
    pub updated_ms: i64,
    /// `YYYY-MM-DD`: when the keys expire, as the user entered it.
    pub keys_expire_on: Option<String>,
    /// Whether the server honours conditional writes, as `policy probe`
    /// last observed it; the engine relies on them only when `honoured`.
    pub conditional_writes: ConditionalWrites,
}

/// The probe step that tries conditional writes (its message says what
/// the server did, in plain words).
pub use bucketsync_remote::probe::CONDITIONAL_WRITES as CONDITIONAL_WRITES_STEP;

/// What `policy probe` observed of conditional writes (If-None-Match: * /
/// If-Match on PutObject and CompleteMultipartUpload). Never guessed from
/// the provider: a policy not probed since Bucketsync learnt to look is
/// `unknown`. Anything but `honoured` means a HEAD right before each write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionalWrites {
    Unknown,
    Honoured,
    Ignored,
}

impl From<probe::ConditionalWrites> for ConditionalWrites {
    fn from(c: probe::ConditionalWrites) -> ConditionalWrites {
        match c {
            probe::ConditionalWrites::Unknown => ConditionalWrites::Unknown,
            probe::ConditionalWrites::Honoured => ConditionalWrites::Honoured,
            probe::ConditionalWrites::Ignored => ConditionalWrites::Ignored,
        }
    }
}

impl ConditionalWrites {
    fn remote(self) -> probe::ConditionalWrites {
        match self {
            ConditionalWrites::Unknown => probe::ConditionalWrites::Unknown,
            ConditionalWrites::Honoured => probe::ConditionalWrites::Honoured,
            ConditionalWrites::Ignored => probe::ConditionalWrites::Ignored,
        }
    }

    /// The stored spelling.
    pub(crate) fn stored(self) -> &'static str {
        self.remote().as_str()
    }

    /// As stored on the policy row.
    pub(crate) fn of(row: &PolicyRow) -> ConditionalWrites {
        probe::ConditionalWrites::parse(&row.conditional_writes).into()
    }

    /// In plain words (`policy show`, `policy probe`).
    pub fn describe(self) -> &'static str {
        self.remote().describe()
    }
}

/// The result of add or update: the policy and what was changed on the way.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PolicySaved {
    pub policy: PolicyView,
    /// Normalisation notes ("the bucket name was removed from the endpoint").
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    Ok,
    Failed,
    NotSupported,
    Skipped,
}

/// One S3 API tried by the probe.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ProbeStepView {
    pub api: String,
    pub required: bool,
    pub outcome: ProbeOutcome,
    /// The error kind, e.g. `bad-credentials`.
    pub kind: Option<ErrorKind>,
    /// The server's error code, e.g. `AccessDenied`.
    pub code: Option<String>,
    pub message: Option<String>,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ProbeResult {
    pub policy: String,
    pub bucket: String,
    /// True when every required API works.
    pub ok: bool,
    pub steps: Vec<ProbeStepView>,
    /// The scratch prefix used and removed.
    pub prefix: String,
    /// What could not be cleaned up.
    pub leftovers: Vec<String>,
    /// What the conditional-writes step observed (stored with the policy
    /// by `policy probe` when it could tell).
    pub conditional_writes: ConditionalWrites,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct CorsRuleView {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct CorsResult {
    pub policy: String,
    /// `added` | `extended` | `unchanged`
    pub change: String,
    /// Every rule the bucket has now.
    pub rules: Vec<CorsRuleView>,
}

/// One shared client per policy, rebuilt when the policy changes.
#[derive(Default)]
pub(crate) struct RemoteCache {
    remotes: Mutex<HashMap<String, (i64, Arc<S3Remote>)>>,
}

impl RemoteCache {
    fn forget(&self, name: &str) {
        self.remotes.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            format!("'{name}' cannot name a policy"),
            "use up to 64 letters, digits, '-', '_' or '.', not starting with '-' or '.', e.g. b2-photos",
        ))
    }
}

pub(crate) fn check_access_key_id(id: &str) -> Result<String, ApiError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            "access-key-id",
            "the access key id is empty or contains spaces",
            "copy the access key id (B2: keyID; R2: Access Key ID) from the provider's console",
        ));
    }
    Ok(id.to_string())
}

fn field_error(e: bucketsync_remote::FieldError) -> ApiError {
    ApiError::invalid(e.field, e.message, e.hint)
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("there is no storage policy named '{name}'"))
        .with_hint("see the names with `bucketsync policy list`, or add one with `bucketsync policy add`")
}

fn view(row: &PolicyRow) -> PolicyView {
    PolicyView {
        name: row.name.clone(),
        provider: row.provider.clone(),
        provider_name: preset(&row.provider)
            .map(|p| p.name.to_string())
            .unwrap_or_else(|| row.provider.clone()),
        endpoint: row.endpoint.clone(),
        region: row.region.clone(),
        bucket: row.bucket.clone(),
        addressing: row.addressing.clone(),
        public: row.public,
        cdn_url: row.cdn_url.clone(),
        account_id: row.account_id.clone(),
        access_key_id: row.access_key_id.clone(),
        secret_source: row.secret_source.clone(),
        created_ms: row.created_ms,
        updated_ms: row.updated_ms,
        keys_expire_on: None,
        conditional_writes: ConditionalWrites::of(row),
    }
}

/// The settings a stored row describes (normalised when it was saved).
pub(crate) fn settings(row: &PolicyRow) -> Result<Settings, ApiError> {
    let p = preset(&row.provider).ok_or_else(|| {
        ApiError::new(
            ErrorKind::Internal,
            format!("policy '{}' names an unknown provider '{}'", row.name, row.provider),
        )
        .with_hint(format!("update it with `bucketsync policy update {} --provider ...`", row.name))
    })?;
    Ok(Settings {
        provider: p.id,
        endpoint: row.endpoint.clone(),
        region: row.region.clone(),
        bucket: row.bucket.clone(),
        addressing: parse_addressing(&row.addressing)?,
        public: row.public,
        cdn_url: row.cdn_url.clone(),
        account_id: row.account_id.clone(),
        notes: Vec::new(),
    })
}

fn row_from(
    name: &str,
    s: &Settings,
    access_key_id: String,
    source: &SecretSource,
    created_ms: i64,
) -> PolicyRow {
    PolicyRow {
        id: 0,
        name: name.to_string(),
        provider: s.provider.to_string(),
        endpoint: s.endpoint.clone(),
        region: s.region.clone(),
        bucket: s.bucket.clone(),
        addressing: addressing_name(s.addressing).to_string(),
        public: s.public,
        cdn_url: s.cdn_url.clone(),
        account_id: s.account_id.clone(),
        access_key_id,
        secret_source: source.to_string(),
        created_ms,
        updated_ms: now_ms(),
        conditional_writes: probe::ConditionalWrites::Unknown.as_str().to_string(),
    }
}

fn parse_source(text: Option<&str>) -> Result<SecretSource, ApiError> {
    SecretSource::parse(text.unwrap_or("keyring"))?.absolute()
}

/// An empty string given for an optional field clears it.
fn given(update: &Option<String>, stored: &Option<String>) -> Option<String> {
    match update {
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v.clone()),
        None => stored.clone(),
    }
}

impl Api {
    fn pair_names(&self, policy_id: i64) -> Result<Vec<String>, ApiError> {
        Ok(self.store().pairs_of_policy(policy_id)?.into_iter().map(|p| p.name).collect())
    }

    pub(crate) fn policy_row(&self, name: &str) -> Result<PolicyRow, ApiError> {
        self.store().policy(name)?.ok_or_else(|| not_found(name))
    }

    /// Adds a policy: normalises and checks every field, stores the secret
    /// where the user chose, then the policy (with only a reference to it).
    pub async fn add_policy(&self, req: AddPolicyRequest) -> Result<PolicySaved, ApiError> {
        check_name(&req.name)?;
        let raw = RawPolicy {
            provider: req.provider.clone(),
            bucket: req.bucket.clone(),
            endpoint: req.endpoint.clone(),
            region: req.region.clone(),
            account_id: req.account_id.clone(),
            addressing: req.addressing.map(Addressing::from),
            public: req.public,
            cdn_url: req.cdn_url.clone(),
        };
        let settings = bucketsync_remote::normalise(&raw).map_err(field_error)?;
        let access_key_id = check_access_key_id(&req.access_key_id)?;
        let source = parse_source(req.secret_source.as_deref())?;
        if self.store().policy(&req.name)?.is_some() {
            return Err(ApiError::new(
                ErrorKind::AlreadyExists,
                format!("a policy named '{}' exists already", req.name),
            )
            .with_hint(format!(
                "change it with `bucketsync policy update {}`, or choose another name",
                req.name
            )));
        }
        secret::save(&source, self.home(), &req.name, req.secret).await?;
        let row = row_from(&req.name, &settings, access_key_id, &source, now_ms());
        let inserted = self.store().insert_policy(&row);
        if let Err(e) = inserted {
            // Do not leave an orphan secret behind.
            let _ = secret::forget(&source, self.home(), &req.name).await;
            return Err(e.into());
        }
        tracing::info!(policy = %req.name, provider = settings.provider, bucket = %settings.bucket, "policy added");
        let policy = self.policy(&req.name)?;
        Ok(PolicySaved { policy, notes: settings.notes })
    }

    /// Changes some fields of a policy. Its id stays, so its pairs and their
    /// sync state stay attached and nothing is transferred again.
    pub async fn update_policy(&self, req: UpdatePolicyRequest) -> Result<PolicySaved, ApiError> {
        let old = self.policy_row(&req.name)?;
        let provider_changed = req.provider.as_ref().is_some_and(|p| p.trim() != old.provider);
        let endpoint_changed = req.endpoint.is_some() || provider_changed;
        let keep = |field: &Option<String>| if provider_changed { None } else { field.clone() };
        let region_follows_endpoint = provider_changed
            || (endpoint_changed
                && preset(&old.provider)
                    .is_some_and(|p| matches!(p.region, RegionRule::FromEndpointHost(_))));
        let raw = RawPolicy {
            provider: req.provider.clone().unwrap_or_else(|| old.provider.clone()),
            bucket: req.bucket.clone().unwrap_or_else(|| old.bucket.clone()),
            endpoint: given(&req.endpoint, &keep(&old.endpoint)),
            // An update changes only what it names. The one exception: a
            // preset that reads the region from the endpoint (B2), where the
            // stored region must not contradict a new endpoint.
            region: given(
                &req.region,
                &if region_follows_endpoint { None } else { Some(old.region.clone()) },
            ),
            account_id: given(&req.account_id, &keep(&old.account_id)),
            addressing: match req.addressing {
                Some(a) => Some(a.into()),
                None if provider_changed => None,
                None => Some(parse_addressing(&old.addressing)?),
            },
            public: req.public.unwrap_or(old.public),
            cdn_url: given(&req.cdn_url, &old.cdn_url),
        };
        let settings = bucketsync_remote::normalise(&raw).map_err(field_error)?;
        let access_key_id = match &req.access_key_id {
            Some(id) => check_access_key_id(id)?,
            None => old.access_key_id.clone(),
        };
        let old_source = SecretSource::parse(&old.secret_source)?;
        let source = match &req.secret_source {
            Some(s) => parse_source(Some(s))?,
            None => old_source.clone(),
        };
        let mut notes = settings.notes.clone();
        if settings.bucket != old.bucket {
            notes.push(format!(
                "the bucket changed from {} to {}: pairs made for {} will not sync against the new bucket",
                old.bucket, settings.bucket, old.bucket
            ));
        }

        let key_changed = access_key_id != old.access_key_id;
        let needs_secret = source == SecretSource::Keyring && (source != old_source || key_changed);
        if needs_secret && req.secret.is_none() {
            return Err(ApiError::invalid(
                "secret",
                "a new access key id or a move to the keyring needs the secret that goes with it",
                "pass the secret in BUCKETSYNC_SECRET_ACCESS_KEY or on standard input",
            ));
        }
        if req.secret.is_some() || source != old_source {
            secret::save(&source, self.home(), &req.name, req.secret).await?;
        }
        let mut row = row_from(&req.name, &settings, access_key_id, &source, old.created_ms);
        // What the probe saw holds for the same server only: another
        // endpoint, provider or bucket is not known until probed again.
        let same_server = row.provider == old.provider
            && row.endpoint == old.endpoint
            && row.account_id == old.account_id
            && row.bucket == old.bucket;
        if same_server {
            row.conditional_writes = old.conditional_writes.clone();
        }
        self.store().update_policy(&row)?;
        self.remotes.forget(&req.name);
        if source != old_source {
            if let Err(e) = secret::forget(&old_source, self.home(), &req.name).await {
                notes.push(format!("the old secret could not be removed from the keyring: {e}"));
            }
        }
        tracing::info!(policy = %req.name, "policy updated");
        Ok(PolicySaved { policy: self.policy(&req.name)?, notes })
    }

    pub fn list_policies(&self) -> Result<Vec<PolicyView>, ApiError> {
        let rows = self.store().list_policies()?;
        rows.iter().map(|r| self.full_view(r)).collect()
    }

    /// One policy (`policy show`).
    pub fn policy(&self, name: &str) -> Result<PolicyView, ApiError> {
        let row = self.policy_row(name)?;
        self.full_view(&row)
    }

    fn full_view(&self, row: &PolicyRow) -> Result<PolicyView, ApiError> {
        let mut v = view(row);
        v.keys_expire_on = self.store().key_expiry(row.id)?.map(|k| k.expires_on);
        Ok(v)
    }

    /// Where a stored policy's secret lives.
    pub(crate) fn stored_source(&self, name: &str) -> Result<SecretSource, ApiError> {
        SecretSource::parse(&self.policy_row(name)?.secret_source)
    }

    /// Removes a policy and its keyring secret. Refused while pairs use it.
    pub async fn remove_policy(&self, name: &str) -> Result<(), ApiError> {
        let row = self.policy_row(name)?;
        let in_use = |pairs: Vec<String>| {
            ApiError::new(
                ErrorKind::InvalidInput,
                format!("policy '{name}' is still used by pair(s): {}", pairs.join(", ")),
            )
            .with_hint("remove those pairs first (`bucketsync pair remove N`), then remove the policy")
        };
        let pairs = self.pair_names(row.id)?;
        if !pairs.is_empty() {
            return Err(in_use(pairs));
        }
        let deleted = self.store().delete_policy(name);
        if let Err(e) = deleted {
            // A pair added meanwhile: the foreign key refuses the delete.
            let pairs = self.pair_names(row.id)?;
            return Err(if pairs.is_empty() { e.into() } else { in_use(pairs) });
        }
        self.remotes.forget(name);
        let source = SecretSource::parse(&row.secret_source)?;
        if let Err(e) = secret::forget(&source, self.home(), name).await {
            tracing::warn!(policy = %name, error = %e, "the keyring secret of a removed policy stays behind");
        }
        tracing::info!(policy = %name, "policy removed");
        Ok(())
    }

    /// Everything needed to open the policy's bucket, with its secret read
    /// from wherever it lives.
    pub async fn connection(&self, policy_name: &str) -> Result<Connection, ApiError> {
        let row = self.policy_row(policy_name)?;
        let settings = settings(&row)?;
        let source = SecretSource::parse(&row.secret_source)?;
        let secret = secret::load(&source, self.home(), policy_name).await?;
        Ok(settings.connection(&row.access_key_id, secret))
    }

    /// The policy's shared S3 client: one per policy per process, rebuilt
    /// after the policy changed (here or in another process).
    pub async fn remote(&self, policy_name: &str) -> Result<Arc<S3Remote>, ApiError> {
        let updated_ms = self.policy_row(policy_name)?.updated_ms;
        if let Some((at, r)) = self.remotes.remotes.lock().unwrap_or_else(|p| p.into_inner()).get(policy_name)
        {
            if *at == updated_ms {
                return Ok(r.clone());
            }
        }
        let remote = Arc::new(
            S3Remote::new(&self.connection(policy_name).await?).with_bandwidth(self.bandwidth.clone()),
        );
        self.remotes
            .remotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(policy_name.to_string(), (updated_ms, remote.clone()));
        Ok(remote)
    }

    /// Tries every S3 API Bucketsync needs, under a scratch prefix it removes.
    pub async fn probe_policy(&self, name: &str) -> Result<ProbeResult, ApiError> {
        let row = self.policy_row(name)?;
        let settings = settings(&row)?;
        // A fresh client: the probe must see the policy as it is now.
        let remote = S3Remote::new(&self.connection(name).await?);
        let result = self.run_probe(name, &settings, &remote).await;
        // Kept with the policy when the probe could tell; a probe that
        // could not (offline, no permission) changes nothing.
        let observed = result.conditional_writes;
        if observed != ConditionalWrites::Unknown && observed != ConditionalWrites::of(&row) {
            self.store().set_policy_conditional_writes(name, observed.stored())?;
            tracing::info!(policy = %name, conditional_writes = observed.stored(), "probe observation stored");
            // Pairs hosted here pick it up with a fresh context.
            self.engine_restart_policy(name).await;
        }
        Ok(result)
    }

    /// Probes `remote` with the advice `settings` call for.
    pub(crate) async fn run_probe(&self, name: &str, settings: &Settings, remote: &S3Remote) -> ProbeResult {
        let ctx = probe::ProbeContext {
            provider_name: settings.preset().name.to_string(),
            addressing: settings.addressing,
            cors_api: settings.preset().quirks.cors_api,
            origins: Vec::new(),
        };
        let report = probe::probe(remote, &ctx).await;
        tracing::info!(policy = %name, ok = report.ok(), "probe finished");
        ProbeResult {
            policy: name.to_string(),
            bucket: report.bucket.clone(),
            ok: report.ok(),
            steps: report
                .steps
                .iter()
                .map(|s| ProbeStepView {
                    api: s.api.to_string(),
                    required: s.required,
                    outcome: match s.outcome {
                        probe::Outcome::Ok => ProbeOutcome::Ok,
                        probe::Outcome::Failed => ProbeOutcome::Failed,
                        probe::Outcome::NotSupported => ProbeOutcome::NotSupported,
                        probe::Outcome::Skipped => ProbeOutcome::Skipped,
                    },
                    kind: s.kind.map(ErrorKind::from),
                    code: s.code.clone(),
                    message: s.message.clone(),
                    fix: s.fix.clone(),
                })
                .collect(),
            prefix: report.prefix,
            leftovers: report.leftovers,
            conditional_writes: report.conditional_writes.into(),
        }
    }

    /// Adds the app's CORS rule (plus `origins`) to the bucket's rules,
    /// keeping the rules it has.
    pub async fn cors_policy(&self, name: &str, origins: &[String]) -> Result<CorsResult, ApiError> {
        for o in origins {
            check_origin(o)?;
        }
        let row = self.policy_row(name)?;
        let settings = settings(&row)?;
        let remote = self.remote(name).await?;
        match cors::apply(&remote, origins).await {
            Ok(applied) => Ok(CorsResult {
                policy: name.to_string(),
                change: match applied.change {
                    cors::Change::Added => "added",
                    cors::Change::Extended => "extended",
                    cors::Change::Unchanged => "unchanged",
                }
                .to_string(),
                rules: applied
                    .rules
                    .into_iter()
                    .map(|r| CorsRuleView {
                        id: r.id,
                        allowed_origins: r.allowed_origins,
                        allowed_methods: r.allowed_methods,
                        allowed_headers: r.allowed_headers,
                        expose_headers: r.expose_headers,
                        max_age_seconds: r.max_age_seconds,
                    })
                    .collect(),
            }),
            Err(e) => {
                let preset = settings.preset();
                let unsupported = e.kind == bucketsync_remote::ErrorKind::NotSupported
                    || (!preset.quirks.cors_api && e.kind != bucketsync_remote::ErrorKind::Offline);
                if unsupported {
                    let how = preset
                        .help
                        .iter()
                        .find(|h| h.contains("CORS"))
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| {
                            "set the CORS rule in the provider's console or its own tool".into()
                        });
                    let mut err = ApiError::new(
                        ErrorKind::NotSupported,
                        format!(
                            "{} does not support setting CORS rules through its S3 API (PutBucketCors): {e}",
                            preset.name
                        ),
                    )
                    .with_hint(how);
                    err.retryable = false;
                    Err(err)
                } else {
                    Err(e.into())
                }
            }
        }
    }
}

fn check_origin(origin: &str) -> Result<(), ApiError> {
    let o = origin.trim();
    let ok = o == "*"
        || (o.split_once("://").is_some_and(|(scheme, host)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
                && !host.is_empty()
                && !host.trim_end_matches('/').contains(['/', '?', '#', ' '])
        }));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "origin",
            format!("'{origin}' is not a web origin"),
            "an origin is a scheme and a host (and port) without a path, e.g. https://app.example.com or http://localhost:3000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn garage_request(name: &str, bucket: &str, source: &str) -> AddPolicyRequest {
        let s = bucketsync_testserver::S3Server::garage();
        AddPolicyRequest {
            name: name.into(),
            provider: "garage".into(),
            bucket: bucket.into(),
            endpoint: Some(s.endpoint.clone()),
            region: Some(s.region.clone()),
            access_key_id: s.access_key_id.clone(),
            secret_source: Some(source.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_and_origins_are_checked() {
        check_name("b2-photos.main_1").unwrap();
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(check_name(bad).unwrap_err().field.as_deref(), Some("name"), "{bad}");
        }
        check_origin("https://app.example.com").unwrap();
        check_origin("tauri://localhost").unwrap();
        check_origin("http://localhost:3000/").unwrap();
        for bad in ["example.com", "https://x.com/path", "https://"] {
            assert_eq!(check_origin(bad).unwrap_err().field.as_deref(), Some("origin"), "{bad}");
        }
    }

    #[tokio::test]
    async fn add_show_update_keeps_the_id_and_never_stores_the_secret() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let server = bucketsync_testserver::S3Server::garage();
        let bucket = server.create_bucket("api-policy");
        let secret_file = tmp.path().join("garage.secret");
        let mut req = garage_request("g", &bucket, &format!("file:{}", secret_file.display()));
        req.secret = Some(Secret::new(server.secret_access_key.clone()));
        let saved = api.add_policy(req.clone()).await.unwrap();
        assert_eq!(saved.policy.region, "garage");
        assert_eq!(saved.policy.addressing, "path-style");
        assert!(api.probe_policy("g").await.unwrap().ok);

        // Adding the same name again is refused with a kind.
        req.secret = None;
        assert_eq!(api.add_policy(req).await.unwrap_err().kind, ErrorKind::AlreadyExists);

        let before = api.store().policy("g").unwrap().unwrap();
        let updated = api
            .update_policy(UpdatePolicyRequest {
                name: "g".into(),
                cdn_url: Some("cdn.example.com/files/".into()),
                public: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(updated.policy.cdn_url.as_deref(), Some("https://cdn.example.com/files"));
        let after = api.store().policy("g").unwrap().unwrap();
        assert_eq!(after.id, before.id, "pairs stay attached: same id");
        assert_eq!(after.created_ms, before.created_ms);
        assert_eq!(after.endpoint, before.endpoint, "fields not given are kept");

        // The secret is in no column and in no output.
        let json = serde_json::to_string(&api.list_policies().unwrap()).unwrap();
        assert!(!json.contains(&server.secret_access_key));
        let db = std::fs::read(tmp.path().join("bucketsync.db")).unwrap();
        let needle = server.secret_access_key.as_bytes();
        assert!(!db.windows(needle.len()).any(|w| w == needle));

        // A wrong input names its field.
        let e = api
            .update_policy(UpdatePolicyRequest {
                name: "g".into(),
                bucket: Some("Bad_Name".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("bucket"));
        api.remove_policy("g").await.unwrap();
        assert_eq!(api.policy("g").unwrap_err().kind, ErrorKind::NotFound);
    }

    /// `policy update NAME --endpoint URL` changes the endpoint only: an
    /// explicitly chosen region stays (it was reset to the preset's default,
    /// and the next pass failed with "wrong region"), while B2's region still
    /// follows its new endpoint.
    #[tokio::test]
    async fn a_new_endpoint_keeps_a_chosen_region() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let var = "BUCKETSYNC_TEST_REGION_SECRET";
        std::env::set_var(var, "not-used-here");
        let custom = AddPolicyRequest {
            name: "c".into(),
            provider: "custom".into(),
            bucket: "data".into(),
            endpoint: Some("https://s3.one.example.com".into()),
            region: Some("eu-west-9".into()),
            addressing: Some(AddressingChoice::PathStyle),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_source: Some(format!("env:{var}")),
            ..Default::default()
        };
        api.add_policy(custom).await.unwrap();
        let moved = api
            .update_policy(UpdatePolicyRequest {
                name: "c".into(),
                endpoint: Some("https://s3.two.example.com".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(moved.policy.endpoint.as_deref(), Some("https://s3.two.example.com"));
        assert_eq!(moved.policy.region, "eu-west-9", "a region the update did not name is kept");
        assert_eq!(moved.policy.addressing, "path-style", "so is the addressing style");

        let b2 = AddPolicyRequest {
            name: "b".into(),
            provider: "b2".into(),
            bucket: "photos".into(),
            endpoint: Some("s3.us-west-004.backblazeb2.com".into()),
            region: None,
            access_key_id: "004abcdef0123450000000001".into(),
            secret_source: Some(format!("env:{var}")),
            ..Default::default()
        };
        api.add_policy(b2).await.unwrap();
        let moved = api
            .update_policy(UpdatePolicyRequest {
                name: "b".into(),
                endpoint: Some("s3.eu-central-003.backblazeb2.com".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(moved.policy.region, "eu-central-003", "B2 reads its region from the endpoint");
        assert!(moved.notes.iter().all(|n| !n.contains("as typed")), "{:?}", moved.notes);
    }

    /// New keys or a corrected region keep the pairs and their sync state;
    /// a policy still used by a pair cannot be removed.
    #[tokio::test]
    async fn update_keeps_pairs_and_sync_state_and_remove_refuses_while_used() {
        use bucketsync_store::{baseline::BaselineRow, pair::PairRow};
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let var = "BUCKETSYNC_TEST_PAIRS_SECRET";
        std::env::set_var(var, "not-used-here");
        let mut req = garage_request("p", "photos", &format!("env:{var}"));
        req.provider = "b2".into();
        req.endpoint = Some("s3.us-west-004.backblazeb2.com".into());
        req.region = None;
        api.add_policy(req).await.unwrap();
        let policy_id = api.store().policy("p").unwrap().unwrap().id;
        let pair = PairRow {
            id: 0,
            name: "photos-pair".into(),
            policy_id,
            local_root: "/tmp/photos".into(),
            prefix: String::new(),
            mode: "two-way".into(),
            paused: false,
            max_delete_percent: 50,
            bucket: "photos".into(),
            created_ms: 1,
        };
        let pair_id = api.store().insert_pair(&pair).unwrap();
        let base = BaselineRow {
            path: "a.jpg".into(),
            local: bucketsync_store::LocalFile { size: 1, mtime_ms: 1, inode: 0, hash: None },
            remote_etag: "e".into(),
            remote_size: 1,
            remote_mtime_ms: None,
            synced_ms: 1,
        };
        api.store().put_baseline(pair_id, &base).unwrap();

        // A corrected endpoint (another B2 region) and new keys (env source: no secret needed here).
        let saved = api
            .update_policy(UpdatePolicyRequest {
                name: "p".into(),
                endpoint: Some("https://s3.eu-central-003.backblazeb2.com/photos".into()),
                access_key_id: Some("003newkey".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(saved.policy.region, "eu-central-003", "the region follows the new endpoint");
        assert_eq!(saved.policy.endpoint.as_deref(), Some("https://s3.eu-central-003.backblazeb2.com"));
        assert_eq!(saved.policy.access_key_id, "003newkey");
        let pairs = api.store().pairs_of_policy(policy_id).unwrap();
        assert_eq!(pairs.len(), 1, "the pair is still attached to the same policy id");
        assert_eq!(api.store().baselines(pair_id).unwrap(), vec![base], "sync state is kept");

        let e = api.remove_policy("p").await.unwrap_err();
        assert!(e.message.contains("photos-pair"), "{e:?}");
        assert!(e.hint.as_deref().unwrap().contains("pair remove"));
        assert!(api.policy("p").is_ok());
        api.store().delete_pair("photos-pair").unwrap();
        api.remove_policy("p").await.unwrap();
    }

    #[tokio::test]
    async fn a_new_secret_after_expiry_reaches_the_shared_client() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let server = bucketsync_testserver::S3Server::garage();
        let bucket = server.create_bucket("api-rotate");
        let file = tmp.path().join("s");
        std::fs::write(&file, "0".repeat(64)).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        api.add_policy(garage_request("r", &bucket, &format!("file:{}", file.display()))).await.unwrap();
        let first = api.remote("r").await.unwrap();
        assert!(Arc::ptr_eq(&first, &api.remote("r").await.unwrap()), "one shared client per policy");
        let probe = api.probe_policy("r").await.unwrap();
        assert!(!probe.ok);
        assert_eq!(probe.steps[0].kind, Some(ErrorKind::BadCredentials));

        // New keys: a new access key id and its secret, moved to an env var.
        let (id, secret) = server.create_key(&bucket, true, true).unwrap();
        let var = "BUCKETSYNC_TEST_ROTATED_SECRET";
        std::env::set_var(var, &secret);
        api.update_policy(UpdatePolicyRequest {
            name: "r".into(),
            access_key_id: Some(id),
            secret_source: Some(format!("env:{var}")),
            ..Default::default()
        })
        .await
        .unwrap();
        let second = api.remote("r").await.unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "an update rebuilds the shared client");
        assert!(api.probe_policy("r").await.unwrap().ok);
    }
}
