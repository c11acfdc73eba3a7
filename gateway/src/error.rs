//! Errors: what one try on one upstream can meet (`TryError`) and what a caller sees (`GatewayError`).

use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// Why one try on one upstream did not produce an answer. Every variant is a failure of that
/// upstream and the call moves on to the next usable upstream; every variant but `Abandoned`
/// counts towards its ejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryError {
    /// No connection could be made; the request never left this process.
    #[error("{0}")]
    Connect(String),
    /// The connection failed after the request may have been sent.
    #[error("{0}")]
    Transport(String),
    /// The per-try timeout elapsed (headers and body together).
    #[error("timed out after {}", fmt_duration(*.0))]
    Timeout(Duration),
    /// A 5xx answer (503 = the node is not in sync).
    #[error("HTTP {status}{}", snippet_suffix(body))]
    Status { status: StatusCode, body: String },
    /// The body is larger than `max-response-bytes`.
    #[error("response body exceeds the limit of {limit} bytes{}", content_length.map(|n| format!(" (Content-Length {n})")).unwrap_or_default())]
    BodyTooLarge {
        limit: u64,
        content_length: Option<u64>,
    },
    /// The body could not be read to its end.
    #[error("broken response body: {0}")]
    Body(String),
    /// The caller's response check rejected the answer.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// The try was still waiting when the routing gave up on its upstream for the reason
    /// given (another call's try failed there, or the health checker marked it unusable); the
    /// call moved on at once instead of waiting for its own timeout. It is the consequence of
    /// a failure already counted, so it does not count towards ejection again.
    #[error("abandoned: {}", abandoned_text(*.0))]
    Abandoned(FailoverReason),
}

fn abandoned_text(reason: FailoverReason) -> String {
    match reason {
        FailoverReason::Down => "failed over while waiting: the upstream is down".to_string(),
        FailoverReason::Unsynced => {
            "failed over while waiting: the upstream is not synced".to_string()
        }
        FailoverReason::Ejected => "failed over while waiting: the upstream is ejected".to_string(),
        other => format!(
            "failed over after another call's try failed ({})",
            other.as_str()
        ),
    }
}

impl TryError {
    /// The fail-over reason this failure is counted under.
    pub fn reason(&self) -> FailoverReason {
        match self {
            TryError::Connect(_) | TryError::Transport(_) => FailoverReason::Transport,
            TryError::Timeout(_) => FailoverReason::Timeout,
            TryError::Status { .. } => FailoverReason::Status5xx,
            TryError::BodyTooLarge { .. } | TryError::Body(_) | TryError::Invalid(_) => {
                FailoverReason::InvalidResponse
            }
            // The reason the upstream was given up on, so a fail-over that an abandoned call
            // ends up recording carries the same label as the failure that caused it.
            TryError::Abandoned(reason) => *reason,
        }
    }

    /// Whether the upstream may have received (and acted on) the request. Only a connect
    /// failure proves it did not; a caller relaying non-idempotent requests can use this.
    pub fn may_have_reached_upstream(&self) -> bool {
        !matches!(self, TryError::Connect(_))
    }
}

/// Why the active upstream changed (label `reason` of `smesher_failovers_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverReason {
    /// Its probes failed.
    Down,
    /// It is not synced or trails the wall-clock layer too far.
    Unsynced,
    /// Passive outlier detection ejected it.
    Ejected,
    /// A try met a connect or connection error.
    Transport,
    /// A try timed out.
    Timeout,
    /// A try got a 5xx.
    Status5xx,
    /// A try got an over-size or broken body, or one the caller's check rejected.
    InvalidResponse,
}

impl FailoverReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverReason::Down => "down",
            FailoverReason::Unsynced => "unsynced",
            FailoverReason::Ejected => "ejected",
            FailoverReason::Transport => "transport",
            FailoverReason::Timeout => "timeout",
            FailoverReason::Status5xx => "status_5xx",
            FailoverReason::InvalidResponse => "invalid_response",
        }
    }
}

/// Where an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The upstreams failed or are unusable.
    Upstream,
    /// The caller's request or configuration is wrong.
    Client,
    /// The process around the gateway (runtime, metrics registry).
    Internal,
}

/// What a caller of the gateway sees.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No upstream answered: each is listed with its failure or why it was not tried.
    #[error("all {pool} upstreams failed: {}", List(failures))]
    AllFailed {
        pool: String,
        failures: Vec<UpstreamFailure>,
    },
    /// `request-timeout` elapsed before any upstream answered.
    #[error("{pool} request timed out after {} (all tries)", fmt_duration(*after))]
    Timeout { pool: String, after: Duration },
    /// The request cannot be sent (e.g. its URI is not just a path and query).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An upstream URL is not usable.
    #[error("invalid upstream {url}: {reason}")]
    InvalidUpstream { url: String, reason: String },
    /// The upstream list is empty or names an upstream twice.
    #[error("invalid upstream list: {0}")]
    InvalidUpstreamList(String),
    /// Settings out of range; each problem names its key.
    #[error("invalid gateway settings: {}", .0.join("; "))]
    InvalidSettings(Vec<String>),
    /// `Gateway::new` was called outside a tokio runtime.
    #[error("the gateway must be created inside a tokio runtime")]
    NoRuntime,
    /// The metrics could not be registered (e.g. registered twice in one registry).
    #[error("cannot register gateway metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl GatewayError {
    /// Whether the same call may succeed if made again later: true for upstream trouble,
    /// false for a bad request or configuration, which will fail the same way.
    pub fn is_retryable(&self) -> bool {
        self.origin() == ErrorOrigin::Upstream
    }

    pub fn origin(&self) -> ErrorOrigin {
        match self {
            GatewayError::AllFailed { .. } | GatewayError::Timeout { .. } => ErrorOrigin::Upstream,
            GatewayError::InvalidRequest(_)
            | GatewayError::InvalidUpstream { .. }
            | GatewayError::InvalidUpstreamList(_)
            | GatewayError::InvalidSettings(_) => ErrorOrigin::Client,
            GatewayError::NoRuntime | GatewayError::Metrics(_) => ErrorOrigin::Internal,
        }
    }
}

