//! Where a policy's secret access key lives. The database keeps only the
//! reference ([`SecretSource`]); the value lives in the OS keyring, or in a
//! place the user chose explicitly for headless use (an environment variable,
//! a file only its owner can read). There is no silent plaintext fallback.
//!
//! Keyring calls block (D-Bus round trips, maybe an unlock prompt): they run
//! on tokio's blocking pool with a time limit.

use crate::{ApiError, ErrorKind};
use bucketsync_remote::Secret;
use std::fmt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The keyring "service" every entry is filed under.
pub const KEYRING_SERVICE: &str = "bucketsync";

/// How long a keyring call may take before we give up (a locked keyring may
/// wait for an unlock prompt nobody sees).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(30);

/// The reference stored with a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// The OS keyring (Secret Service on Linux).
    Keyring,
    /// Read from this environment variable whenever needed.
    Env(String),
    /// Read from this file (owner-only permissions) whenever needed.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Keyring => f.write_str("keyring"),
            SecretSource::Env(var) => write!(f, "env:{var}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

const SOURCE_HINT: &str = "use --secret-source keyring (the OS keyring), env:VAR (an environment variable \
                           read whenever needed) or file:PATH (a file only you can read, chmod 600)";

impl SecretSource {
    /// Parses `keyring`, `env:VAR` or `file:PATH`.
    pub fn parse(text: &str) -> Result<SecretSource, ApiError> {
        let text = text.trim();
        if text == "keyring" {
            return Ok(SecretSource::Keyring);
        }
        if let Some(var) = text.strip_prefix("env:") {
            let ok = !var.is_empty()
                && !var.as_bytes()[0].is_ascii_digit()
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ApiError::invalid(
                    "secret-source",
                    format!("'{var}' is not an environment variable name"),
                    "name a variable of letters, digits and underscores, e.g. env:B2_SECRET",
                ));
            }
            return Ok(SecretSource::Env(var.to_string()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(ApiError::invalid(
                    "secret-source",
                    "file: needs a path",
                    "e.g. file:/etc/bucketsync/b2.secret",
                ));
            }
            return Ok(SecretSource::File(PathBuf::from(path)));
        }
        Err(ApiError::invalid("secret-source", format!("'{text}' is not a secret source"), SOURCE_HINT))
    }

    /// Relative file paths are made absolute, so a daemon started elsewhere
    /// finds the same file.
    pub fn absolute(self) -> Result<SecretSource, ApiError> {
        match self {
            SecretSource::File(p) if p.is_relative() => {
                let cwd = std::env::current_dir().map_err(|e| {
                    ApiError::new(ErrorKind::Io, format!("cannot read the current directory: {e}"))
                })?;
                Ok(SecretSource::File(cwd.join(p)))
            }
            other => Ok(other),
        }
    }
}

/// The keyring account a policy's secret is filed under. The home is part of
/// it, so two homes (two users of one login, or tests) never share entries.
fn keyring_account(home: &Path, policy: &str) -> String {
    format!("{policy} @ {}", home.display())
}

/// Stores or checks the secret for a policy being saved.
///
/// * keyring: `secret` is required and written to the keyring.
/// * env: nothing is stored; `secret` must not be given (it would be lost).
/// * file: an existing file must be owner-only and hold a secret; a missing
///   file is created (0600) from `secret` when one is given: that creation
///   is the user's explicit choice of a plaintext file.
pub async fn save(
    source: &SecretSource,
    home: &Path,
    policy: &str,
    secret: Option<Secret>,
) -> Result<(), ApiError> {
    match source {
        SecretSource::Keyring => {
            let secret = secret.ok_or_else(|| {
                ApiError::invalid(
                    "secret",
                    "the secret access key is missing",
                    "pass it in BUCKETSYNC_SECRET_ACCESS_KEY or on standard input",
                )
            })?;
            check_secret(&secret)?;
            let account = keyring_account(home, policy);
            keyring_call(move || keyring::set(&account, &secret)).await
        }
        SecretSource::Env(var) => {
            if secret.is_some() {
                return Err(ApiError::invalid(
                    "secret-source",
                    format!("a secret was given, but env:{var} stores nothing"),
                    format!("set {var} to the secret in the environment that runs bucketsync instead, and do not pass it here"),
                ));
            }
            Ok(())
        }
        SecretSource::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || save_file(&path, secret))
                .await
                .map_err(|e| ApiError::new(ErrorKind::Internal, format!("secret file task failed: {e}")))?
        }
    }
}

