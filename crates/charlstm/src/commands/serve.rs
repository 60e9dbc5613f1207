//! `charlstm serve`: loads the model once, then serves it until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use charlstm_serve::model::ServedModel;
use charlstm_serve::request::Limits;
use charlstm_serve::{ServeOptions, serve};
use tracing::info;

use super::open_checkpoint;
use crate::cli::ServeArgs;

/// `charlstm serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    if args.max_tokens == 0 || args.max_n == 0 || args.max_prompt_chars == 0 {
        bail!("--max-tokens, --max-n and --max-prompt-chars must be at least 1");
    }
    let (checkpoint, device) = open_checkpoint(&args.checkpoint, args.backend)?;
    let model = checkpoint.load_model(&device)?;
    let served = Arc::new(ServedModel {
        model,
        tokenizer: checkpoint.tokenizer.clone(),
        device,
        id: model_id(&args.checkpoint),
        created: charlstm_serve::completions::now_seconds(),
    });
    let options = ServeOptions {
        address: SocketAddr::new(args.host, args.port),
        workers: args.workers,
        limits: Limits {
            max_prompt_chars: args.max_prompt_chars,
            max_tokens: args.max_tokens,
            max_n: args.max_n,
            max_body_bytes: args.max_body_bytes,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let id = served.id.clone();
    let address = options.address;
    runtime
        .block_on(serve(
            served,
            options,
            |bound| info!("serving '{id}' on http://{bound} (Ctrl-C to stop)"),
            shutdown_signal(),
        ))
        .with_context(|| {
            format!("cannot listen on {address} (is the port in use? choose another with --port)")
        })?;
    info!("stopped: every request in flight was answered");
    Ok(())
}

/// The model's name in the API: the run directory's name (`runs/shakespeare` →
/// `shakespeare`; `runs/shakespeare/best` → `shakespeare`).
fn model_id(checkpoint: &std::path::Path) -> String {
    let names: Vec<String> = checkpoint
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut names = names.into_iter().rev();
    match names.next() {
        Some(last) if last == "best" || last == "latest" => names.next().unwrap_or(last),
        Some(last) => last,
        None => "charlstm".into(),
    }
}

/// Completes at the first Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    info!("stopping: finishing the requests in flight");
}
