use super::*;
use charlstm_model::ModelConfig;

/// A 7-token model with embedding 3 and hidden size 4, on flex, as `config` says otherwise.
fn tiny_model(config: ModelConfig) -> CharModel {
    ModelConfig {
        embedding_size: 3,
        hidden_size: 4,
        ..config
    }
    .init(7, &Device::flex())
}

#[test]
fn names_shapes_and_layouts_are_pytorchs() {
    let model = tiny_model(ModelConfig {
        num_layers: 2,
        forget_bias: 1.0,
        ..ModelConfig::default()
    });
    let tensors = pytorch_tensors(&model).unwrap();
    let shapes: Vec<(&str, Vec<usize>)> = tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("embedding.weight", vec![7, 3]),
            ("lstm.weight_ih_l0", vec![16, 3]),
            ("lstm.weight_hh_l0", vec![16, 4]),
            ("lstm.bias_ih_l0", vec![16]),
            ("lstm.bias_hh_l0", vec![16]),
            ("lstm.weight_ih_l1", vec![16, 4]),
            ("lstm.weight_hh_l1", vec![16, 4]),
            ("lstm.bias_ih_l1", vec![16]),
            ("lstm.bias_hh_l1", vec![16]),
            ("head.weight", vec![7, 4]),
            ("head.bias", vec![7]),
        ]
    );
    // weight_ih[gate, input] is W_x[input, gate].
    let RecurrentLayer::Lstm(first) = &model.layers[0] else {
        panic!("an LSTM model has LSTM layers");
    };
    let w_x: Vec<f32> = first.input_weight.val().try_into_vec_as().unwrap();
    let weight_ih = &tensors[1].values;
    assert_eq!(weight_ih[5 * 3 + 2], w_x[2 * 16 + 5]);
    // bias_ih and bias_hh are the layer's two biases; the forget-gate offset (gates i, f,
    // g, o) sits in the second quarter of the first, on top of U(-1/√H, 1/√H) = U(-½, ½).
    let bias: Vec<f32> = first.bias.val().try_into_vec_as().unwrap();
    let recurrent = first.recurrent_bias.as_ref().unwrap().val();
    let recurrent_bias: Vec<f32> = recurrent.try_into_vec_as().unwrap();
    assert_eq!(tensors[3].values, bias);
    assert_eq!(tensors[4].values, recurrent_bias);
    assert!(
        tensors[3].values[4..8]
            .iter()
            .all(|b| (b - 1.0).abs() <= 0.5)
    );
    assert!(tensors[3].values[8..].iter().all(|b| b.abs() <= 0.5));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.safetensors");
    let vocab = charlstm_data::Vocabulary::from_text("abcdefg");
    export_safetensors(&model, &Tokenizer::Characters(vocab), &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    assert_eq!(metadata["vocab"], r#"["a","b","c","d","e","f","g"]"#);
    assert_eq!(metadata["cell"], "lstm");
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let head = file.tensor("head.weight").unwrap();
    assert_eq!(head.shape(), &[7, 4]);
    assert_eq!(head.dtype(), Dtype::F32);
}

/// A GRU's weights go out as `nn.GRU`'s (`[3H, ·]`, both biases as they are), an RNN's as
/// `nn.RNN`'s (`[H, ·]`, `bias_hh` zeros), and the metadata names the cell.
#[test]
fn gru_and_rnn_go_out_under_their_pytorch_names() {
    for (cell, gates) in [(CellKind::Gru, 3), (CellKind::Rnn, 1)] {
        let model = tiny_model(ModelConfig {
            num_layers: 2,
            cell,
            ..ModelConfig::default()
        });
        let tensors = pytorch_tensors(&model).unwrap();
        let shapes: Vec<(String, Vec<usize>)> = tensors
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        let name = cell.name();
        let width = gates * 4;
        let expected: Vec<(String, Vec<usize>)> = vec![
            ("embedding.weight".into(), vec![7, 3]),
            (format!("{name}.weight_ih_l0"), vec![width, 3]),
            (format!("{name}.weight_hh_l0"), vec![width, 4]),
            (format!("{name}.bias_ih_l0"), vec![width]),
            (format!("{name}.bias_hh_l0"), vec![width]),
            (format!("{name}.weight_ih_l1"), vec![width, 4]),
            (format!("{name}.weight_hh_l1"), vec![width, 4]),
            (format!("{name}.bias_ih_l1"), vec![width]),
            (format!("{name}.bias_hh_l1"), vec![width]),
            ("head.weight".into(), vec![7, 4]),
            ("head.bias".into(), vec![7]),
        ];
        assert_eq!(shapes, expected);
        match &model.layers[0] {
            RecurrentLayer::Gru(gru) => {
                // weight_hh[gate, h] is W_h[h, gate]; bias_hh is the recurrent bias.
                let w_h: Vec<f32> = gru.recurrent_weight.val().try_into_vec_as().unwrap();
                assert_eq!(tensors[2].values[9 * 4 + 1], w_h[12 + 9]);
                let b_h: Vec<f32> = gru.recurrent_bias.val().try_into_vec_as().unwrap();
                assert_eq!(tensors[4].values, b_h);
            }
            RecurrentLayer::Rnn(rnn) => {
                let w_x: Vec<f32> = rnn.input_weight.val().try_into_vec_as().unwrap();
                assert_eq!(tensors[1].values[3 * 3 + 2], w_x[2 * 4 + 3]);
                assert_eq!(tensors[4].values, vec![0.0; 4]);
            }
            RecurrentLayer::Lstm(_) => panic!("{cell:?} model with an LSTM layer"),
        }

        let vocab = charlstm_data::Vocabulary::from_text("abcdefg");
        let bytes = safetensors_bytes(&model, &Tokenizer::Characters(vocab)).unwrap();
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(metadata.metadata().clone().unwrap()["cell"], name);
    }
}

/// A bidirectional model's backward stack and own head go out under `backward_` names;
/// the metadata says it is bidirectional and whether layers are residual.
#[test]
fn the_backward_stack_goes_out_under_backward_names() {
    let model = tiny_model(ModelConfig {
        num_layers: 1,
        bidirectional: true,
        shared_head: false,
        residual: true,
        ..ModelConfig::default()
    });
    let names: Vec<String> = pytorch_tensors(&model)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        [
            "embedding.weight",
            "lstm.weight_ih_l0",
            "lstm.weight_hh_l0",
            "lstm.bias_ih_l0",
            "lstm.bias_hh_l0",
            "backward_lstm.weight_ih_l0",
            "backward_lstm.weight_hh_l0",
            "backward_lstm.bias_ih_l0",
            "backward_lstm.bias_hh_l0",
            "head.weight",
            "head.bias",
            "backward_head.weight",
            "backward_head.bias",
        ]
    );
    let vocab = charlstm_data::Vocabulary::from_text("abcdefg");
    let bytes = safetensors_bytes(&model, &Tokenizer::Characters(vocab)).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    assert_eq!(metadata["bidirectional"], "true");
    assert_eq!(metadata["residual"], "true");
}
