//! placeholder
#![forbid(unsafe_code)]

pub mod auth;
mod clock;
pub mod config;
pub mod log;
pub mod session;

pub use auth::{AuthOutcome, Authenticator, Credentials, DefaultAuthenticator, Refusal, User};
pub use clock::{Clock, SystemClock, TestClock};
pub use config::{Config, ConfigError};
pub use log::{DefaultLogSink, Event, Level, LogContext, LogSink};
