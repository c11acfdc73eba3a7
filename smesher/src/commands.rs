//! The tool commands besides running the service: `keys new|list`, `guard export|import`,
//! `migrate`. Each works on a stopped service's data folder; the guard's lock makes sure of
//! that for everything that touches signing history.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use signing::{identity, interchange, Genesis, Guard, GuardMetrics};

use crate::config::Config;

/// The genesis of a config (the signing prefix and the guard's network).
pub fn genesis_of(config: &Config) -> anyhow::Result<Genesis> {
    let secs = config
        .genesis_time
        .duration_since(std::time::UNIX_EPOCH)
        .context("genesis-time is before 1970")?
        .as_secs();
    Genesis::from_unix(
        i64::try_from(secs).context("genesis-time is out of range")?,
        &config.genesis_extra_data,
    )
    .context("genesis")
}

/// Opens the guard of a stopped service (fails if the service holds it).
pub fn open_guard(config: &Config) -> anyhow::Result<Guard> {
    let genesis = genesis_of(config)?;
    let metrics = GuardMetrics::register(&prometheus::Registry::new())
        .context("registering guard metrics")?;
    Guard::open(&config.data_folder, genesis.genesis_id(), metrics).with_context(|| {
        format!(
            "opening the signing guard in {}",
            config.data_folder.display()
        )
    })
}

/// `keys new`: creates `identities/<name>.key` and describes it.
pub fn keys_new(config: &Config, name: &str) -> anyhow::Result<String> {
    let dir = config.data_folder.join(identity::IDENTITIES_DIR);
    let created = identity::generate(&dir, name)
        .with_context(|| format!("creating a key in {}", dir.display()))?;
    Ok(format!(
        "created {}\nnode ID (hex):    {}\nnode ID (base64): {}\n",
        dir.join(created.file_name()).display(),
        created.hex(),
        created.base64()
    ))
}

/// `keys list`: every identity of the data folder; every bad key file is reported.
pub fn keys_list(config: &Config) -> anyhow::Result<String> {
    let identities = identity::load_data_folder(&config.data_folder)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading identities of {}", config.data_folder.display()))?;
    let mut out = String::new();
    let _ = writeln!(out, "{:<24} {:<64}  BASE64", "FILE", "NODE ID");
    for id in &identities {
        let _ = writeln!(
            out,
            "{:<24} {:<64}  {}",
            id.file_name(),
            id.hex(),
            id.base64()
        );
    }
    let _ = writeln!(out, "{} identities", identities.len());
    Ok(out)
}

/// `guard export`: the signing history as the versioned JSON document.
pub fn guard_export(config: &Config, with_signatures: bool) -> anyhow::Result<String> {
    let guard = open_guard(config)?;
    let doc = interchange::export(&guard, with_signatures).context("exporting the guard")?;
    Ok(doc.to_json())
}

/// `guard import FILE`: merges a history into the guard, never weakening what is recorded.
pub fn guard_import(config: &Config, file: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = interchange::Interchange::from_json(&text)
        .with_context(|| format!("{} is not a guard interchange document", file.display()))?;
    let guard = open_guard(config)?;
    let summary = interchange::import(&guard, &doc)
        .with_context(|| format!("importing {}", file.display()))?;
    Ok(format!(
        "imported {}: {} slots added, {} already recorded, {} signatures dropped\n",
        file.display(),
        summary.added,
        summary.unchanged,
        summary.signatures_dropped
    ))
}

/// `migrate --from DIR`: imports a go-spacemesh data folder (its `local.sql`, read-only, and its
/// key files) into this data folder.
pub fn migrate(config: &Config, from: &Path) -> anyhow::Result<String> {
    let guard = open_guard(config)?;
    let report = signing::migrate::migrate(&guard, from)
        .with_context(|| format!("migrating {}", from.display()))?;
    let mut out = format!(
        "migrated {} (local.sql schema version {}) into {}\n",
        from.display(),
        report.schema_version,
        config.data_folder.display()
    );
    for (table, rows) in &report.rows_copied {
        let unchanged = report.rows_unchanged.get(table).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {table}: {rows} rows copied, {unchanged} already present"
        );
    }
    let _ = writeln!(
        out,
        "  own ATXs recorded in the guard: {} with verified signatures, {} blocked by epoch only",
        report.atx_verified, report.atx_unverified
    );
    let _ = writeln!(
        out,
        "  PoET registrations recorded: {}",
        report.poet_registrations
    );
    let _ = writeln!(
        out,
        "  key files copied: {}; already present: {}",
        list_or_none(&report.keys_copied),
        list_or_none(&report.keys_present)
    );
    Ok(out)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
