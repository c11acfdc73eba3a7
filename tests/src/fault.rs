//! Faults a simulated node can be switched into, and the response body that can stream garbage.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// How a node misbehaves; set with `Node::set_fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Listener closed and open connections dropped: clients get "connection refused".
    Stop,
    /// Requests are read but never answered; sockets stay open.
    Hang,
    /// Added latency before every answer.
    Slow(Duration),
    /// Every route answers this status (text body).
    Status(u16),
    /// 503 on every node-service route; v2 Status says SYNCING, far behind.
    Unsynced,
    /// v2 Status says SYNCED but its current layer is this many layers behind the clock.
    Lagging(u32),
    /// JSON 200 answers come back broken.
    Garbage(GarbageKind),
}

/// Shapes of broken JSON 200 bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarbageKind {
    /// Not JSON at all.
    InvalidJson,
    /// The real body cut half-way.
    TruncatedJson,
    /// The real body with this many bytes of whitespace inside the top-level object: still
    /// valid JSON, only too big. Streamed in chunks, never held in memory whole.
    Oversized(usize),
}

const PAD_CHUNK: usize = 64 * 1024;
static SPACES: [u8; PAD_CHUNK] = [b' '; PAD_CHUNK];

/// Response body: a buffer, or a head, `pad` streamed spaces and a tail.
#[derive(Debug)]
pub struct SimBody {
    head: Bytes,
    pad: usize,
    tail: Bytes,
}

impl SimBody {
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    pub fn full(b: impl Into<Bytes>) -> Self {
        SimBody {
            head: b.into(),
            pad: 0,
            tail: Bytes::new(),
        }
    }

    /// `json` with `garbage` applied.
    pub fn garbled(json: Bytes, garbage: GarbageKind) -> Self {
        match garbage {
            GarbageKind::InvalidJson => Self::full(&b"{\"ID\": <html>not json at all\n"[..]),
            GarbageKind::TruncatedJson => Self::full(json.slice(..json.len() / 2)),
            GarbageKind::Oversized(pad) => {
                // Split after the opening brace: whitespace there keeps the document valid.
                let at = usize::from(!json.is_empty());
                SimBody {
                    head: json.slice(..at),
                    pad,
                    tail: json.slice(at..),
                }
            }
        }
    }

    fn len(&self) -> u64 {
        (self.head.len() + self.pad + self.tail.len()) as u64
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let chunk = if !this.head.is_empty() {
            std::mem::take(&mut this.head)
        } else if this.pad > 0 {
            let n = this.pad.min(PAD_CHUNK);
            this.pad -= n;
            Bytes::from_static(&SPACES[..n])
        } else if !this.tail.is_empty() {
            std::mem::take(&mut this.tail)
        } else {
            return Poll::Ready(None);
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(b: SimBody) -> (Vec<u8>, usize) {
        let mut b = b;
        let mut frames = 0;
        let mut out = Vec::new();
        while let Some(f) = b.frame().await {
            frames += 1;
            out.extend_from_slice(&f.unwrap().into_data().unwrap());
        }
        (out, frames)
    }

    #[tokio::test]
    async fn oversized_streams_valid_json_in_chunks() {
        let json = Bytes::from_static(b"{\"weight\":5}\n");
        let body = SimBody::garbled(json.clone(), GarbageKind::Oversized(200_000));
        assert_eq!(body.size_hint().exact(), Some(json.len() as u64 + 200_000));
        let (out, frames) = collect(body).await;
        assert!(frames >= 4, "{frames} frames");
        assert_eq!(out.len(), json.len() + 200_000);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["weight"], 5);
    }

    #[tokio::test]
    async fn truncated_and_invalid_do_not_parse() {
        let json = Bytes::from_static(b"{\"weight\":5}\n");
        let (cut, _) = collect(SimBody::garbled(json.clone(), GarbageKind::TruncatedJson)).await;
        assert_eq!(cut, &json[..json.len() / 2]);
        assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        let (bad, _) = collect(SimBody::garbled(json, GarbageKind::InvalidJson)).await;
        assert!(serde_json::from_slice::<serde_json::Value>(&bad).is_err());
    }
}
