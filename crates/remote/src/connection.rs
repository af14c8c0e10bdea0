//! Everything needed to open one bucket, and the aws-sdk-s3 client built from it.

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A secret access key. Its `Debug` and `Display` never show the value, so it
/// cannot leak through logs or error messages by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself; call sites are few and greppable on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Requests (the wizard's, the CLI's) carry a secret in; nothing serialises
/// one out: there is deliberately no `Serialize`.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the bucket name is put into request URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Addressing {
    /// `https://endpoint/bucket/key`: IP hosts, localhost, MinIO, Garage, dotted bucket names.
    PathStyle,
    /// `https://bucket.endpoint/key`: the AWS default.
    VirtualHost,
}

/// A resolved connection: the output of policy normalisation plus a secret.
#[derive(Clone, Debug)]
pub struct Connection {
    /// `None` means AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub addressing: Addressing,
    pub access_key_id: String,
    pub secret: Secret,
    /// AWS computes and checks checksums well; other stores often reject them.
    pub sdk_checksums: bool,
}

/// How long the client waits on the network before it calls the server
/// unreachable. The defaults suit real links; tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a TCP connection.
    pub connect: Duration,
    /// A request during which nothing moved in either direction for this
    /// long has lost its connection (watched by [`crate::S3Remote`]; a slow
    /// link that keeps moving is never cut).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(10), idle: Duration::from_secs(60) }
    }
}

impl Timeouts {
    /// The SDK's own read timeout (request start to answer head) only backs
    /// up the idle watchdog, for calls made on [`Connection::client`]
    /// directly (probe, CORS): long enough never to cut a moving transfer.
    fn backstop(&self) -> Duration {
        self.idle.saturating_mul(10)
    }
}

impl Connection {
    /// One client per connection; it is cheap to clone and shares its pool.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(&Timeouts::default())
    }

    /// [`Connection::client`] with other timeouts.
    pub fn client_with(&self, timeouts: &Timeouts) -> aws_sdk_s3::Client {
        let credentials =
            Credentials::new(&self.access_key_id, self.secret.expose(), None, None, "bucketsync");
        let checksum_request = if self.sdk_checksums {
            RequestChecksumCalculation::WhenSupported
        } else {
            RequestChecksumCalculation::WhenRequired
        };
        let checksum_response = if self.sdk_checksums {
            ResponseChecksumValidation::WhenSupported
        } else {
            ResponseChecksumValidation::WhenRequired
        };
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(self.addressing == Addressing::PathStyle)
            .request_checksum_calculation(checksum_request)
            .response_checksum_validation(checksum_response)
            .retry_config(
                RetryConfig::standard().with_max_attempts(4).with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeouts.connect)
                    .read_timeout(timeouts.backstop())
                    .build(),
            )
            // Throttled or paused transfers must not be aborted as "stalled"
            // (aws-sdk-rust#1146); S3Remote's idle watchdog notices a dead link.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .interceptor(crate::request::RequestCounter);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint_url(endpoint_for_sdk(endpoint));
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }
}

/// An endpoint with a path needs a trailing slash or the SDK drops the path
/// segment when it appends the bucket (aws-sdk-rust#1387).
fn endpoint_for_sdk(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) if url.path() != "/" && !url.path().is_empty() && !endpoint.ends_with('/') => {
            format!("{endpoint}/")
        }
        _ => endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn endpoint_with_path_gets_trailing_slash() {
        assert_eq!(endpoint_for_sdk("https://h.example/s3"), "https://h.example/s3/");
        assert_eq!(endpoint_for_sdk("https://h.example"), "https://h.example");
        assert_eq!(endpoint_for_sdk("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }
}
