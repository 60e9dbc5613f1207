//! `charlstm serve` from outside, over loopback HTTP: every endpoint, streaming, bad requests
//! with the status and error each gets, a client that disconnects mid-stream, 32 streams at
//! once, Ctrl-C draining the requests in flight, OpenAI's Python client, and the page in a real
//! browser.

#[path = "../common/mod.rs"]
mod common;

mod bad_requests;
mod browser;
mod harness;

use std::io::Read;
use std::process::Command;

use common::*;
use harness::*;
use serde_json::{Value, json};

#[test]
fn the_page_the_models_and_completions_in_openais_shapes() {
    let server = Server::start(shared_tiny_run(), &[]);
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("charlstm playground"), "{page:.200}");
    for outside in ["http://", "https://", "src="] {
        assert!(
            !page.contains(outside),
            "the page loads nothing: found {outside}"
        );
    }

    let (status, models) = server.get("/v1/models");
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "run");
    assert_eq!(models["data"][0]["object"], "model");

    let request = json!({"model": "run", "prompt": "abc", "max_tokens": 30, "seed": 4});
    let (status, answer) = server.post("/v1/completions", &request);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["model"], "run");
    let text = answer["choices"][0]["text"].as_str().unwrap().to_string();
    assert_eq!(text.chars().count(), 30);
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["usage"]["prompt_tokens"], 3);
    assert_eq!(answer["usage"]["completion_tokens"], 30);
    assert_eq!(answer["usage"]["total_tokens"], 33);
    // The same seed gives the same text, and the text `charlstm sample` gives with it.
    let (_, again) = server.post("/v1/completions", &request);
    assert_eq!(again["choices"][0]["text"], text.as_str());
    let sampled = run(sample_command(shared_tiny_run()).args([
        "--prime",
        "abc",
        "--length",
        "30",
        "--seed",
        "4",
        "--temperature",
        "1",
    ]));
    assert_ok(&sampled);
    assert_eq!(sampled_text(&sampled), format!("abc{text}"));

    // n completions; log probabilities with the alternatives; a stop string.
    let (status, many) = server.post(
        "/v1/completions",
        &json!({"prompt": "abc", "max_tokens": 12, "n": 3, "seed": 1, "logprobs": 2}),
    );
    assert_eq!(status, 200, "{many}");
    let choices = many["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (index, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], index);
        let logprobs = &choice["logprobs"];
        assert_eq!(logprobs["tokens"].as_array().unwrap().len(), 12);
        for value in logprobs["token_logprobs"].as_array().unwrap() {
            assert!(value.as_f64().unwrap() <= 0.0);
        }
        for top in logprobs["top_logprobs"].as_array().unwrap() {
            assert_eq!(top.as_object().unwrap().len(), 2, "{top}");
        }
        assert_eq!(logprobs["text_offset"][1], 1);
    }
    let (status, stopped) = server.post(
        "/v1/completions",
        &json!({"prompt": "a", "max_tokens": 200, "stop": "\n", "seed": 2}),
    );
    assert_eq!(status, 200);
    let text = stopped["choices"][0]["text"].as_str().unwrap();
    assert!(text.ends_with('\n') && text.len() < 200, "{text:?}");
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");

    // Temperature 0 is greedy: the same text whatever the seed.
    let greedy = |seed: u64| {
        let request = json!({"prompt": "abc", "max_tokens": 20, "temperature": 0, "seed": seed});
        server.post("/v1/completions", &request).1["choices"][0]["text"].clone()
    };
    assert_eq!(greedy(1), greedy(99));

    let (status, inspected) = server.post("/v1/inspect", &json!({"text": "abcdef\nabc"}));
    assert_eq!(status, 200, "{inspected}");
    assert_eq!(inspected["chars"].as_array().unwrap().len(), 10);
    assert!(inspected["surprisal_bits"][0].is_null());
    assert!(inspected["surprisal_bits"][1].as_f64().unwrap() >= 0.0);
    assert_eq!(inspected["predictions"][1].as_array().unwrap().len(), 5);
    let features = inspected["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    let line = &features[1]["units"][0]["activations"];
    assert_eq!(line.as_array().unwrap().len(), 10);
}

