//! Policy normalisation: a provider preset plus what a person typed (or
//! pasted) becomes settings that reach the bucket, or an error naming the
//! field at fault and the fix.
//!
//! Pure: no network, no I/O. The rules come from the presets' data
//! ([`EndpointRule`], [`RegionRule`], [`Quirks`](crate::provider::Quirks)),
//! never from branches on a provider id.

use crate::connection::{Addressing, Connection, Secret};
use crate::provider::{preset, EndpointRule, Preset, RegionRule, PRESETS};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use url::Url;

/// The fields of a storage policy as typed, before any cleaning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawPolicy {
    /// A preset id (`--provider`).
    pub provider: String,
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    /// `None`: the preset's default (or path-style where virtual-host cannot work).
    pub addressing: Option<Addressing>,
    pub public: bool,
    pub cdn_url: Option<String>,
}

/// Normalised settings: everything but the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub provider: &'static str,
    /// `None`: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub addressing: Addressing,
    pub public: bool,
    /// Public base URL without a trailing slash.
    pub cdn_url: Option<String>,
    pub account_id: Option<String>,
    /// Things changed or worth knowing, in plain words (never errors).
    pub notes: Vec<String>,
}

/// A field that cannot be used as typed. `field` is the CLI option name
/// without dashes (`endpoint`, `cdn-url`, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
    /// What to type instead.
    pub hint: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn field_error(field: &'static str, message: impl Into<String>, hint: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into(), hint: hint.into() }
}

impl Settings {
    pub fn preset(&self) -> &'static Preset {
        preset(self.provider).expect("settings are only built from known presets")
    }

    /// The connection these settings describe, with the given credentials.
    pub fn connection(&self, access_key_id: &str, secret: Secret) -> Connection {
        Connection {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            addressing: self.addressing,
            access_key_id: access_key_id.to_string(),
            secret,
            sdk_checksums: self.preset().quirks.sdk_checksums,
        }
    }

    /// The link anyone can open for `key`, when the bucket is public: under
    /// the CDN / public base URL if there is one, else at the endpoint.
    pub fn public_url(&self, key: &str) -> Option<String> {
        if !self.public {
            return None;
        }
        let encoded = encode_key(key);
        if let Some(base) = &self.cdn_url {
            return Some(format!("{base}/{encoded}"));
        }
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        };
        let url = Url::parse(&endpoint).ok()?;
        match self.addressing {
            Addressing::PathStyle => {
                Some(format!("{}/{}/{encoded}", endpoint.trim_end_matches('/'), self.bucket))
            }
            Addressing::VirtualHost => {
                let host = url.host_str()?;
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                let path = url.path().trim_end_matches('/');
                Some(format!("{}://{}.{host}{port}{path}/{encoded}", url.scheme(), self.bucket))
            }
        }
    }
}

/// Percent-encodes a key for a URL path, keeping `/` as the separator.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn provider_ids() -> String {
    PRESETS.iter().map(|p| p.id).collect::<Vec<_>>().join(", ")
}

