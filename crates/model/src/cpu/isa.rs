//! Pointwise loops compiled for the best instruction set of the machine they run on.
//!
//! Builds target the x86-64 baseline (SSE2), so that one binary runs everywhere; gemm chooses
//! its AVX-512 or AVX2 + FMA kernels at run time (the AVX-512 ones through its `x86-v4`
//! feature, which the workspace enables). [`best_isa!`] does the same for our own loops: it
//! compiles a function body three times on x86-64 (baseline, AVX2 + FMA, AVX-512F) and calls
//! the widest the CPU has ([`Isa::detect`], the standard library's cached feature detection,
//! once per call). The arithmetic is the same in every version (Rust
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
    /// The best the running CPU supports, by the standard library's feature detection, or a
    /// narrower one if the environment variable `CHARLSTM_ISA` asks for it (`avx2` or
    /// `portable`; other values are ignored): to measure on one machine the code paths another
    /// machine takes. Read once per process.
    pub fn detect() -> Self {
        static CHOSEN: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let asked = std::env::var("CHARLSTM_ISA").ok();
            Self::best().narrowed_to(asked.as_deref())
        })
    }

    /// The best the running CPU supports.
    fn best() -> Self {
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

    /// `self`, or the instruction set `asked` names if that one is narrower.
    fn narrowed_to(self, asked: Option<&str>) -> Self {
        let asked = match asked.map(str::trim) {
            Some("avx2") => Self::Avx2Fma,
            Some("portable") => Self::Portable,
            _ => return self,
        };
        if asked.width() < self.width() {
            asked
        } else {
            self
        }
    }

    /// The name `CHARLSTM_ISA` and `charlstm bench` use for it: `avx512`, `avx2` or
    /// `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2Fma => "avx2",
            Self::Portable => "portable",
        }
    }

    /// Lanes of f32 in a vector register.
    fn width(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2Fma => 8,
            Self::Portable => 4,
        }
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

    /// `CHARLSTM_ISA` can only narrow the choice: asking for more than the CPU has, or for
    /// something unknown, changes nothing.
    #[test]
    fn the_environment_narrows_the_instruction_set_only() {
        use Isa::*;
        assert_eq!(Avx512.narrowed_to(Some("avx2")), Avx2Fma);
        assert_eq!(Avx512.narrowed_to(Some("portable")), Portable);
        assert_eq!(Avx2Fma.narrowed_to(Some(" portable ")), Portable);
        assert_eq!(Portable.narrowed_to(Some("avx2")), Portable);
        assert_eq!(Avx2Fma.narrowed_to(Some("avx512")), Avx2Fma);
        assert_eq!(Avx512.narrowed_to(Some("sse9")), Avx512);
        assert_eq!(Avx512.narrowed_to(None), Avx512);
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
