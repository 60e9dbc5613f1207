//! `POST /v1/inspect` for the page's inspect view: `{"text": "...", "units": 2}` →
//! the model's surprisal and top guesses at each character, and the units that track each
//! text feature with their activation at every character (what `charlstm viz` draws).

use std::sync::Arc;

use axum::Json;
use charlstm_train::inspect::features::{TextFeature, rank_units};
use charlstm_train::inspect::inspect_text;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::model::{Pool, ServedModel};
use crate::request::Limits;

/// Answers an inspect request body.
pub async fn inspect(
    served: Arc<ServedModel>,
    pool: Pool,
    limits: Limits,
    body: &[u8],
) -> Result<Json<Value>, ApiError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(None, format!("the request body is not valid JSON: {e}")))?;
    let text = request
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(Some("text"), "text must be a string"))?
        .to_string();
    limits.check_text(&text, "text")?;
    let units = match request.get("units") {
        None | Some(Value::Null) => 2,
        Some(value) => value
            .as_u64()
            .filter(|&u| (1..=8).contains(&u))
            .ok_or_else(|| ApiError::invalid(Some("units"), "units must be from 1 to 8"))?
            as usize,
    };
    let slot = pool.slot().await?;
    let worker = served.clone();
    tokio::task::spawn_blocking(move || {
        slot.run(|| {
            let inspection = inspect_text(&worker.model, &worker.tokenizer, &text, 5)
                .map_err(|e| ApiError::invalid(Some("text"), e.to_string()))?;
            let rankings = rank_units(
                &inspection.inside,
                &inspection.chars,
                &TextFeature::ALL,
                units,
            );
            let features: Vec<Value> = rankings
                .iter()
                .map(|ranking| {
                    let units: Vec<Value> = ranking
                        .units
                        .iter()
                        .map(|score| {
                            let layer = &inspection.inside.layers[score.layer];
                            let activations: Vec<f32> = layer
                                .activations()
                                .into_iter()
                                .skip(score.unit)
                                .step_by(layer.hidden_size)
                                .collect();
                            json!({
                                "layer": score.layer,
                                "unit": score.unit,
                                "correlation": score.correlation,
                                "activations": activations,
                            })
                        })
                        .collect();
                    json!({"feature": ranking.feature.label(), "units": units})
                })
                .collect();
            let predictions: Vec<Value> = inspection
                .predictions
                .iter()
                .map(|guesses| {
                    guesses
                    .iter()
                    .map(|p| json!({"char": p.character.to_string(), "probability": p.probability}))
                    .collect()
                })
                .collect();
            Ok(Json(json!({
                "chars": inspection.chars.iter().map(char::to_string).collect::<Vec<_>>(),
                "surprisal_bits": inspection.surprisal_bits,
                "predictions": predictions,
                "bits_per_char": inspection.bits_per_char(),
                "features": features,
            })))
        })
    })
    .await
    .map_err(|e| {
        ApiError::with_status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("the inspection failed: {e}"),
        )
    })?
}
