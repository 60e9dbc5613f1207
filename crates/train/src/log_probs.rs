//! Log probabilities from a row of logits: of one token, and of the most likely ones.

/// `log Σ exp(row)`, in f64: `row[i]` minus it is the log probability of `i`.
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    max + sum.ln()
}

/// `log softmax(row)[index]`, in f64.
pub(crate) fn log_prob_of(row: &[f32], index: usize) -> f64 {
    row[index] as f64 - log_sum_exp(row)
}

/// The `top` most likely tokens of a row of logits with their log probabilities, most likely
/// first (none when `top` is 0).
pub(crate) fn most_likely(row: &[f32], top: usize) -> Vec<(u32, f64)> {
    if top == 0 {
        return Vec::new();
    }
    let total = log_sum_exp(row);
    top_ids(row, top)
        .into_iter()
        .map(|id| (id as u32, row[id] as f64 - total))
        .collect()
}

/// The ids of the `k` largest of `values`, largest first (ties: lower id first). Selects
/// before it sorts, so a large vocabulary costs one pass, not a sort of every token.
pub(crate) fn top_ids(values: &[f32], k: usize) -> Vec<usize> {
    let order = |&a: &usize, &b: &usize| values[b].total_cmp(&values[a]).then(a.cmp(&b));
    let mut ids: Vec<usize> = (0..values.len()).collect();
    let k = k.min(ids.len());
    if k == 0 {
        return Vec::new();
    }
    if k < ids.len() {
        ids.select_nth_unstable_by(k - 1, order);
        ids.truncate(k);
    }
    ids.sort_by(order);
    ids
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Selecting then sorting gives what sorting everything gives, ties (few distinct values)
    /// included, for every k.
    #[test]
    fn top_ids_are_the_first_of_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let values: Vec<f32> = (0..200).map(|_| rng.random_range(0..20) as f32).collect();
        let mut sorted: Vec<usize> = (0..values.len()).collect();
        sorted.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        for k in [0, 1, 5, 199, 200, 300] {
            assert_eq!(top_ids(&values, k), sorted[..k.min(200)], "k = {k}");
        }
    }
}
