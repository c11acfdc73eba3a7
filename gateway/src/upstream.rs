//! `Upstream`: one base URL, joined to request paths, printed with its secrets redacted.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use bytes::BytesMut;
use http::{HeaderValue, Uri};
use url::Url;

use crate::error::GatewayError;

/// The base URL of one upstream (`http` or `https`, optionally with a path prefix, userinfo
/// and query parameters that are sent with every request).
///
/// `Display` and `Debug` print the redacted form: the password and every query value become
/// `***` (like Lighthouse's `SensitiveUrl`), so an `Upstream` may go into logs and metrics.
/// Cloning is cheap.
#[derive(Clone)]
pub struct Upstream(Arc<Inner>);

struct Inner {
    url: Url,
    redacted: String,
    /// `scheme://host[:port]`, no userinfo.
    origin: String,
    /// The base URL's query, put in front of each request's own query.
    query: Option<String>,
    /// `Basic …` built from the URL's userinfo.
    authorization: Option<HeaderValue>,
    /// The URL's path without its trailing `/`, put in front of each request's path.
    path_prefix: String,
    /// `host[:port]` as the URL has it: the `Host` header of HTTP/1.1 requests.
    host_header: String,
}

impl Upstream {
    /// Checks the URL: scheme `http` or `https`, a host, no fragment.
    pub fn new(url: Url) -> Result<Self, GatewayError> {
        let redacted = redact(&url);
        let invalid = |reason: &str| GatewayError::InvalidUpstream {
            url: redacted.clone(),
            reason: reason.to_string(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        let Some(host) = url.host_str() else {
            return Err(invalid("the URL has no host"));
        };
        if url.fragment().is_some() {
            return Err(invalid("a fragment (#…) has no meaning in an upstream URL"));
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let path_prefix = url.path().trim_end_matches('/').to_string();
        let host_header = format!("{host}{port}");
        let origin = format!("{}://{host_header}", url.scheme());
        let authorization = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let credentials = format!(
                "{}:{}",
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or(""))
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                .map_err(|_| invalid("the userinfo cannot be sent as a header"))?;
            value.set_sensitive(true);
            Some(value)
        };
        let query = url.query().filter(|q| !q.is_empty()).map(str::to_string);
        Ok(Upstream(Arc::new(Inner {
            redacted,
            origin,
            query,
            authorization,
            path_prefix,
            host_header,
            url,
        })))
    }

    /// The full URL, secrets included. Never log it; use `Display` instead.
    pub fn url(&self) -> &Url {
        &self.0.url
    }

    /// The URL with its password and query values replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.0.redacted
    }

    /// The absolute URI of a request whose URI is `path_and_query` (e.g. `/beacon/5?x=1`):
    /// the base URL's path prefix is kept and its query parameters come first.
    pub fn join(&self, path_and_query: &Uri) -> Result<Uri, GatewayError> {
        let path = path_and_query.path();
        if !path.starts_with('/') {
            return Err(GatewayError::InvalidRequest(format!(
                "the request path must start with '/', got {path:?}"
            )));
        }
        let mut uri = BytesMut::with_capacity(self.0.origin.len() + 64);
        uri.extend_from_slice(self.0.origin.as_bytes());
        self.write_origin_form(path_and_query, &mut uri);
        Uri::from_maybe_shared(uri.freeze()).map_err(|e| {
            GatewayError::InvalidRequest(format!("cannot join {path:?} to {self}: {e}"))
        })
    }

    /// Appends the origin form of `join(path_and_query)` (path prefix, path, the base URL's
    /// query then the request's own) to `out`, for an HTTP/1.1 request line and for `join`.
    /// The caller has checked that the path starts with `/`.
    pub(crate) fn write_origin_form(&self, path_and_query: &Uri, out: &mut BytesMut) {
        out.extend_from_slice(self.0.path_prefix.as_bytes());
        out.extend_from_slice(path_and_query.path().as_bytes());
        let own = path_and_query.query().filter(|q| !q.is_empty());
        match (self.0.query.as_deref(), own) {
            (Some(base), Some(own)) => {
                out.extend_from_slice(b"?");
                out.extend_from_slice(base.as_bytes());
                out.extend_from_slice(b"&");
                out.extend_from_slice(own.as_bytes());
            }
            (Some(q), None) | (None, Some(q)) => {
                out.extend_from_slice(b"?");
                out.extend_from_slice(q.as_bytes());
            }
            (None, None) => {}
        }
    }

    /// `host[:port]`, the value of an HTTP/1.1 `Host` header for this upstream.
    pub(crate) fn host_header(&self) -> &str {
        &self.0.host_header
    }

    /// The `Authorization` header implied by the URL's userinfo (marked sensitive).
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.0.authorization.as_ref()
    }
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Self) -> bool {
        self.0.url == other.0.url
    }
}