fn trimmed(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Cleans and checks every field. See the module docs and the tests for the rules.
pub fn normalise(raw: &RawPolicy) -> Result<Settings, FieldError> {
    let provider = raw.provider.trim().to_ascii_lowercase();
    let preset = preset(&provider).ok_or_else(|| {
        field_error(
            "provider",
            format!("'{}' is not a known provider", raw.provider.trim()),
            format!("use one of: {} (custom for any other S3-compatible server)", provider_ids()),
        )
    })?;
    let mut notes = Vec::new();
    let bucket = raw.bucket.trim().to_string();
    check_bucket(&bucket)?;

    let account_id = match trimmed(&raw.account_id) {
        Some(id) => Some(check_account_id(id)?),
        None => None,
    };

    // The endpoint: typed (cleaned), or built from the preset's rule.
    let typed_endpoint = trimmed(&raw.endpoint);
    let mut account_id = account_id;
    let mut endpoint: Option<Url> = match (typed_endpoint, preset.endpoint) {
        // An R2 account id pasted into the endpoint field.
        (Some(e), EndpointRule::FromAccountId(template)) if looks_like_account_id(e) => {
            let id = check_account_id(e)?;
            let built = template.replace("{account_id}", &id);
            account_id = Some(id);
            Some(parse_endpoint(&built)?)
        }
        (Some(e), _) => Some(parse_endpoint(e)?),
        (None, _) => None,
    };
    if let Some(url) = endpoint.as_mut() {
        strip_bucket_from_endpoint(url, &bucket, preset, &mut notes)?;
    }

    // The region: fixed, read from the endpoint, or as typed.
    let typed_region = match trimmed(&raw.region) {
        Some(r) => Some(check_region(r)?),
        None => None,
    };
    let region = match preset.region {
        RegionRule::Fixed(fixed) => {
            if let Some(r) = &typed_region {
                if r != fixed && !preset.regions.contains(&r.as_str()) && !is_region_alias(r) {
                    notes.push(format!("{} always uses region {fixed}; '{r}' was replaced", preset.name));
                }
            }
            fixed.to_string()
        }
        RegionRule::FromEndpointHost(prefix) => {
            match endpoint.as_ref().and_then(|u| region_from_host(u, prefix)) {
                Some(from_host) => {
                    if let Some(r) = typed_region.as_ref().filter(|r| **r != from_host) {
                        notes.push(format!(
                            "the region is read from the endpoint: {from_host} (not '{r}' as typed)"
                        ));
                    }
                    from_host
                }
                None => typed_region.clone().unwrap_or_else(|| preset.default_region.to_string()),
            }
        }
        RegionRule::Chosen => typed_region.clone().unwrap_or_else(|| preset.default_region.to_string()),
    };

    if endpoint.is_none() {
        endpoint =
            match preset.endpoint {
                EndpointRule::Aws => None,
                EndpointRule::FromRegion(template) => {
                    Some(parse_endpoint(&template.replace("{region}", &region))?)
                }
                EndpointRule::FromAccountId(template) => match &account_id {
                    Some(id) => Some(parse_endpoint(&template.replace("{account_id}", id))?),
                    None => return Err(field_error(
                        "endpoint",
                        format!("{} needs the S3 endpoint or the account id", preset.name),
                        "pass --endpoint with the S3 API address from the bucket's settings, or --account-id",
                    )),
                },
                EndpointRule::Typed => {
                    return Err(field_error(
                        "endpoint",
                        format!("{} needs the server's address", preset.name),
                        format!(
                            "pass --endpoint, e.g. --endpoint https://s3.example.com:9000{}",
                            preset.help.first().map(|h| format!(" ({h})")).unwrap_or_default()
                        ),
                    ))
                }
            };
    }
    // An account id can be read back from an endpoint built on it.
    if let (None, EndpointRule::FromAccountId(template), Some(url)) =
        (&account_id, preset.endpoint, &endpoint)
    {
        account_id = account_id_from_host(url, template);
    }

    if let Some(url) = &endpoint {
        if url.scheme() == "http" && !is_local_host(url) {
            notes.push(
                "the endpoint uses plain http: data and signatures travel unencrypted; use https:// if the server offers it"
                    .into(),
            );
        }
    }

    // Addressing: as chosen, else the preset's, unless virtual-host cannot work.
    let addressing = match raw.addressing {
        Some(a) => {
            if a == Addressing::VirtualHost {
                if let Some(why) = virtual_host_impossible(endpoint.as_ref(), &bucket) {
                    return Err(field_error(
                        "virtual-host",
                        format!("virtual-host addressing cannot work here: {why}"),
                        "use --path-style",
                    ));
                }
            }
            a
        }
        None => match (preset.addressing, virtual_host_impossible(endpoint.as_ref(), &bucket)) {
            (Addressing::VirtualHost, Some(why)) => {
                notes.push(format!("path-style addressing is used because {why}"));
                Addressing::PathStyle
            }
            (a, _) => a,
        },
    };

    let cdn_url = match trimmed(&raw.cdn_url) {
        Some(c) => Some(check_cdn_url(c)?),
        None => None,
    };
    if raw.public && cdn_url.is_none() && preset.quirks.public_needs_base_url {
        return Err(field_error(
            "cdn-url",
            format!("a public {} bucket is reached through its public URL, which is missing", preset.name),
            "enable public access in the bucket's settings and pass its public URL with --cdn-url (e.g. https://pub-<id>.r2.dev or your custom domain)",
        ));
    }

    Ok(Settings {
        provider: preset.id,
        endpoint: endpoint.map(|u| url_without_trailing_slash(&u)),
        region,
        bucket,
        addressing,
        public: raw.public,
        cdn_url,
        account_id,
        notes,
    })
}

/// R2 treats `us-east-1` and an empty region as aliases of `auto`.
fn is_region_alias(region: &str) -> bool {
    region == "us-east-1"
}

/// S3 bucket naming rules (the strict, current ones every provider accepts).
pub fn check_bucket(bucket: &str) -> Result<(), FieldError> {
    let fail = |what: &str| {
        Err(field_error(
            "bucket",
            format!("'{bucket}' is not a valid bucket name: {what}"),
            "use the bucket's exact name as the provider's console shows it: 3 to 63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
        ))
    };
    if bucket.is_empty() {
        return fail("it is empty");
    }
    if bucket.contains('/') {
        return fail("it contains '/' (a bucket name has no path; put prefixes in the pair, not the policy)");
    }
    if bucket.len() < 3 || bucket.len() > 63 {
        return fail("it must be 3 to 63 characters long");
    }
    if let Some(c) =
        bucket.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return fail(&format!("'{c}' is not allowed (only lowercase letters, digits, dots and hyphens)"));
    }
    let first = bucket.as_bytes()[0];
    let last = bucket.as_bytes()[bucket.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return fail("it must start and end with a letter or a digit");
    }
    if bucket.contains("..") || bucket.contains(".-") || bucket.contains("-.") {
        return fail("dots must not be next to each other or to a hyphen");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return fail("it must not look like an IP address");
    }
    if bucket.starts_with("xn--") || bucket.starts_with("sthree-") {
        return fail("the prefixes xn-- and sthree- are reserved");
    }
    if bucket.ends_with("-s3alias") || bucket.ends_with("--ol-s3") {
        return fail("the suffixes -s3alias and --ol-s3 are reserved");
    }
    Ok(())
}

