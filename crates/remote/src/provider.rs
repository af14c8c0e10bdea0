//! Provider presets as data: one entry per provider, no provider branches in
//! code. Normalisation and the probe read these fields; the wizard shows them.

use crate::connection::Addressing;
use serde::Serialize;

/// How a preset finds its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "template")]
pub enum EndpointRule {
    /// AWS's own endpoints; no endpoint needs typing.
    Aws,
    /// Built from the region: `{region}` is replaced.
    FromRegion(&'static str),
    /// Built from the account id: `{account_id}` is replaced (Cloudflare R2).
    FromAccountId(&'static str),
    /// The user types it (self-hosted servers, Custom).
    Typed,
}

/// Where the region comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "value")]
pub enum RegionRule {
    /// Always this value (R2: `auto`).
    Fixed(&'static str),
    /// Read from the endpoint host: the label after this prefix
    /// (`s3.us-west-004.backblazeb2.com` -> `us-west-004`).
    FromEndpointHost(&'static str),
    /// The user picks one; any value is accepted as typed.
    Chosen,
}

/// Behaviour that differs from AWS S3 and that code must respect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quirks {
    /// Let the SDK send and check checksums (only AWS handles them reliably).
    pub sdk_checksums: bool,
    /// A multipart ETag is not an MD5 of anything we can compute.
    pub multipart_etag_opaque: bool,
    /// Object ACLs are not supported (public access is a bucket setting or a URL).
    pub no_acl: bool,
    /// PutBucketCors exists in the S3 API of this provider.
    pub cors_api: bool,
    /// Smallest part except the last, bytes.
    pub min_part_size: u64,
    /// Most parts in one upload.
    pub max_parts: u32,
    /// All parts but the last must have the same size.
    pub equal_parts: bool,
    /// Deletes leave old versions that stay billed (B2 hide markers).
    pub always_versioned: bool,
    /// If-Match / If-None-Match on writes are refused (what the provider
    /// documents). Never used to decide: the engine sends conditional
    /// writes only where `policy probe` observed them honoured.
    pub no_conditional_writes: bool,
    /// "Public" means a public base URL (r2.dev or custom domain), not an ACL.
    pub public_needs_base_url: bool,
    /// Objects are billed for at least this many days, even if deleted earlier.
    pub min_storage_days: u32,
    /// At most one write per second to the same key.
    pub one_write_per_second_per_key: bool,
    /// UploadPartCopy works, so objects past 5 GiB can be copied inside the
    /// bucket (Storj has no multipart server-side copy: moves download and
    /// upload again).
    pub multipart_copy: bool,
    /// Keys can carry an expiry date (R2 API tokens with a TTL): the wizard
    /// asks for it and the app reminds before it.
    pub keys_may_expire: bool,
}

const MIB: u64 = 1024 * 1024;

/// S3's own multipart bounds, which no provider relaxes.
const S3_MIN_PART: u64 = 5 * MIB;
const S3_MAX_PARTS: u32 = 10_000;

/// The multipart rules a provider imposes on uploads, as the transfer code
/// needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartLimits {
    /// Smallest part except the last, bytes.
    pub min_part_size: u64,
    /// Most parts in one upload.
    pub max_parts: u32,
    /// All parts but the last must have the same size (R2).
    pub equal_parts: bool,
}

impl Quirks {
    /// The provider's part rules, never looser than S3's own (a preset's
    /// 5,000,000-byte minimum becomes 5 MiB, which B2 accepts too).
    pub fn part_limits(&self) -> PartLimits {
        PartLimits {
            min_part_size: self.min_part_size.max(S3_MIN_PART),
            max_parts: self.max_parts.min(S3_MAX_PARTS),
            equal_parts: self.equal_parts,
        }
    }
}

const PLAIN: Quirks = Quirks {
    sdk_checksums: false,
    multipart_etag_opaque: true,
    no_acl: false,
    cors_api: true,
    min_part_size: 5 * MIB,
    max_parts: 10_000,
    equal_parts: false,
    always_versioned: false,
    no_conditional_writes: false,
    public_needs_base_url: false,
    min_storage_days: 0,
    one_write_per_second_per_key: false,
    multipart_copy: true,
    keys_may_expire: false,
};

/// One provider the wizard offers.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Preset {
    /// The `--provider` value.
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: EndpointRule,
    pub region: RegionRule,
    pub default_region: &'static str,
    /// Suggestions only: a region not listed is accepted as typed.
    pub regions: &'static [&'static str],
    pub addressing: Addressing,
    /// What the provider calls the access key id and the secret.
    pub access_key_label: &'static str,
    pub secret_label: &'static str,
    /// Help lines shown in the wizard, in the provider's own terms.
    pub help: &'static [&'static str],
    pub quirks: Quirks,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "aws",
        name: "Amazon S3",
        endpoint: EndpointRule::Aws,
        region: RegionRule::Chosen,
        default_region: "us-east-1",
        regions: &["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1"],
        addressing: Addressing::VirtualHost,
        access_key_label: "Access key ID",
        secret_label: "Secret access key",
        help: &[
            "Create an IAM user or role key with s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on this bucket.",
            "The region must be the bucket's own region.",
            "New buckets block public access and have ACLs disabled: a public bucket needs a bucket policy.",
        ],
        quirks: Quirks { sdk_checksums: true, no_acl: true, ..PLAIN },
    },
    Preset {
        id: "b2",
        name: "Backblaze B2",
        endpoint: EndpointRule::FromRegion("https://s3.{region}.backblazeb2.com"),
        region: RegionRule::FromEndpointHost("s3."),
        default_region: "us-west-004",
        regions: &["us-west-000", "us-west-001", "us-west-002", "us-west-004", "us-east-005", "eu-central-003"],
        addressing: Addressing::VirtualHost,
        access_key_label: "keyID",
        secret_label: "applicationKey",
        help: &[
            "Create the bucket in the B2 console with \"Create a Bucket\"; Private is recommended, Public if files should be readable by anyone.",
            "Copy the bucket's Endpoint from the B2 console (e.g. s3.us-west-004.backblazeb2.com); https:// is added for you and the region is read from it.",
            "Under Account -> App Keys choose \"Add a New Application Key\", limit it to this bucket, and paste keyID and applicationKey here. The master key does not work with the S3 API.",
            "Buckets created before May 2020 are not S3-compatible.",
            "B2 keeps old versions of deleted or overwritten files until a lifecycle rule removes them.",
            "CORS cannot be set through B2's S3 API: use the B2 console or CLI.",
        ],
        quirks: Quirks {
            no_acl: true,
            cors_api: false,
            min_part_size: 5_000_000,
            always_versioned: true,
            no_conditional_writes: true,
            ..PLAIN
        },
    },
    Preset {
        id: "r2",
        name: "Cloudflare R2",
        endpoint: EndpointRule::FromAccountId("https://{account_id}.r2.cloudflarestorage.com"),
        region: RegionRule::Fixed("auto"),
        default_region: "auto",
        regions: &["auto"],
        addressing: Addressing::PathStyle,
        access_key_label: "Access Key ID",
        secret_label: "Secret Access Key",
        help: &[
            "Paste the S3 endpoint from the bucket's settings, or just the account id. A bucket name pasted at the end of the endpoint is removed for you.",
            "The region is always auto.",
            "Under \"Manage R2 API Tokens\" create a token with Object Read & Write (edit) permission; its Access Key ID and Secret Access Key go here.",
            "API tokens can expire: when yours does, create a new one and update this policy with it. Nothing is re-uploaded.",
            "For a public bucket, enable Public Access in the bucket settings and enter the public bucket URL (r2.dev or your custom domain) as the public base URL.",
        ],
        quirks: Quirks {
            no_acl: true,
            equal_parts: true,
            public_needs_base_url: true,
            one_write_per_second_per_key: true,
            keys_may_expire: true,
            ..PLAIN
        },
    },
    Preset {
        id: "minio",
        name: "MinIO",
        endpoint: EndpointRule::Typed,
        region: RegionRule::Chosen,
        default_region: "us-east-1",
        regions: &["us-east-1"],
        addressing: Addressing::PathStyle,
        access_key_label: "Access key",
        secret_label: "Secret key",
        help: &[
            "Enter your server's address, e.g. https://minio.example.com:9000. Plain http:// works but sends data unencrypted.",
            "The community edition does not support bucket CORS rules.",
        ],
        quirks: Quirks { cors_api: false, ..PLAIN },
    },
    Preset {
        id: "garage",
        name: "Garage",
        endpoint: EndpointRule::Typed,
        region: RegionRule::Chosen,
        default_region: "garage",
        regions: &["garage"],
        addressing: Addressing::PathStyle,
        access_key_label: "Key ID",
        secret_label: "Secret key",
        help: &[
            "Enter the S3 API address of your Garage cluster (s3_api.api_bind_addr), e.g. http://127.0.0.1:3900.",
            "The region is s3_region from garage.toml (garage by default).",
            "Create a key with `garage key create` and allow it on the bucket with `garage bucket allow --read --write`.",
        ],
        quirks: PLAIN,
    },
    Preset {
        id: "wasabi",
        name: "Wasabi",
        endpoint: EndpointRule::FromRegion("https://s3.{region}.wasabisys.com"),
        region: RegionRule::FromEndpointHost("s3."),
        default_region: "us-east-1",
        regions: &["us-east-1", "us-east-2", "us-central-1", "us-west-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ca-central-1"],
        addressing: Addressing::VirtualHost,
        access_key_label: "Access key",
        secret_label: "Secret key",
        help: &[
            "Use the bucket's own region.",
            "Wasabi bills every object for at least 90 days, and an overwrite counts as a delete: files that change often cost more.",
        ],
        quirks: Quirks { min_storage_days: 90, ..PLAIN },
    },
    Preset {
        id: "digitalocean",
        name: "DigitalOcean Spaces",
        endpoint: EndpointRule::FromRegion("https://{region}.digitaloceanspaces.com"),
        region: RegionRule::Chosen,
        default_region: "nyc3",
        regions: &["nyc3", "ams3", "sgp1", "sfo3", "fra1", "syd1", "blr1", "tor1", "lon1", "atl1"],
        addressing: Addressing::VirtualHost,
        access_key_label: "Access key",
        secret_label: "Secret",
        help: &["Create a Spaces access key under API -> Spaces Keys."],
        quirks: PLAIN,
    },
    Preset {
        id: "scaleway",
        name: "Scaleway Object Storage",
        endpoint: EndpointRule::FromRegion("https://s3.{region}.scw.cloud"),
        region: RegionRule::FromEndpointHost("s3."),
        default_region: "fr-par",
        regions: &["fr-par", "nl-ams", "pl-waw"],
        addressing: Addressing::VirtualHost,
        access_key_label: "Access key",
        secret_label: "Secret key",
        help: &["Scaleway accepts at most 1,000 parts per upload; large files use bigger parts."],
        quirks: Quirks { max_parts: 1_000, ..PLAIN },
    },
    Preset {
        id: "storj",
        name: "Storj",
        endpoint: EndpointRule::Typed,
        region: RegionRule::Chosen,
        default_region: "us1",
        regions: &["us1", "eu1", "ap1"],
        addressing: Addressing::PathStyle,
        access_key_label: "Access key",
        secret_label: "Secret key",
        help: &[
            "Use the S3-compatible gateway address, e.g. https://gateway.storjshare.io.",
            "Storj works best with parts of 64 MiB or more.",
        ],
        quirks: Quirks { min_part_size: 64 * MIB, multipart_copy: false, ..PLAIN },
    },
    Preset {
        id: "idrive",
        name: "IDrive e2",
        endpoint: EndpointRule::Typed,
        region: RegionRule::Chosen,
        default_region: "us-east-1",
        regions: &[],
        addressing: Addressing::PathStyle,
        access_key_label: "Access key ID",
        secret_label: "Secret access key",
        help: &["Copy the endpoint of your region from the IDrive e2 console."],
        quirks: PLAIN,
    },
    Preset {
        id: "custom",
        name: "Other S3-compatible",
        endpoint: EndpointRule::Typed,
        region: RegionRule::Chosen,
        default_region: "us-east-1",
        regions: &[],
        addressing: Addressing::PathStyle,
        access_key_label: "Access key",
        secret_label: "Secret key",
        help: &[
            "Enter the endpoint and region your provider documents. Path-style works with most servers; switch to virtual-host if the provider requires it.",
        ],
        quirks: PLAIN,
    },
];

