//! Logs go to stderr through `tracing` (stdout carries the protocol and nothing else). The level
//! comes from `GOCONC_LOG` (an `EnvFilter` directive such as `debug` or `goconc_lsp=trace`),
//! else from the `logLevel` setting, else `info`.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static HANDLE: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn from_env() -> Option<String> {
    std::env::var("GOCONC_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Installs the stderr logger (once; later calls do nothing).
pub fn init() {
    if HANDLE.get().is_some() {
        return;
    }
    let directive = from_env().unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
    }
}

/// Applies the `logLevel` setting, unless `GOCONC_LOG` is set (the environment wins: it is how a
/// bug report gets a trace without touching editor settings).
pub fn set_level(level: Option<&str>) {
    if from_env().is_some() {
        return;
    }
    let Some(handle) = HANDLE.get() else { return };
    let level = level.unwrap_or("info");
    match EnvFilter::try_new(level) {
        Ok(filter) => {
            let _ = handle.reload(filter);
        }
        Err(e) => tracing::warn!("logLevel `{level}` is not a log level: {e}"),
    }
}
