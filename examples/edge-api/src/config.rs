//! Configuration from `REEL_*` environment variables; every backend is optional.

use std::net::SocketAddr;
use std::path::PathBuf;

use reel_core::SecretSource;
use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, TrustedProxies};
use reel_ratelimit::Quota;

/// How the service runs. [`Config::default`] is the zero-configuration mode: SQLite in memory,
/// rate limits in memory, no cache, no search.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`REEL_LISTEN`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Where `/metrics` (Prometheus text format) is served, apart from the API so that it
    /// is not exposed with it (`REEL_METRICS_ADDR`, default `127.0.0.1:9464`; `off`: `None`,
    /// no metrics endpoint).
    pub metrics_listen: Option<SocketAddr>,
    /// PostgreSQL (or `sqlite:`) URL (`REEL_DATABASE_URL`); `None` for SQLite in memory.
    pub database_url: Option<String>,
    /// Redis URL for the rate-limit store (`REEL_REDIS_URL`); `None` for the memory store.
    pub redis_url: Option<String>,
    /// Memcached servers for response caching, `host:port[:weight]` separated by commas
    /// (`REEL_MEMCACHE_SERVERS`); `None` disables caching.
    pub memcache_servers: Option<String>,
    /// Elasticsearch/OpenSearch URL (`REEL_ES_URL`); `None` disables `/v2/search`.
    pub search_url: Option<String>,
    /// The search index's read alias (`REEL_ES_INDEX`, default `edge-assets`).
    pub search_index: String,
    /// Keep rate limits in memcached (the `REEL_MEMCACHE_SERVERS` cluster) instead of memory
    /// or redis (`REEL_RATE_LIMIT_STORE=memcache`).
    pub rate_limit_in_memcache: bool,
    /// Requests allowed per client IP (`REEL_RATE_LIMIT`, default `300/min burst 60`).
    pub quota: Quota,
    /// What is in front of the service and which header it writes (`REEL_CLIENT_IP`: `direct`,
    /// `x-forwarded-for` (the default), `forwarded`, `aws-alb`, `cloudfront-alb`,
    /// `nginx-real-ip`, `cloudflare` or `hops:N`); see `reel_core::client_ip`.
    pub client_ip: ClientIpPreset,
    /// The proxies whose header is believed (`REEL_TRUSTED_PROXIES`, addresses and CIDRs
    /// separated by commas; default loopback, a proxy on the same host).
    pub trusted_proxies: TrustedProxies,
    /// The public base URL for links (`REEL_PUBLIC_URL`); default `http://` + the `Host` header.
    pub public_url: Option<String>,
    /// Where generated development files live (`REEL_DATA_DIR`, default `.edge-api`): the
    /// development CloudFront key pair.
    pub data_dir: PathBuf,
    /// The CloudFront key-pair id (`REEL_CLOUDFRONT_KEY_PAIR_ID`); with
    /// [`cloudfront_private_key`](Self::cloudfront_private_key) it replaces the development key.
    pub cloudfront_key_pair_id: Option<String>,
    /// The private key as a reel-core `SecretSource` string (`env:NAME`, `file:PATH` or the PEM
    /// itself) (`REEL_CLOUDFRONT_PRIVATE_KEY`).
    pub cloudfront_private_key: Option<String>,
    /// The distribution's base URL (`REEL_CLOUDFRONT_URL`, default
    /// `https://d111111abcdef8.cloudfront.net`).
    pub cloudfront_url: String,
    /// A MaxMind City/Country `.mmdb` file, reloaded when it changes (`REEL_GEOIP_DB`);
    /// `None` for a small generated demo database.
    pub geoip_db: Option<PathBuf>,
    /// MaxMind's download service instead of a file: the account id
    /// (`REEL_MAXMIND_ACCOUNT_ID`), the license key as a reel-core `SecretSource` string
    /// (`REEL_MAXMIND_LICENSE_KEY`, e.g. `env:MAXMIND_LICENSE_KEY` or `file:/run/secrets/maxmind`)
    /// and the edition (`REEL_MAXMIND_EDITION`, default `GeoLite2-City`); `REEL_MAXMIND_URL`
    /// points the downloads at a mirror or caching proxy of the service.
    pub maxmind: Option<MaxMind>,
    /// Start even when the optional backends do not answer (`REEL_START_DEGRADED=1`): a
    /// memcached node (herd ejects it until it answers), redis (the rate limiter's fail-open
    /// policy applies until it answers) or the search server (searches answer 503 until the
    /// index is built in the background). By default start-up fails and names the backend.
    /// The database must answer either way. `/healthz` reports what is down.
    pub start_degraded: bool,
    /// Bearer tokens and the owner each one authenticates (`REEL_API_TOKENS`, `ID=TOKEN`
    /// pairs separated by commas, e.g. `1=ada-token,2=grace-token`; none by default: every
    /// caller is anonymous). A demo's notion of identity, enough to show what only an owner
    /// may see; a real service would verify signed tokens from its identity provider.
    pub api_tokens: Vec<(i64, String)>,
}

