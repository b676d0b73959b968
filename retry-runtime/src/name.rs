//! The name of a retried function, in logs and telemetry.

use std::fmt;

/// The name of a retried function: given by `name = ".."`, or `module::function`, or
/// `Type::method` for methods (read from `Self`'s type name when first needed).
#[derive(Clone, Copy)]
pub struct CallName(Repr);

#[derive(Clone, Copy)]
enum Repr {
    Fixed(&'static str),
    Function { module: &'static str, function: &'static str },
    Method { self_type: fn() -> &'static str, method: &'static str },
}

impl CallName {
    /// A name given as is.
    pub const fn fixed(name: &'static str) -> Self {
        CallName(Repr::Fixed(name))
    }

    /// `module::function`.
    pub const fn function(module: &'static str, function: &'static str) -> Self {
        CallName(Repr::Function { module, function })
    }

    /// `Type::method`, where `self_type` is `std::any::type_name::<Self>`.
    pub const fn method(self_type: fn() -> &'static str, method: &'static str) -> Self {
        CallName(Repr::Method { self_type, method })
    }
}

impl fmt::Display for CallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Fixed(name) => f.write_str(name),
            Repr::Function { module, function } => write!(f, "{module}::{function}"),
            Repr::Method { self_type, method } => write!(f, "{}::{method}", self_type()),
        }
    }
}

impl fmt::Debug for CallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}