fn check_secret(secret: &Secret) -> Result<(), ApiError> {
    let value = secret.expose();
    if value.is_empty() || value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ApiError::invalid(
            "secret",
            "the secret access key is empty or contains spaces or control characters",
            "copy the secret again from the provider's console, without surrounding quotes or line breaks",
        ));
    }
    Ok(())
}

fn save_file(path: &Path, secret: Option<Secret>) -> Result<(), ApiError> {
    if path.exists() {
        // Reading checks the permissions and that a secret is there.
        read_file(path)?;
        if secret.is_some() {
            return Err(ApiError::invalid(
                "secret-source",
                format!("{} already exists and holds a secret", path.display()),
                "to replace it, write the new secret into that file (it is read whenever needed), and do not pass one here",
            ));
        }
        return Ok(());
    }
    let secret = secret.ok_or_else(|| {
        ApiError::invalid(
            "secret-source",
            format!("{} does not exist", path.display()),
            "create it with the secret as its only line and `chmod 600`, or pass the secret in BUCKETSYNC_SECRET_ACCESS_KEY or on standard input to have it created",
        )
    })?;
    check_secret(&secret)?;
    let io_err = |e: std::io::Error| {
        ApiError::new(ErrorKind::Io, format!("cannot create {}: {e}", path.display()))
            .with_hint("choose a path in a directory you can write to")
    };
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err)?;
    file.write_all(secret.expose().as_bytes()).and_then(|_| file.write_all(b"\n")).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

fn read_file(path: &Path) -> Result<Secret, ApiError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        ApiError::new(ErrorKind::NotFound, format!("cannot read the secret file {}: {e}", path.display()))
            .with_hint("create it with the secret as its only line and `chmod 600`, or update the policy with another --secret-source")
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ApiError::invalid(
            "secret-source",
            format!("the secret file {} can be read by others (mode {mode:o})", path.display()),
            format!("run `chmod 600 {}`", path.display()),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::new(ErrorKind::Io, format!("cannot read the secret file {}: {e}", path.display()))
    })?;
    let value = text.lines().next().unwrap_or_default().trim().to_string();
    if value.is_empty() {
        return Err(ApiError::invalid(
            "secret-source",
            format!("the secret file {} is empty", path.display()),
            "write the secret access key into it as its only line",
        ));
    }
    Ok(Secret::new(value))
}

/// The secret for a policy, from wherever its source says.
pub async fn load(source: &SecretSource, home: &Path, policy: &str) -> Result<Secret, ApiError> {
    match source {
        SecretSource::Keyring => {
            let account = keyring_account(home, policy);
            let name = policy.to_string();
            keyring_call(move || keyring::get(&account, &name)).await
        }
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
            _ => Err(ApiError::new(
                ErrorKind::BadCredentials,
                format!(
                    "the environment variable {var} that holds the secret for policy '{policy}' is not set"
                ),
            )
            .with_hint(format!("set {var} to the secret access key before running bucketsync"))),
        },
        SecretSource::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_file(&path))
                .await
                .map_err(|e| ApiError::new(ErrorKind::Internal, format!("secret file task failed: {e}")))?
        }
    }
}

/// Removes a stored secret (keyring only: env and file belong to the user).
/// A secret that is already gone is fine.
pub async fn forget(source: &SecretSource, home: &Path, policy: &str) -> Result<(), ApiError> {
    match source {
        SecretSource::Keyring => {
            let account = keyring_account(home, policy);
            keyring_call(move || keyring::delete(&account)).await
        }
        SecretSource::Env(_) | SecretSource::File(_) => Ok(()),
    }
}

