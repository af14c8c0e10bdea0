//! Bucket CORS rules: the app's rule, merged into what the bucket already
//! has (never replacing other rules).

use crate::error::{ErrorKind, RemoteError};
use crate::s3::S3Remote;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use serde::{Deserialize, Serialize};

/// The id of the rule this app writes, so a second run extends it instead of
/// adding another.
pub const RULE_ID: &str = "bucketsync";

/// Where the desktop app's web view runs (Linux/macOS, Windows, dev server).
pub const APP_ORIGINS: &[&str] =
    &["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost", "http://127.0.0.1:5173"];

/// One CORS rule, as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The app's rule was added beside the existing ones.
    Added,
    /// The app's rule existed and got new origins.
    Extended,
    /// Existing rules already allow every origin asked for.
    Unchanged,
}

/// What [`apply`] leaves on the bucket.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    pub change: Change,
    pub rules: Vec<Rule>,
}

/// The rule the app needs for `origins`.
pub fn app_rule(origins: &[String]) -> Rule {
    let mut all: Vec<String> = APP_ORIGINS.iter().map(|o| o.to_string()).collect();
    for o in origins {
        let o = o.trim().trim_end_matches('/').to_string();
        if !o.is_empty() && !all.contains(&o) {
            all.push(o);
        }
    }
    Rule {
        id: Some(RULE_ID.into()),
        allowed_origins: all,
        allowed_methods: ["GET", "HEAD", "PUT", "POST", "DELETE"].map(String::from).to_vec(),
        allowed_headers: vec!["*".into()],
        expose_headers: ["ETag", "Content-Length", "Content-Type", "x-amz-meta-mtime"]
            .map(String::from)
            .to_vec(),
        max_age_seconds: Some(3600),
    }
}

fn covers(rule: &Rule, want: &Rule) -> bool {
    let origin_ok = |o: &String| rule.allowed_origins.iter().any(|r| r == "*" || r == o);
    let method_ok = |m: &String| rule.allowed_methods.iter().any(|r| r.eq_ignore_ascii_case(m));
    let header_ok = rule.allowed_headers.iter().any(|h| h == "*");
    want.allowed_origins.iter().all(origin_ok) && want.allowed_methods.iter().all(method_ok) && header_ok
}

/// Merges the app's rule into `existing`: other rules are kept as they are;
/// an earlier app rule is extended; nothing changes when an existing rule
/// already allows everything asked.
pub fn merge(existing: &[Rule], ours: &Rule) -> (Vec<Rule>, Change) {
    let mut rules = existing.to_vec();
    if let Some(mine) = rules.iter_mut().find(|r| r.id.as_deref() == Some(RULE_ID)) {
        if covers(mine, ours) {
            return (rules, Change::Unchanged);
        }
        for o in &ours.allowed_origins {
            if !mine.allowed_origins.contains(o) {
                mine.allowed_origins.push(o.clone());
            }
        }
        for m in &ours.allowed_methods {
            if !mine.allowed_methods.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                mine.allowed_methods.push(m.clone());
            }
        }
        mine.allowed_headers = ours.allowed_headers.clone();
        for h in &ours.expose_headers {
            if !mine.expose_headers.contains(h) {
                mine.expose_headers.push(h.clone());
            }
        }
        return (rules, Change::Extended);
    }
    if rules.iter().any(|r| covers(r, ours)) {
        return (rules, Change::Unchanged);
    }
    rules.push(ours.clone());
    (rules, Change::Added)
}

fn to_sdk(rule: &Rule) -> Result<CorsRule, RemoteError> {
    CorsRule::builder()
        .set_id(rule.id.clone())
        .set_allowed_origins(Some(rule.allowed_origins.clone()))
        .set_allowed_methods(Some(rule.allowed_methods.clone()))
        .set_allowed_headers((!rule.allowed_headers.is_empty()).then(|| rule.allowed_headers.clone()))
        .set_expose_headers((!rule.expose_headers.is_empty()).then(|| rule.expose_headers.clone()))
        .set_max_age_seconds(rule.max_age_seconds)
        .build()
        .map_err(|e| RemoteError::new(ErrorKind::Rejected, format!("invalid CORS rule: {e}")))
}

fn from_sdk(rule: &CorsRule) -> Rule {
    Rule {
        id: rule.id().map(str::to_string),
        allowed_origins: rule.allowed_origins().to_vec(),
        allowed_methods: rule.allowed_methods().to_vec(),
        allowed_headers: rule.allowed_headers().to_vec(),
        expose_headers: rule.expose_headers().to_vec(),
        max_age_seconds: rule.max_age_seconds(),
    }
}

