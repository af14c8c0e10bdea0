//! Provider presets as the wizard shows them.

use bucketsync_remote::provider::{EndpointRule, RegionRule, PRESETS};
use serde::Serialize;
use ts_rs::TS;

#[derive(Clone, Debug, Serialize, TS)]
pub struct ProviderInfo {
    /// The `--provider` id.
    pub id: String,
    pub name: String,
    /// `aws` | `from-region` | `from-account-id` | `typed`
    pub endpoint_rule: String,
    /// The endpoint pattern, when the endpoint is built from a region or account id.
    pub endpoint_template: Option<String>,
    /// The region, when the provider has exactly one (R2: `auto`).
    pub fixed_region: Option<String>,
    /// True when the region is read from the endpoint (B2, Wasabi).
    pub region_from_endpoint: bool,
    pub default_region: String,
    /// Suggestions only: any region is accepted as typed.
    pub regions: Vec<String>,
    pub path_style: bool,
    pub access_key_label: String,
    pub secret_label: String,
    pub help: Vec<String>,
    /// "Public" means entering a public base URL (R2), not an ACL.
    pub public_needs_base_url: bool,
    pub cors_api: bool,
    /// Keys can expire (R2 API tokens): ask for the date, remind before it.
    pub keys_may_expire: bool,
}

/// The `--provider` ids, in display order.
pub fn ids() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.id).collect()
}

pub fn all() -> Vec<ProviderInfo> {
    PRESETS
        .iter()
        .map(|p| {
            let (endpoint_rule, endpoint_template) = match p.endpoint {
                EndpointRule::Aws => ("aws", None),
                EndpointRule::FromRegion(t) => ("from-region", Some(t.to_string())),
                EndpointRule::FromAccountId(t) => ("from-account-id", Some(t.to_string())),
                EndpointRule::Typed => ("typed", None),
            };
            ProviderInfo {
                id: p.id.into(),
                name: p.name.into(),
                endpoint_rule: endpoint_rule.into(),
                endpoint_template,
                fixed_region: match p.region {
                    RegionRule::Fixed(r) => Some(r.into()),
                    _ => None,
                },
                region_from_endpoint: matches!(p.region, RegionRule::FromEndpointHost(_)),
                default_region: p.default_region.into(),
                regions: p.regions.iter().map(|r| r.to_string()).collect(),
                path_style: p.addressing == bucketsync_remote::Addressing::PathStyle,
                access_key_label: p.access_key_label.into(),
                secret_label: p.secret_label.into(),
                help: p.help.iter().map(|h| h.to_string()).collect(),
                public_needs_base_url: p.quirks.public_needs_base_url,
                cors_api: p.quirks.cors_api,
                keys_may_expire: p.quirks.keys_may_expire,
            }
        })
        .collect()
}