/// Whether the OS keyring can be reached right now.
pub async fn keyring_available() -> Result<(), ApiError> {
    keyring_call(keyring::probe).await
}

async fn keyring_call<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(ApiError::new(ErrorKind::Internal, format!("keyring task failed: {e}"))),
        Err(_) => Err(unavailable(
            "the keyring did not answer within 30 s (is it locked and waiting for a password?)",
        )),
    }
}

fn unavailable(why: &str) -> ApiError {
    ApiError::new(ErrorKind::KeyringUnavailable, format!("the OS keyring is not available: {why}")).with_hint(
        "unlock or start the keyring (on Linux a Secret Service such as gnome-keyring in a D-Bus session), or choose \
         another place for the secret: --secret-source env:VAR (read from that environment variable whenever \
         needed) or --secret-source file:PATH (a file only you can read, chmod 600)",
    )
}

/// The keyring itself, over keyring-core and the platform's store.
mod keyring {
    use super::{unavailable, KEYRING_SERVICE};
    use crate::{ApiError, ErrorKind};
    use bucketsync_remote::Secret;
    use keyring_core::{CredentialStore, Entry, Error};
    use std::sync::{Arc, Mutex};

    /// One store per process once it could be opened; a failure is retried
    /// on the next call (the daemon may start later).
    fn store() -> Result<Arc<CredentialStore>, ApiError> {
        static STORE: Mutex<Option<Arc<CredentialStore>>> = Mutex::new(None);
        let mut slot = STORE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let store = open()?;
        *slot = Some(store.clone());
        Ok(store)
    }

    #[cfg(target_os = "linux")]
    fn open() -> Result<Arc<CredentialStore>, ApiError> {
        let store: Arc<CredentialStore> = dbus_secret_service_keyring_store::Store::new().map_err(|e| {
            unavailable(&format!("cannot reach the Secret Service over D-Bus ({})", describe(&e)))
        })?;
        Ok(store)
    }

    #[cfg(not(target_os = "linux"))]
    fn open() -> Result<Arc<CredentialStore>, ApiError> {
        Err(unavailable("this build has no keyring support for this operating system yet"))
    }

    fn entry(account: &str) -> Result<Entry, ApiError> {
        Entry::new_in_store(&store()?, KEYRING_SERVICE, account)
            .map_err(|e| unavailable(&format!("cannot address the keyring entry ({})", describe(&e))))
    }

    /// An error's description without any secret bytes it may carry.
    fn describe(e: &Error) -> String {
        match e {
            Error::PlatformFailure(p) => format!("platform failure: {p}"),
            Error::NoStorageAccess(p) => format!("no access to the storage: {p}"),
            Error::NoEntry => "no entry".into(),
            Error::BadEncoding(_) => "the stored value is not text".into(),
            Error::BadDataFormat(_, p) => format!("the stored value has an unexpected format: {p}"),
            Error::BadStoreFormat(s) => format!("bad store format: {s}"),
            Error::TooLong(what, n) => format!("{what} is longer than {n}"),
            Error::Invalid(what, why) => format!("invalid {what}: {why}"),
            Error::Ambiguous(v) => format!("{} entries match", v.len()),
            Error::NoDefaultStore => "no store".into(),
            Error::NotSupportedByStore(s) => format!("not supported: {s}"),
            _ => "unknown keyring error".into(),
        }
    }

    fn failed(e: &Error) -> ApiError {
        match e {
            Error::NoStorageAccess(_) | Error::PlatformFailure(_) | Error::NoDefaultStore => {
                unavailable(&describe(e))
            }
            _ => ApiError::new(ErrorKind::Internal, format!("the keyring refused: {}", describe(e))),
        }
    }

    pub fn set(account: &str, secret: &Secret) -> Result<(), ApiError> {
        entry(account)?.set_password(secret.expose()).map_err(|e| failed(&e))
    }

