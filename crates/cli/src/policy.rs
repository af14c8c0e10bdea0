//! `bucketsync policy ...`: storage policies. Each subcommand parses, calls
//! the api once, and prints.

use crate::output::{print_json, table};
use bucketsync_api::policy::{
    AddPolicyRequest, AddressingChoice, PolicySaved, PolicyView, Secret, UpdatePolicyRequest,
};
use bucketsync_api::secret::SecretSource;
use bucketsync_api::{Api, ApiError};
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

/// The environment variable a secret is read from once (else standard input).
const SECRET_ENV: &str = "BUCKETSYNC_SECRET_ACCESS_KEY";

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Add a storage policy (everything needed to reach one bucket)
    Add {
        name: String,
        #[command(flatten)]
        fields: AddFields,
        #[arg(long)]
        json: bool,
    },
    /// Change a policy (new keys, a corrected region or endpoint); its pairs and sync state are kept
    Update {
        name: String,
        #[command(flatten)]
        fields: UpdateFields,
        #[arg(long)]
        json: bool,
    },
    /// List storage policies
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one policy (never its secret)
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a policy that no pair uses (and its keyring secret)
    Remove { name: String },
    /// Try every S3 API Bucketsync needs; exit 0 only if every required one works
    Probe {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Create or merge the bucket's CORS rule for the app's origins
    Cors {
        name: String,
        /// Another origin to allow (repeatable)
        #[arg(long = "origin", value_name = "O")]
        origins: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AddFields {
    /// The provider preset (a typo is a usage error listing the choices)
    #[arg(long, value_name = "P", value_parser = clap::builder::PossibleValuesParser::new(bucketsync_api::provider::ids()))]
    provider: String,
    #[arg(long, value_name = "B")]
    bucket: String,
    /// S3 API address; https:// is added when no scheme is typed
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// Cloudflare R2 account id (builds the endpoint)
    #[arg(long, value_name = "ID")]
    account_id: Option<String>,
    #[arg(long, conflicts_with = "virtual_host")]
    path_style: bool,
    #[arg(long)]
    virtual_host: bool,
    /// The bucket allows public read (default: all public access blocked)
    #[arg(long)]
    public: bool,
    /// Public base URL for links (CDN, r2.dev or custom domain)
    #[arg(long, value_name = "URL")]
    cdn_url: Option<String>,
    #[arg(long, value_name = "ID")]
    access_key_id: String,
    /// keyring (default), env:VAR or file:PATH (a file only you can read)
    #[arg(long, value_name = "SOURCE")]
    secret_source: Option<String>,
}

#[derive(Args)]
pub struct UpdateFields {
    #[arg(long, value_name = "P", value_parser = clap::builder::PossibleValuesParser::new(bucketsync_api::provider::ids()))]
    provider: Option<String>,
    #[arg(long, value_name = "B")]
    bucket: Option<String>,
    /// New endpoint ('' to clear and build it from the region or account id)
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    #[arg(long, value_name = "R")]
    region: Option<String>,
    #[arg(long, value_name = "ID")]
    account_id: Option<String>,
    #[arg(long, conflicts_with = "virtual_host")]
    path_style: bool,
    #[arg(long)]
    virtual_host: bool,
    #[arg(long, conflicts_with = "private")]
    public: bool,
    /// The bucket blocks all public access
    #[arg(long)]
    private: bool,
    /// New public base URL ('' to clear)
    #[arg(long, value_name = "URL")]
    cdn_url: Option<String>,
    #[arg(long, value_name = "ID")]
    access_key_id: Option<String>,
    #[arg(long, value_name = "SOURCE")]
    secret_source: Option<String>,
}

fn addressing(path_style: bool, virtual_host: bool) -> Option<AddressingChoice> {
    match (path_style, virtual_host) {
        (true, _) => Some(AddressingChoice::PathStyle),
        (_, true) => Some(AddressingChoice::VirtualHost),
        _ => None,
    }
}

pub async fn run(api: &Api, cmd: PolicyCommand) -> Result<ExitCode, ApiError> {
    match cmd {
        PolicyCommand::Add { name, fields: f, json } => {
            let source = SecretSource::parse(f.secret_source.as_deref().unwrap_or("keyring"))?;
            if source == SecretSource::Keyring {
                // Say so before asking for a secret that could not be kept.
                bucketsync_api::secret::keyring_available().await?;
            }
            let secret = if secret_wanted(&source) { Some(read_secret(&f.provider)?) } else { None };
            let saved = api
                .add_policy(AddPolicyRequest {
                    name,
                    provider: f.provider,
                    bucket: f.bucket,
                    endpoint: f.endpoint,
                    region: f.region,
                    account_id: f.account_id,
                    addressing: addressing(f.path_style, f.virtual_host),
                    public: f.public,
                    cdn_url: f.cdn_url,
                    access_key_id: f.access_key_id,
                    secret_source: f.secret_source,
                    secret: secret.map(Secret::new),
                })
                .await?;
            print_saved(&saved, "Added", json);
        }
        PolicyCommand::Update { name, fields: f, json } => {
            let current = api.policy(&name)?;
            let source = SecretSource::parse(f.secret_source.as_deref().unwrap_or(&current.secret_source))?;
            let moving = f.secret_source.as_deref().is_some_and(|s| s != current.secret_source);
            let new_key = f.access_key_id.as_deref().is_some_and(|k| k.trim() != current.access_key_id);
            let secret = match source {
                SecretSource::Keyring if moving || new_key => {
                    bucketsync_api::secret::keyring_available().await?;
                    Some(read_secret(&current.provider)?)
                }
                // Only the secret changes (e.g. a rotated key with the same id).
                SecretSource::Keyring => std::env::var(SECRET_ENV).ok().filter(|s| !s.trim().is_empty()),
                SecretSource::File(_) if secret_wanted(&source) => Some(read_secret(&current.provider)?),
                _ => None,
            };
            let saved = api
                .update_policy(UpdatePolicyRequest {
                    name,
                    provider: f.provider,
                    bucket: f.bucket,
                    endpoint: f.endpoint,
                    region: f.region,
                    account_id: f.account_id,
                    addressing: addressing(f.path_style, f.virtual_host),
                    public: match (f.public, f.private) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                    cdn_url: f.cdn_url,
                    access_key_id: f.access_key_id,
                    secret_source: f.secret_source,
                    secret: secret.map(Secret::new),
                })
                .await?;
            print_saved(&saved, "Updated", json);
        }
        PolicyCommand::List { json } => {
            let policies = api.list_policies()?;
            if json {
                print_json(&policies);
            } else if policies.is_empty() {
                println!("No storage policies yet. Add one with `bucketsync policy add`.");
            } else {
                table(
                    &["NAME", "PROVIDER", "BUCKET", "REGION", "ENDPOINT", "SECRET"],
                    policies
                        .iter()
                        .map(|p| {
                            vec![
                                p.name.clone(),
                                p.provider.clone(),
                                p.bucket.clone(),
                                p.region.clone(),
                                p.endpoint.clone().unwrap_or_else(|| "(AWS)".into()),
                                p.secret_source.clone(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        PolicyCommand::Show { name, json } => {
            let p = api.policy(&name)?;
            if json {
                print_json(&p);
            } else {
                print_policy(&p);
            }
        }
        PolicyCommand::Remove { name } => {
            api.remove_policy(&name).await?;
            println!("Removed policy {name}.");
        }
        PolicyCommand::Probe { name, json } => {
            let result = api.probe_policy(&name).await?;
            if json {
                print_json(&result);
            } else {
                let mark = |o: bucketsync_api::policy::ProbeOutcome| {
                    serde_json::to_value(o)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                };
                table(
                    &["API", "NEEDED", "RESULT", "CODE", "FIX"],
                    result
                        .steps
                        .iter()
                        .map(|s| {
                            vec![
                                s.api.clone(),
                                if s.required { "required" } else { "optional" }.into(),
                                mark(s.outcome),
                                s.code.clone().unwrap_or_default(),
                                s.fix.clone().unwrap_or_default(),
                            ]
                        })
                        .collect(),
                );
                for l in &result.leftovers {
                    println!("left behind: {l}");
                }
                let conditional = result
                    .steps
                    .iter()
                    .find(|s| s.api == bucketsync_api::policy::CONDITIONAL_WRITES_STEP)
                    .and_then(|s| s.message.clone())
                    .unwrap_or_else(|| result.conditional_writes.describe().into());
                println!("Conditional writes: {conditional}");
                if result.ok {
                    println!("Every required API works: policy {name} can sync bucket {}.", result.bucket);
                } else {
                    let failed: Vec<&str> = result
                        .steps
                        .iter()
                        .filter(|s| s.required && s.outcome != bucketsync_api::policy::ProbeOutcome::Ok)
                        .map(|s| s.api.as_str())
                        .collect();
                    println!(
                        "Policy {name} cannot sync yet: {} required API(s) did not work ({}). Fix the first one, then probe again.",
                        failed.len(),
                        failed.join(", ")
                    );
                }
            }
            return Ok(if result.ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        PolicyCommand::Cors { name, origins, json } => {
            let result = api.cors_policy(&name, &origins).await?;
            if json {
                print_json(&result);
            } else {
                let what = match result.change.as_str() {
                    "added" => "added the app's CORS rule",
                    "extended" => "extended the app's CORS rule with new origins",
                    _ => "changed nothing: the existing CORS rules already allow the app",
                };
                println!("Policy {name}: {what}. The bucket has {} rule(s):", result.rules.len());
                table(
                    &["ID", "ORIGINS", "METHODS"],
                    result
                        .rules
                        .iter()
                        .map(|r| {
                            vec![
                                r.id.clone().unwrap_or_else(|| "-".into()),
                                r.allowed_origins.join(" "),
                                r.allowed_methods.join(" "),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether saving to `source` needs the secret now: the keyring stores it;
/// a `file:` source that does not exist yet is created from it.
fn secret_wanted(source: &SecretSource) -> bool {
    match source {
        SecretSource::Keyring => true,
        SecretSource::Env(_) => false,
        SecretSource::File(path) => !path.exists(),
    }
}

/// The secret, once: from BUCKETSYNC_SECRET_ACCESS_KEY, else standard input
/// (without echo on a terminal). Never printed.
fn read_secret(provider: &str) -> Result<String, ApiError> {
    if let Ok(v) = std::env::var(SECRET_ENV) {
        if !v.trim().is_empty() {
            return Ok(v.trim().to_string());
        }
    }
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        let label = bucketsync_api::provider::all()
            .into_iter()
            .find(|p| p.id == provider)
            .map(|p| p.secret_label)
            .unwrap_or_else(|| "Secret access key".into());
        eprint!("{label}: ");
        let line = crate::output::read_line_without_echo().map_err(|e| {
            ApiError::new(bucketsync_api::ErrorKind::Io, format!("cannot read the secret: {e}"))
        })?;
        eprintln!();
        line
    } else {
        let mut text = String::new();
        stdin.lock().read_to_string(&mut text).map_err(|e| {
            ApiError::new(bucketsync_api::ErrorKind::Io, format!("cannot read the secret: {e}"))
        })?;
        text.lines().next().unwrap_or_default().to_string()
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(ApiError::invalid(
            "secret",
            "no secret access key was given",
            format!(
                "pass it in {SECRET_ENV} or on standard input, or keep it elsewhere with --secret-source env:VAR or file:PATH"
            ),
        ));
    }
    Ok(value)
}

fn print_saved(saved: &PolicySaved, verb: &str, json: bool) {
    if json {
        print_json(saved);
        return;
    }
    let p = &saved.policy;
    println!(
        "{verb} policy {} ({}, bucket {}, region {}, secret in {}).",
        p.name, p.provider_name, p.bucket, p.region, p.secret_source
    );
    for note in &saved.notes {
        println!("note: {note}");
    }
    println!("Check it with `bucketsync policy probe {}`.", p.name);
}

fn print_policy(p: &PolicyView) {
    let rows = [
        ("name", p.name.clone()),
        ("provider", format!("{} ({})", p.provider, p.provider_name)),
        ("bucket", p.bucket.clone()),
        ("endpoint", p.endpoint.clone().unwrap_or_else(|| "AWS default for the region".into())),
        ("region", p.region.clone()),
        ("addressing", p.addressing.clone()),
        ("access", if p.public { "public read" } else { "private (all public access blocked)" }.into()),
        ("public url", p.cdn_url.clone().unwrap_or_else(|| "-".into())),
        ("account id", p.account_id.clone().unwrap_or_else(|| "-".into())),
        ("access key id", p.access_key_id.clone()),
        ("secret", p.secret_source.clone()),
        ("cond. writes", p.conditional_writes.describe().into()),
    ];
    for (k, v) in rows {
        println!("{k:<14} {v}");
    }
}
