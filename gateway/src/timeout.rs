//! `Timeout`: bounds a whole call, every try included (`request-timeout`).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::error::GatewayError;

#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    pool: Arc<str>,
    after: Duration,
}

#[derive(Clone, Debug)]
pub struct TimeoutLayer {
    pool: Arc<str>,
    after: Duration,
}

impl TimeoutLayer {
    pub fn new(pool: Arc<str>, after: Duration) -> Self {
        TimeoutLayer { pool, after }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            pool: self.pool.clone(),
            after: self.after,
        }
    }
}

impl<S, R> Service<R> for Timeout<S>
where
    S: Service<R, Error = GatewayError> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<S::Response, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        // Readiness is awaited inside the deadline, on a clone, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let inner = self.inner.clone();
        let pool = self.pool.clone();
        let after = self.after;
        Box::pin(async move {
            tokio::time::timeout(after, inner.oneshot(req))
                .await
                .unwrap_or_else(|_| {
                    Err(GatewayError::Timeout {
                        pool: pool.to_string(),
                        after,
                    })
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn times_out_a_slow_call_and_passes_a_fast_one() {
        let slow = tower::service_fn(|d: Duration| async move {
            tokio::time::sleep(d).await;
            Ok::<_, GatewayError>(d)
        });
        let svc = TimeoutLayer::new("p".into(), Duration::from_secs(10)).layer(slow);
        assert_eq!(
            svc.clone().oneshot(Duration::from_secs(9)).await.unwrap(),
            Duration::from_secs(9)
        );
        let err = svc.oneshot(Duration::from_secs(11)).await.unwrap_err();
        assert_eq!(err.to_string(), "p request timed out after 10s (all tries)");
        assert!(err.is_retryable());
    }
}
