//! [`ProducerConfigBuilder`]: typed, chainable configuration in code.

use std::time::Duration;

use super::{Acks, CompressionType, ProducerConfig};
use crate::error::{Error, Result};

/// Builds a [`ProducerConfig`] in code. Setters are chainable; [`property`](Self::property)
/// sets any key by its Java name. The first invalid `property` is reported by
/// [`build`](Self::build), which then runs [`ProducerConfig::validate`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    error: Option<Error>,
}

impl ProducerConfigBuilder {
    /// `bootstrap.servers`; each item may itself be a comma-separated list.
    pub fn bootstrap_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config.bootstrap_servers = servers
            .into_iter()
            .flat_map(|s| {
                s.as_ref()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }

    /// `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }

    /// `linger.ms`.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// `batch.size`.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.batch_size = bytes;
        self
    }

    /// `buffer.memory`.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.config.buffer_memory = bytes;
        self
    }

    /// `max.block.ms`.
    pub fn max_block(mut self, timeout: Duration) -> Self {
        self.config.max_block = timeout;
        self
    }

    /// `delivery.timeout.ms` (counts as set explicitly).
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.delivery_timeout = timeout;
        self.config.explicit.delivery_timeout = true;
        self
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// `retries`.
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = retries;
        self
    }

    /// `compression.type` (levels: `property("compression.zstd.level", "..")` etc.).
    pub fn compression(mut self, compression: CompressionType) -> Self {
        self.config.compression_type = compression;
        self
    }

    /// `enable.idempotence` (counts as set explicitly).
    pub fn enable_idempotence(mut self, enable: bool) -> Self {
        self.config.enable_idempotence = Some(enable);
        self
    }

    /// `transactional.id`.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.transactional_id = Some(id.into());
        self
    }

    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.config.max_in_flight = requests;
        self
    }

    /// `max.request.size`.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.max_request_size = bytes;
        self
    }

    /// Any key by its Java name, as [`ProducerConfig::set`].
    pub fn property(mut self, key: &str, value: &str) -> Self {
        if let Err(e) = self.config.set(key, value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// The validated configuration, or the first error.
    pub fn build(self) -> Result<ProducerConfig> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        config.validate()?;
        Ok(config)
    }
}
