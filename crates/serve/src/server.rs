//! Running the server: the address to listen on, the pool's size, the caps, and serving until
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::model::ServedModel;
use crate::request::Limits;
use crate::routes::router;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port).
    pub address: SocketAddr,
    /// Generations at once (`None`: one per core).
    pub workers: Option<usize>,
    /// Caps on what one request may ask for.
    pub limits: Limits,
}

/// Serves `served` until `shutdown` completes, then lets the requests in flight finish.
/// `on_listening` hears the bound address (with the real port when 0 was asked for).
pub async fn serve(
    served: Arc<ServedModel>,
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.address).await?;
    on_listening(listener.local_addr()?);
    let app = router(served, options.workers, options.limits);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
