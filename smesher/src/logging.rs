//! Log output: `tracing` to stderr, as text or one JSON object per line.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LoggingSection;

/// Installs the global subscriber once; `RUST_LOG` overrides the configured level.
pub fn init(section: &LoggingSection) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(section.level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests, repeated runs in one process) is harmless: keep the first.
    let _ = if section.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
