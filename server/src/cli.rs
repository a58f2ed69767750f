//! Command line: `uprelay serve | emulator | fcm-send | check-config`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::fcm::FcmConfig;
use crate::fcm::{ErrorClass, FcmClient, ServiceAccountKey};

/// uprelay: a UnifiedPush distributor backed by Firebase Cloud Messaging.
#[derive(Parser, Debug)]
#[command(name = "uprelay", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the relay (embedded store and sandbox FCM emulator unless configured otherwise).
    Serve(ServeArgs),
    /// Run the FCM emulator (a stand-in for Google's OAuth and FCM v1 endpoints).
    Emulator(uprelay_emulator::EmulatorArgs),
    /// Send one FCM message with a service account and print FCM's answer.
    FcmSend(FcmSendArgs),
    /// Load and validate a configuration, print it as TOML, and exit.
    CheckConfig(ServeArgs),
}

/// Arguments of `serve` and `check-config`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file; every key can also come from UPRELAY_* variables.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Arguments of `fcm-send`.
#[derive(Args, Debug)]
pub struct FcmSendArgs {
    /// Service-account JSON of the Firebase project.
    #[arg(long)]
    pub credentials: PathBuf,
    /// FCM registration token of the target device (sent as `message.token`).
    #[arg(long, required_unless_present = "fid", conflicts_with = "fid")]
    pub token: Option<String>,
    /// Firebase Installation ID of the target app instance (sent as `message.fid`).
    #[arg(long)]
    pub fid: Option<String>,
    /// Data pairs `key=value` (repeatable).
    #[arg(long = "data", value_name = "KEY=VALUE")]
    pub data: Vec<String>,
    /// Ask FCM to validate without delivering.
    #[arg(long)]
    pub validate_only: bool,
    /// FCM API base URL (e.g. an emulator).
    #[arg(long, default_value = "https://fcm.googleapis.com")]
    pub api_url: String,
    /// Project id; defaults to the credentials' project_id.
    #[arg(long)]
    pub project: Option<String>,
    /// Android priority: high or normal.
    #[arg(long, default_value = "high")]
    pub priority: String,
    /// Android TTL in seconds.
    #[arg(long)]
    pub ttl: Option<u32>,
}

/// Parse arguments and run the chosen command.
pub async fn run() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let (config, accounts) = load_or_exit(args.config.as_deref());
            crate::logging::init(&config.log.level, config.log.format);
            crate::server::serve(config, accounts).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::CheckConfig(args) => {
            let (config, _) = load_or_exit(args.config.as_deref());
            print!("{}", config.to_redacted_toml());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Emulator(args) => {
            crate::logging::init("info", crate::logging::LogFormat::Text);
            uprelay_emulator::run(args, crate::server::shutdown_signal()).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::FcmSend(args) => {
            crate::logging::init("warn", crate::logging::LogFormat::Text);
            fcm_send(args).await
        }
    }
}

/// The configuration and its projects' service accounts. A broken configuration is one
/// clear line on stderr naming the key, and exit status 2.
fn load_or_exit(path: Option<&std::path::Path>) -> (Config, Vec<(String, ServiceAccountKey)>) {
    match Config::load(path).and_then(|c| crate::server::project_accounts(&c).map(|a| (c, a))) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("uprelay: {e}");
            std::process::exit(2);
        }
    }
}

async fn fcm_send(args: FcmSendArgs) -> anyhow::Result<std::process::ExitCode> {
    let key = crate::fcm::read_service_account(&args.credentials)?;
    let project =
        args.project.clone().or_else(|| key.project_id.clone()).context("no --project given and the credentials have no project_id")?;
    let mut data = BTreeMap::new();
    for pair in &args.data {
        let (k, v) = pair.split_once('=').with_context(|| format!("--data {pair:?} is not KEY=VALUE"))?;
        data.insert(k.to_string(), v.to_string());
    }
    let priority = match args.priority.to_ascii_lowercase().as_str() {
        "high" => "HIGH",
        "normal" => "NORMAL",
        other => anyhow::bail!("--priority {other:?}: use high or normal"),
    };
    let mut android = json!({ "priority": priority });
    if let Some(ttl) = args.ttl {
        android["ttl"] = json!(format!("{ttl}s"));
    }
    // Exactly one of the two (clap enforces it); a FID is checked here as the relay's API
    // checks it, so a typo is told at once rather than as FCM's INVALID_ARGUMENT.
    let (field, target) = match (&args.token, &args.fid) {
        (Some(token), _) => ("token", token.clone()),
        (None, Some(fid)) => {
            crate::target::Fid::parse(fid).ok_or_else(|| anyhow::anyhow!("--fid: {}", crate::target::TargetError::Fid))?;
            ("fid", fid.clone())
        }
        (None, None) => anyhow::bail!("give --token or --fid"),
    };
    let mut message = json!({ "data": data, "android": android });
    message[field] = json!(target);
    let request = json!({ "validate_only": args.validate_only, "message": message });
    let cfg = FcmConfig { api_url: args.api_url.clone(), ..FcmConfig::default() };
    let client = FcmClient::new(&cfg, vec![(project.clone(), key)]).await?;
    match client.send_json(&project, &request).await {
        Ok(name) => {
            println!("{}", json!({"ok": true, "name": name}));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            let class = match e.class() {
                ErrorClass::DeadToken => "dead_token",
                ErrorClass::Throttled(_) => "throttled",
                ErrorClass::Transient(_) => "transient",
                ErrorClass::OurFault => "our_fault",
                ErrorClass::BadMessage => "bad_message",
            };
            println!(
                "{}",
                json!({
                    "ok": false,
                    "error": e.label(),
                    "class": class,
                    "message": e.to_string(),
                    "retry_after": e.retry_after().map(|d| d.as_secs()),
                })
            );
            Ok(std::process::ExitCode::from(1))
        }
    }
}
