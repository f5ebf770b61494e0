//! Why the log destination could not be set up: a leaf shared by the daily files and the
//! sink.

use std::path::PathBuf;

/// Why the log destination could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The `log_path` directory could not be created or listed. Check the path and its
    /// permissions, or unset `log_path` to log to the console.
    #[error("cannot use log directory {path}; check `log_path` and the directory's permissions")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Today's log file could not be opened for appending. Check its permissions.
    #[error("cannot open log file {path}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `log_sink = tracing`, but canister-core was built without its `tracing` feature.
    /// Enable it (`canister-core = { features = ["tracing"] }`; the adapters enable it by
    /// default) or set `log_sink = canister`.
    #[error("log_sink is `tracing`, but canister-core was built without its `tracing` feature")]
    TracingUnavailable,
    /// `log_sink = canister` (the default) with a `log_level`, but canister-core was built
    /// without its `default-sink` feature, which writes canister's lines. Enable it
    /// (`canister-core = { features = ["default-sink"] }`; it is on by default), set
    /// `log_sink = tracing` (feature `tracing`), or set `log_level = DISABLED` to log
    /// nothing.
    #[error(
        "log_sink is `canister`, but canister-core was built without its `default-sink` feature"
    )]
    DefaultSinkUnavailable,
}
