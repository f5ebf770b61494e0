//! placeholder
#![forbid(unsafe_code)]

pub mod auth;
mod clock;
pub mod config;
mod cors;
mod csrf;
mod engine;
pub mod log;
pub mod params;
pub mod response;
pub mod session;

pub use auth::{AuthOutcome, Authenticator, Credentials, DefaultAuthenticator, Refusal, User};
pub use clock::{Clock, SystemClock, TestClock};
pub use config::{Config, ConfigError};
pub use engine::{Builder, Canister, Entry, Finish, Session, Visit};
pub use log::{DefaultLogSink, Event, Level, LogContext, LogSink};
pub use params::{ParamMap, ParamsError};
pub use session::{MemoryStore, SessionStore, StoreError};
