//! `POST /v1/completions` requests in OpenAI's shape, read leniently where OpenAI is (fields
//! it has that a character model does without are ignored) and checked strictly where a value
//! matters, each refusal naming the field.

use charlstm_data::Tokenizer;
use charlstm_model::SamplingOptions;
use charlstm_train::generate::GenerateOptions;
use charlstm_train::stop::StopStrings;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// How much one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Characters in a prompt (or an inspected text).
    pub max_prompt_chars: usize,
    /// `max_tokens` at most.
    pub max_tokens: usize,
    /// `n` at most.
    pub max_n: usize,
    /// Bytes in a request body.
    pub max_body_bytes: usize,
}

impl Limits {
    /// Refuses a text (the `field` of a request) longer than `max_prompt_chars`.
    pub fn check_text(&self, text: &str, field: &'static str) -> Result<(), ApiError> {
        let chars = text.chars().count();
        if chars > self.max_prompt_chars {
            return Err(ApiError::invalid(
                Some(field),
                format!(
                    "the {field} has {chars} characters, more than this server's {} (--max-prompt-chars)",
                    self.max_prompt_chars
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_prompt_chars: 8_192,
            max_tokens: 4_096,
            max_n: 16,
            max_body_bytes: 256 << 10,
        }
    }
}

/// A completion request's fields as sent (any JSON type, checked in [`CompletionRequest::parse`]).
#[derive(Debug, Deserialize)]
struct RawRequest {
    model: Option<Value>,
    prompt: Option<Value>,
    max_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    top_k: Option<Value>,
    n: Option<Value>,
    seed: Option<Value>,
    stop: Option<Value>,
    stream: Option<Value>,
    logprobs: Option<Value>,
}

/// A checked completion request.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// What to generate (prime, length, sampling, seed, stop strings).
    pub options: GenerateOptions,
    /// Independent completions of the prompt.
    pub n: usize,
    /// Whether to answer with server-sent events, a chunk per token.
    pub stream: bool,
    /// Alternatives to report per token with their log probabilities (`None`: no log
    /// probabilities at all).
    pub logprobs: Option<usize>,
}

impl CompletionRequest {
    /// Reads and checks a request body for the model `model_id` reading `tokenizer`.
    pub fn parse(
        body: &[u8],
        model_id: &str,
        tokenizer: &Tokenizer,
        limits: &Limits,
    ) -> Result<Self, ApiError> {
        let raw: RawRequest = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => serde_json::from_value(Value::Object(map))
                .map_err(|e| ApiError::invalid(None, format!("invalid request: {e}")))?,
            Ok(_) => {
                return Err(ApiError::invalid(
                    None,
                    "the request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(ApiError::invalid(
                    None,
                    format!("the request body is not valid JSON: {e}"),
                ));
            }
        };
        if let Some(model) = &raw.model {
            let name = model
                .as_str()
                .ok_or_else(|| ApiError::invalid(Some("model"), "model must be a string"))?;
            if name != model_id {
                return Err(ApiError::not_found(
                    "model_not_found",
                    format!(
                        "the model '{name}' does not exist: this server serves '{model_id}' (GET /v1/models)"
                    ),
                ));
            }
        }
        let prompt = prompt(raw.prompt.as_ref())?;
        limits.check_text(&prompt, "prompt")?;
        let length = counted(
            raw.max_tokens.as_ref(),
            ("max_tokens", 16),
            limits.max_tokens,
            "--max-tokens",
        )?;
        let n = counted(raw.n.as_ref(), ("n", 1), limits.max_n, "--max-n")?;
        let temperature = number(raw.temperature.as_ref(), "temperature", 1.0)?;
        if !(0.0..=5.0).contains(&temperature) {
            return Err(ApiError::invalid(
                Some("temperature"),
                "temperature must be from 0 to 5",
            ));
        }
        let top_p = number(raw.top_p.as_ref(), "top_p", 1.0)?;
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::invalid(Some("top_p"), "top_p must be in (0, 1]"));
        }
        let top_k = match raw.top_k.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(value) => match whole(Some(value), "top_k", 0)? {
                0 => return Err(ApiError::invalid(Some("top_k"), "top_k must be at least 1")),
                k => Some(k as usize),
            },
        };
        let logprobs = match raw.logprobs.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(value) => match whole(Some(value), "logprobs", 0)? {
                k @ 0..=5 => Some(k as usize),
                _ => {
                    return Err(ApiError::invalid(
                        Some("logprobs"),
                        "logprobs must be from 0 to 5",
                    ));
                }
            },
        };
        let seed = match raw.seed.as_ref().filter(|v| !v.is_null()) {
            None => fresh_seed(),
            Some(value) => whole(Some(value), "seed", 0)?,
        };
        let stream = match raw.stream.as_ref().filter(|v| !v.is_null()) {
            None => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => {
                return Err(ApiError::invalid(
                    Some("stream"),
                    "stream must be true or false",
                ));
            }
        };
        let stop = stop_strings(raw.stop.as_ref())?;
        // Temperature 0 is OpenAI's greedy decoding: the most likely token every time.
        let sampling = SamplingOptions {
            temperature: if temperature == 0.0 {
                1.0
            } else {
                temperature as f32
            },
            top_k: if temperature == 0.0 { Some(1) } else { top_k },
            top_p: (top_p < 1.0).then_some(top_p as f32),
        };
        let options = GenerateOptions {
            prime: prompt,
            length: length as usize,
            sampling,
            seed,
            stop: StopStrings::new(stop),
        };
        options
            .check_prime(tokenizer, "prompt")
            .map_err(|e| ApiError::invalid(Some("prompt"), e.to_string()))?;
        Ok(Self {
            options,
            n: n as usize,
            stream,
            logprobs,
        })
    }
}

