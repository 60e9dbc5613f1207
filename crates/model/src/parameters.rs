//! Reading a module's parameters back as plain numbers: for tests and checks that compare
//! models value by value.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// The values of every float parameter of `module`, flattened, in the order it visits them.
///
/// # Panics
///
/// If a parameter cannot be read back as `f32` (a dtype the model does not use).
pub fn parameter_values(module: &impl Module) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().try_into_vec_as().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}