#[test]
fn a_stream_is_the_same_text_token_by_token_and_ends_with_done() {
    let server = Server::start(shared_tiny_run(), &[]);
    let request = json!({"prompt": "xyz", "max_tokens": 25, "seed": 9});
    let (_, whole) = server.post("/v1/completions", &request);
    let mut streaming = request.clone();
    streaming["stream"] = json!(true);
    streaming["logprobs"] = json!(1);
    let (status, body) =
        server.request("POST", "/v1/completions", streaming.to_string().as_bytes());
    assert_eq!(status, 200);
    let (text, done, chunks) = streamed_text(&body);
    assert!(done, "{body}");
    assert_eq!(chunks.len(), 25);
    assert_eq!(text, whole["choices"][0]["text"].as_str().unwrap());
    assert!(
        chunks[..24]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(chunks[24]["choices"][0]["finish_reason"], "length");
    assert_eq!(
        chunks[0]["choices"][0]["logprobs"]["top_logprobs"][0]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

/// A client that goes away mid-stream stops its generation: the server's count of running
/// generations falls back to zero at once, where the ten million tokens it asked for take this
/// tiny model about 15 seconds (the test fails in 5).
#[test]
fn a_client_that_disconnects_stops_its_generation() {
    let server = Server::start(shared_tiny_run(), &["--max-tokens", "10000000"]);
    let (stream, first) =
        server.open_stream(&json!({"prompt": "abc", "max_tokens": 10_000_000, "stream": true}));
    assert!(String::from_utf8_lossy(&first).contains("200 OK"));
    assert_eq!(
        server.running(),
        1,
        "the generation runs while its client reads"
    );
    drop(stream);
    server.assert_idle_soon("the generation goes on without its client");
    let (status, _) = server.post(
        "/v1/completions",
        &json!({"prompt": "abc", "max_tokens": 3}),
    );
    assert_eq!(status, 200);
}

#[test]
fn thirty_two_streams_at_once_all_complete() {
    let server = Server::start(shared_tiny_run(), &["--workers", "4"]);
    let texts: Vec<(String, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|k| {
                let server = &server;
                scope.spawn(move || {
                    let request =
                        json!({"prompt": "abc", "max_tokens": 60, "seed": k, "stream": true});
                    let (status, body) =
                        server.request("POST", "/v1/completions", request.to_string().as_bytes());
                    assert_eq!(status, 200, "{body}");
                    let (text, done, _) = streamed_text(&body);
                    (text, done)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, (text, done)) in texts.iter().enumerate() {
        assert!(done, "stream {k} ended with [DONE]");
        assert_eq!(text.chars().count(), 60, "stream {k}");
    }
    assert_eq!(server.running(), 0);
    let (status, _) = server.get("/v1/models");
    assert_eq!(status, 200);
}

/// Ctrl-C while a stream is running: the stream still ends with `[DONE]`, then the server exits
/// cleanly.
#[test]
fn ctrl_c_lets_the_requests_in_flight_finish() {
    let mut server = Server::start(shared_tiny_run(), &[]);
    let request = json!({"prompt": "abc", "max_tokens": 3000, "stream": true, "seed": 1});
    let (mut stream, mut raw) = server.open_stream(&request);
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    stream.read_to_end(&mut raw).unwrap();
    let (status, body) = parse_response(&raw);
    assert_eq!(status, 200);
    let (text, done, _) = streamed_text(&body);
    assert!(done, "the stream in flight finished");
    assert_eq!(text.chars().count(), 3000);
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// OpenAI's own Python client lists, completes, streams and gets its error types, where
/// `CHARLSTM_PYTHON` names a Python with the `openai` package (CI installs it).
#[test]
fn openais_python_client_works_unchanged() {
    let Some(python) = std::env::var_os("CHARLSTM_PYTHON") else {
        eprintln!("skipping: CHARLSTM_PYTHON is not set");
        return;
    };
    let server = Server::start(shared_tiny_run(), &[]);
    let output = run(Command::new(python)
        .arg(repo_file("scripts/check_openai_client.py"))
        .arg(format!("http://{}/v1", server.address))
        .arg("run"));
    assert_ok(&output);
    assert_mentions(&stdout(&output), "the openai client completes and streams");
}
