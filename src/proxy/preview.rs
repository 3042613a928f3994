//! Preview routing: a tester chooses the version a request goes to
//! (`X-Cutover-Version: canary`, or the `cutover-version` cookie), whatever
//! the weight — a canary at 0 % can be tried by the people allowed to, and
//! by nobody else. Pure: the request's headers and the client's address in,
//! a version (or none) out.
//!
//! Allowed are clients from `[proxy.preview] allow` networks, or clients
//! that send the plan's `secret` (`X-Cutover-Preview` header or
//! `cutover-preview` cookie), compared in constant time. Everyone else's
//! choice is ignored. The two headers are removed before the request goes
//! upstream either way, so the secret never reaches a replica.

use crate::model::Role;
use crate::plan::PreviewPlan;
use http::HeaderMap;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// The header (and cookie) that names the version.
pub const VERSION_HEADER: &str = "x-cutover-version";
pub const VERSION_COOKIE: &str = "cutover-version";
/// The header (and cookie) that carries the secret.
pub const SECRET_HEADER: &str = "x-cutover-preview";
pub const SECRET_COOKIE: &str = "cutover-preview";

/// `[proxy.preview]`, ready for the request path.
#[derive(Clone, Debug)]
pub struct Preview {
    allow: Vec<IpNet>,
    secret: Option<Vec<u8>>,
    /// `stable`, `canary` and the plan's aliases, lower case.
    names: BTreeMap<String, Role>,
}

/// A network, or one address as a network of one.
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Preview {
    /// From a plan that passed validation (unparsable networks are skipped).
    pub fn from_plan(p: &PreviewPlan) -> Preview {
        let mut names: BTreeMap<String, Role> = [
            ("stable".to_string(), Role::Stable),
            ("canary".to_string(), Role::Canary),
        ]
        .into();
        for (alias, to) in &p.aliases {
            let role = if to == "canary" {
                Role::Canary
            } else {
                Role::Stable
            };
            names.insert(alias.to_ascii_lowercase(), role);
        }
        Preview {
            allow: p.allow.iter().filter_map(|n| parse_net(n)).collect(),
            secret: p.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            names,
        }
    }

    /// The version this request chose, if it may choose and named one (a
    /// role, an alias, or a version string of `versions`: stable's and the
    /// canary's, lower case). Removes the preview headers in any case.
    pub fn chosen(
        &self,
        headers: &mut HeaderMap,
        client: IpAddr,
        versions: &[String; 2],
    ) -> Option<Role> {
        let asked = headers
            .remove(VERSION_HEADER)
            .and_then(|v| v.to_str().ok().map(str::to_ascii_lowercase))
            .or_else(|| cookie(headers, VERSION_COOKIE).map(|v| v.to_ascii_lowercase()));
        let secret = headers
            .remove(SECRET_HEADER)
            .map(|v| v.as_bytes().to_vec())
            .or_else(|| cookie(headers, SECRET_COOKIE).map(|v| v.as_bytes().to_vec()));
        let asked = asked?;
        let asked = asked.trim();
        let by_version = || {
            Role::ALL
                .into_iter()
                .find(|r| !versions[r.index()].is_empty() && versions[r.index()] == asked)
        };
        let role = self.names.get(asked).copied().or_else(by_version)?;
        self.allowed(client, secret.as_deref()).then_some(role)
    }

    fn allowed(&self, client: IpAddr, secret: Option<&[u8]>) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        if self.allow.iter().any(|n| n.contains(&client)) {
            return true;
        }
        match (&self.secret, secret) {
            (Some(want), Some(given)) => want.ct_eq(given).into(),
            _ => false,
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview() -> Preview {
        Preview::from_plan(&PreviewPlan {
            allow: vec!["10.1.0.0/16".into(), "127.0.0.2".into()],
            secret: Some("a-long-enough-secret".into()),
            aliases: [("Beta".to_string(), "canary".to_string())].into(),
        })
    }

    impl Preview {
        /// With stable at "v1" and the canary at "v2".
        fn chosen_by(&self, h: &mut HeaderMap, client: IpAddr) -> Option<Role> {
            self.chosen(h, client, &["v1".into(), "v2".into()])
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn allowed_networks_choose_by_name_or_alias() {
        let p = preview();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (h, want) in [
            (
                headers(&[("x-cutover-version", "canary")]),
                Some(Role::Canary),
            ),
            (
                headers(&[("x-cutover-version", "STABLE")]),
                Some(Role::Stable),
            ),
            (
                headers(&[("x-cutover-version", "beta")]),
                Some(Role::Canary),
            ),
            (
                headers(&[("cookie", "a=1; cutover-version=canary")]),
                Some(Role::Canary),
            ),
            (headers(&[("x-cutover-version", "V2")]), Some(Role::Canary)),
            (headers(&[("x-cutover-version", "v1")]), Some(Role::Stable)),
            (headers(&[("x-cutover-version", "v9")]), None),
            (headers(&[]), None),
        ] {
            assert_eq!(p.chosen_by(&mut h.clone(), ip("10.1.2.3")), want, "{h:?}");
            assert_eq!(p.chosen_by(&mut h.clone(), ip("127.0.0.2")), want, "{h:?}");
            assert_eq!(
                p.chosen_by(&mut h.clone(), ip("::ffff:10.1.0.9")),
                want,
                "{h:?}"
            );
        }
    }

    #[test]
    fn others_need_the_secret_and_never_pass_it_on() {
        let p = preview();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        let mut asked = headers(&[("x-cutover-version", "canary")]);
        assert_eq!(p.chosen_by(&mut asked, other), None);
        assert!(
            asked.get(VERSION_HEADER).is_none(),
            "removed even when ignored"
        );
        let mut wrong = headers(&[
            ("x-cutover-version", "canary"),
            ("x-cutover-preview", "guess"),
        ]);
        assert_eq!(p.chosen_by(&mut wrong, other), None);
        let mut right = headers(&[
            ("x-cutover-version", "canary"),
            ("x-cutover-preview", "a-long-enough-secret"),
        ]);
        assert_eq!(p.chosen_by(&mut right, other), Some(Role::Canary));
        assert!(right.get(SECRET_HEADER).is_none(), "the secret stays here");
        let mut cookie = headers(&[(
            "cookie",
            "cutover-version=canary; cutover-preview=a-long-enough-secret",
        )]);
        assert_eq!(p.chosen_by(&mut cookie, other), Some(Role::Canary));
    }
}
