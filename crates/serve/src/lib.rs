//! `charlstm serve`: one character model loaded once and served over HTTP, as local
//! language-model servers do (llama.cpp's server, text-generation-webui), so existing clients
//! work unchanged:
//!
//! - `GET /`: the playground page, embedded in the binary, working offline;
//! - `GET /v1/models`, `POST /v1/completions` (streamed as server-sent events with
//!   `"stream": true`): OpenAI's shapes, errors included;
//! - `POST /v1/inspect`: surprisal and unit activations over a text, for the page;
//! - `GET /health`: liveness and the generations running.
//!
//! Generations run on a bounded pool (`workers` at once, the rest wait); a stream whose client
//! disconnects stops generating; request bodies, prompts, `max_tokens` and `n` are capped; a
//! bad request gets a 4xx JSON error and the server keeps serving. Ctrl-C (or SIGTERM) stops
//! accepting connections and lets the requests in flight finish.

pub mod completions;
pub mod error;
pub mod inspect;
pub mod model;
pub mod request;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use error::ApiError;
use model::{Pool, ServedModel};
use request::{CompletionRequest, Limits};

/// The playground page.
const PAGE: &str = include_str!("page.html");

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

#[derive(Clone)]
struct AppState {
    served: Arc<ServedModel>,
    pool: Pool,
    limits: Limits,
}

/// The router over `served`: every route, the body limit and the JSON fallbacks. `workers`
/// generations run at once (`None`: one per core), each on its share of the cores.
pub fn router(served: Arc<ServedModel>, workers: Option<usize>, limits: Limits) -> Router {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let state = AppState {
        served,
        pool: Pool::new(workers.unwrap_or(cores), cores),
        limits,
    };
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/inspect", post(inspect_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
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

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "model": state.served.id,
        "running_generations": state.pool.running(),
    }))
}

async fn models(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": state.served.id,
            "object": "model",
            "created": state.served.created,
            "owned_by": "charlstm",
        }],
    }))
}

async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let request = CompletionRequest::parse(
        &body,
        &state.served.id,
        &state.served.tokenizer,
        &state.limits,
    )?;
    completions::complete(state.served.clone(), state.pool.clone(), request).await
}

async fn inspect_text(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let answer = inspect::inspect(
        state.served.clone(),
        state.pool.clone(),
        state.limits,
        &body,
    )
    .await?;
    Ok(answer.into_response())
}

/// A body that could not be read: too large (413) or cut off.
fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than this server accepts (--max-body-bytes)".to_string()
    } else {
        format!("cannot read the request body: {rejection}")
    };
    ApiError::with_status(status, "invalid_request_error", message)
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "unknown_url",
        "no such path: this server has GET /, GET /health, GET /v1/models, POST /v1/completions and POST /v1/inspect",
    )
}

async fn method_not_allowed() -> Response {
    let error = ApiError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "this path does not take that method (GET /v1/models, POST /v1/completions)",
    );
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    response
}
