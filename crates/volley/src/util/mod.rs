//! Small shared utilities.

pub(crate) mod signal;
