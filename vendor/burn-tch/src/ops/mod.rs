mod activation;
mod base;
mod bool_tensor;
mod int_tensor;
mod module;
pub(crate) mod native;
mod qtensor;
mod tensor;
mod transaction;

pub(crate) use base::*;
