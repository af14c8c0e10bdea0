//! A policy being set up (or re-keyed) in the desktop wizard: checked as the
//! user types (the rules are crates/remote's normalisation; the UI never
//! re-implements them), tested against the bucket before anything is saved,
//! and saved only after a passing test or an explicit "save anyway".
//!
//! The secret crosses from the UI once: Rust keeps it in memory under the
//! draft's id for re-tests and the save, and never sends it back.

use crate::policy::{AddPolicyRequest, AddressingChoice, PolicySaved, ProbeResult, UpdatePolicyRequest};
use crate::{Api, ApiError, ErrorKind};
use bucketsync_remote::{Addressing, RawPolicy, S3Remote, Secret, Settings};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use ts_rs::TS;

/// Every field of the wizard, as typed.
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct PolicyDraft {
    /// The id Rust gave this draft (from the first test); `null` before.
    pub draft_id: Option<String>,
    /// The policy being re-keyed or edited ("Enter new keys"); `null` for a new one.
    pub editing: Option<String>,
    pub name: String,
    pub provider: String,
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub addressing: Option<AddressingChoice>,
    /// "Allow public read" (true) or "block all public access" (false).
    pub public: bool,
    pub cdn_url: Option<String>,
    pub access_key_id: String,
    /// Sent once, when typed; `null` afterwards (Rust keeps it for this draft).
    #[ts(type = "string | null")]
    pub secret: Option<Secret>,
    /// `YYYY-MM-DD`: when the provider says the keys expire (R2 tokens may).
    pub keys_expire_on: Option<String>,
}

/// The settings as they will be saved.
#[derive(Clone, Debug, Serialize, TS)]
pub struct NormalisedView {
    /// `null`: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `path-style` | `virtual-host`
    pub addressing: String,
    pub public: bool,
    pub cdn_url: Option<String>,
    pub account_id: Option<String>,
}

/// The wizard's fields checked by Rust's rules.
#[derive(Clone, Debug, Serialize, TS)]
pub struct DraftCheck {
    /// Present when every connection field is usable.
    pub normalised: Option<NormalisedView>,
    /// The field at fault (`error.field`) and its fix, if any.
    pub error: Option<ApiError>,
    /// What the rules changed, in plain words.
    pub notes: Vec<String>,
    /// CORS origins to offer: the CDN / public URL's origin.
    pub suggested_origins: Vec<String>,
    /// Rust holds a secret for this draft (or the edited policy has one).
    pub has_secret: bool,
}

/// A connection test of a draft.
#[derive(Clone, Debug, Serialize, TS)]
pub struct DraftTest {
    pub draft_id: String,
    pub check: DraftCheck,
    /// The probe's table; absent when a field is wrong (see `check.error`).
    pub probe: Option<ProbeResult>,
}

#[derive(Default)]
struct Held {
    secret: Option<Secret>,
    /// Bumped whenever a new secret arrives, so a test of the old one does
    /// not count for the new one.
    generation: u64,
    /// What passed the last test (settings, key id, secret generation).
    passed: Option<String>,
    /// What that test observed of conditional writes, stored with the
    /// policy when exactly those settings are saved.
    conditional_writes: Option<crate::policy::ConditionalWrites>,
}

/// Drafts in flight, by id.
#[derive(Default)]
pub(crate) struct Drafts {
    held: Mutex<HashMap<String, Held>>,
    next: AtomicU64,
}

fn raw(d: &PolicyDraft) -> RawPolicy {
    RawPolicy {
        provider: d.provider.clone(),
        bucket: d.bucket.clone(),
        endpoint: d.endpoint.clone(),
        region: d.region.clone(),
        account_id: d.account_id.clone(),
        addressing: d.addressing.map(Addressing::from),
        public: d.public,
        cdn_url: d.cdn_url.clone(),
    }
}

fn fingerprint(s: &Settings, access_key_id: &str, generation: u64) -> String {
    format!(
        "{}|{:?}|{}|{}|{:?}|{}|{generation}",
        s.provider,
        s.endpoint,
        s.region,
        s.bucket,
        s.addressing,
        access_key_id.trim()
    )
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// `YYYY-MM-DD` with a real month and day.
pub(crate) fn check_day(day: &str) -> Result<String, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day.trim(), &format).map(|_| day.trim().to_string()).map_err(|_| {
        ApiError::invalid("keys-expire-on", format!("'{day}' is not a date"), "use the form 2026-12-31")
    })
}

