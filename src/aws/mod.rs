//! The AWS side: one HTTP client (rustls, ring) shared by every unit, base credentials per
//! profile from the standard chain, and per unit an ADS client, with an assumed role on top
//! where the target names one, and an STS client for `GetCallerIdentity` where the account is
//! not known otherwise. Every client counts its attempts into the unit's [`ApiCounters`].

pub mod errors;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_applicationdiscovery::config::Region;
use aws_sdk_applicationdiscovery::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::SdkConfig;
use aws_types::origin::Origin;

use crate::config::AwsSettings;
use crate::target::{ApiCounters, Identity, UnitSpec};
pub use errors::CountAttempts;

/// Timeouts of every AWS call, derived from the collection timeout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    /// One HTTP attempt, including reading the whole response.
    pub attempt: Duration,
    /// One operation call, all retries included.
    pub operation: Duration,
}

impl Timeouts {
    /// Connect within 3.1 s (the SDK's default), an attempt within 20 s, and an operation within
    /// 90% of the collection timeout: the SDK's own timeouts fire first, and the collection's
    /// is the backstop for a collection of many slow pages.
    pub fn for_collection(timeout: Duration) -> Timeouts {
        let operation = timeout.mul_f64(0.9);
        Timeouts {
            connect: Duration::from_millis(3_100).min(operation),
            attempt: Duration::from_secs(20).min(operation),
            operation,
        }
    }

    fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// The clients of one unit.
#[derive(Debug, Clone)]
pub struct UnitClients {
    pub ads: aws_sdk_applicationdiscovery::Client,
    /// For `GetCallerIdentity`, with the unit's base credentials; `None` where the account is
    /// known without asking.
    pub sts: Option<aws_sdk_sts::Client>,
    /// The assumed role's credentials, cached by the unit, where the target names a role.
    pub role: Option<Arc<RoleCredentials>>,
}

impl UnitClients {
    /// AWS rejected the unit's credentials: a unit with a role forgets its session, so that its
    /// next call assumes the role again (base credentials are the chain's, shared by every unit
    /// of the profile: they stay). Returns whether there was a session to forget.
    pub fn credentials_rejected(&self) -> bool {
        self.role.as_ref().is_some_and(|role| role.forget())
    }
}

/// How long before they expire cached role credentials are renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// An assumed role's credentials, cached for one unit until shortly before they expire, or until
/// AWS rejects them ([`RoleCredentials::forget`]): revoked sessions, a changed trust policy or an
/// endpoint that restarted would otherwise fail the unit until the session expired, up to an hour.
/// (The SDK's own identity cache cannot be told to forget one entry.)
#[derive(Debug)]
pub struct RoleCredentials {
    provider: SharedCredentialsProvider,
    cached: std::sync::Mutex<Option<Credentials>>,
    /// One AssumeRole at a time per unit.
    renewing: tokio::sync::Mutex<()>,
}

impl RoleCredentials {
    fn new(provider: impl ProvideCredentials + 'static) -> RoleCredentials {
        RoleCredentials {
            provider: SharedCredentialsProvider::new(provider),
            cached: std::sync::Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|c| c.expiry().is_none_or(|expiry| expiry > std::time::SystemTime::now() + RENEW_BEFORE))
            .cloned()
    }

    /// Forgets the cached credentials; whether there were any.
    pub fn forget(&self) -> bool {
        self.cached.lock().unwrap_or_else(|p| p.into_inner()).take().is_some()
    }

    async fn get(&self) -> aws_credential_types::provider::Result {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let _renewing = self.renewing.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let credentials = self.provider.provide_credentials().await?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(credentials.clone());
        Ok(credentials)
    }
}

/// The unit's clients share the cache through this handle.
#[derive(Debug, Clone)]
struct CachedRole(Arc<RoleCredentials>);

impl ProvideCredentials for CachedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.0.get())
    }
}

/// The account of each profile's base credentials, asked of STS once and shared by every unit
/// of the profile, whatever its region: the units of one profile that start together wait for
/// one `GetCallerIdentity`, and a failed one is tried again by the next collection.
#[derive(Debug, Default)]
pub struct CallerAccounts {
    cells: std::sync::Mutex<HashMap<Option<String>, Arc<tokio::sync::OnceCell<String>>>>,
}

impl CallerAccounts {
    fn cell(&self, profile: Option<&str>) -> Arc<tokio::sync::OnceCell<String>> {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.entry(profile.map(str::to_owned)).or_default().clone()
    }

