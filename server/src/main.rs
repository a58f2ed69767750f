//! The `uprelay` binary; everything lives in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match uprelay::cli::run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("uprelay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
