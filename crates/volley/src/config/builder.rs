//! [`ProducerConfigBuilder`]: typed, chainable configuration in code.
//!
//! Besides the methods below, there is one method per key of [`KEYS`](super::KEYS), named after
//! its `ProducerConfig` field (`linger`, `batch_size`, `max_request_size`, ...), generated from
//! the key's declaration in `config/keys.rs`.

use super::{CompressionType, ConfigValue, ProducerConfig};
use crate::error::{Error, Result};

/// Builds a [`ProducerConfig`] in code. Setters are chainable: one per key (named after the
/// `ProducerConfig` field), and [`property`](Self::property) for any key by its Java name. Each
/// value is checked by the key's validator, the same one [`ProducerConfig::set`] uses; the first
/// rejected value is reported by [`build`](Self::build), which then runs
/// [`ProducerConfig::validate`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    error: Option<Error>,
}

impl ProducerConfigBuilder {
    /// Assigns the field of key `index` through [`ProducerConfig::assign`], keeping the first
    /// error.
    pub(super) fn assign<T: ConfigValue>(
        mut self,
        index: usize,
        value: T,
        field: fn(&mut ProducerConfig) -> &mut T,
    ) -> Self {
        if self.error.is_none() {
            if let Err(e) = self.config.assign(index, value, field) {
                self.error = Some(e);
            }
        }
        self
    }

    /// `compression.type`: the same as [`compression_type`](Self::compression_type) (levels:
    /// [`compression_gzip_level`](Self::compression_gzip_level) and its siblings).
    pub fn compression(self, compression: CompressionType) -> Self {
        self.compression_type(compression)
    }

    /// Any key by its Java name, as [`ProducerConfig::set`].
    pub fn property(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            if let Err(e) = self.config.set(key, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// The validated configuration, or the first error ([`Error::Config`] naming the key).
    pub fn build(self) -> Result<ProducerConfig> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        config.validate()?;
        Ok(config)
    }
}
