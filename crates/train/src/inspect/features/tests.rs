use super::*;
use charlstm_model::CellKind;
use charlstm_model::inspect::LayerTrace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn each_feature_reads_the_text_as_documented() {
    let chars: Vec<char> = "a \"(b)\"\n[{x_1".chars().collect();
    let as_ints = |feature: TextFeature| -> Vec<i64> {
        feature
            .values(&chars)
            .into_iter()
            .map(|v| v as i64)
            .collect()
    };
    let expected: [(TextFeature, [i64; 13]); 4] = [
        //                           a  ␠  "  (  b  )  "  ⏎  [  {  x  _  1
        (
            TextFeature::InsideQuotes,
            [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            TextFeature::LinePosition,
            [1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5],
        ),
        (
            TextFeature::BracketDepth,
            [0, 0, 0, 1, 1, 0, 0, 0, 1, 2, 2, 2, 2],
        ),
        (
            TextFeature::InsideWord,
            [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1],
        ),
    ];
    for (feature, values) in expected {
        assert_eq!(as_ints(feature), values, "{feature:?}");
    }
}

/// `numpy.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1]` is 0.9979487.
#[test]
fn correlation_is_pearsons() {
    assert!((correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.9979487).abs() < 1e-6);
    assert!((correlation(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    assert_eq!(correlation(&[1.0, 1.0, 1.0], &[3.0, 2.0, 1.0]), 0.0);
}

/// Two layers of random units, with one unit in the top layer that follows the bracket depth
/// (falling as it rises, with noise): that unit ranks first for the depth, the list is in
/// order of |correlation|, and a feature that does not vary over the text ranks no unit.
#[test]
fn a_unit_that_tracks_a_feature_ranks_first_for_it() {
    let chars: Vec<char> = "((a)(b(c)))[x]{(y)}((((z))))".repeat(4).chars().collect();
    let depth = TextFeature::BracketDepth.values(&chars);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let hidden_size = 6;
    let layer = |tracking: Option<usize>, rng: &mut ChaCha8Rng| {
        let mut hidden = Vec::new();
        for &d in &depth {
            for unit in 0..hidden_size {
                let noise = rng.random_range(-1.0f32..1.0);
                hidden.push(match tracking {
                    Some(u) if u == unit => 0.5 - 0.2 * d as f32 + 0.05 * noise,
                    _ => noise,
                });
            }
        }
        LayerTrace {
            cell: CellKind::Gru,
            hidden_size,
            hidden,
            cell_state: None,
            gates: Vec::new(),
        }
    };
    let inside = Inspection {
        positions: chars.len(),
        vocab_size: 1,
        next_token_probabilities: vec![1.0; chars.len()],
        layers: vec![layer(None, &mut rng), layer(Some(4), &mut rng)],
    };
    let rankings = rank_units(
        &inside,
        &chars,
        &[
            TextFeature::BracketDepth,
            TextFeature::LinePosition,
            TextFeature::InsideQuotes,
        ],
        5,
    );
    let by_depth = &rankings[0];
    assert_eq!((by_depth.units[0].layer, by_depth.units[0].unit), (1, 4));
    assert!(
        by_depth.units[0].correlation < -0.9,
        "{:?}",
        by_depth.units[0]
    );
    assert_eq!(by_depth.units.len(), 5);
    for pair in by_depth.units.windows(2) {
        assert!(pair[0].correlation.abs() >= pair[1].correlation.abs());
    }
    assert_eq!(rankings[1].units.len(), 5, "the line position varies");
    assert!(rankings[2].units.is_empty(), "the text has no quotes");
}
