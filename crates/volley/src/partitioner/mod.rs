//! Partitioners.

pub mod murmur2;