    /// Forgets every account (the profiles may point elsewhere now).
    pub fn forget(&self) {
        self.cells.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The account, if it is known.
    pub fn known(&self, profile: Option<&str>) -> Option<String> {
        self.cell(profile).get().cloned()
    }

    /// The account, from `ask` unless it is known or being asked for.
    pub async fn get_or_ask<E, F, Fut>(&self, profile: Option<&str>, ask: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        self.cell(profile).get_or_try_init(ask).await.cloned()
    }
}

/// What every unit's clients share: the HTTP client (one connection pool, one set of root
/// certificates), the base configuration of each profile, loaded once, and its account.
pub struct AwsContext {
    settings: AwsSettings,
    http: SharedHttpClient,
    /// Loaded once per profile; never locked across an await (the cell is what waits).
    bases: std::sync::Mutex<HashMap<Option<String>, Arc<tokio::sync::OnceCell<SdkConfig>>>>,
    pub accounts: Arc<CallerAccounts>,
    /// See [`AwsContext::offline`].
    offline: bool,
}

/// The region of an identity from `AWS_REGION` (or `AWS_DEFAULT_REGION`), else its profile's
/// `region`: what the standard chain reads before it asks instance metadata.
async fn offline_region(identity: &Identity) -> Option<String> {
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(region) = std::env::var(variable)
            && !region.trim().is_empty()
        {
            return Some(region.trim().to_owned());
        }
    }
    let profiles = shared_profiles(identity.profile.as_deref()).await.ok()?;
    profiles.get("region").map(str::to_owned)
}

/// The shared config and credentials files, read as the SDK reads them, with `profile` (else the
/// default) selected.
async fn shared_profiles(profile: Option<&str>) -> Result<aws_config::profile::ProfileSet, String> {
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let selected = profile.map(|p| std::borrow::Cow::Owned(p.to_owned()));
    let [config, credentials] = profile_files();
    aws_config::profile::load(&fs, &env, &files, selected)
        .await
        .map_err(|e| format!("cannot read the AWS profiles ({config}, {credentials}): {e}"))
}

impl AwsContext {
    pub fn new(settings: AwsSettings) -> AwsContext {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        AwsContext { settings, http, bases: std::sync::Mutex::default(), accounts: Arc::default(), offline: false }
    }

    /// A context for checking a configuration: it reads regions from the environment and the
    /// profile files only (never instance metadata), and is never asked for clients.
    pub fn offline(settings: AwsSettings) -> AwsContext {
        AwsContext { offline: true, ..AwsContext::new(settings) }
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The standard chain's configuration for a profile (`None`: the default profile), loaded
    /// once and shared: its credentials provider and identity cache serve every unit of it.
    async fn base(&self, profile: Option<&str>) -> SdkConfig {
        let cell = {
            let mut bases = self.bases.lock().unwrap_or_else(|p| p.into_inner());
            bases.entry(profile.map(str::to_owned)).or_default().clone()
        };
        cell.get_or_init(|| self.load_base(profile)).await.clone()
    }

    async fn load_base(&self, profile: Option<&str>) -> SdkConfig {
        // Each unit sets its own region: this one only saves resolving one (which can probe
        // instance metadata) for nothing.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(self.http.clone())
            .region(Region::from_static("us-east-1"));
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        if let Some((key, secret)) = &self.settings.static_credentials {
            loader = loader.credentials_provider(Credentials::new(key, secret, None, None, "ads_exporter"));
        }
        loader.load().await
    }

    /// Forgets the profiles' configurations and accounts, so that units started from now on read
    /// them again (a reload).
    pub fn forget_profiles(&self) {
        self.bases.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.accounts.forget();
    }

    /// The region the standard chain gives for an identity's profile (`AWS_REGION`, then the
    /// profile's `region`).
    pub async fn default_region(&self, identity: &Identity) -> Option<String> {
        if self.offline {
            return offline_region(identity).await;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(self.http.clone());
        if let Some(profile) = &identity.profile {
            loader = loader.profile_name(profile);
        }
        loader.load().await.region().map(|r| r.to_string())
    }

    /// Builds the clients of a unit. Nothing is sent: credentials are resolved (and a role
    /// assumed) on the first call, and cached and refreshed before they expire by the client.
    pub async fn clients(&self, spec: &UnitSpec, api: Arc<ApiCounters>) -> UnitClients {
        let base = self.base(spec.identity.profile.as_deref()).await;
        let mut unit = base.into_builder();
        unit.set_region(Some(Region::new(spec.region.clone())));
        unit.set_retry_config(Some(RetryConfig::standard().with_max_attempts(spec.settings.max_attempts)));
        unit.set_timeout_config(Some(Timeouts::for_collection(spec.settings.timeout).config()));
        let unit = unit.build();
        let mut sts = unit.clone().into_builder();
        if let Some(url) = &self.settings.sts_endpoint_url {
            sts.set_endpoint_url(Some(url.to_string()));
            // Programmatic, so it wins over AWS_ENDPOINT_URL_STS, as a flag wins over a variable.
            sts.insert_origin("endpoint_url", Origin::shared_config());
        }
        let sts = sts.build();

        // Each unit retries from a token bucket of its own: the SDK's default bucket is one per
        // service and region for the whole process, so one throttled or hanging unit would use
        // up the retries of every other unit in its region.
        let partition = format!("ads_exporter-unit-{:016x}", spec.stable_hash());
        let mut ads = aws_sdk_applicationdiscovery::config::Builder::from(&unit)
            .retry_partition(own_partition(&partition, "ads"))
            .interceptor(CountAttempts::new(api.clone()));
        if let Some(url) = &self.settings.endpoint_url {
            ads = ads.endpoint_url(url.as_str());
        }
        let role = match &spec.identity.role {
            Some(role) => {
                let mut provider = AssumeRoleProvider::builder(role.arn.clone())
                    .session_name(role.session_name.clone())
                    .region(Region::new(spec.region.clone()))
                    .configure(&sts);
                if let Some(id) = &role.external_id {
                    provider = provider.external_id(id.clone());
                }
                let cache = Arc::new(RoleCredentials::new(provider.build().await));
                // The unit caches its role's credentials itself, so that it can forget them.
                ads = ads
                    .credentials_provider(CachedRole(cache.clone()))
                    .identity_cache(aws_sdk_applicationdiscovery::config::IdentityCache::no_cache());
                Some(cache)
            }
            None => None,
        };
        let sts_client = spec.identity.known_account().is_none().then(|| {
            let config = aws_sdk_sts::config::Builder::from(&sts)
                .retry_partition(own_partition(&partition, "sts"))
                .interceptor(CountAttempts::new(api))
                .build();
            aws_sdk_sts::Client::from_conf(config)
        });
        UnitClients { ads: aws_sdk_applicationdiscovery::Client::from_conf(ads.build()), sts: sts_client, role }
    }
}

/// The shared config and credentials files the SDK reads (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`), for messages.
pub fn profile_files() -> [String; 2] {
    let home = std::env::var("HOME").unwrap_or_else(|_| "~".to_owned());
    let file =
        |variable: &str, default: &str| std::env::var(variable).unwrap_or_else(|_| format!("{home}/.aws/{default}"));
    [file("AWS_CONFIG_FILE", "config"), file("AWS_SHARED_CREDENTIALS_FILE", "credentials")]
}

/// Checks that each named profile is in the shared config or credentials files; the error names
/// the profile, where the configuration names it, and the files looked in. A missing profile
/// would otherwise pass and fail every collection of its units.
pub async fn check_profiles<'a>(profiles: impl IntoIterator<Item = (String, &'a str)>) -> Result<(), String> {
    let profiles: Vec<(String, &str)> = profiles.into_iter().collect();
    if profiles.is_empty() {
        return Ok(());
    }
    let set = shared_profiles(None).await?;
    let [config, credentials] = profile_files();
    let missing: Vec<String> = profiles
        .iter()
        .filter(|(_, name)| set.get_profile(name).is_none())
        .map(|(at, name)| format!("{at}: no profile {name:?} in {config} or {credentials}"))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(missing.join("\n")) }
}

