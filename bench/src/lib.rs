//! End-to-end benchmark servers for canister; see `bench/README.md` and `bench/run.sh`.
//!
//! Every server binary takes the address to listen on as its first argument and prints
//! `listening on http://ADDR` on stdout (then flushes it) once it accepts connections, as
//! canister's demos do, so `run.sh` starts them all the same way.

use std::io::Write;
use std::net::SocketAddr;

/// The body of the bare servers' `GET /`.
pub const HELLO: &str = "Hello, World!";

/// The address to listen on: the first command-line argument, else `default`.
pub fn bind_arg(default: &str) -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.to_owned())
}

/// Prints `listening on http://ADDR` and flushes stdout (`run.sh` waits for that line).
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()
}

/// The peak resident set size (`VmHWM`) and the current one (`VmRSS`) of this process, in
/// KiB, from `/proc/self/status` (Linux); `None` elsewhere.
pub fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}