fn looks_like_account_id(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_account_id(id: &str) -> Result<String, FieldError> {
    let id = id.trim().to_ascii_lowercase();
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !ok {
        return Err(field_error(
            "account-id",
            format!("'{id}' is not an account id"),
            "copy the account id from the provider's dashboard (for Cloudflare: 32 hexadecimal characters, shown on the R2 overview page)",
        ));
    }
    Ok(id)
}

fn check_region(region: &str) -> Result<String, FieldError> {
    let ok = region.len() <= 64
        && region.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(field_error(
            "region",
            format!("'{region}' is not a region name"),
            "type the region code the provider shows for the bucket, e.g. us-east-1, eu-central-003 or auto",
        ));
    }
    Ok(region.to_string())
}

/// Adds `https://` to an endpoint typed without a scheme and checks it is a
/// URL an S3 client can use.
fn parse_endpoint(typed: &str) -> Result<Url, FieldError> {
    let bad = |why: &str| {
        field_error(
            "endpoint",
            format!("'{typed}' is not a usable endpoint: {why}"),
            "type the S3 API address, e.g. https://s3.us-west-004.backblazeb2.com or http://127.0.0.1:3900",
        )
    };
    let with_scheme = if typed.contains("://") { typed.to_string() } else { format!("https://{typed}") };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password (the keys go in their own fields)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not contain '?' or '#'"));
    }
    if typed.chars().any(char::is_whitespace) {
        return Err(bad("it contains spaces"));
    }
    Ok(url)
}