impl Api {
    fn held_secret(&self, id: &str) -> Option<(Secret, u64)> {
        let held = self.drafts.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(id).and_then(|h| h.secret.clone().map(|s| (s, h.generation)))
    }

    /// The draft's id, taking a newly typed secret into memory.
    fn take_secret(&self, draft: &mut PolicyDraft) -> String {
        let id = draft.draft_id.clone().unwrap_or_else(|| {
            format!("d{}-{}", std::process::id(), self.drafts.next.fetch_add(1, Ordering::Relaxed))
        });
        let mut held = self.drafts.held.lock().unwrap_or_else(|p| p.into_inner());
        let entry = held.entry(id.clone()).or_default();
        if let Some(secret) = draft.secret.take().filter(|s| !s.expose().trim().is_empty()) {
            entry.secret = Some(Secret::new(secret.expose().trim()));
            entry.generation += 1;
        }
        id
    }

    /// Checks every field with the provider's rules, as the user types.
    pub fn check_policy(&self, draft: &PolicyDraft) -> DraftCheck {
        let has_secret = draft.secret.is_some()
            || draft.draft_id.as_deref().and_then(|id| self.held_secret(id)).is_some()
            || draft.editing.is_some();
        let mut error = None;
        if draft.editing.is_none() {
            if let Err(e) = crate::policy::check_name(&draft.name) {
                error = Some(e);
            } else if self.store().policy(&draft.name).ok().flatten().is_some() {
                error = Some(ApiError::invalid(
                    "name",
                    format!("a policy named '{}' exists already", draft.name),
                    "choose another name",
                ));
            }
        }
        match bucketsync_remote::normalise(&raw(draft)) {
            Ok(s) => {
                let suggested_origins = s.cdn_url.as_deref().and_then(origin_of).into_iter().collect();
                if error.is_none() && !draft.access_key_id.trim().is_empty() {
                    error = crate::policy::check_access_key_id(&draft.access_key_id).err();
                }
                if let (None, Some(day)) = (&error, draft.keys_expire_on.as_deref().filter(|d| !d.is_empty()))
                {
                    error = check_day(day).err();
                }
                DraftCheck {
                    normalised: Some(NormalisedView {
                        endpoint: s.endpoint.clone(),
                        region: s.region.clone(),
                        bucket: s.bucket.clone(),
                        addressing: match s.addressing {
                            Addressing::PathStyle => "path-style".into(),
                            Addressing::VirtualHost => "virtual-host".into(),
                        },
                        public: s.public,
                        cdn_url: s.cdn_url.clone(),
                        account_id: s.account_id.clone(),
                    }),
                    error,
                    notes: s.notes,
                    suggested_origins,
                    has_secret,
                }
            }
            Err(e) => DraftCheck {
                normalised: None,
                // A connection field comes before the name in the wizard.
                error: Some(ApiError::invalid(e.field, e.message, e.hint)),
                notes: Vec::new(),
                suggested_origins: Vec::new(),
                has_secret,
            },
        }
    }

    /// Tests the draft against the bucket: every API Bucketsync relies on,
    /// under a scratch prefix that is removed. Nothing is saved.
    pub async fn test_policy(&self, mut draft: PolicyDraft) -> Result<DraftTest, ApiError> {
        let draft_id = self.take_secret(&mut draft);
        draft.draft_id = Some(draft_id.clone());
        let check = self.check_policy(&draft);
        if check.error.is_some() {
            return Ok(DraftTest { draft_id, check, probe: None });
        }
        let settings = bucketsync_remote::normalise(&raw(&draft))
            .map_err(|e| ApiError::invalid(e.field, e.message, e.hint))?;
        let access_key_id = crate::policy::check_access_key_id(&draft.access_key_id)?;
        let (secret, generation) = match self.held_secret(&draft_id) {
            Some(held) => held,
            None => match &draft.editing {
                // Re-testing an existing policy with its stored secret.
                Some(name) => (crate::secret::load(&self.stored_source(name)?, self.home(), name).await?, 0),
                None => {
                    let label = settings.preset().secret_label;
                    return Err(ApiError::invalid(
                        "secret",
                        format!("the {label} is missing"),
                        format!("paste the {label} from the provider's console"),
                    ));
                }
            },
        };
        let remote = S3Remote::new(&settings.connection(&access_key_id, secret));
        let name = draft.editing.clone().unwrap_or_else(|| draft.name.clone());
        let probe = self.run_probe(&name, &settings, &remote).await;
        if probe.ok {
            let mut held = self.drafts.held.lock().unwrap_or_else(|p| p.into_inner());
            let entry = held.entry(draft_id.clone()).or_default();
            entry.passed = Some(fingerprint(&settings, &access_key_id, generation));
            entry.conditional_writes = Some(probe.conditional_writes);
        }
        Ok(DraftTest { draft_id, check, probe: Some(probe) })
    }