/// Looks a preset up by its `--provider` id.
pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_provider_id_has_a_preset() {
        for id in [
            "aws",
            "b2",
            "r2",
            "minio",
            "garage",
            "wasabi",
            "digitalocean",
            "scaleway",
            "storj",
            "idrive",
            "custom",
        ] {
            assert!(preset(id).is_some(), "missing preset {id}");
        }
        assert_eq!(PRESETS.len(), 11);
    }

    #[test]
    fn only_aws_lets_the_sdk_send_checksums() {
        for p in PRESETS {
            assert_eq!(p.quirks.sdk_checksums, p.id == "aws", "{}", p.id);
        }
    }

    #[test]
    fn part_limits_never_go_below_s3s_own() {
        assert_eq!(preset("b2").unwrap().quirks.part_limits().min_part_size, 5 * MIB);
        assert_eq!(preset("storj").unwrap().quirks.part_limits().min_part_size, 64 * MIB);
        assert_eq!(preset("scaleway").unwrap().quirks.part_limits().max_parts, 1_000);
        assert!(preset("r2").unwrap().quirks.part_limits().equal_parts);
    }

    #[test]
    fn part_limits_are_sane() {
        for p in PRESETS {
            assert!(p.quirks.min_part_size >= 5_000_000, "{}", p.id);
            assert!(p.quirks.max_parts >= 1_000 && p.quirks.max_parts <= 10_000, "{}", p.id);
        }
    }
}