/// Credentials for MaxMind's download service.
#[derive(Debug, Clone)]
pub struct MaxMind {
    /// The account id.
    pub account_id: String,
    /// Where the license key is read from (never the key itself in logs).
    pub license_key: SecretSource,
    /// The edition id, such as `GeoLite2-City`.
    pub edition: String,
    /// The download service's base URL (`None`: `https://download.maxmind.com`); a mirror
    /// or caching proxy answering the same paths.
    pub base_url: Option<String>,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds something that does not parse.
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why it does not parse.
        reason: String,
    },
}

// Constant input, checked by the config tests: `expect` cannot fire on user data here.
#[allow(clippy::expect_used)]
fn default_quota() -> Quota {
    Quota::per_minute(300)
        .and_then(|quota| quota.with_burst(60))
        .expect("300/min burst 60 is a valid quota")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            database_url: None,
            redis_url: None,
            memcache_servers: None,
            search_url: None,
            search_index: "edge-assets".to_owned(),
            rate_limit_in_memcache: false,
            quota: default_quota(),
            client_ip: ClientIpPreset::XForwardedFor,
            trusted_proxies: TrustedProxies::loopback(),
            public_url: None,
            data_dir: PathBuf::from(".edge-api"),
            cloudfront_key_pair_id: None,
            cloudfront_private_key: None,
            cloudfront_url: "https://d111111abcdef8.cloudfront.net".to_owned(),
            geoip_db: None,
            maxmind: None,
            start_degraded: false,
            api_tokens: Vec::new(),
        }
    }
}

impl Config {
    /// How the rate limits and the geolocation find the client's address:
    /// [`client_ip`](Self::client_ip) trusting [`trusted_proxies`](Self::trusted_proxies).
    pub fn client_ip_resolver(&self) -> ClientIpResolver {
        self.client_ip.resolver(self.trusted_proxies.clone())
    }