/// A bucket name pasted at the end of the endpoint (as path or as the first
/// host label) is removed: the client adds it itself.
fn strip_bucket_from_endpoint(
    url: &mut Url,
    bucket: &str,
    preset: &Preset,
    notes: &mut Vec<String>,
) -> Result<(), FieldError> {
    let path = url.path().trim_end_matches('/').to_string();
    if let Some(rest) = path.strip_suffix(&format!("/{bucket}")) {
        url.set_path(if rest.is_empty() { "/" } else { rest });
        notes.push(format!("the bucket name '{bucket}' was removed from the end of the endpoint"));
    }
    // Provider endpoints live at the root; only self-hosted servers may sit under a path.
    if preset.endpoint != EndpointRule::Typed {
        if url.path() != "/" && !url.path().is_empty() {
            return Err(field_error(
                "endpoint",
                format!(
                    "{} endpoints have no path, but '{}' was typed after the host",
                    preset.name,
                    url.path()
                ),
                format!("remove the path from the endpoint; the bucket goes in --bucket {bucket}"),
            ));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        if let Some(rest) = host.strip_prefix(&format!("{bucket}.")) {
            if rest.contains('.') {
                let rest = rest.to_string();
                url.set_host(Some(&rest)).map_err(|e| {
                    field_error(
                        "endpoint",
                        format!("cannot use host '{rest}': {e}"),
                        "type the S3 API address",
                    )
                })?;
                notes.push(format!(
                    "the bucket name '{bucket}' was removed from the start of the endpoint host"
                ));
            }
        }
    }
    Ok(())
}

/// `s3.us-west-004.backblazeb2.com` with prefix `s3.` -> `us-west-004`.
fn region_from_host(url: &Url, prefix: &str) -> Option<String> {
    let host = url.host_str()?;
    let rest = host.strip_prefix(prefix)?;
    let label = rest.split('.').next()?;
    // `s3.amazonaws.com`-like hosts have no region label.
    (!label.is_empty() && rest.contains('.') && rest.split('.').count() > 2).then(|| label.to_string())
}

/// `https://<id>.r2.cloudflarestorage.com` -> `<id>`, also with a
/// jurisdiction label (`<id>.eu.r2...`).
fn account_id_from_host(url: &Url, template: &str) -> Option<String> {
    let host = url.host_str()?;
    let template_host = Url::parse(&template.replace("{account_id}", "x")).ok()?.host_str()?.to_string();
    let suffix = template_host.strip_prefix("x.")?;
    let (id, rest) = host.split_once('.')?;
    (rest.ends_with(suffix) && !id.is_empty()).then(|| id.to_string())
}

fn is_local_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    }
}

/// Why `https://bucket.host/` cannot work, if it cannot.
fn virtual_host_impossible(endpoint: Option<&Url>, bucket: &str) -> Option<String> {
    if let Some(url) = endpoint {
        let host = url.host_str().unwrap_or_default();
        if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return Some("the endpoint is an IP address".into());
        }
        if host == "localhost" {
            return Some("the endpoint is localhost".into());
        }
        if url.scheme() == "https" && bucket.contains('.') {
            return Some(
                "the bucket name has dots, which break TLS certificates for virtual-host names".into(),
            );
        }
    }
    None
}

