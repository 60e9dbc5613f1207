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
pub mod routes;
pub mod server;

pub use routes::router;
pub use server::{ServeOptions, serve};