/// A retry partition with a token bucket of its own (not one from the SDK's process-wide map).
fn own_partition(unit: &str, service: &str) -> RetryPartition {
    RetryPartition::custom(format!("{unit}-{service}")).token_bucket(TokenBucket::default()).build()
}

/// Static credentials for the simulator in demo mode.
pub fn demo_credentials() -> (String, String) {
    ("AKIDADSEXPORTERDEMO".to_owned(), "ads-exporter-demo-secret".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Filters, Kind, UnitSettings};

    fn spec(region: &str) -> UnitSpec {
        UnitSpec {
            identity: Identity::default(),
            region: region.to_owned(),
            labels: Default::default(),
            settings: UnitSettings::default(),
            filters: Filters::default(),
            collectors: Kind::defaults(),
        }
    }

    #[tokio::test]
    async fn every_unit_retries_from_a_token_bucket_of_its_own() {
        let context = AwsContext::new(AwsSettings {
            endpoint_url: Some("http://127.0.0.1:9".parse().unwrap()),
            sts_endpoint_url: Some("http://127.0.0.1:9".parse().unwrap()),
            static_credentials: Some(demo_credentials()),
        });
        let mut other_account = spec("us-west-2");
        other_account.identity.account_id = Some("111122223333".to_owned());
        let mut names = Vec::new();
        for spec in [spec("us-west-2"), other_account, spec("eu-west-1")] {
            let clients = context.clients(&spec, Arc::default()).await;
            let ads = clients.ads.config().retry_partition().expect("a partition of the unit's own").to_string();
            assert!(ads.contains(&format!("{:016x}", spec.stable_hash())), "{ads}");
            names.push(ads);
            if let Some(sts) = clients.sts {
                names.push(sts.config().retry_partition().expect("a partition of the unit's own").to_string());
            }
        }
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "shared retry partitions: {names:?}");
        assert_eq!(names.len(), 5, "{names:?}");
    }
}
