//! `POST /v1/completions`: one answer when it is done, or server-sent events, one chunk per
//! token and `data: [DONE]` at the end, in OpenAI's shapes. A stream whose client went away
//! stops generating at the next token.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use charlstm_train::generate::{DrawnPiece, Sample, generate_many_streaming};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::model::{Pool, ServedModel};
use crate::request::CompletionRequest;

/// Answers a checked request.
pub async fn complete(
    served: Arc<ServedModel>,
    pool: Pool,
    request: CompletionRequest,
) -> Result<Response, ApiError> {
    let id = format!(
        "cmpl-{:016x}",
        request.options.seed ^ now_seconds().rotate_left(32)
    );
    if request.stream {
        return Ok(stream(served, pool, request, id).await?.into_response());
    }
    let slot = pool.slot().await?;
    let worker = served.clone();
    let top = request.logprobs.unwrap_or(0);
    let options = request.options.clone();
    let n = request.n;
    let samples = tokio::task::spawn_blocking(move || {
        slot.run(|| {
            let mut alternatives: Vec<Vec<Vec<(u32, f64)>>> = vec![Vec::new(); n];
            let samples = generate_many_streaming(
                &worker.model,
                &worker.tokenizer,
                &options,
                n,
                &worker.device,
                top,
                |drawn| {
                    alternatives[drawn.sample].push(drawn.alternatives.to_vec());
                    true
                },
            );
            samples.map(|samples| (samples, alternatives))
        })
    })
    .await
    .map_err(|e| server_error(format!("the generation failed: {e}")))?
    .map_err(|e| server_error(e.to_string()))?;
    let (samples, alternatives) = samples;
    let length = request.options.length;
    let choices: Vec<Value> = samples
        .iter()
        .zip(&alternatives)
        .enumerate()
        .map(|(index, (sample, alternatives))| {
            let logprobs = request
                .logprobs
                .map(|_| logprobs_of(&served, sample, alternatives));
            json!({
                "text": sample.text,
                "index": index,
                "logprobs": logprobs,
                "finish_reason": finish_reason(sample.pieces.len(), length),
            })
        })
        .collect();
    let prompt_tokens = prompt_tokens(&served, &request);
    let completion_tokens: usize = samples.iter().map(|s| s.pieces.len()).sum();
    Ok(Json(json!({
        "id": id,
        "object": "text_completion",
        "created": now_seconds(),
        "model": served.id,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response())
}

/// One chunk of a stream, or the end.
enum Chunk {
    Piece(Value),
    Failed(String),
}

async fn stream(
    served: Arc<ServedModel>,
    pool: Pool,
    request: CompletionRequest,
    id: String,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = pool.slot().await?;
    let (sender, receiver) = mpsc::channel::<Chunk>(64);
    let worker = served.clone();
    let created = now_seconds();
    tokio::task::spawn_blocking(move || {
        slot.run(|| {
            let length = request.options.length;
            let chunk = |drawn: DrawnPiece<'_>| {
                let logprobs = request.logprobs.map(|_| {
                    let token = &drawn.piece.text;
                    json!({
                        "tokens": [token],
                        "token_logprobs": [drawn.piece.log_prob],
                        "top_logprobs": [top_map(&worker, drawn.alternatives)],
                        "text_offset": [Value::Null],
                    })
                });
                let finish = drawn
                    .last
                    .then(|| finish_reason(drawn.position + 1, length));
                json!({
                    "id": id,
                    "object": "text_completion",
                    "created": created,
                    "model": worker.id,
                    "choices": [{
                        "text": drawn.piece.text,
                        "index": drawn.sample,
                        "logprobs": logprobs,
                        "finish_reason": finish,
                    }],
                })
            };
            let result = generate_many_streaming(
                &worker.model,
                &worker.tokenizer,
                &request.options,
                request.n,
                &worker.device,
                request.logprobs.unwrap_or(0),
                // A closed channel is a client that went away: stop generating.
                |drawn| sender.blocking_send(Chunk::Piece(chunk(drawn))).is_ok(),
            );
            if let Err(e) = result {
                let _ = sender.blocking_send(Chunk::Failed(e.to_string()));
            }
        })
    });
    let events = ReceiverStream::new(receiver)
        .map(|chunk| {
            Ok(match chunk {
                Chunk::Piece(value) => Event::default().data(value.to_string()),
                Chunk::Failed(message) => Event::default().data(
                    json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
                        .to_string(),
                ),
            })
        })
        .chain(tokio_stream::once(Ok(Event::default().data("[DONE]"))));
    Ok(Sse::new(events))
}

/// OpenAI's `logprobs` object for a whole sample.
fn logprobs_of(served: &ServedModel, sample: &Sample, alternatives: &[Vec<(u32, f64)>]) -> Value {
    let mut offset = 0;
    let mut offsets = Vec::with_capacity(sample.pieces.len());
    for piece in &sample.pieces {
        offsets.push(offset);
        offset += piece.text.chars().count();
    }
    json!({
        "tokens": sample.pieces.iter().map(|p| p.text.clone()).collect::<Vec<_>>(),
        "token_logprobs": sample.pieces.iter().map(|p| p.log_prob).collect::<Vec<_>>(),
        "top_logprobs": alternatives.iter().map(|a| top_map(served, a)).collect::<Vec<_>>(),
        "text_offset": offsets,
    })
}

/// `{token text: log probability}` of a position's alternatives.
fn top_map(served: &ServedModel, alternatives: &[(u32, f64)]) -> Value {
    let map: serde_json::Map<String, Value> = alternatives
        .iter()
        .map(|&(id, log_prob)| (served.tokenizer.decode(&[id]), json!(log_prob)))
        .collect();
    Value::Object(map)
}

/// `length` when the sample used all its tokens, else `stop` (a stop string ended it).
fn finish_reason(drawn: usize, length: usize) -> &'static str {
    if drawn < length { "stop" } else { "length" }
}

fn prompt_tokens(served: &ServedModel, request: &CompletionRequest) -> usize {
    served
        .tokenizer
        .encode(&request.options.prime)
        .map_or(0, |ids| ids.len())
}

fn server_error(message: String) -> ApiError {
    ApiError::with_status(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        message,
    )
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
