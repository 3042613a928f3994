//! Which service a request is for, when one listener serves several
//! (`[[services]]`): by Host, then path prefix. The most specific match
//! wins — an exact host over a wildcard, a longer prefix over a shorter or
//! none — so adding a service never takes requests from a more specific one.
//! A request no service claims gets a plain 404, never another service's
//! answer.
//!
//! A single-service daemon has one route with no hosts: every request is
//! its, and no Host is even looked at (the request path is unchanged).

use super::router::Router;
use crate::plan::services::HostPattern;
use std::sync::Arc;

/// One service's claim on requests, and its router.
pub struct Route {
    pub name: String,
    /// Empty: every host (the single-service daemon).
    pub hosts: Vec<HostPattern>,
    /// Without its trailing `/`; matched at a `/` boundary. The path is
    /// passed on to the service as it came.
    pub prefix: Option<String>,
    pub router: Router,
}

/// The routes of one public listener. Cheap to clone.
#[derive(Clone)]
pub struct Routes {
    routes: Arc<[Route]>,
}

impl From<Router> for Routes {
    fn from(router: Router) -> Routes {
        Routes {
            routes: Arc::new([Route {
                name: String::new(),
                hosts: Vec::new(),
                prefix: None,
                router,
            }]),
        }
    }
}

impl Routes {
    /// Several services; at least one.
    pub fn new(routes: Vec<Route>) -> Routes {
        assert!(!routes.is_empty(), "a listener serves at least one service");
        Routes {
            routes: routes.into(),
        }
    }

    pub fn all(&self) -> &[Route] {
        &self.routes
    }

    /// The first service's router: its `[proxy]` limits (header timeout,
    /// head size, connection cap) are the listener's.
    pub fn first(&self) -> &Router {
        &self.routes[0].router
    }

    /// One service without hosts (the single-service daemon): every
    /// request is its, whatever its Host.
    pub fn takes_everything(&self) -> bool {
        self.routes.len() == 1 && self.routes[0].hosts.is_empty()
    }

    /// The route for a request to `host` (the Host header or the target's
    /// authority) and `path`; `None` when no service claims it.
    pub fn pick(&self, host: Option<&str>, path: &str) -> Option<usize> {
        if self.takes_everything() {
            return Some(0);
        }
        let host = normalise(host?);
        self.routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let host_score = r
                    .hosts
                    .iter()
                    .filter(|h| h.matches(&host))
                    .map(HostPattern::specificity)
                    .max()?;
                let prefix_score = match &r.prefix {
                    None => 0,
                    Some(p) if under(path, p) => p.len() + 1,
                    Some(_) => return None,
                };
                Some(((host_score, prefix_score), i))
            })
            .max_by_key(|(score, i)| (*score, std::cmp::Reverse(*i)))
            .map(|(_, i)| i)
    }
}

/// `Shop.Example.com.:8080` → `shop.example.com`.
fn normalise(host: &str) -> String {
    let h = host.trim();
    let no_port = match h.rsplit_once(':') {
        // `[::1]:80` and `host:80`; a bare IPv6 literal has no port here.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    };
    no_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `path` is `prefix` or under it (`/api`, `/api/x`; not `/apix`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn router() -> Router {
        Router::new(
            Arc::new(Metrics::new()),
            crate::proxy::ProxyOptions::from_plan("t", &Default::default()),
        )
    }

    fn route(name: &str, hosts: &[&str], prefix: Option<&str>) -> Route {
        Route {
            name: name.into(),
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            prefix: prefix.map(Into::into),
            router: router(),
        }
    }

    #[test]
    fn the_most_specific_service_wins() {
        let r = Routes::new(vec![
            route("wild", &["*.example.com"], None),
            route("shop", &["shop.example.com"], None),
            route("api", &["shop.example.com"], Some("/api")),
            route("apex", &["example.com"], None),
        ]);
        let pick = |h: &str, p: &str| r.pick(Some(h), p).map(|i| r.all()[i].name.as_str());
        assert_eq!(pick("shop.example.com", "/"), Some("shop"));
        assert_eq!(pick("SHOP.example.com:8080", "/cart"), Some("shop"));
        assert_eq!(pick("shop.example.com.", "/api"), Some("api"));
        assert_eq!(pick("shop.example.com", "/api/v1?x=1"), Some("api"));
        assert_eq!(pick("shop.example.com", "/apix"), Some("shop"));
        assert_eq!(pick("blog.example.com", "/api"), Some("wild"));
        assert_eq!(pick("example.com", "/"), Some("apex"));
        assert_eq!(pick("example.org", "/"), None);
        assert_eq!(r.pick(None, "/"), None, "no Host, no service");
    }

    #[test]
    fn one_service_without_hosts_takes_everything() {
        let r = Routes::from(router());
        assert_eq!(r.pick(None, "/"), Some(0));
        assert_eq!(r.pick(Some("anything"), "/x"), Some(0));
    }
}