/// One upstream in an `AllFailed` error.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamFailure {
    /// The redacted URL.
    pub upstream: String,
    pub reason: FailureReason,
}

/// Why an upstream did not answer a call.
#[derive(Debug, Clone, PartialEq)]
pub enum FailureReason {
    /// It was tried and failed.
    Failed(TryError),
    /// It was skipped: its probes fail.
    Down { last_error: Option<String> },
    /// It was skipped: it is not synced or trails too far.
    Unsynced { lag: Option<u32> },
    /// It was skipped: it is ejected for this much longer.
    Ejected { remaining: Duration },
    /// It was usable but the retry budget was spent.
    RetryBudgetExhausted,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Failed(e) => write!(f, "{e}"),
            FailureReason::Down { last_error: None } => f.write_str("down"),
            FailureReason::Down {
                last_error: Some(e),
            } => write!(f, "down ({e})"),
            FailureReason::Unsynced { lag: Some(lag) } => {
                write!(f, "unsynced ({lag} layers behind)")
            }
            FailureReason::Unsynced { lag: None } => f.write_str("unsynced"),
            FailureReason::Ejected { remaining } => {
                write!(f, "ejected for another {}", fmt_duration(*remaining))
            }
            FailureReason::RetryBudgetExhausted => f.write_str("not tried: retry budget exhausted"),
        }
    }
}

impl fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.upstream, self.reason)
    }
}

struct List<'a>(&'a [UpstreamFailure]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

fn snippet_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// `2s`, `1.5s`, `250ms`: short enough for error texts.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        let ms = d.as_secs_f64() * 1000.0;
        if ms.fract() == 0.0 || ms >= 10.0 {
            format!("{}ms", ms.round())
        } else {
            format!("{ms:.1}ms")
        }
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_failed_names_every_upstream() {
        let err = GatewayError::AllFailed {
            pool: "node-service".into(),
            failures: vec![
                UpstreamFailure {
                    upstream: "http://127.0.0.1:1234/".into(),
                    reason: FailureReason::Failed(TryError::Connect("connection refused".into())),
                },
                UpstreamFailure {
                    upstream: "http://b/".into(),
                    reason: FailureReason::Failed(TryError::Timeout(Duration::from_secs(2))),
                },
                UpstreamFailure {
                    upstream: "http://c/".into(),
                    reason: FailureReason::Unsynced { lag: Some(7) },
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "all node-service upstreams failed: http://127.0.0.1:1234/: connection refused; \
             http://b/: timed out after 2s; http://c/: unsynced (7 layers behind)"
        );
        assert!(err.is_retryable());
        assert_eq!(err.origin(), ErrorOrigin::Upstream);
        assert!(!GatewayError::InvalidRequest("x".into()).is_retryable());
        assert!(!GatewayError::NoRuntime.is_retryable());
    }

    #[test]
    fn try_errors_read_well() {
        let status = TryError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "service not ready: not in sync with the network".into(),
        };
        assert_eq!(
            status.to_string(),
            "HTTP 503 Service Unavailable: service not ready: not in sync with the network"
        );
        assert_eq!(status.reason().as_str(), "status_5xx");
        let big = TryError::BodyTooLarge {
            limit: 1024,
            content_length: Some(629145600),
        };
        assert_eq!(
            big.to_string(),
            "response body exceeds the limit of 1024 bytes (Content-Length 629145600)"
        );
        assert_eq!(big.reason().as_str(), "invalid_response");
        let abandoned = TryError::Abandoned(FailoverReason::Timeout);
        assert_eq!(
            abandoned.to_string(),
            "abandoned: failed over after another call's try failed (timeout)"
        );
        assert_eq!(abandoned.reason().as_str(), "timeout");
        assert!(abandoned.may_have_reached_upstream());
        let abandoned = TryError::Abandoned(FailoverReason::Down);
        assert_eq!(
            abandoned.to_string(),
            "abandoned: failed over while waiting: the upstream is down"
        );
        assert_eq!(abandoned.reason().as_str(), "down");
        assert!(!TryError::Connect("refused".into()).may_have_reached_upstream());
        assert!(TryError::Timeout(Duration::from_secs(1)).may_have_reached_upstream());
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(fmt_duration(Duration::from_secs(2)), "2s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(fmt_duration(Duration::from_nanos(4_200_000_001)), "4.2s");
    }
}