    /// Reads the `REEL_*` variables; unset or empty ones keep their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut config = Self::default();
        if let Some(listen) = get("REEL_LISTEN") {
            config.listen = listen.parse().map_err(|e| ConfigError::Invalid {
                name: "REEL_LISTEN",
                reason: format!("`{listen}` is not an address like 127.0.0.1:8080 ({e})"),
            })?;
        }
        if let Some(metrics) = get("REEL_METRICS_ADDR") {
            config.metrics_listen =
                crate::telemetry::parse_metrics_addr(&metrics).map_err(|reason| {
                    ConfigError::Invalid {
                        name: "REEL_METRICS_ADDR",
                        reason,
                    }
                })?;
        }
        config.database_url = get("REEL_DATABASE_URL");
        config.redis_url = get("REEL_REDIS_URL");
        config.memcache_servers = get("REEL_MEMCACHE_SERVERS");
        config.search_url = get("REEL_ES_URL");
        if let Some(index) = get("REEL_ES_INDEX") {
            config.search_index = index;
        }
        if let Some(quota) = get("REEL_RATE_LIMIT") {
            config.quota = quota.parse().map_err(|e| ConfigError::Invalid {
                name: "REEL_RATE_LIMIT",
                reason: format!("`{quota}`: {e} (example: `300/min burst 60`)"),
            })?;
        }
        if let Some(preset) = get("REEL_CLIENT_IP") {
            config.client_ip = preset.parse().map_err(|e| ConfigError::Invalid {
                name: "REEL_CLIENT_IP",
                reason: format!("{e}"),
            })?;
        }
        if let Some(trusted) = get("REEL_TRUSTED_PROXIES") {
            config.trusted_proxies = trusted.parse().map_err(|e| ConfigError::Invalid {
                name: "REEL_TRUSTED_PROXIES",
                reason: format!("{e}"),
            })?;
        }
        config.public_url = get("REEL_PUBLIC_URL");
        if let Some(value) = get("REEL_START_DEGRADED") {
            config.start_degraded = match value.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "REEL_START_DEGRADED",
                        reason: format!("`{other}`: use 1 or 0"),
                    });
                }
            };
        }
        if let Some(tokens) = get("REEL_API_TOKENS") {
            config.api_tokens = parse_tokens(&tokens).map_err(|reason| ConfigError::Invalid {
                name: "REEL_API_TOKENS",
                reason,
            })?;
        }
        if let Some(dir) = get("REEL_DATA_DIR") {
            config.data_dir = PathBuf::from(dir);
        }
        match get("REEL_RATE_LIMIT_STORE").as_deref() {
            None => {}
            Some("memcache") if config.memcache_servers.is_some() => {
                config.rate_limit_in_memcache = true
            }
            Some("memcache") => {
                return Err(ConfigError::Invalid {
                    name: "REEL_RATE_LIMIT_STORE",
                    reason: "`memcache` needs REEL_MEMCACHE_SERVERS".to_owned(),
                });
            }
            Some("redis") if config.redis_url.is_some() => {}
            Some("memory") if config.redis_url.is_none() => {}
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "REEL_RATE_LIMIT_STORE",
                    reason: format!(
                        "`{other}`: use memcache (with REEL_MEMCACHE_SERVERS), or leave it unset for redis when REEL_REDIS_URL is set and memory otherwise"
                    ),
                });
            }
        }
        config.cloudfront_key_pair_id = get("REEL_CLOUDFRONT_KEY_PAIR_ID");
        config.cloudfront_private_key = get("REEL_CLOUDFRONT_PRIVATE_KEY");
        if config.cloudfront_key_pair_id.is_some() != config.cloudfront_private_key.is_some() {
            return Err(ConfigError::Invalid {
                name: "REEL_CLOUDFRONT_KEY_PAIR_ID",
                reason: "set both REEL_CLOUDFRONT_KEY_PAIR_ID and REEL_CLOUDFRONT_PRIVATE_KEY, or neither (a development key is generated)".to_owned(),
            });
        }
        if let Some(url) = get("REEL_CLOUDFRONT_URL") {
            config.cloudfront_url = url.trim_end_matches('/').to_owned();
        }
        config.geoip_db = get("REEL_GEOIP_DB").map(PathBuf::from);
        config.maxmind = match (
            get("REEL_MAXMIND_ACCOUNT_ID"),
            get("REEL_MAXMIND_LICENSE_KEY"),
        ) {
            (None, None) => None,
            (Some(account_id), Some(key)) => Some(MaxMind {
                account_id,
                license_key: key.parse().map_err(|e| ConfigError::Invalid {
                    name: "REEL_MAXMIND_LICENSE_KEY",
                    reason: format!("{e}"),
                })?,
                edition: get("REEL_MAXMIND_EDITION").unwrap_or_else(|| "GeoLite2-City".to_owned()),
                base_url: get("REEL_MAXMIND_URL"),
            }),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "REEL_MAXMIND_ACCOUNT_ID",
                    reason:
                        "set both REEL_MAXMIND_ACCOUNT_ID and REEL_MAXMIND_LICENSE_KEY, or neither"
                            .to_owned(),
                });
            }
        };
        if config.maxmind.is_some() && config.geoip_db.is_some() {
            return Err(ConfigError::Invalid {
                name: "REEL_GEOIP_DB",
                reason: "set either REEL_GEOIP_DB (a local file) or the REEL_MAXMIND_* credentials (downloads), not both".to_owned(),
            });
        }
        Ok(config)
    }
}

