//! The post listener: serves `PostService` and `PostInfoService` of a [`PostRegistry`] on
//! `api.grpc-post-listener` (plaintext) and on the mutual-TLS listener (`api.grpc-tls-*`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::registry::PostRegistry;

/// Time a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS connection for tonic's server.
struct TlsIo(TlsStream<TcpStream>);

impl tonic::transport::server::Connected for TlsIo {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The running post listeners.
#[derive(Debug)]
pub struct PostListener {
    registry: PostRegistry,
    addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl PostListener {
    /// Serves `registry` on the already-bound `plain` and `tls` listeners (each optional).
    pub fn start(
        registry: PostRegistry,
        plain: Option<TcpListener>,
        tls: Option<(TcpListener, rustls::ServerConfig)>,
    ) -> anyhow::Result<PostListener> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut addr = None;
        let mut tls_addr = None;
        if let Some(listener) = plain {
            addr = Some(listener.local_addr().context("post listener address")?);
            let incoming = futures_util::stream::unfold(listener, |listener| async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            return Some((Ok::<_, std::io::Error>(stream), listener));
                        }
                        Err(e) => {
                            tracing::warn!("post listener accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
            tasks.push(tokio::spawn(serve(
                registry.clone(),
                incoming,
                stopped.clone(),
            )));
        }
        if let Some((listener, config)) = tls {
            tls_addr = Some(listener.local_addr().context("post TLS listener address")?);
            let (tx, rx) = mpsc::channel(16);
            tasks.push(tokio::spawn(accept_tls(
                listener,
                TlsAcceptor::from(Arc::new(config)),
                tx,
                stopped.clone(),
            )));
            let incoming = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|io| (Ok::<_, std::io::Error>(io), rx))
            });
            tasks.push(tokio::spawn(serve(registry.clone(), incoming, stopped)));
        }
        tracing::info!(plaintext = ?addr, tls = ?tls_addr, "post listener serving");
        Ok(PostListener {
            registry,
            addr,
            tls_addr,
            stop,
            tasks,
        })
    }

    /// The plaintext listener's address.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The mutual-TLS listener's address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn registry(&self) -> &PostRegistry {
        &self.registry
    }

    /// Stops accepting and closes the streams.
    pub async fn shutdown(self) {
        self.registry.close();
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn serve<S, IO>(registry: PostRegistry, incoming: S, mut stop: watch::Receiver<bool>)
where
    S: futures_util::Stream<Item = Result<IO, std::io::Error>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(registry.service())
        .add_service(registry.info_service())
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!("post listener stopped: {e}");
    }
}

async fn accept_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<TlsIo>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("post TLS listener accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send(TlsIo(tls)).await;
                }
                Ok(Err(e)) => tracing::warn!(%peer, "post TLS handshake failed: {e}"),
                Err(_) => tracing::warn!(%peer, "post TLS handshake timed out"),
            }
        });
    }
}
