//! Bad requests: each gets its status and an error in OpenAI's shape, and the server keeps
//! serving.

use serde_json::{Value, json};

use crate::common::*;
use crate::harness::*;

/// A request the server must refuse: what it is, its body, and the status, a part of the
/// message and the field the error must name.
struct BadRequest {
    what: &'static str,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
    param: Option<&'static str>,
}

fn bad(
    what: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    message: &'static str,
    param: Option<&'static str>,
) -> BadRequest {
    BadRequest {
        what,
        body: body.into(),
        status,
        message,
        param,
    }
}

/// Each bad request gets its status and an error in OpenAI's shape naming the field; the
/// server answers normally afterwards.
#[test]
fn bad_requests_get_openai_errors_and_the_server_keeps_serving() {
    let server = Server::start(
        shared_tiny_run(),
        &[
            "--max-body-bytes",
            "4000",
            "--max-prompt-chars",
            "100",
            "--max-tokens",
            "500",
        ],
    );
    let cases = vec![
        bad(
            "malformed JSON",
            b"{\"prompt\": \"abc\"".to_vec(),
            400,
            "not valid JSON",
            None,
        ),
        bad(
            "not an object",
            b"[1, 2]".to_vec(),
            400,
            "JSON object",
            None,
        ),
        bad(
            "max_tokens a string",
            br#"{"prompt":"abc","max_tokens":"ten"}"#.to_vec(),
            400,
            "max_tokens",
            Some("max_tokens"),
        ),
        bad(
            "max_tokens negative",
            br#"{"prompt":"abc","max_tokens":-5}"#.to_vec(),
            400,
            "max_tokens",
            Some("max_tokens"),
        ),
        bad(
            "max_tokens zero",
            br#"{"prompt":"abc","max_tokens":0}"#.to_vec(),
            400,
            "from 1 to 500",
            Some("max_tokens"),
        ),
        bad(
            "max_tokens huge",
            br#"{"prompt":"abc","max_tokens":1000000000}"#.to_vec(),
            400,
            "from 1 to 500",
            Some("max_tokens"),
        ),
        bad(
            "unknown model",
            br#"{"model":"gpt-4","prompt":"abc"}"#.to_vec(),
            404,
            "does not exist",
            None,
        ),
        bad(
            "outside the vocabulary",
            br#"{"prompt":"ab\u00e9"}"#.to_vec(),
            400,
            "not in the vocabulary",
            Some("prompt"),
        ),
        bad(
            "empty prompt",
            br#"{"prompt":""}"#.to_vec(),
            400,
            "prompt is empty",
            Some("prompt"),
        ),
        bad(
            "two prompts",
            br#"{"prompt":["ab","cd"]}"#.to_vec(),
            400,
            "one prompt per request",
            Some("prompt"),
        ),
        bad(
            "prompt a number",
            br#"{"prompt":7}"#.to_vec(),
            400,
            "must be a string",
            Some("prompt"),
        ),
        bad(
            "prompt too long",
            format!(r#"{{"prompt":"{}"}}"#, "a".repeat(101)).into_bytes(),
            400,
            "more than this server's 100",
            Some("prompt"),
        ),
        bad(
            "temperature negative",
            br#"{"prompt":"abc","temperature":-1}"#.to_vec(),
            400,
            "temperature",
            Some("temperature"),
        ),
        bad(
            "top_p zero",
            br#"{"prompt":"abc","top_p":0}"#.to_vec(),
            400,
            "top_p",
            Some("top_p"),
        ),
        bad(
            "n zero",
            br#"{"prompt":"abc","n":0}"#.to_vec(),
            400,
            "n must be",
            Some("n"),
        ),
        bad(
            "n huge",
            br#"{"prompt":"abc","n":1000}"#.to_vec(),
            400,
            "n must be",
            Some("n"),
        ),
        bad(
            "stop a number",
            br#"{"prompt":"abc","stop":3}"#.to_vec(),
            400,
            "stop must be",
            Some("stop"),
        ),
        bad(
            "five stop strings",
            br#"{"prompt":"abc","stop":["a","b","c","d","e"]}"#.to_vec(),
            400,
            "up to 4",
            Some("stop"),
        ),
        bad(
            "logprobs too many",
            br#"{"prompt":"abc","logprobs":9}"#.to_vec(),
            400,
            "logprobs",
            Some("logprobs"),
        ),
        bad(
            "stream a string",
            br#"{"prompt":"abc","stream":"yes"}"#.to_vec(),
            400,
            "stream",
            Some("stream"),
        ),
        bad(
            "seed negative",
            br#"{"prompt":"abc","seed":-1}"#.to_vec(),
            400,
            "seed",
            Some("seed"),
        ),
        bad(
            "oversized body",
            format!(r#"{{"prompt":"abc","pad":"{}"}}"#, "x".repeat(5000)).into_bytes(),
            413,
            "larger than",
            None,
        ),
    ];
    assert!(cases.len() >= 15);
    for BadRequest {
        what,
        body,
        status,
        message,
        param,
    } in &cases
    {
        let (got, text) = server.request("POST", "/v1/completions", body);
        assert_eq!(got, *status, "{what}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        let error = &error["error"];
        let said = error["message"].as_str().unwrap();
        assert!(said.contains(message), "{what}: {said}");
        assert!(error["type"].is_string(), "{what}: {error}");
        if let Some(param) = param {
            assert_eq!(error["param"], *param, "{what}: {error}");
        }
    }
    let (status, text) = server.get("/v1/nothing-here");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no such path"));
    let (status, text) = server.get("/v1/completions");
    assert_eq!(status, 405, "{text}");
    let (status, text) = server.post("/v1/inspect", &json!({"text": 5}));
    assert_eq!(status, 400, "{text}");
    let (status, answer) = server.post(
        "/v1/completions",
        &json!({"prompt": "abc", "max_tokens": 5}),
    );
    assert_eq!(status, 200, "still serving: {answer}");
    assert_eq!(
        answer["choices"][0]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        5
    );
}
