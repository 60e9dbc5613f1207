//! Pointwise loops compiled for the best instruction set of the machine they run on.
//!
//! Builds target the x86-64 baseline (SSE2), so that one binary runs everywhere; gemm chooses
//! its AVX2 + FMA kernels at run time (its AVX-512 ones sit behind a feature we leave off, see
//! BENCHMARKS.md). [`best_isa!`] does the same for our own loops: it compiles a function body three times on x86-64 (baseline, AVX2 + FMA,
//! AVX-512F) and calls the widest the CPU has ([`Isa::detect`], the standard library's
//! cached feature detection, once per call). The arithmetic is the same in every version (Rust
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
                match $crate::cpu::isa::Isa::detect() {
                    // SAFETY: `detect` found AVX-512F on this CPU.
                    $crate::cpu::isa::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: `detect` found AVX2 and FMA on this CPU.
                    $crate::cpu::isa::Isa::Avx2Fma => return unsafe { avx2($($arg),*) },
                    $crate::cpu::isa::Isa::Portable => {}
                }
            }
            portable($($arg),*)
        }
    };
}

pub(crate) use best_isa;

/// The vector instructions a CPU code path uses: the pointwise loops of [`best_isa!`] and the
/// sampling stepper's dot products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 16-lane AVX-512 with fused multiply–add.
    Avx512,
    /// 8-lane AVX2 with fused multiply–add.
    Avx2Fma,
    /// Whatever the compilation target offers (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// The best the running CPU supports, by the standard library's cached feature detection.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Self::Avx2Fma;
            }
        }
        Self::Portable
    }
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
            "on {:?}",
            Isa::detect()
        );
    }
}