/// `ID=TOKEN,ID=TOKEN` into pairs; the error never repeats a token.
fn parse_tokens(value: &str) -> Result<Vec<(i64, String)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .enumerate()
        .map(|(n, pair)| {
            let (id, token) = pair.split_once('=').ok_or_else(|| {
                format!(
                    "entry {} is not OWNER_ID=TOKEN (example: 1=ada-token)",
                    n + 1
                )
            })?;
            let id = id
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("entry {}: the owner id is not a number", n + 1))?;
            let token = token.trim();
            if token.len() < 8 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "entry {}: a token is at least 8 visible ASCII characters",
                    n + 1
                ));
            }
            Ok((id, token.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn nothing_set_is_the_zero_config_mode() {
        let config = from(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.metrics_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9464")
        );
        assert!(config.database_url.is_none() && config.redis_url.is_none());
        assert!(config.memcache_servers.is_none() && config.search_url.is_none());
        assert_eq!(config.quota.to_string(), default_quota().to_string());
    }

    #[test]
    fn variables_are_read_and_empty_ones_ignored() {
        let config = from(&[
            ("REEL_LISTEN", "0.0.0.0:9000"),
            ("REEL_DATABASE_URL", "postgres://db/edge"),
            ("REEL_REDIS_URL", ""),
            ("REEL_RATE_LIMIT", "10/s burst 5"),
            ("REEL_CLOUDFRONT_URL", "https://cdn.example.com/"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url.as_deref(), Some("postgres://db/edge"));
        assert_eq!(config.redis_url, None);
        assert_eq!(
            config.quota.to_string(),
            "10/s burst 5".parse::<Quota>().unwrap().to_string()
        );
        assert_eq!(config.cloudfront_url, "https://cdn.example.com");
    }

    #[test]
    fn maxmind_credentials_are_read_with_a_default_edition() {
        let config = from(&[
            ("REEL_MAXMIND_ACCOUNT_ID", "123456"),
            ("REEL_MAXMIND_LICENSE_KEY", "env:MAXMIND_LICENSE_KEY"),
        ])
        .unwrap();
        let maxmind = config.maxmind.unwrap();
        assert_eq!(maxmind.account_id, "123456");
        assert_eq!(
            maxmind.license_key,
            SecretSource::env("MAXMIND_LICENSE_KEY")
        );
        assert_eq!(maxmind.edition, "GeoLite2-City");
        let config = from(&[
            ("REEL_MAXMIND_ACCOUNT_ID", "123456"),
            ("REEL_MAXMIND_LICENSE_KEY", "file:/run/secrets/maxmind"),
            ("REEL_MAXMIND_EDITION", "GeoIP2-City"),
        ])
        .unwrap();
        let maxmind = config.maxmind.unwrap();
        assert_eq!(maxmind.edition, "GeoIP2-City");
        assert_eq!(maxmind.base_url, None);
        let config = from(&[
            ("REEL_MAXMIND_ACCOUNT_ID", "123456"),
            ("REEL_MAXMIND_LICENSE_KEY", "env:K"),
            ("REEL_MAXMIND_URL", "http://geo-mirror.internal:8080"),
        ])
        .unwrap();
        assert_eq!(
            config.maxmind.unwrap().base_url.as_deref(),
            Some("http://geo-mirror.internal:8080")
        );
    }

    #[test]
    fn the_client_ip_setting_is_a_named_front_and_its_proxies() {
        let config = from(&[]).unwrap();
        assert_eq!(config.client_ip, ClientIpPreset::XForwardedFor);
        assert_eq!(
            config.client_ip_resolver(),
            ClientIpResolver::x_forwarded_for(TrustedProxies::loopback())
        );
        let config = from(&[
            ("REEL_CLIENT_IP", "aws-alb"),
            ("REEL_TRUSTED_PROXIES", "10.0.0.0/16"),
        ])
        .unwrap();
        assert_eq!(
            config.client_ip_resolver(),
            ClientIpResolver::aws_alb("10.0.0.0/16".parse().unwrap())
        );
        let config = from(&[("REEL_CLIENT_IP", "hops:2")]).unwrap();
        assert_eq!(config.client_ip.to_string(), "hops:2");
        let error = from(&[("REEL_CLIENT_IP", "elb")]).unwrap_err();
        assert!(error.to_string().starts_with("REEL_CLIENT_IP:"), "{error}");
        assert!(error.to_string().contains("aws-alb"), "{error}");
        let error = from(&[("REEL_TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
        assert!(
            error.to_string().starts_with("REEL_TRUSTED_PROXIES:"),
            "{error}"
        );
    }

    #[test]
    fn api_tokens_map_to_owners_and_bad_ones_are_named_without_the_token() {
        let config = from(&[("REEL_API_TOKENS", "1=ada-token-1, 2=grace-token-2")]).unwrap();
        assert_eq!(
            config.api_tokens,
            vec![
                (1, "ada-token-1".to_owned()),
                (2, "grace-token-2".to_owned())
            ]
        );
        let error = from(&[("REEL_API_TOKENS", "ada=secret-token")]).unwrap_err();
        assert!(error.to_string().starts_with("REEL_API_TOKENS:"), "{error}");
        assert!(!error.to_string().contains("secret-token"), "{error}");
        assert!(from(&[("REEL_API_TOKENS", "1=short")]).is_err());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = from(&[("REEL_LISTEN", "localhost")]).unwrap_err();
        assert!(error.to_string().starts_with("REEL_LISTEN:"), "{error}");
        let error = from(&[("REEL_METRICS_ADDR", "9464")]).unwrap_err();
        assert!(
            error.to_string().starts_with("REEL_METRICS_ADDR:"),
            "{error}"
        );
        assert_eq!(
            from(&[("REEL_METRICS_ADDR", "off")])
                .unwrap()
                .metrics_listen,
            None
        );
        let error = from(&[("REEL_RATE_LIMIT", "lots")]).unwrap_err();
        assert!(error.to_string().starts_with("REEL_RATE_LIMIT:"), "{error}");
        let error = from(&[("REEL_MAXMIND_ACCOUNT_ID", "123")]).unwrap_err();
        assert!(
            error.to_string().contains("REEL_MAXMIND_LICENSE_KEY"),
            "{error}"
        );
        let error = from(&[
            ("REEL_MAXMIND_ACCOUNT_ID", "123"),
            ("REEL_MAXMIND_LICENSE_KEY", "env:MAXMIND_KEY"),
            ("REEL_GEOIP_DB", "/data/city.mmdb"),
        ])
        .unwrap_err();
        assert!(error.to_string().starts_with("REEL_GEOIP_DB:"), "{error}");
        let error = from(&[("REEL_CLOUDFRONT_KEY_PAIR_ID", "K1")]).unwrap_err();
        assert!(
            error.to_string().contains("REEL_CLOUDFRONT_PRIVATE_KEY"),
            "{error}"
        );
    }
}