/// The bucket's CORS rules; none configured is an empty list.
pub async fn get(remote: &S3Remote) -> Result<Vec<Rule>, RemoteError> {
    match remote.client().get_bucket_cors().bucket(remote.bucket()).send().await {
        Ok(out) => Ok(out.cors_rules().iter().map(from_sdk).collect()),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchCORSConfiguration") => {
            Ok(Vec::new())
        }
        Err(e) => Err(RemoteError::from_sdk(e)),
    }
}

/// Replaces the bucket's CORS rules with `rules` (callers merge first).
pub async fn put(remote: &S3Remote, rules: &[Rule]) -> Result<(), RemoteError> {
    let config = CorsConfiguration::builder()
        .set_cors_rules(Some(rules.iter().map(to_sdk).collect::<Result<_, _>>()?))
        .build()
        .map_err(|e| RemoteError::new(ErrorKind::Rejected, format!("invalid CORS configuration: {e}")))?;
    remote
        .client()
        .put_bucket_cors()
        .bucket(remote.bucket())
        .cors_configuration(config)
        .send()
        .await
        .map_err(RemoteError::from_sdk)?;
    Ok(())
}

/// Removes every CORS rule of the bucket.
pub async fn delete(remote: &S3Remote) -> Result<(), RemoteError> {
    remote
        .client()
        .delete_bucket_cors()
        .bucket(remote.bucket())
        .send()
        .await
        .map_err(RemoteError::from_sdk)?;
    Ok(())
}

/// Adds (or extends) the app's rule for `origins`, keeping the other rules.
pub async fn apply(remote: &S3Remote, origins: &[String]) -> Result<Applied, RemoteError> {
    let existing = get(remote).await?;
    let (rules, change) = merge(&existing, &app_rule(origins));
    if change != Change::Unchanged {
        put(remote, &rules).await?;
    }
    Ok(Applied { change, rules })
}

/// For the probe: calls PutBucketCors and leaves the bucket's rules as they
/// were. Existing rules are written back unchanged; without rules, a rule is
/// written and removed again. Returns a description of anything left behind.
pub async fn exercise_put(remote: &S3Remote, origins: &[String]) -> Result<Option<String>, RemoteError> {
    // A server without CORS may refuse the GET too; PutBucketCors is what we
    // report on, so a failed GET falls through to the PUT.
    match get(remote).await {
        Ok(existing) if !existing.is_empty() => {
            put(remote, &existing).await?;
            Ok(None)
        }
        _ => {
            put(remote, &[app_rule(origins)]).await?;
            match delete(remote).await {
                Ok(()) => Ok(None),
                Err(_) => Ok(Some(format!(
                    "a CORS rule '{RULE_ID}' for the app's origins (DeleteBucketCors failed; remove it in the console if unwanted)"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other() -> Rule {
        Rule {
            id: Some("website".into()),
            allowed_origins: vec!["https://example.com".into()],
            allowed_methods: vec!["GET".into()],
            allowed_headers: vec![],
            expose_headers: vec![],
            max_age_seconds: None,
        }
    }

    #[test]
    fn merge_keeps_other_rules_and_adds_ours_once() {
        let ours = app_rule(&["https://my.example".into()]);
        let (rules, change) = merge(&[other()], &ours);
        assert_eq!(change, Change::Added);
        assert_eq!(rules, vec![other(), ours.clone()]);
        let (again, change) = merge(&rules, &ours);
        assert_eq!(change, Change::Unchanged);
        assert_eq!(again, rules);
    }

    #[test]
    fn merge_extends_our_earlier_rule_with_new_origins() {
        let first = app_rule(&[]);
        let (rules, _) = merge(&[other()], &first);
        let (rules, change) = merge(&rules, &app_rule(&["https://new.example/".into()]));
        assert_eq!(change, Change::Extended);
        assert_eq!(rules.len(), 2);
        assert!(rules[1].allowed_origins.contains(&"https://new.example".to_string()));
        assert!(rules[1].allowed_origins.contains(&"tauri://localhost".to_string()));
        assert_eq!(rules[0], other());
    }

    #[test]
    fn a_wildcard_rule_already_covers_the_app() {
        let wide = Rule {
            id: None,
            allowed_origins: vec!["*".into()],
            allowed_methods: ["GET", "HEAD", "PUT", "POST", "DELETE"].map(String::from).to_vec(),
            allowed_headers: vec!["*".into()],
            ..Default::default()
        };
        assert_eq!(merge(&[wide], &app_rule(&[])).1, Change::Unchanged);
    }
}
