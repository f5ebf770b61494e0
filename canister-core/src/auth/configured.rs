//! The authenticator built from the configuration (placeholder until Basic and JWT land).

use std::future::Future;

use http::HeaderValue;

use super::{AuthOutcome, Authenticator, Credentials, Refusal};
use crate::config::{Config, ConfigError};

/// The authenticator the configuration describes: Basic and/or Bearer JWT, tried in that order.
///
/// Minimal implementation: it authenticates nobody until the Basic and JWT authenticators land.
#[derive(Debug, Default)]
pub struct DefaultAuthenticator {
    _private: (),
}

impl DefaultAuthenticator {
    /// Builds the authenticators the configuration asks for.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when an authentication setting is unusable.
    pub fn from_config(_config: &Config) -> Result<Self, ConfigError> {
        Ok(Self::default())
    }
}

impl Authenticator for DefaultAuthenticator {
    fn authenticate<'a>(
        &'a self,
        _credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        std::future::ready(AuthOutcome::NotMine)
    }

    fn challenges(&self, _refusal: Option<&Refusal>, _out: &mut Vec<HeaderValue>) {}
}