/// The public base URL: `https://` added when missing, no trailing slash,
/// and nothing that cannot have `/<key>` appended.
fn check_cdn_url(typed: &str) -> Result<String, FieldError> {
    let bad = |why: &str, hint: &str| {
        field_error(
            "cdn-url",
            format!("'{typed}' cannot be used as the public base URL: {why}"),
            hint.to_string(),
        )
    };
    const HINT: &str =
        "type the address files are served from, e.g. https://cdn.example.com or https://pub-<id>.r2.dev";
    if typed.chars().any(char::is_whitespace) {
        return Err(bad("it contains spaces", HINT));
    }
    let with_scheme = if typed.contains("://") { typed.to_string() } else { format!("https://{typed}") };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string(), HINT))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// work in a browser link", HINT));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host name", HINT));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || with_scheme.contains('?')
        || with_scheme.contains('#')
    {
        return Err(bad(
            "a file name cannot be joined after a '?' query or '#' fragment",
            "remove everything from the '?' or '#' on; a base URL with a path (https://cdn.example.com/files) is fine",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password", HINT));
    }
    let path = url.path().trim_end_matches('/');
    if path.contains("//") {
        return Err(bad("its path has an empty segment ('//')", "remove the doubled slash from the path"));
    }
    Ok(url_without_trailing_slash(&url))
}

fn url_without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(provider: &str, bucket: &str) -> RawPolicy {
        RawPolicy { provider: provider.into(), bucket: bucket.into(), ..Default::default() }
    }

    fn err_field(r: &RawPolicy) -> &'static str {
        normalise(r).unwrap_err().field
    }

    #[test]
    fn an_endpoint_without_scheme_gets_https() {
        let s =
            normalise(&RawPolicy { endpoint: Some("s3.example.com:9000".into()), ..raw("custom", "photos") })
                .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.example.com:9000"));
        let s = normalise(&RawPolicy {
            endpoint: Some("http://127.0.0.1:3900/".into()),
            ..raw("garage", "photos")
        })
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:3900"), "a scheme typed is kept");
    }

    #[test]
    fn b2_region_is_read_from_the_endpoint() {
        let s = normalise(&RawPolicy {
            endpoint: Some("s3.us-west-004.backblazeb2.com".into()),
            ..raw("b2", "my-photos")
        })
        .unwrap();
        assert_eq!(s.region, "us-west-004");
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.us-west-004.backblazeb2.com"));
        // And the other way round: the endpoint is built from a region.
        let s = normalise(&RawPolicy { region: Some("eu-central-003".into()), ..raw("b2", "my-photos") })
            .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.eu-central-003.backblazeb2.com"));
        // A region typed that contradicts the endpoint loses, with a note.
        let s = normalise(&RawPolicy {
            endpoint: Some("https://s3.eu-central-003.backblazeb2.com".into()),
            region: Some("us-west-004".into()),
            ..raw("b2", "my-photos")
        })
        .unwrap();
        assert_eq!(s.region, "eu-central-003");
        assert!(s.notes.iter().any(|n| n.contains("read from the endpoint")), "{:?}", s.notes);
    }

    #[test]
    fn b2_endpoint_with_the_bucket_appended_as_the_seed_describes_is_cleaned() {
        // The seed's Cloudreve recipe: https:// in front, bucket name at the end.
        let s = normalise(&RawPolicy {
            endpoint: Some("https://s3.us-west-004.backblazeb2.com/my-photos".into()),
            ..raw("b2", "my-photos")
        })
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.us-west-004.backblazeb2.com"));
        assert_eq!(s.region, "us-west-004");
    }

    #[test]
    fn r2_endpoint_loses_the_bucket_at_its_end_and_region_is_auto() {
        let id = "0123456789abcdef0123456789abcdef";
        let s = normalise(&RawPolicy {
            endpoint: Some(format!("https://{id}.r2.cloudflarestorage.com/my-bucket")),
            region: Some("us-east-1".into()),
            ..raw("r2", "my-bucket")
        })
        .unwrap();
        assert_eq!(s.endpoint, Some(format!("https://{id}.r2.cloudflarestorage.com")));
        assert_eq!(s.region, "auto");
        assert_eq!(s.account_id.as_deref(), Some(id), "the account id is read back from the endpoint");
        assert!(s.notes.iter().any(|n| n.contains("removed")));
        // Without the scheme and with a trailing slash, too.
        let s = normalise(&RawPolicy {
            endpoint: Some(format!("{id}.r2.cloudflarestorage.com/my-bucket/")),
            ..raw("r2", "my-bucket")
        })
        .unwrap();
        assert_eq!(s.endpoint, Some(format!("https://{id}.r2.cloudflarestorage.com")));
    }

    #[test]
    fn r2_account_id_alone_builds_the_endpoint() {
        let id = "0123456789abcdef0123456789abcdef";
        let s = normalise(&RawPolicy { account_id: Some(id.into()), ..raw("r2", "b1b") }).unwrap();
        assert_eq!(s.endpoint, Some(format!("https://{id}.r2.cloudflarestorage.com")));
        assert_eq!(s.region, "auto");
        // An account id pasted into the endpoint field works the same.
        let s = normalise(&RawPolicy { endpoint: Some(id.to_uppercase()), ..raw("r2", "b1b") }).unwrap();
        assert_eq!(s.endpoint, Some(format!("https://{id}.r2.cloudflarestorage.com")));
        assert_eq!(s.account_id.as_deref(), Some(id));
        // Neither: the error names the field and both ways to fix it.
        let e = normalise(&raw("r2", "b1b")).unwrap_err();
        assert_eq!(e.field, "endpoint");
        assert!(e.hint.contains("--account-id"));
    }

    #[test]
    fn r2_jurisdiction_endpoints_are_kept() {
        let id = "0123456789abcdef0123456789abcdef";
        let s = normalise(&RawPolicy {
            endpoint: Some(format!("https://{id}.eu.r2.cloudflarestorage.com")),
            ..raw("r2", "data")
        })
        .unwrap();
        assert_eq!(s.endpoint, Some(format!("https://{id}.eu.r2.cloudflarestorage.com")));
        assert_eq!(s.account_id.as_deref(), Some(id));
    }

    #[test]
    fn a_region_in_no_list_is_accepted_as_typed() {
        let s = normalise(&RawPolicy {
            endpoint: Some("https://objects.example.net".into()),
            region: Some("moon-base-7".into()),
            ..raw("custom", "data")
        })
        .unwrap();
        assert_eq!(s.region, "moon-base-7");
        let s = normalise(&RawPolicy { region: Some("eu-south-9".into()), ..raw("aws", "data") }).unwrap();
        assert_eq!(s.region, "eu-south-9");
        assert_eq!(s.endpoint, None, "AWS uses its own endpoints");
        assert_eq!(err_field(&RawPolicy { region: Some("us east".into()), ..raw("aws", "data") }), "region");
    }

    #[test]
    fn public_and_private_and_the_cdn_url() {
        let s = normalise(&RawPolicy { region: Some("us-west-004".into()), ..raw("b2", "pics") }).unwrap();
        assert!(!s.public, "private (block all public access) is the default");
        assert_eq!(s.public_url("a.jpg"), None);
        let s = normalise(&RawPolicy {
            region: Some("us-west-004".into()),
            public: true,
            cdn_url: Some("cdn.example.com/media/".into()),
            ..raw("b2", "pics")
        })
        .unwrap();
        assert_eq!(s.cdn_url.as_deref(), Some("https://cdn.example.com/media"), "no trailing slash");
        assert_eq!(
            s.public_url("dir/a b.jpg").as_deref(),
            Some("https://cdn.example.com/media/dir/a%20b.jpg")
        );
        // Public without a CDN: the endpoint's own URL for the bucket.
        let s =
            normalise(&RawPolicy { region: Some("us-west-004".into()), public: true, ..raw("b2", "pics") })
                .unwrap();
        assert_eq!(
            s.public_url("a.jpg").as_deref(),
            Some("https://pics.s3.us-west-004.backblazeb2.com/a.jpg")
        );
        // R2's "public" is its public bucket URL: required.
        let id = "0123456789abcdef0123456789abcdef";
        let r2 = RawPolicy { account_id: Some(id.into()), public: true, ..raw("r2", "pics") };
        assert_eq!(err_field(&r2), "cdn-url");
        let s = normalise(&RawPolicy { cdn_url: Some("https://pub-abc.r2.dev/".into()), ..r2 }).unwrap();
        assert_eq!(s.public_url("x").as_deref(), Some("https://pub-abc.r2.dev/x"));
    }

    #[test]
    fn invalid_input_names_the_field_and_the_fix() {
        let ep = |e: &str| RawPolicy { endpoint: Some(e.into()), ..raw("custom", "data") };
        for bad in
            ["Photos", "ab", "my_bucket", "-abc", "abc-", "a..b", "192.168.1.1", "a/b", &"x".repeat(64)]
        {
            let e = normalise(&RawPolicy { bucket: bad.into(), ..ep("https://s3.example.com") }).unwrap_err();
            assert_eq!(e.field, "bucket", "{bad}");
            assert!(e.hint.contains("lowercase"), "{e:?}");
        }
        for bad in [
            "http://",
            "ftp://host",
            "https://user:pw@host",
            "https://host/?x=1",
            "not a url",
            "https://[::1",
        ] {
            let e = normalise(&ep(bad)).unwrap_err();
            assert_eq!(e.field, "endpoint", "{bad}: {e:?}");
            assert!(e.hint.contains("https://"), "{e:?}");
        }
        for bad in [
            "https://cdn.example.com/?token=1",
            "https://cdn.example.com/#top",
            "https://cdn.example.com//x",
            "ftp://cdn",
        ] {
            let e = normalise(&RawPolicy {
                cdn_url: Some(bad.into()),
                public: true,
                ..ep("https://s3.example.com")
            })
            .unwrap_err();
            assert_eq!(e.field, "cdn-url", "{bad}");
        }
        let e = normalise(&raw("dropbox", "data")).unwrap_err();
        assert_eq!(e.field, "provider");
        assert!(e.hint.contains("b2") && e.hint.contains("custom"));
        assert_eq!(err_field(&raw("garage", "data")), "endpoint", "self-hosted servers need an endpoint");
        assert_eq!(
            err_field(&RawPolicy { account_id: Some("not/an id".into()), ..raw("r2", "data") }),
            "account-id"
        );
        let b2_path =
            RawPolicy { endpoint: Some("s3.us-west-004.backblazeb2.com/other".into()), ..raw("b2", "data") };
        assert_eq!(err_field(&b2_path), "endpoint", "a provider endpoint with a foreign path");
    }

    #[test]
    fn addressing_follows_the_preset_unless_it_cannot_work() {
        let s = normalise(&RawPolicy { region: Some("us-west-004".into()), ..raw("b2", "data") }).unwrap();
        assert_eq!(s.addressing, Addressing::VirtualHost);
        let s =
            normalise(&RawPolicy { endpoint: Some("http://127.0.0.1:3900".into()), ..raw("garage", "data") })
                .unwrap();
        assert_eq!(s.addressing, Addressing::PathStyle);
        let custom_ip = RawPolicy { endpoint: Some("http://10.0.0.5:9000".into()), ..raw("wasabi", "data") };
        assert_eq!(normalise(&custom_ip).unwrap().addressing, Addressing::PathStyle);
        let forced = RawPolicy { addressing: Some(Addressing::VirtualHost), ..custom_ip };
        assert_eq!(err_field(&forced), "virtual-host");
        let dotted = RawPolicy { region: Some("us-east-1".into()), ..raw("aws", "www.example.com") };
        assert_eq!(
            normalise(&dotted).unwrap().addressing,
            Addressing::VirtualHost,
            "AWS endpoint is implicit"
        );
        let dotted = RawPolicy { region: Some("us-west-004".into()), ..raw("b2", "www.example.com") };
        assert_eq!(normalise(&dotted).unwrap().addressing, Addressing::PathStyle);
        let s = normalise(&RawPolicy {
            addressing: Some(Addressing::PathStyle),
            region: Some("us-west-004".into()),
            ..raw("b2", "data")
        })
        .unwrap();
        assert_eq!(s.addressing, Addressing::PathStyle, "an explicit choice wins");
    }

    #[test]
    fn a_bucket_in_the_virtual_host_name_is_removed() {
        let s = normalise(&RawPolicy {
            endpoint: Some("my-photos.s3.us-west-004.backblazeb2.com".into()),
            ..raw("b2", "my-photos")
        })
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.us-west-004.backblazeb2.com"));
        assert_eq!(s.region, "us-west-004");
    }

    #[test]
    fn plain_http_to_a_remote_host_is_allowed_with_a_note() {
        let s =
            normalise(&RawPolicy { endpoint: Some("http://nas.lan:9000".into()), ..raw("minio", "data") })
                .unwrap();
        assert!(s.notes.iter().any(|n| n.contains("plain http")));
        let s =
            normalise(&RawPolicy { endpoint: Some("http://localhost:9000".into()), ..raw("minio", "data") })
                .unwrap();
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn self_hosted_endpoints_may_have_a_path() {
        let s = normalise(&RawPolicy {
            endpoint: Some("https://example.com/s3/".into()),
            ..raw("custom", "data")
        })
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://example.com/s3"));
    }

    #[test]
    fn every_preset_normalises_with_only_its_required_fields() {
        for p in PRESETS {
            let r = RawPolicy {
                endpoint: matches!(p.endpoint, EndpointRule::Typed)
                    .then(|| "https://s3.example.com".to_string()),
                account_id: matches!(p.endpoint, EndpointRule::FromAccountId(_))
                    .then(|| "0123456789abcdef0123456789abcdef".to_string()),
                ..raw(p.id, "data")
            };
            let s = normalise(&r).unwrap_or_else(|e| panic!("{}: {e}", p.id));
            assert_eq!(s.provider, p.id);
            assert!(!s.region.is_empty());
            if let Some(e) = &s.endpoint {
                assert!(e.starts_with("https://") && !e.ends_with('/'), "{}: {e}", p.id);
            }
        }
    }
}
