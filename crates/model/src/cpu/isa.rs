//! Pointwise loops compiled for the best instruction set of the machine they run on.
//!
//! Builds target the x86-64 baseline (SSE2), so that one binary runs everywhere; the matrix
//! products choose AVX2 or AVX-512 at run time inside gemm. [`best_isa!`] does the same for
//! our own loops: it compiles a function body three times on x86-64 (baseline, AVX2 + FMA,
//! AVX-512F) and calls the widest the CPU has, checked once per call by the standard
//! library's cached feature detection. The arithmetic is the same in every version (Rust
//! never fuses `a * b + c` into an FMA on its own), so results are identical bit for bit on
//! every machine; only the vector width differs. Other architectures get the body as written.

/// Defines `fn name(args) body` compiled once per instruction set (see the module doc).
/// Arguments are plain `name: Type` pairs; the body must not return early.
macro_rules! best_isa {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn portable($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                fn avx512($($arg: $ty),*) {
                    portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) {
                    portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked on the line above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA, checked on the line above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

pub(crate) use best_isa;

/// The instruction set the pointwise loops use on this machine: `"avx512f"`, `"avx2"` or
/// `"baseline"` (for benchmarks and logs).
pub fn pointwise_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2";
        }
    }
    "baseline"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::activation::{sigmoid, tanh};

    best_isa! {
        fn gate(values: &[f32], out: &mut [f32]) {
            for (out, &x) in out.iter_mut().zip(values) {
                *out = sigmoid(x) * tanh(x) + x * 0.5;
            }
        }
    }

    /// Every version computes what the portable loop computes, bit for bit.
    #[test]
    fn the_dispatched_loop_equals_the_portable_one_bit_for_bit() {
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.037).collect();
        let mut dispatched = vec![0.0; values.len()];
        gate(&values, &mut dispatched);
        let portable: Vec<f32> = values
            .iter()
            .map(|&x| sigmoid(x) * tanh(x) + x * 0.5)
            .collect();
        assert_eq!(
            dispatched.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            portable.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "on {}",
            pointwise_isa()
        );
        assert!(["avx512f", "avx2", "baseline"].contains(&pointwise_isa()));
    }
}