    pub fn get(account: &str, policy: &str) -> Result<Secret, ApiError> {
        match entry(account)?.get_password() {
            Ok(v) => Ok(Secret::new(v)),
            Err(Error::NoEntry) => Err(ApiError::new(
                ErrorKind::BadCredentials,
                format!("the keyring holds no secret for policy '{policy}'"),
            )
            .with_hint(format!(
                "store it again with `bucketsync policy update {policy} --access-key-id ID --secret-source keyring` (secret in BUCKETSYNC_SECRET_ACCESS_KEY or on standard input)"
            ))),
            Err(e) => Err(failed(&e)),
        }
    }

    pub fn delete(account: &str) -> Result<(), ApiError> {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(failed(&e)),
        }
    }

    /// Opens the store and looks an entry up, which needs the collection
    /// unlocked.
    pub fn probe() -> Result<(), ApiError> {
        match entry("bucketsync availability check")?.get_password() {
            Ok(_) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(failed(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        for text in ["keyring", "env:B2_SECRET", "file:/etc/bucketsync/b2.secret"] {
            assert_eq!(SecretSource::parse(text).unwrap().to_string(), text);
        }
        for bad in ["", "vault", "env:", "env:1X", "env:A-B", "file:"] {
            let e = SecretSource::parse(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("secret-source"), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_file_source_must_be_private_and_is_created_0600_on_request() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        let src = SecretSource::File(path.clone());
        // Missing file and no secret: refused, naming the fix.
        let e = save(&src, tmp.path(), "p", None).await.unwrap_err();
        assert!(e.hint.unwrap().contains("chmod 600"));
        // Created from the given secret, owner-only.
        save(&src, tmp.path(), "p", Some(Secret::new("file-secret-1"))).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&src, tmp.path(), "p").await.unwrap().expose(), "file-secret-1");
        // Readable by others: refused with the chmod to run, and never echoed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&src, tmp.path(), "p").await.unwrap_err();
        assert!(e.hint.as_deref().unwrap().contains("chmod 600"));
        assert!(!format!("{e:?}").contains("file-secret-1"));
    }

    #[tokio::test]
    async fn an_env_source_stores_nothing_and_reads_when_needed() {
        let src = SecretSource::Env("BUCKETSYNC_TEST_SECRET_ENV_UNSET_1".into());
        let home = Path::new("/nonexistent");
        save(&src, home, "p", None).await.unwrap();
        assert!(save(&src, home, "p", Some(Secret::new("x"))).await.is_err(), "a secret would be lost");
        let e = load(&src, home, "p").await.unwrap_err();
        assert!(e.message.contains("BUCKETSYNC_TEST_SECRET_ENV_UNSET_1") && e.hint.is_some());
    }

    /// The real Secret Service: fails when BUCKETSYNC_REQUIRE_KEYRING is set
    /// and the keyring cannot be reached; skips otherwise.
    #[tokio::test]
    async fn keyring_round_trip() {
        if let Err(e) = keyring_available().await {
            assert!(std::env::var_os("BUCKETSYNC_REQUIRE_KEYRING").is_none(), "keyring required but: {e:?}");
            assert_eq!(e.kind, ErrorKind::KeyringUnavailable);
            assert!(e.hint.as_deref().unwrap().contains("env:VAR"), "the error names the other sources");
            eprintln!("skipped: {e}");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path();
        save(&SecretSource::Keyring, home, "kr", Some(Secret::new("keyring-secret-1"))).await.unwrap();
        assert_eq!(load(&SecretSource::Keyring, home, "kr").await.unwrap().expose(), "keyring-secret-1");
        // Another home does not see it.
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            load(&SecretSource::Keyring, other.path(), "kr").await.unwrap_err().kind,
            ErrorKind::BadCredentials
        );
        save(&SecretSource::Keyring, home, "kr", Some(Secret::new("keyring-secret-2"))).await.unwrap();
        assert_eq!(load(&SecretSource::Keyring, home, "kr").await.unwrap().expose(), "keyring-secret-2");
        forget(&SecretSource::Keyring, home, "kr").await.unwrap();
        assert_eq!(
            load(&SecretSource::Keyring, home, "kr").await.unwrap_err().kind,
            ErrorKind::BadCredentials
        );
        forget(&SecretSource::Keyring, home, "kr").await.unwrap();
    }
}