/// The prompt: a string, or an array of exactly one string.
fn prompt(value: Option<&Value>) -> Result<String, ApiError> {
    let text = match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(text)] => Some(text.clone()),
            [_] => return Err(ApiError::invalid(Some("prompt"), "prompt must be a string")),
            _ => {
                return Err(ApiError::invalid(
                    Some("prompt"),
                    "give one prompt per request (use n for several completions of it)",
                ));
            }
        },
        Some(_) => return Err(ApiError::invalid(Some("prompt"), "prompt must be a string")),
    };
    match text {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(ApiError::invalid(
            Some("prompt"),
            "prompt is empty: a character model continues a text, give at least one character",
        )),
    }
}

/// A whole number ≥ 0 (`default` when absent or null).
fn whole(value: Option<&Value>, name: &'static str, default: u64) -> Result<u64, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_u64().ok_or_else(|| {
            ApiError::invalid(
                Some(name),
                format!("{name} must be a whole number ≥ 0, not {value}"),
            )
        }),
    }
}

/// A whole number from 1 to `max` (`default` when absent); the error names the server's `flag`.
fn counted(
    value: Option<&Value>,
    (name, default): (&'static str, u64),
    max: usize,
    flag: &str,
) -> Result<u64, ApiError> {
    let count = whole(value, name, default)?;
    if count == 0 || count > max as u64 {
        return Err(ApiError::invalid(
            Some(name),
            format!("{name} must be from 1 to {max} ({flag})"),
        ));
    }
    Ok(count)
}

/// A finite number (`default` when absent or null).
fn number(value: Option<&Value>, name: &'static str, default: f64) -> Result<f64, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
            ApiError::invalid(Some(name), format!("{name} must be a number, not {value}"))
        }),
    }
}

/// `stop`: a string or up to four, none empty.
fn stop_strings(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let strings = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::invalid(Some("stop"), "stop must be a string or an array of strings")
            })?,
        Some(_) => {
            return Err(ApiError::invalid(
                Some("stop"),
                "stop must be a string or an array of strings",
            ));
        }
    };
    if strings.len() > 4 || strings.iter().any(String::is_empty) {
        return Err(ApiError::invalid(
            Some("stop"),
            "stop takes up to 4 strings, none empty",
        ));
    }
    Ok(strings)
}

/// A seed for a request that gives none: different from one request to the next.
fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
}