    /// Saves the draft: a new policy, or the edited one (its pairs keep
    /// their sync state and restart with the new settings by themselves).
    /// Refused unless the same settings and keys passed a test, or `anyway`.
    pub async fn save_policy(&self, mut draft: PolicyDraft, anyway: bool) -> Result<PolicySaved, ApiError> {
        let draft_id = self.take_secret(&mut draft);
        let settings = bucketsync_remote::normalise(&raw(&draft))
            .map_err(|e| ApiError::invalid(e.field, e.message, e.hint))?;
        let access_key_id = crate::policy::check_access_key_id(&draft.access_key_id)?;
        let expires = match draft.keys_expire_on.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(day) => Some(check_day(day)?),
            None => None,
        };
        let (secret, generation) = match self.held_secret(&draft_id) {
            Some((s, g)) => (Some(s), g),
            None => (None, 0),
        };
        let (passed, observed) = self
            .drafts
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&draft_id)
            .map(|h| (h.passed.clone(), h.conditional_writes))
            .unwrap_or_default();
        let tested = passed.as_deref() == Some(fingerprint(&settings, &access_key_id, generation).as_str());
        if !anyway && !tested {
            return Err(ApiError::new(
                ErrorKind::InvalidInput,
                "these settings have not passed a connection test",
            )
            .with_hint("run Test connection again, or choose Save anyway"));
        }
        // The test of exactly these settings saw how the server treats
        // conditional writes: kept with the policy, as `policy probe` keeps
        // it (before an edited policy's pairs restart, so they use it).
        let observed = observed.filter(|o| tested && *o != crate::policy::ConditionalWrites::Unknown);
        let keep_observed = |name: &str| match observed {
            Some(o) => self.store().set_policy_conditional_writes(name, o.stored()),
            None => Ok(()),
        };
        let saved = match &draft.editing {
            None => {
                let saved = self
                    .add_policy(AddPolicyRequest {
                        name: draft.name.clone(),
                        provider: draft.provider.clone(),
                        bucket: draft.bucket.clone(),
                        endpoint: draft.endpoint.clone(),
                        region: draft.region.clone(),
                        account_id: draft.account_id.clone(),
                        addressing: draft.addressing,
                        public: draft.public,
                        cdn_url: draft.cdn_url.clone(),
                        access_key_id,
                        secret_source: Some("keyring".into()),
                        secret,
                    })
                    .await?;
                keep_observed(&draft.name)?;
                saved
            }
            Some(name) => {
                let blank = |v: &Option<String>| Some(v.clone().unwrap_or_default());
                let new_secret = secret.is_some();
                let saved = self
                    .update_policy(UpdatePolicyRequest {
                        name: name.clone(),
                        provider: Some(draft.provider.clone()),
                        bucket: Some(draft.bucket.clone()),
                        endpoint: blank(&draft.endpoint),
                        region: blank(&draft.region),
                        account_id: blank(&draft.account_id),
                        addressing: draft.addressing,
                        public: Some(draft.public),
                        cdn_url: blank(&draft.cdn_url),
                        access_key_id: Some(access_key_id),
                        // New keys typed in the app go to the OS keyring.
                        secret_source: new_secret.then(|| "keyring".to_string()),
                        secret,
                    })
                    .await?;
                keep_observed(name)?;
                self.engine_restart_policy(name).await;
                saved
            }
        };
        let policy_id = self.store().policy(&saved.policy.name)?.map(|p| p.id);
        if let Some(id) = policy_id {
            self.store().set_key_expiry(id, expires.as_deref())?;
        }
        let mut saved = saved;
        if let Some(o) = observed {
            saved.policy.conditional_writes = o;
        }
        self.drafts.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&draft_id);
        saved.policy.keys_expire_on = expires;
        Ok(saved)
    }

    /// Forgets a draft the user abandoned (its secret leaves memory).
    pub fn discard_draft(&self, draft_id: &str) {
        self.drafts.held.lock().unwrap_or_else(|p| p.into_inner()).remove(draft_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b2(endpoint: &str) -> PolicyDraft {
        PolicyDraft {
            name: "photos".into(),
            provider: "b2".into(),
            bucket: "my-photos".into(),
            endpoint: Some(endpoint.into()),
            access_key_id: "004abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_wizard_sees_the_presets_rules_applied_as_typed() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        // The seed's B2 instructions: endpoint with the bucket appended, no scheme.
        let c = api.check_policy(&b2("s3.us-west-004.backblazeb2.com/my-photos"));
        let n = c.normalised.unwrap();
        assert_eq!(n.endpoint.as_deref(), Some("https://s3.us-west-004.backblazeb2.com"));
        assert_eq!(n.region, "us-west-004");
        assert!(c.notes.iter().any(|n| n.contains("removed")), "{:?}", c.notes);
        assert!(c.error.is_none() && !c.has_secret);

        // R2: the account id alone builds the endpoint; region auto.
        let mut r2 = b2("0123456789abcdef0123456789abcdef");
        r2.provider = "r2".into();
        r2.cdn_url = Some("files.example.com/photos".into());
        r2.public = true;
        let c = api.check_policy(&r2);
        let n = c.normalised.unwrap();
        assert_eq!(
            n.endpoint.as_deref(),
            Some("https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com")
        );
        assert_eq!(n.region, "auto");
        assert_eq!(c.suggested_origins, vec!["https://files.example.com".to_string()]);

        // A wrong field is named.
        let mut bad = b2("s3.us-west-004.backblazeb2.com");
        bad.bucket = "Bad_Bucket".into();
        assert_eq!(api.check_policy(&bad).error.unwrap().field.as_deref(), Some("bucket"));
        let mut bad = b2("s3.us-west-004.backblazeb2.com");
        bad.keys_expire_on = Some("2026-02-30".into());
        assert_eq!(api.check_policy(&bad).error.unwrap().field.as_deref(), Some("keys-expire-on"));
    }

    /// The wizard's journey against Garage: a wrong secret fails the test
    /// with the fix, nothing can be saved; the right one passes and saves.
    #[tokio::test]
    async fn nothing_is_saved_until_a_test_passes_and_a_new_secret_needs_a_new_test() {
        let tmp = tempfile::tempdir().unwrap();
        let api = Api::open(tmp.path()).unwrap();
        let server = bucketsync_testserver::S3Server::garage();
        let bucket = server.create_bucket("api-draft");
        let mut draft = PolicyDraft {
            name: "g".into(),
            provider: "garage".into(),
            bucket: bucket.clone(),
            endpoint: Some(server.endpoint.clone()),
            access_key_id: server.access_key_id.clone(),
            secret: Some(Secret::new("0".repeat(64))),
            ..Default::default()
        };
        let t = api.test_policy(draft.clone()).await.unwrap();
        let probe = t.probe.unwrap();
        assert!(!probe.ok);
        assert_eq!(probe.steps[0].kind, Some(ErrorKind::BadCredentials));
        assert!(probe.steps[0].fix.is_some(), "the fix is shown");
        draft.draft_id = Some(t.draft_id.clone());
        draft.secret = None;
        let e = api.save_policy(draft.clone(), false).await.unwrap_err();
        assert!(e.message.contains("not passed"), "{e:?}");
        assert!(api.list_policies().unwrap().is_empty());

        // The corrected secret, sent once; the re-test passes, the save works
        // without sending the secret again.
        draft.secret = Some(Secret::new(server.secret_access_key.clone()));
        let t = api.test_policy(draft.clone()).await.unwrap();
        assert!(t.probe.unwrap().ok);
        draft.secret = None;
        if std::env::var_os("BUCKETSYNC_REQUIRE_KEYRING").is_none()
            && crate::secret::keyring_available().await.is_err()
        {
            eprintln!("no keyring here: the save itself is covered where one runs (scripts/test)");
            return;
        }
        let saved = api.save_policy(draft, false).await.unwrap();
        assert_eq!(saved.policy.secret_source, "keyring");
        // What the passing test saw of conditional writes (Garage ignores
        // them) is saved with the policy, as `policy probe` would save it.
        let ignored = crate::policy::ConditionalWrites::Ignored;
        assert_eq!(saved.policy.conditional_writes, ignored);
        assert_eq!(api.policy("g").unwrap().conditional_writes, ignored);
        assert!(api.probe_policy("g").await.unwrap().ok);
        api.remove_policy("g").await.unwrap();
    }
}
