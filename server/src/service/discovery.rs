//! What the server says about itself: spec versions, and server discovery (`.well-known`).

use std::collections::BTreeMap;

use crate::config::Config;

/// The client-server spec versions advertised at `/_matrix/client/versions`.
///
/// Each later version is a superset of the earlier ones under the spec's deprecation policy, and
/// REChain implements v1.19's behaviour (authenticated media, no `r0`-only semantics), so it
/// lists v1.1 through v1.19. The legacy `r0.x` versions are not listed: their paths are not
/// served. Clients feature-detect by exact string, so every version in the range is listed.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11",
    "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19",
];

pub struct DiscoveryService {
    client_base_url: String,
    server_delegation: String,
}

impl DiscoveryService {
    pub fn new(config: &Config) -> Self {
        Self {
            client_base_url: config.well_known_client_base_url(),
            server_delegation: config.well_known_server(),
        }
    }

    pub fn versions(&self) -> Vec<String> {
        SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect()
    }

    /// Experimental features. Only features actually implemented may appear here.
    pub fn unstable_features(&self) -> BTreeMap<String, bool> {
        // MSC3814 dehydrated devices, under its unstable prefix.
        BTreeMap::from([("org.matrix.msc3814".to_owned(), true)])
    }

    pub fn client_base_url(&self) -> &str {
        &self.client_base_url
    }

    /// `host:port` other servers should use for federation.
    pub fn server_delegation(&self) -> &str {
        &self.server_delegation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_unique_and_end_at_the_implemented_spec() {
        let parsed: Vec<(u32, u32)> = SUPPORTED_VERSIONS
            .iter()
            .map(|v| {
                let (major, minor) = v.strip_prefix('v').unwrap().split_once('.').unwrap();
                (major.parse().unwrap(), minor.parse().unwrap())
            })
            .collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(parsed.last(), Some(&(1, 19)));
    }

    #[test]
    fn well_known_defaults_follow_the_listeners() {
        let service = DiscoveryService::new(&Config::default());
        assert_eq!(service.client_base_url(), "http://127.0.0.1:8008");
        assert_eq!(service.server_delegation(), "localhost:8448");
    }
}
