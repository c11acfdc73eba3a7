//! `ActivePassive`: calls go to one sticky active upstream; when it is unusable the next usable
//! one by priority takes over at once, a failed try moves on to the next usable upstream within
//! the retry budget, and traffic fails back to a higher-priority upstream only after it has
//! been healthy for `failback-after`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::error::{
    fmt_duration, FailoverReason, FailureReason, GatewayError, TryError, UpstreamFailure,
};
use crate::metrics::GatewayMetrics;
use crate::pool::{AbandonSignal, ActiveSlot, Member, Usability};
use crate::retry_budget::RetryBudget;
use crate::settings::Settings;
use crate::upstream::Upstream;

/// The caller's judgement of an answer: `Err(why)` makes it a failure of that upstream, and the
/// call moves on (a JSON client passes its parser). It sees every non-5xx answer, so a check
/// that expects 200 must let the 404s it wants to see through.
pub type ResponseCheck = Arc<dyn Fn(&http::Response<Bytes>) -> Result<(), String> + Send + Sync>;

/// One call through the gateway: a request whose URI is just a path and query, and an optional
/// response check.
pub struct Call {
    pub request: http::Request<Bytes>,
    pub check: Option<ResponseCheck>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("request", &self.request)
            .field("check", &self.check.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// One try: the request for one upstream. The inner service joins the path to its base URL.
#[derive(Debug)]
pub struct TryRequest {
    pub upstream: Upstream,
    pub request: http::Request<Bytes>,
}

/// What an `ActivePassive` routes over; one per configuration snapshot.
#[derive(Debug)]
pub(crate) struct Routing {
    pool: Arc<str>,
    /// In priority order.
    members: Arc<[Arc<Member>]>,
    settings: Arc<Settings>,
    active: Arc<ActiveSlot>,
    budget: Arc<RetryBudget>,
    metrics: GatewayMetrics,
    /// Where the calls whose try was abandoned wait for a turn before their next try.
    gate: TurnGate,
}

/// How many calls whose try was abandoned may be on their next try at once. When the routing
/// gives up on a member, every call waiting there would move on together: let loose at once,
/// they reach the next upstream as one burst (each on a new connection, each closing the old
/// one) and all of them, the oldest included, finish near its end. Taking turns, oldest first,
/// the ones with the least time left before their own timeout go first and the burst is
/// spread. With four, on the fail-over load bench (bench/README.md), the oldest calls got
/// their turn within about a millisecond and the whole release took about 12 ms; other
/// sizes were not measured.
pub(crate) const ABANDONED_IN_FLIGHT: usize = 4;

impl Routing {
    pub(crate) fn new(
        pool: Arc<str>,
        members: Arc<[Arc<Member>]>,
        settings: Arc<Settings>,
        active: Arc<ActiveSlot>,
        budget: Arc<RetryBudget>,
        metrics: GatewayMetrics,
    ) -> Self {
        Routing {
            pool,
            members,
            settings,
            active,
            budget,
            metrics,
            gate: TurnGate::new(ABANDONED_IN_FLIGHT),
        }
    }
}

/// Active-passive routing over an inner service that makes one try on one upstream.
#[derive(Debug)]
pub struct ActivePassive<S> {
    inner: S,
    routing: Arc<Routing>,
}

impl<S: Clone> Clone for ActivePassive<S> {
    fn clone(&self) -> Self {
        ActivePassive {
            inner: self.inner.clone(),
            routing: self.routing.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActivePassiveLayer {
    routing: Arc<Routing>,
}

impl ActivePassiveLayer {
    /// Built by `Gateway`, which owns the upstream records it routes over.
    pub(crate) fn new(routing: Routing) -> Self {
        ActivePassiveLayer {
            routing: Arc::new(routing),
        }
    }
}

impl<S> Layer<S> for ActivePassiveLayer {
    type Service = ActivePassive<S>;

    fn layer(&self, inner: S) -> ActivePassive<S> {
        ActivePassive {
            inner,
            routing: self.routing.clone(),
        }
    }
}

impl<S> Service<Call> for ActivePassive<S>
where
    S: Service<TryRequest, Response = http::Response<Bytes>, Error = TryError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Bytes>;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<http::Response<Bytes>, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        // Each try awaits the readiness of its own clone of the inner service.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let inner = self.inner.clone();
        let routing = self.routing.clone();
        Box::pin(async move { routing.route(inner, call).await })
    }
}

impl Routing {
    async fn route<S>(&self, inner: S, call: Call) -> Result<http::Response<Bytes>, GatewayError>
    where
        S: Service<TryRequest, Response = http::Response<Bytes>, Error = TryError> + Clone,
    {
        self.budget.deposit();
        let (candidates, first_signal) = self.plan(Instant::now())?;
        let mut first_signal = Some(first_signal);
        let mut failed: Vec<(usize, TryError)> = Vec::new();
        let mut budget_exhausted = false;
        // The turn an abandoned try won at the gate, held during the next try.
        let mut won: Option<Turn<'_>> = None;
        for (n, &index) in candidates.iter().enumerate() {
            if n > 0 {
                if !self.budget.withdraw() {
                    self.metrics.record_budget_exhausted(&self.pool);
                    tracing::warn!(pool = %self.pool, "retry budget exhausted");
                    budget_exhausted = true;
                    break;
                }
                self.metrics.record_retry(&self.pool);
            }
            // Given back when this try ends, whatever its outcome.
            let _turn = won.take();
            let member = &self.members[index];
            // Subscribed before the try starts, so an abandon sent while it waits is seen and
            // one sent before is not. The first candidate's was taken by `plan` under the
            // active-slot lock, so a fail-over away from it cannot slip in between.
            let signal = first_signal
                .take()
                .unwrap_or_else(|| member.abandon_signal());
            let started = Instant::now();
            let request = TryRequest {
                upstream: member.upstream.clone(),
                request: clone_request(&call.request),
            };
            let mut attempt = std::pin::pin!(inner.clone().oneshot(request));
            let outcome = tokio::select! {
                // An answer that is already there wins over an abandon that came with it.
                biased;
                outcome = &mut attempt => {
                    outcome.and_then(|response| judge(response, call.check.as_ref()))
                }
                // With nowhere to move on to, the call ends at once.
                reason = signal.abandoned() => if n + 1 == candidates.len() {
                    Err(TryError::Abandoned(reason))
                } else {
                    let deadline = started + self.settings.per_try_timeout;
                    match self.wait_for_turn(attempt.as_mut(), deadline).await {
                        AfterAbandon::Turn(turn) => {
                            won = turn;
                            Err(TryError::Abandoned(reason))
                        }
                        // A good answer that came while waiting is taken; anything else is
                        // the abandon's consequence, as if the try had moved on at once.
                        AfterAbandon::Answered(outcome) => outcome
                            .and_then(|response| judge(response, call.check.as_ref()))
                            .map_err(|_| TryError::Abandoned(reason)),
                    }
                }
            };
            let now = Instant::now();
            let latency = now.saturating_duration_since(started);
            match outcome {
                Ok(response) => {
                    member.on_try_success(latency);
                    if let Some((first, error)) = failed.first() {
                        self.promote(*first, index, error.reason());
                    }
                    return Ok(response);
                }
                Err(error @ TryError::Abandoned(_)) => {
                    // Not fed to `on_try_failure`: the failure that made the routing give up
                    // on this member was already counted there (a try that failed, or the
                    // probes), and counting each abandoned try again would eject a healthy
                    // member after one slow answer when several calls were waiting on it. Its
                    // last error also keeps naming that cause. The call still lists it as a
                    // failure of this member and moves on under the same retry budget.
                    tracing::debug!(
                        pool = %self.pool,
                        upstream = %member.upstream,
                        error = %error,
                        "try abandoned"
                    );
                    failed.push((index, error));
                }
                Err(error) => {
                    tracing::warn!(
                        pool = %self.pool,
                        upstream = %member.upstream,
                        error = %error,
                        "try failed"
                    );
                    // The health gauges catch up at the next probe round. An ejection also
                    // abandons the other tries waiting on this member.
                    if member.on_try_failure(&error, latency, &self.settings, now) {
                        tracing::warn!(
                            pool = %self.pool,
                            upstream = %member.upstream,
                            "ejected after {} failed calls in a row",
                            self.settings.eject_after
                        );
                    }
                    failed.push((index, error));
                }
            }
        }
        Err(self.all_failed(failed, budget_exhausted, Instant::now()))
    }

    /// A call whose try was abandoned waits here for its turn at the gate, earliest
    /// `deadline` first (the time that try's own timeout fires: the oldest try first). The
    /// abandoned try stays in flight meanwhile, so the calls that wait cost nothing but a
    /// place in the queue, and their connections are closed one turn at a time. The wait
    /// ends without a turn at `deadline`, or when the try ends by itself before its turn
    /// comes: a call is never later than it would have been without the abandon.
    async fn wait_for_turn<F>(&self, attempt: Pin<&mut F>, deadline: Instant) -> AfterAbandon<'_>
    where
        F: Future<Output = Result<http::Response<Bytes>, TryError>>,
    {
        let mut waiting = self.gate.enqueue(deadline);
        tokio::select! {
            biased;
            outcome = attempt => AfterAbandon::Answered(outcome),
            turn = &mut waiting => AfterAbandon::Turn(Some(turn)),
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!(pool = %self.pool, "no turn before the try's own timeout");
                AfterAbandon::Turn(None)
            }
        }
    }

    /// The upstreams to try, in order: the active one (chosen again if it became unusable,
    /// or failed back if a higher-priority one is stable), then the other usable ones,
    /// healthy before unknown, each by priority; with the first one's abandon signal.
    /// Failing over away from an unusable active abandons the tries still waiting on it.
    fn plan(&self, now: Instant) -> Result<(Vec<usize>, AbandonSignal<'_>), GatewayError> {
        let usability: Vec<Usability> = self.members.iter().map(|m| m.usability(now)).collect();
        let order: Vec<usize> = (0..usability.len())
            .filter(|&i| usability[i] == Usability::Healthy)
            .chain((0..usability.len()).filter(|&i| usability[i] == Usability::Unknown))
            .collect();
        let Some(&best) = order.first() else {
            return Err(self.all_failed(Vec::new(), false, now));
        };

        let mut active = self.active.lock();
        let current = active
            .as_ref()
            .and_then(|a| self.members.iter().position(|m| &m.upstream == a));
        let chosen = match current {
            Some(i) if usability[i].is_usable() => self.failback_target(i, &usability, now),
            Some(i) => {
                let reason = match &usability[i] {
                    Usability::Unusable(FailureReason::Unsynced { .. }) => FailoverReason::Unsynced,
                    Usability::Unusable(FailureReason::Ejected { .. }) => FailoverReason::Ejected,
                    _ => FailoverReason::Down,
                };
                tracing::warn!(
                    pool = %self.pool,
                    from = %self.members[i].upstream,
                    to = %self.members[best].upstream,
                    reason = reason.as_str(),
                    "fail-over"
                );
                self.metrics.record_failover(&self.pool, reason);
                self.members[i].abandon(reason);
                best
            }
            // First call, or the active upstream was removed by a reload.
            None => best,
        };
        if current != Some(chosen) {
            let new = self.members[chosen].upstream.clone();
            // An active upstream that a reload removed has no series left to reset.
            let old = current.map(|i| self.members[i].upstream.redacted());
            self.metrics.set_active(&self.pool, old, new.redacted());
            *active = Some(new);
        }
        // Under the lock: a fail-over away from `chosen` (here or in `promote`) either came
        // before, and `chosen` would not be it, or comes after and reaches this try.
        let signal = self.members[chosen].abandon_signal();
        drop(active);

        let mut candidates = Vec::with_capacity(order.len());
        candidates.push(chosen);
        candidates.extend(order.into_iter().filter(|&i| i != chosen));
        Ok((candidates, signal))
    }

    /// The highest-priority upstream above `active` that has been stable for `failback-after`,
    /// else `active`.
    fn failback_target(&self, active: usize, usability: &[Usability], now: Instant) -> usize {
        let after = self.settings.failback_after;
        if after.is_zero() {
            return active;
        }
        let target = (0..active).find(|&j| {
            usability[j] == Usability::Healthy
                && self.members[j].stable_for(now).is_some_and(|d| d >= after)
        });
        match target {
            Some(j) => {
                tracing::info!(
                    pool = %self.pool,
                    from = %self.members[active].upstream,
                    to = %self.members[j].upstream,
                    "fail-back after {} healthy",
                    fmt_duration(after)
                );
                j
            }
            None => active,
        }
    }

    /// The first try (on the active upstream) failed and `index` answered: it becomes active, unless
    /// another call changed the active upstream meanwhile. The tries still waiting on the old
    /// active upstream are abandoned: their calls move on now instead of at their own timeout.
    fn promote(&self, failed: usize, index: usize, reason: FailoverReason) {
        let mut active = self.active.lock();
        if active.as_ref() != Some(&self.members[failed].upstream) {
            return;
        }
        let new = self.members[index].upstream.clone();
        tracing::warn!(
            pool = %self.pool,
            from = %self.members[failed].upstream,
            to = %new,
            reason = reason.as_str(),
            "fail-over"
        );
        self.metrics.record_failover(&self.pool, reason);
        self.metrics.set_active(
            &self.pool,
            Some(self.members[failed].upstream.redacted()),
            new.redacted(),
        );
        *active = Some(new);
        self.members[failed].abandon(reason);
    }

    /// Every upstream with why it gave no answer, in priority order.
    fn all_failed(
        &self,
        mut failed: Vec<(usize, TryError)>,
        budget_exhausted: bool,
        now: Instant,
    ) -> GatewayError {
        let failures = self
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| {
                let reason = match failed.iter().position(|(j, _)| *j == i) {
                    Some(k) => FailureReason::Failed(failed.swap_remove(k).1),
                    None => match member.usability(now) {
                        Usability::Unusable(reason) => reason,
                        _ if budget_exhausted => FailureReason::RetryBudgetExhausted,
                        // Became usable while the call was failing elsewhere.
                        _ => FailureReason::Down { last_error: None },
                    },
                };
                UpstreamFailure {
                    upstream: member.upstream.redacted().to_string(),
                    reason,
                }
            })
            .collect();
        GatewayError::AllFailed {
            pool: self.pool.to_string(),
            failures,
        }
    }
}

/// How the wait of an abandoned try for its turn ended.
enum AfterAbandon<'a> {
    /// Its turn came (`None`: its own deadline came first); the call moves on.
    Turn(Option<Turn<'a>>),
    /// The abandoned try itself ended first, with this outcome.
    Answered(Result<http::Response<Bytes>, TryError>),
}

/// A fair gate with a fixed number of turns, handed out by the order of a key (earliest first)
/// rather than by arrival. Only the calls whose try was abandoned go through it.
#[derive(Debug)]
struct TurnGate {
    state: Mutex<GateState>,
}

/// Ties between equal keys are broken by arrival.
type GateKey = (Instant, u64);

#[derive(Debug)]
struct GateState {
    /// Turns nobody holds or has been handed.
    free: usize,
    arrivals: u64,
    /// Queued waiters, earliest key first, with the waker of their last poll (if any).
    queue: BTreeMap<GateKey, Option<Waker>>,
    /// Waiters handed a turn that have not picked it up yet.
    handed: Vec<GateKey>,
}

impl GateState {
    /// Hands the free turns to the earliest queued waiters.
    fn hand_out(&mut self) {
        while self.free > 0 {
            let Some((key, waker)) = self.queue.pop_first() else {
                break;
            };
            self.free -= 1;
            self.handed.push(key);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// A turn came back: the earliest waiter gets it, if any.
    fn give_back(&mut self) {
        self.free += 1;
        self.hand_out();
    }

    fn pick_up(&mut self, key: GateKey) -> bool {
        match self.handed.iter().position(|k| *k == key) {
            Some(i) => {
                self.handed.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

impl TurnGate {
    fn new(turns: usize) -> Self {
        TurnGate {
            state: Mutex::new(GateState {
                free: turns,
                arrivals: 0,
                queue: BTreeMap::new(),
                handed: Vec::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        // The state is consistent between statements; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a waiter under `key`; when first polled it takes a free turn if no waiter with
    /// an earlier key is queued. The abandoned tries are woken oldest first (see
    /// `Member::abandon`), so they mostly queue in order; the key puts right the few that
    /// the scheduler runs out of order.
    fn enqueue(&self, key: Instant) -> Waiting<'_> {
        let mut state = self.state();
        let key = (key, state.arrivals);
        state.arrivals += 1;
        state.queue.insert(key, None);
        Waiting {
            gate: self,
            key,
            done: false,
        }
    }
}

/// A queued waiter; resolves to its turn. Dropped before that, it leaves the queue (and passes
/// on a turn it was handed).
#[derive(Debug)]
struct Waiting<'a> {
    gate: &'a TurnGate,
    key: GateKey,
    done: bool,
}

impl<'a> Future for Waiting<'a> {
    type Output = Turn<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<'a>> {
        if self.done {
            // Not polled again after it resolved: `timeout_at` stops at the first answer.
            return Poll::Pending;
        }
        let gate = self.gate;
        let mut state = gate.state();
        state.hand_out();
        if state.pick_up(self.key) {
            drop(state);
            self.done = true;
            return Poll::Ready(Turn { gate });
        }
        if let Some(slot) = state.queue.get_mut(&self.key) {
            match slot {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.gate.state();
        if state.queue.remove(&self.key).is_none() && state.pick_up(self.key) {
            state.give_back();
        }
    }
}

/// A turn at the gate, given back when dropped.
#[derive(Debug)]
struct Turn<'a> {
    gate: &'a TurnGate,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.gate.state().give_back();
    }
}

/// 5xx answers and answers the caller's check rejects are failures of the upstream; anything
/// else (2xx, 3xx, 4xx) is an answer.
fn judge(
    response: http::Response<Bytes>,
    check: Option<&ResponseCheck>,
) -> Result<http::Response<Bytes>, TryError> {
    if response.status().is_server_error() {
        return Err(TryError::Status {
            status: response.status(),
            body: snippet(response.body()),
        });
    }
    if let Some(check) = check {
        check(&response).map_err(TryError::Invalid)?;
    }
    Ok(response)
}

/// The start of an error body, printable and short, for error texts.
fn snippet(body: &Bytes) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut out: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > MAX {
        out.push('…');
    }
    out
}

/// A copy to send again: the body is `Bytes`, so copies share it.
fn clone_request(request: &http::Request<Bytes>) -> http::Request<Bytes> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    copy
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use prometheus::Registry;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::health::{ProbeError, ProbeReport};
    use crate::metrics::tests::value;

    const A: &str = "http://a/";
    const B: &str = "http://b/";
    const C: &str = "http://c/";

    /// What a fake upstream does with a try.
    #[derive(Clone)]
    enum Behaviour {
        Status(u16, &'static str),
        Fail(TryError),
        /// Accepts and never answers: the try times out after this long (the per-try timeout
        /// of the real stack).
        Hang(Duration),
        /// Answers 200 "ok" after this long.
        Slow(Duration),
    }

    /// A hand-written fake inner service: per-upstream behaviour and a log of tries.
    #[derive(Clone, Default)]
    struct Fake {
        behaviour: Arc<Mutex<HashMap<String, Behaviour>>>,
        tries: Arc<Mutex<Vec<String>>>,
        /// Every try as upstream and path, in the order they started.
        paths: Arc<Mutex<Vec<(String, String)>>>,
        /// Per upstream: tries in flight now, and the most at once.
        in_flight: Arc<Mutex<HashMap<String, (usize, usize)>>>,
    }

    impl Fake {
        fn set(&self, url: &str, b: Behaviour) {
            self.behaviour.lock().unwrap().insert(url.into(), b);
        }

        fn take_tries(&self) -> Vec<String> {
            std::mem::take(&mut *self.tries.lock().unwrap())
        }

        /// The paths of the calls tried on `url`, in the order those tries started.
        fn paths_on(&self, url: &str) -> Vec<String> {
            let paths = self.paths.lock().unwrap();
            paths
                .iter()
                .filter(|(u, _)| u == url)
                .map(|(_, p)| p.clone())
                .collect()
        }

        fn most_in_flight(&self, url: &str) -> usize {
            self.in_flight.lock().unwrap().get(url).map_or(0, |c| c.1)
        }
    }

    /// Counts a try in flight on one upstream until dropped.
    struct InFlight(Arc<Mutex<HashMap<String, (usize, usize)>>>, String);

    impl InFlight {
        fn new(map: &Arc<Mutex<HashMap<String, (usize, usize)>>>, url: &str) -> Self {
            let mut m = map.lock().unwrap();
            let c = m.entry(url.to_string()).or_default();
            c.0 += 1;
            c.1 = c.1.max(c.0);
            InFlight(map.clone(), url.to_string())
        }
    }

    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.lock().unwrap().get_mut(&self.1).unwrap().0 -= 1;
        }
    }

    impl Service<TryRequest> for Fake {
        type Response = http::Response<Bytes>;
        type Error = TryError;
        type Future = BoxFuture<'static, Result<http::Response<Bytes>, TryError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TryError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: TryRequest) -> Self::Future {
            let url = req.upstream.url().to_string();
            self.tries.lock().unwrap().push(url.clone());
            self.paths
                .lock()
                .unwrap()
                .push((url.clone(), req.request.uri().path().to_string()));
            let in_flight = InFlight::new(&self.in_flight, &url);
            let b = self
                .behaviour
                .lock()
                .unwrap()
                .get(&url)
                .cloned()
                .unwrap_or(Behaviour::Status(200, "ok"));
            Box::pin(async move {
                let _in_flight = in_flight;
                match b {
                    Behaviour::Status(code, body) => Ok(http::Response::builder()
                        .status(code)
                        .body(Bytes::from_static(body.as_bytes()))
                        .unwrap()),
                    Behaviour::Fail(e) => Err(e),
                    Behaviour::Hang(timeout) => {
                        tokio::time::sleep(timeout).await;
                        Err(TryError::Timeout(timeout))
                    }
                    Behaviour::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        Ok(http::Response::new(Bytes::from_static(b"ok")))
                    }
                }
            })
        }
    }

    /// A call in its own task: its result and the time it ended.
    type SpawnedCall = JoinHandle<(Result<http::Response<Bytes>, GatewayError>, Instant)>;

    struct Harness {
        members: Arc<[Arc<Member>]>,
        settings: Arc<Settings>,
        active: Arc<ActiveSlot>,
        registry: Registry,
        fake: Fake,
        svc: ActivePassive<Fake>,
    }

    fn harness(urls: &[&str], settings: Settings) -> Harness {
        let members: Arc<[Arc<Member>]> = urls
            .iter()
            .map(|u| Member::new(Upstream::new(u.parse().unwrap()).unwrap()))
            .collect();
        let settings = Arc::new(settings);
        let registry = Registry::new();
        let metrics = GatewayMetrics::register(&registry).unwrap();
        let active = Arc::new(ActiveSlot::default());
        let budget = Arc::new(RetryBudget::new(
            settings.retry_budget_ttl,
            settings.retry_budget_min_per_second,
            settings.retry_budget_ratio,
        ));
        let routing = Routing::new(
            "node-service".into(),
            members.clone(),
            settings.clone(),
            active.clone(),
            budget,
            metrics,
        );
        let fake = Fake::default();
        let svc = ActivePassiveLayer::new(routing).layer(fake.clone());
        Harness {
            members,
            settings,
            active,
            registry,
            fake,
            svc,
        }
    }

    impl Harness {
        fn member(&self, url: &str) -> &Arc<Member> {
            self.members
                .iter()
                .find(|m| m.upstream.url().as_str() == url)
                .unwrap()
        }

        /// Feeds enough identical probe results to settle the state whatever rise/fall are.
        fn probe(&self, url: &str, result: Result<ProbeReport, ProbeError>) {
            for _ in 0..self.settings.rise.max(self.settings.fall) {
                self.member(url).observe_probe(
                    &result,
                    Duration::ZERO,
                    &self.settings,
                    Instant::now(),
                );
            }
        }

        fn healthy(&self, url: &str) {
            self.probe(url, Ok(ProbeReport::synced()));
        }

        fn down(&self, url: &str) {
            self.probe(url, Err(ProbeError::failed("connection refused")));
        }

        fn unsynced(&self, url: &str) {
            self.probe(
                url,
                Ok(ProbeReport {
                    synced: false,
                    current_layer: Some(5),
                    wall_layer: Some(9),
                }),
            );
        }

        async fn call(&self) -> Result<http::Response<Bytes>, GatewayError> {
            self.call_checked(None).await
        }

        async fn call_checked(
            &self,
            check: Option<ResponseCheck>,
        ) -> Result<http::Response<Bytes>, GatewayError> {
            let request = http::Request::builder()
                .uri("/beacon/5")
                .body(Bytes::new())
                .unwrap();
            self.svc.clone().oneshot(Call { request, check }).await
        }

        fn active(&self) -> Option<String> {
            self.active.get().map(|u| u.url().to_string())
        }

        /// A call in its own task; it ends with its result and the time it ended.
        fn spawn_call(&self) -> SpawnedCall {
            self.spawn_call_to("/beacon/5")
        }

        fn spawn_call_to(&self, path: &str) -> SpawnedCall {
            let svc = self.svc.clone();
            let path = path.to_string();
            tokio::spawn(async move {
                let request = http::Request::builder()
                    .uri(path)
                    .body(Bytes::new())
                    .unwrap();
                let result = svc
                    .oneshot(Call {
                        request,
                        check: None,
                    })
                    .await;
                (result, Instant::now())
            })
        }

        /// Lets the spawned calls run until `n` tries have started (the clock stands still).
        async fn until_tries(&self, n: usize) {
            while self.fake.tries.lock().unwrap().len() < n {
                tokio::task::yield_now().await;
            }
        }

        fn consecutive_failures(&self, url: &str) -> u32 {
            self.member(url)
                .status(0, false, Instant::now())
                .consecutive_failures
        }

        fn failovers(&self, reason: &str) -> f64 {
            value(
                &self.registry,
                "smesher_failovers_total",
                &[("reason", reason)],
            )
        }

        fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
            value(&self.registry, name, labels)
        }
    }

    fn no_failback() -> Settings {
        Settings {
            failback_after: Duration::ZERO,
            ..Settings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_upstreams_are_used_before_the_first_probe() {
        let h = harness(&[A, B], Settings::default());
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A]);
        assert_eq!(h.active().as_deref(), Some(A));
        assert_eq!(h.metric("smesher_upstream_active", &[("upstream", A)]), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn healthy_upstreams_come_before_unknown_ones() {
        let h = harness(&[A, B, C], Settings::default());
        h.healthy(C);
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [C]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_active_upstream_is_sticky() {
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        h.fake
            .set(A, Behaviour::Fail(TryError::Connect("refused".into())));
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A, B]);
        assert_eq!(
            h.active().as_deref(),
            Some(B),
            "B answered, B is active now"
        );
        assert_eq!(h.failovers("transport"), 1.0);
        assert_eq!(h.metric("smesher_upstream_active", &[("upstream", A)]), 0.0);
        assert_eq!(h.metric("smesher_upstream_active", &[("upstream", B)]), 1.0);

        // A recovers; calls stay on B.
        h.fake.set(A, Behaviour::Status(200, "ok"));
        for _ in 0..3 {
            h.call().await.unwrap();
        }
        assert_eq!(h.fake.take_tries(), [B, B, B]);
        tokio::time::advance(Duration::from_secs(3600)).await;
        h.call().await.unwrap();
        assert_eq!(
            h.fake.take_tries(),
            [B],
            "failback-after 0 = never fail back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unusable_active_is_replaced_at_once() {
        for (make_bad, reason) in [
            (Harness::down as fn(&Harness, &str), "down"),
            (Harness::unsynced, "unsynced"),
        ] {
            let h = harness(&[A, B, C], Settings::default());
            for u in [A, B, C] {
                h.healthy(u);
            }
            h.call().await.unwrap();
            assert_eq!(h.fake.take_tries(), [A]);
            make_bad(&h, A);
            h.call().await.unwrap();
            assert_eq!(h.fake.take_tries(), [B], "A is not even tried");
            assert_eq!(h.active().as_deref(), Some(B));
            assert_eq!(h.failovers(reason), 1.0);
            assert_eq!(h.metric("smesher_retries_total", &[]), 0.0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ejected_active_is_replaced_at_once() {
        let s = Settings {
            eject_after: 2,
            ..no_failback()
        };
        let h = harness(&[A, B], s);
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Status(500, "db error"));
        h.fake.set(B, Behaviour::Status(500, "db error"));
        assert!(h.call().await.is_err());
        assert!(h.call().await.is_err());
        assert_eq!(h.fake.take_tries(), [A, B, A, B]);
        h.fake.set(A, Behaviour::Status(200, "ok"));
        h.fake.set(B, Behaviour::Status(200, "ok"));
        let err = h.call().await.unwrap_err();
        assert_eq!(
            h.fake.take_tries(),
            Vec::<String>::new(),
            "both ejected: fail fast"
        );
        assert_eq!(
            err.to_string(),
            "all node-service upstreams failed: http://a/: ejected for another 5s; \
             http://b/: ejected for another 5s"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A]);
    }

    #[tokio::test(start_paused = true)]
    async fn fail_back_waits_for_failback_after() {
        let s = Settings {
            failback_after: Duration::from_secs(300),
            ..Settings::default()
        };
        let h = harness(&[A, B], s);
        h.healthy(A);
        h.healthy(B);
        h.call().await.unwrap();
        h.down(A);
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A, B]);

        h.healthy(A);
        tokio::time::advance(Duration::from_secs(299)).await;
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [B], "A healthy for 299 s only");

        tokio::time::advance(Duration::from_secs(1)).await;
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A], "A healthy for 300 s: fail back");
        assert_eq!(h.active().as_deref(), Some(A));
        assert_eq!(h.failovers("down"), 1.0, "a fail-back is not a fail-over");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_restarts_the_failback_clock() {
        let s = Settings {
            failback_after: Duration::from_secs(60),
            ..Settings::default()
        };
        let h = harness(&[A, B], s);
        h.healthy(A);
        h.healthy(B);
        h.fake.set(
            A,
            Behaviour::Fail(TryError::Timeout(Duration::from_secs(2))),
        );
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A, B]);
        assert_eq!(h.failovers("timeout"), 1.0);
        h.fake.set(A, Behaviour::Status(200, "ok"));
        tokio::time::advance(Duration::from_secs(59)).await;
        h.call().await.unwrap();
        assert_eq!(
            h.fake.take_tries(),
            [B],
            "A was healthy by probes all along, but failed a call 59 s ago"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        h.call().await.unwrap();
        assert_eq!(h.fake.take_tries(), [A]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_5xx_and_503_on_the_next_upstream() {
        let h = harness(&[A, B, C], no_failback());
        for u in [A, B, C] {
            h.healthy(u);
        }
        h.fake.set(
            A,
            Behaviour::Status(503, "service not ready: not in sync with the network"),
        );
        h.fake.set(B, Behaviour::Status(500, "boom"));
        let response = h.call().await.unwrap();
        assert_eq!(response.body(), "ok");
        assert_eq!(h.fake.take_tries(), [A, B, C]);
        assert_eq!(h.metric("smesher_retries_total", &[]), 2.0);
        assert_eq!(h.failovers("status_5xx"), 1.0);
        assert_eq!(h.active().as_deref(), Some(C));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_other_than_5xx_are_returned_as_they_are() {
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        for code in [204, 302, 400, 404] {
            h.fake.set(A, Behaviour::Status(code, ""));
            let response = h.call().await.unwrap();
            assert_eq!(response.status().as_u16(), code);
            assert_eq!(h.fake.take_tries(), [A]);
        }
        assert_eq!(h.active().as_deref(), Some(A));
        assert_eq!(h.metric("smesher_retries_total", &[]), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_answer_moves_on() {
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Status(200, "<html>garbage"));
        h.fake
            .set(B, Behaviour::Status(200, "{\"beacon\":\"AAAAAA==\"}"));
        let check: ResponseCheck = Arc::new(|r: &http::Response<Bytes>| {
            if r.body().starts_with(b"{") {
                Ok(())
            } else {
                Err("expected a JSON object".to_string())
            }
        });
        let response = h.call_checked(Some(check)).await.unwrap();
        assert_eq!(response.body(), "{\"beacon\":\"AAAAAA==\"}");
        assert_eq!(h.fake.take_tries(), [A, B]);
        assert_eq!(h.failovers("invalid_response"), 1.0);
        let status = h.member(A).status(0, false, Instant::now());
        assert_eq!(
            status.last_error.as_deref(),
            Some("call: invalid response: expected a JSON object")
        );
        assert_eq!(status.consecutive_failures, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn all_failed_names_every_upstream() {
        let h = harness(&[A, B, C], no_failback());
        h.healthy(A);
        h.healthy(B);
        h.unsynced(C);
        h.fake.set(
            A,
            Behaviour::Fail(TryError::Connect("connection refused".into())),
        );
        h.fake.set(
            B,
            Behaviour::Fail(TryError::Timeout(Duration::from_secs(2))),
        );
        let err = h.call().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "all node-service upstreams failed: http://a/: connection refused; \
             http://b/: timed out after 2s; http://c/: unsynced (4 layers behind)"
        );
        assert!(err.is_retryable());
        assert_eq!(
            h.active().as_deref(),
            Some(A),
            "nobody answered: no fail-over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_usable_fails_fast() {
        let h = harness(&[A, B], no_failback());
        h.down(A);
        h.unsynced(B);
        let err = h.call().await.unwrap_err();
        assert!(h.fake.take_tries().is_empty());
        assert_eq!(
            err.to_string(),
            "all node-service upstreams failed: http://a/: down (probe: connection refused); \
             http://b/: unsynced (4 layers behind)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_by_the_budget_under_total_outage() {
        let s = Settings {
            retry_budget_ratio: 0.5,
            retry_budget_min_per_second: 1,
            retry_budget_ttl: Duration::from_secs(10),
            eject_after: u32::MAX,
            ..no_failback()
        };
        let h = harness(&[A, B, C], s);
        for u in [A, B, C] {
            h.healthy(u);
            h.fake.set(u, Behaviour::Status(503, "not ready"));
        }
        const CALLS: usize = 100;
        for _ in 0..CALLS {
            assert!(h.call().await.is_err());
        }
        let tries = h.fake.take_tries().len();
        let retries = h.metric("smesher_retries_total", &[]);
        // Reserve 1/s × 10 s = 10, plus 0.5 per call.
        let allowed = 10.0 + 0.5 * CALLS as f64;
        assert_eq!(
            retries, allowed,
            "every retry the budget allows is used, no more"
        );
        assert_eq!(tries as f64, CALLS as f64 + retries);
        assert!(
            tries < 3 * CALLS,
            "without a budget there would be {} tries",
            3 * CALLS
        );
        assert!(h.metric("smesher_retry_budget_exhausted_total", &[]) > 0.0);

        let err = h.call().await.unwrap_err().to_string();
        assert!(
            err.ends_with("not tried: retry budget exhausted"),
            "the untried upstreams say why: {err}"
        );

        // The window slides: after ttl the reserve is back.
        tokio::time::advance(Duration::from_secs(11)).await;
        h.fake.take_tries();
        assert!(h.call().await.is_err());
        assert_eq!(h.fake.take_tries().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_calls_in_flight_when_the_active_dies() {
        // Two calls wait on A; A then fails both. B must become active once, not twice.
        #[derive(Clone)]
        struct Gated {
            gate: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
        }
        impl Service<TryRequest> for Gated {
            type Response = http::Response<Bytes>;
            type Error = TryError;
            type Future = BoxFuture<'static, Result<http::Response<Bytes>, TryError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TryError>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, req: TryRequest) -> Self::Future {
                let (tx, rx) = oneshot::channel();
                let is_a = req.upstream.url().as_str() == A;
                if is_a {
                    self.gate.lock().unwrap().push(tx);
                }
                Box::pin(async move {
                    if is_a {
                        let _ = rx.await;
                        Err(TryError::Transport("connection reset".into()))
                    } else {
                        Ok(http::Response::new(Bytes::from_static(b"b")))
                    }
                })
            }
        }
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        let gated = Gated {
            gate: Arc::default(),
        };
        let svc = ActivePassive {
            inner: gated.clone(),
            routing: h.svc.routing.clone(),
        };
        let call = |svc: ActivePassive<Gated>| async move {
            let request = http::Request::new(Bytes::new());
            svc.oneshot(Call {
                request,
                check: None,
            })
            .await
        };
        let first = tokio::spawn(call(svc.clone()));
        let second = tokio::spawn(call(svc.clone()));
        while gated.gate.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        for tx in gated.gate.lock().unwrap().drain(..) {
            tx.send(()).unwrap();
        }
        assert_eq!(first.await.unwrap().unwrap().body(), "b");
        assert_eq!(second.await.unwrap().unwrap().body(), "b");
        assert_eq!(h.active().as_deref(), Some(B));
        assert_eq!(h.failovers("transport"), 1.0);
    }

    const PER_TRY: Duration = Duration::from_millis(200);

    #[tokio::test(start_paused = true)]
    async fn calls_waiting_on_a_hung_active_move_on_with_the_first_timeout() {
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        let t0 = Instant::now();
        let first = h.spawn_call();
        h.until_tries(1).await;
        tokio::time::advance(Duration::from_millis(50)).await;
        let second = h.spawn_call();
        h.until_tries(2).await;
        tokio::time::advance(Duration::from_millis(50)).await;
        let third = h.spawn_call();
        h.until_tries(3).await;

        for (n, call) in [first, second, third].into_iter().enumerate() {
            let (result, ended) = call.await.unwrap();
            assert_eq!(result.unwrap().body(), "ok");
            assert_eq!(
                ended - t0,
                PER_TRY,
                "call {n} ends with the first call's timeout, not its own"
            );
        }
        assert_eq!(h.fake.take_tries(), [A, A, A, B, B, B]);
        assert_eq!(h.active().as_deref(), Some(B));
        assert_eq!(h.failovers("timeout"), 1.0, "one fail-over, not three");
        assert_eq!(
            h.metric("smesher_retries_total", &[]),
            3.0,
            "an abandoned try is retried like a failed one"
        );
        assert_eq!(h.consecutive_failures(A), 1, "only the timeout counts");
        assert_eq!(
            h.member(A)
                .status(0, false, Instant::now())
                .last_error
                .as_deref(),
            Some("call: timed out after 200ms"),
            "the last error names the cause, not the abandons"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_after_the_switch_goes_straight_to_the_new_active() {
        let h = harness(&[A, B, C], no_failback());
        for u in [A, B, C] {
            h.healthy(u);
        }
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        let waiting = [h.spawn_call(), h.spawn_call()];
        h.until_tries(2).await;
        for call in waiting {
            call.await.unwrap().0.unwrap();
        }
        assert_eq!(h.fake.take_tries(), [A, A, B, B]);

        let t1 = Instant::now();
        let (result, ended) = h.spawn_call().await.unwrap();
        result.unwrap();
        assert_eq!(ended, t1, "no wait");
        assert_eq!(h.fake.take_tries(), [B], "A is not tried");

        // A try that starts on A after A was abandoned is not cut short by that old signal:
        // with B down, the next call goes to A again and waits its own timeout there.
        h.down(B);
        h.unsynced(C);
        let t2 = Instant::now();
        let (result, ended) = h.spawn_call().await.unwrap();
        assert_eq!(
            result.unwrap_err().to_string(),
            "all node-service upstreams failed: http://a/: timed out after 200ms; \
             http://b/: down (probe: connection refused); http://c/: unsynced (4 layers behind)"
        );
        assert_eq!(ended - t2, PER_TRY);
        assert_eq!(h.fake.take_tries(), [A]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_try_does_not_eject_a_healthy_member() {
        let s = Settings {
            eject_after: 2,
            ..no_failback()
        };
        let h = harness(&[A, B], s);
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        // Staggered, so only the first one's own timeout expires.
        let mut calls = Vec::new();
        for n in 1..=3 {
            calls.push(h.spawn_call());
            h.until_tries(n).await;
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        for call in calls {
            call.await.unwrap().0.unwrap();
        }
        assert_eq!(h.fake.take_tries(), [A, A, A, B, B, B]);
        assert_eq!(
            h.consecutive_failures(A),
            1,
            "one timeout, two abandons: below eject-after 2"
        );
        assert!(!h.member(A).is_ejected(Instant::now()));
        assert!(h.member(A).is_healthy(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ejection_abandons_the_tries_waiting_on_the_member() {
        // No other upstream answers, so there is no fail-over; the ejection alone abandons.
        let s = Settings {
            eject_after: 1,
            ..no_failback()
        };
        let h = harness(&[A, B], s);
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        h.fake.set(B, Behaviour::Status(500, "boom"));
        let t0 = Instant::now();
        let first = h.spawn_call();
        h.until_tries(1).await;
        tokio::time::advance(Duration::from_millis(100)).await;
        let second = h.spawn_call();
        h.until_tries(2).await;

        let (result, ended) = first.await.unwrap();
        assert_eq!(
            result.unwrap_err().to_string(),
            "all node-service upstreams failed: http://a/: timed out after 200ms; \
             http://b/: HTTP 500 Internal Server Error: boom"
        );
        assert_eq!(ended - t0, PER_TRY);
        let (result, ended) = second.await.unwrap();
        assert_eq!(
            result.unwrap_err().to_string(),
            "all node-service upstreams failed: http://a/: abandoned: failed over after \
             another call's try failed (timeout); http://b/: HTTP 500 Internal Server Error: boom"
        );
        assert_eq!(ended - t0, PER_TRY, "not at its own timeout, 100 ms later");
        assert_eq!(h.fake.take_tries(), [A, A, B, B]);
        assert_eq!(h.metric("smesher_retries_total", &[]), 2.0);
        assert!(h.member(A).is_ejected(Instant::now()));
        assert_eq!(
            h.active().as_deref(),
            Some(A),
            "nobody answered: no fail-over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_active_marked_down_by_the_checker_abandons_its_tries() {
        let h = harness(&[A, B], no_failback());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(Duration::from_secs(2)));
        let t0 = Instant::now();
        let waiting = [h.spawn_call(), h.spawn_call()];
        h.until_tries(2).await;
        tokio::time::advance(Duration::from_millis(300)).await;
        h.down(A);
        // The next call's plan fails over away from A and abandons what waits there.
        let (result, ended) = h.spawn_call().await.unwrap();
        result.unwrap();
        assert_eq!(ended - t0, Duration::from_millis(300));
        for call in waiting {
            let (result, ended) = call.await.unwrap();
            assert_eq!(result.unwrap().body(), "ok");
            assert_eq!(ended - t0, Duration::from_millis(300), "not at 2 s");
        }
        let mut tries = h.fake.take_tries();
        tries.sort();
        assert_eq!(tries, [A, A, B, B, B]);
        assert_eq!(h.active().as_deref(), Some(B));
        assert_eq!(h.failovers("down"), 1.0, "the abandons add no fail-over");
        assert_eq!(h.metric("smesher_retries_total", &[]), 2.0);
        assert_eq!(h.consecutive_failures(A), 0, "A failed no call itself");
    }

    fn gated() -> Settings {
        Settings {
            per_try_timeout: PER_TRY,
            ..no_failback()
        }
    }

    /// Spawns one call per start offset (from now), each to its own path `/beacon/<n>`, and
    /// lets each start its first try before the clock moves on.
    async fn spawn_at(h: &Harness, offsets_ms: &[u64]) -> Vec<SpawnedCall> {
        let t0 = Instant::now();
        let mut calls = Vec::new();
        for (n, &ms) in offsets_ms.iter().enumerate() {
            tokio::time::sleep_until(t0 + Duration::from_millis(ms)).await;
            let before = h.fake.tries.lock().unwrap().len();
            calls.push(h.spawn_call_to(&format!("/beacon/{n}")));
            h.until_tries(before + 1).await;
        }
        calls
    }

    async fn ends(calls: Vec<SpawnedCall>, t0: Instant) -> Vec<u64> {
        let mut ends = Vec::new();
        for call in calls {
            let (result, ended) = call.await.unwrap();
            assert_eq!(result.unwrap().body(), "ok");
            ends.push((ended - t0).as_millis() as u64);
        }
        ends
    }

    fn beacons(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|n| format!("/beacon/{n}")).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_calls_move_on_oldest_first_a_few_at_a_time() {
        let h = harness(&[A, B], gated());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        h.fake.set(B, Behaviour::Slow(Duration::from_millis(10)));
        let t0 = Instant::now();
        // Call 0 times out at 200 ms and is answered by B at 210 ms, which abandons calls
        // 1..=9 (started at 50..=58 ms, own timeouts at 250..=258 ms).
        let mut offsets = vec![0];
        offsets.extend(50..=58);
        let calls = spawn_at(&h, &offsets).await;
        let ends = ends(calls, t0).await;
        assert_eq!(ABANDONED_IN_FLIGHT, 4);
        assert_eq!(
            ends,
            [210, 220, 220, 220, 220, 230, 230, 230, 230, 240],
            "four turns at a time, the oldest calls first"
        );
        assert_eq!(
            h.fake.paths_on(B),
            beacons(0..10),
            "B is tried in start order"
        );
        assert_eq!(h.fake.most_in_flight(B), ABANDONED_IN_FLIGHT);
        assert_eq!(h.active().as_deref(), Some(B));
        assert_eq!(h.failovers("timeout"), 1.0);
        assert_eq!(h.consecutive_failures(A), 1, "the abandons do not count");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_turn_does_not_come_moves_on_at_its_own_timeout() {
        let h = harness(&[A, B], gated());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        h.fake.set(B, Behaviour::Slow(Duration::from_millis(100)));
        let t0 = Instant::now();
        // Abandoned at 300 ms (call 0 answered by B); calls 1..=4 take the four turns until
        // 400 ms; call 5 (started at 150 ms) would time out on A at 350 ms and does not wait
        // past that for a turn.
        let calls = spawn_at(&h, &[0, 110, 120, 130, 140, 150]).await;
        let ends = ends(calls, t0).await;
        assert_eq!(ends, [300, 400, 400, 400, 400, 450]);
        assert_eq!(h.fake.paths_on(B), beacons(0..6));
        assert_eq!(h.fake.most_in_flight(B), ABANDONED_IN_FLIGHT + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_after_the_switch_do_not_wait_for_a_turn() {
        let h = harness(&[A, B], gated());
        h.healthy(A);
        h.healthy(B);
        h.fake.set(A, Behaviour::Hang(PER_TRY));
        h.fake.set(B, Behaviour::Slow(Duration::from_millis(100)));
        let t0 = Instant::now();
        let waiting = spawn_at(&h, &[0, 110, 120, 130, 140]).await;
        tokio::time::sleep_until(t0 + Duration::from_millis(300)).await;
        tokio::task::yield_now().await;
        assert_eq!(h.active().as_deref(), Some(B), "switched at 300 ms");
        // Every turn is taken (calls 1..=4 until 400 ms); a new call goes straight to B.
        let t1 = Instant::now();
        let (result, ended) = h.spawn_call_to("/beacon/new").await.unwrap();
        result.unwrap();
        assert_eq!(ended - t1, Duration::from_millis(100), "no wait for a turn");
        assert_eq!(ends(waiting, t0).await, [300, 400, 400, 400, 400]);
        assert_eq!(h.fake.paths_on(A), beacons(0..5), "the new call skips A");
        assert_eq!(h.fake.most_in_flight(B), ABANDONED_IN_FLIGHT + 1);
    }

    #[test]
    fn turns_go_by_key_not_by_arrival() {
        use futures_util::FutureExt;

        let gate = TurnGate::new(1);
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        let mut first = gate.enqueue(at(50));
        let turn = (&mut first).now_or_never().expect("a free turn");
        // Queued late and young first.
        let mut waiting: Vec<Waiting<'_>> = [30, 10, 20, 40].map(|ms| gate.enqueue(at(ms))).into();
        for w in &mut waiting {
            assert!(w.now_or_never().is_none(), "the one turn is taken");
        }
        let mut order = Vec::new();
        let mut held = Some(turn);
        for _ in 0..4 {
            drop(held.take());
            let mut ready = Vec::new();
            for (i, w) in waiting.iter_mut().enumerate() {
                if w.done {
                    continue;
                }
                if let Some(turn) = w.now_or_never() {
                    held = Some(turn);
                    ready.push(i);
                }
            }
            assert_eq!(ready.len(), 1, "one turn, one waiter at a time");
            order.push([30, 10, 20, 40][ready[0]]);
        }
        assert_eq!(order, [10, 20, 30, 40]);

        // A waiter that leaves after being handed a turn passes it on.
        let mut a = gate.enqueue(at(1));
        let mut b = gate.enqueue(at(2));
        assert!((&mut a).now_or_never().is_none());
        assert!((&mut b).now_or_never().is_none());
        drop(held.take());
        drop(a);
        let turn = (&mut b).now_or_never().expect("passed on");
        drop(turn);
        drop(b);
        let state = gate.state();
        assert_eq!(
            (state.free, state.queue.len(), state.handed.len()),
            (1, 0, 0)
        );
    }

    #[test]
    fn snippets_are_short_and_printable() {
        assert_eq!(snippet(&Bytes::from_static(b"  a\nb\r\n")), "a b");
        let long = Bytes::from(vec![b'x'; 300]);
        assert_eq!(snippet(&long).chars().count(), 201);
    }
}