impl Eq for Upstream {}

impl Hash for Upstream {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.url.hash(state)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.redacted)
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Upstream").field(&self.0.redacted).finish()
    }
}

/// The URL with `***` for the password and for every query value (a bare query word, which
/// may itself be a token, becomes `***` too).
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        // Cannot fail: the URL has a host, or it could not have a password.
        let _ = url.set_password(Some("***"));
    }
    if let Some(query) = url.query().map(str::to_string) {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}=***"),
                None if pair.is_empty() => String::new(),
                None => "***".to_string(),
            })
            .collect();
        url.set_query(Some(&redacted.join("&")));
    }
    url.to_string()
}

/// `%XX` decoding of a userinfo part (the `url` crate hands them out encoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(s: &str) -> Upstream {
        Upstream::new(Url::parse(s).unwrap()).unwrap()
    }

    fn join(base: &str, path: &str) -> String {
        up(base).join(&path.parse().unwrap()).unwrap().to_string()
    }

    #[test]
    fn joins_keep_the_path_prefix_and_base_query() {
        assert_eq!(
            join("http://127.0.0.1:9099", "/beacon/5"),
            "http://127.0.0.1:9099/beacon/5"
        );
        assert_eq!(
            join("http://node:9099/api/", "/beacon/5"),
            "http://node:9099/api/beacon/5"
        );
        assert_eq!(
            join("http://node/api", "/beacon/5?x=1"),
            "http://node/api/beacon/5?x=1"
        );
        assert_eq!(
            join("https://node/api?key=k", "/beacon/5?x=1"),
            "https://node/api/beacon/5?key=k&x=1"
        );
        assert_eq!(join("http://[::1]:80/", "/a"), "http://[::1]/a");
    }

    #[test]
    fn the_origin_form_and_host_of_a_request_line() {
        for (base, path, origin_form, host) in [
            ("http://127.0.0.1:9099", "/b/5", "/b/5", "127.0.0.1:9099"),
            ("http://node:9099/api/", "/b/5", "/api/b/5", "node:9099"),
            ("http://node/api", "/b/5?x=1", "/api/b/5?x=1", "node"),
            (
                "https://node/api?key=k",
                "/b/5?x=1",
                "/api/b/5?key=k&x=1",
                "node",
            ),
            ("https://node/api?key=k", "/b/5?", "/api/b/5?key=k", "node"),
            ("http://[::1]:80/", "/a?b", "/a?b", "[::1]"),
        ] {
            let u = up(base);
            let mut out = BytesMut::new();
            u.write_origin_form(&path.parse().unwrap(), &mut out);
            assert_eq!(&out[..], origin_form.as_bytes(), "{base} + {path}");
            assert_eq!(u.host_header(), host, "{base}");
        }
    }

    #[test]
    fn join_rejects_a_relative_path() {
        let err = up("http://node/").join(&Uri::from_static("*")).unwrap_err();
        assert!(matches!(err, GatewayError::InvalidRequest(_)), "{err}");
    }

    #[test]
    fn display_and_debug_redact_password_and_query_values() {
        let u = up("https://alice:s3cret@node.example:8443/p?apikey=XYZ&token&x=");
        let shown = u.to_string();
        assert_eq!(
            shown,
            "https://alice:***@node.example:8443/p?apikey=***&***&x=***"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        assert!(!format!("{u:?}").contains("XYZ"));
        // The request URI carries no userinfo; credentials travel in a sensitive header.
        let uri = u.join(&Uri::from_static("/a")).unwrap().to_string();
        assert_eq!(uri, "https://node.example:8443/p/a?apikey=XYZ&token&x=");
        let auth = u.authorization().unwrap();
        assert!(auth.is_sensitive());
        assert_eq!(
            auth,
            &format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
            )
        );
    }

    #[test]
    fn userinfo_is_percent_decoded() {
        let u = up("http://a%40b:p%3Aw@node/");
        let expected = base64::engine::general_purpose::STANDARD.encode("a@b:p:w");
        assert_eq!(u.authorization().unwrap(), &format!("Basic {expected}"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn rejects_other_schemes_and_fragments() {
        for bad in ["ftp://node/", "http://node/#x", "unix:/tmp/sock"] {
            let err = Upstream::new(Url::parse(bad).unwrap()).unwrap_err();
            assert!(
                matches!(err, GatewayError::InvalidUpstream { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn equality_is_by_url() {
        assert_eq!(up("http://a/"), up("http://a"));
        assert_ne!(up("http://a/"), up("http://b/"));
    }
}
