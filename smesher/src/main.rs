//! `smesher`: parse the command line, load the config, run the service or a tool command.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use smesher::commands;
use smesher::config::{self, ConfigArgs, Loaded};
use smesher::service::Service;
use tokio::net::TcpListener;

/// The Spacemesh smeshing service: holds the identities' keys, does their duties, and fronts
/// 2–3 full nodes with health-checked fail-over.
#[derive(Parser, Debug)]
#[command(
    name = "smesher",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the smeshing service (the default when no command is given).
    Run(RunArgs),
    /// Same as `run`: go-spacemesh's way of starting a smeshing service.
    Smeshing(RunArgs),
    /// Create or list identities (`<data-folder>/identities/*.key`).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Export or import the signing history (only while the service is stopped).
    Guard {
        #[command(subcommand)]
        command: GuardCommand,
    },
    /// Import a go-spacemesh data folder: its local.sql (read-only: in-flight NIPoST state and
    /// own ATX history) and its identities/*.key files.
    Migrate {
        /// The go-spacemesh data folder (holds local.sql and identities/).
        #[arg(long, value_name = "DIR")]
        from: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Run a post-service: dial a smeshing service's post listener and prove from one PoST
    /// data folder (plaintext or mutual TLS), reconnecting when the stream ends.
    PostService(smesher::post::cli::PostServiceArgs),
    /// PoST data tools.
    Post {
        #[command(subcommand)]
        command: PostCommand,
    },
    /// Print the upstream table of a running service (read from its metrics listener).
    Status {
        /// The running service's metrics listener, e.g. http://127.0.0.1:1010.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:1010")]
        metrics_address: String,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a new identity key file.
    New {
        /// File name under identities/ (".key" is added).
        #[arg(long, default_value = "identity")]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the identities: file, node ID in hex and base64.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand, Debug)]
enum PostCommand {
    /// Create PoST data on the CPU (resumable; for tests and small setups).
    Init(smesher::post::cli::PostInitArgs),
}

#[derive(Subcommand, Debug)]
enum GuardCommand {
    /// Write the history as versioned JSON (to stdout, or to --file).
    Export {
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// Include the signed messages and signatures, not just the digests.
        #[arg(long)]
        signatures: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Merge a history document into this data folder's guard; never weakens what is recorded.
    Import {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smesher: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => runtime.block_on(run(cli.config)),
        Some(Command::Run(args) | Command::Smeshing(args)) => runtime.block_on(run(args.config)),
        Some(Command::Keys { command }) => match command {
            KeysCommand::New { name, config } => tool(&config, |c| commands::keys_new(c, &name)),
            KeysCommand::List { config } => tool(&config, commands::keys_list),
        },
        Some(Command::Guard { command }) => match command {
            GuardCommand::Export {
                file,
                signatures,
                config,
            } => tool(&config, |c| {
                let json = commands::guard_export(c, signatures)?;
                match file {
                    Some(path) => {
                        std::fs::write(&path, json + "\n")
                            .with_context(|| format!("writing {}", path.display()))?;
                        Ok(format!("wrote {}\n", path.display()))
                    }
                    None => Ok(json + "\n"),
                }
            }),
            GuardCommand::Import { file, config } => {
                tool(&config, |c| commands::guard_import(c, &file))
            }
        },
        Some(Command::Migrate { from, config }) => tool(&config, |c| commands::migrate(c, &from)),
        Some(Command::PostService(args)) => {
            runtime.block_on(smesher::post::cli::run_post_service(args))
        }
        Some(Command::Post { command }) => match command {
            PostCommand::Init(args) => smesher::post::cli::run_post_init(args),
        },
        Some(Command::Status { metrics_address }) => {
            match runtime.block_on(status(&metrics_address)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("smesher status: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs a tool command on the loaded config; prints its output or its error.
fn tool(args: &ConfigArgs, f: impl FnOnce(&config::Config) -> anyhow::Result<String>) -> ExitCode {
    let loaded = match load_config(args) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match f(&loaded.config) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smesher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config or explains every problem and exits with status 2.
fn load_config(args: &ConfigArgs) -> Result<Loaded, ExitCode> {
    config::load(args).map_err(|errors| {
        eprintln!("smesher: the configuration has errors:\n{errors}");
        ExitCode::from(2)
    })
}

async fn run(args: ConfigArgs) -> ExitCode {
    let loaded = match load_config(&args) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    smesher::logging::init(&loaded.config.logging);
    if !loaded.ignored.is_empty() {
        tracing::info!(
            count = loaded.ignored.len(),
            keys = %loaded.ignored.join(", "),
            "config keys used only by full nodes are ignored"
        );
    }
    match serve(args, loaded).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smesher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ConfigArgs, loaded: Loaded) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};

    let config = loaded.config;
    let admin = match config.metrics_listener {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener on {addr}"))?,
        ),
        None => None,
    };
    let service = Service::start_serving_api(&config, admin, prometheus::Registry::new()).await?;
    if let Some(addr) = service.admin_addr() {
        tracing::info!("metrics at http://{addr}/metrics, upstream table at http://{addr}/status");
    }
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    loop {
        tokio::select! {
            _ = hangup.recv() => match config::load(&args) {
                Ok(reloaded) => { let _ = service.reload(&reloaded.config); }
                Err(errors) => {
                    service.reload_failed();
                    tracing::error!("SIGHUP: configuration not reloaded, it has errors:\n{errors}");
                }
            },
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("shutting down");
    service.shutdown().await;
    Ok(())
}

async fn status(metrics_address: &str) -> anyhow::Result<()> {
    let table = smesher::status::fetch(metrics_address).await?;
    print!("{table}");
    Ok(())
}
