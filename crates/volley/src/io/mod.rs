//! Sockets and the background I/O thread.

pub mod connection;
pub(crate) mod driver;
pub(crate) mod reauth;
pub mod stream;
