//! The routes: the page, health, models, completions and inspection, each request's body
//! read whole, and OpenAI-shaped errors for unknown paths and methods.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::error::ApiError;
use crate::model::{Pool, ServedModel};
use crate::request::{CompletionRequest, Limits};
use crate::{completions, inspect};

/// The playground page.
const PAGE: &str = include_str!("page.html");

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
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
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
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let answer = inspect::inspect(
        state.served.clone(),
        state.pool.clone(),
        state.limits,
        &body,
    )
    .await?;
    Ok(answer.into_response())
}

/// A request's body, read whole; one that cannot be read is refused with [`body_error`].
struct RequestBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(request, state).await;
        body.map(Self).map_err(body_error)
    }
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
