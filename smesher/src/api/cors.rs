//! CORS for the JSON listener per `grpc-cors-allowed-origins`: `*` lets every origin in; a
//! browser request from an origin not listed is refused with 403, preflight included.

use http::header::{self, HeaderMap, HeaderValue};

/// The allowed origins.
#[derive(Debug, Clone)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin` header: not a cross-origin browser request.
    NoOrigin,
    /// Answer with this `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// The origin is not allowed; the text says which.
    Refused(String),
}

impl Cors {
    /// From `grpc-cors-allowed-origins`; an empty list allows no cross-origin request.
    pub fn new(origins: &[String]) -> Self {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Verdict::NoOrigin;
        };
        if self.any {
            return Verdict::Allowed(HeaderValue::from_static("*"));
        }
        let text = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if self.origins.contains(&text) {
            Verdict::Allowed(origin.clone())
        } else {
            Verdict::Refused(format!(
                "origin {:?} is not in grpc-cors-allowed-origins",
                String::from_utf8_lossy(origin.as_bytes())
            ))
        }
    }

    /// Adds the headers of an allowed answer.
    pub fn decorate(&self, headers: &mut HeaderMap, verdict: &Verdict) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        if let Verdict::Allowed(origin) = verdict {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if !self.any {
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
    }

    /// The headers of an allowed preflight answer.
    pub fn preflight(&self, request: &HeaderMap, verdict: &Verdict, out: &mut HeaderMap) {
        self.decorate(out, verdict);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        h
    }

    #[test]
    fn star_allows_all_and_a_list_allows_only_its_origins() {
        let any = Cors::new(&["*".into()]);
        assert_eq!(
            any.check(&with_origin("https://x.example")),
            Verdict::Allowed(HeaderValue::from_static("*"))
        );
        assert_eq!(any.check(&HeaderMap::new()), Verdict::NoOrigin);
        let list = Cors::new(&["https://app.example/".into()]);
        assert_eq!(
            list.check(&with_origin("https://APP.example")),
            Verdict::Allowed(HeaderValue::from_static("https://APP.example"))
        );
        assert!(matches!(
            list.check(&with_origin("https://evil.example")),
            Verdict::Refused(m) if m.contains("evil.example")
        ));
        let none = Cors::new(&[]);
        assert!(matches!(
            none.check(&with_origin("https://app.example")),
            Verdict::Refused(_)
        ));
    }
}
