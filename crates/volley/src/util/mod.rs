//! Small shared utilities.

pub(crate) mod time;
