//! Printing an error with its causes.

use std::error::Error;
use std::fmt;

/// An error and every cause under it ([`Error::source`], followed to the end), printed on one
/// line as `error: cause: cause`.
///
/// canister's errors describe their own layer in `Display` and return what caused it from
/// `source()`, never both (a report would show the cause twice). Where a message must stand
/// alone (a log line, `main`'s printout of a [`ConfigError`](crate::config::ConfigError)), it is
/// printed through this.
///
/// # Examples
///
/// ```
/// use canister_core::ErrorChain;
///
/// let err = canister_core::config::Config::from_file("/nonexistent/canister.ini").unwrap_err();
/// let text = ErrorChain(&err).to_string();
/// assert!(text.starts_with("cannot read configuration file /nonexistent/canister.ini: "));
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
