//! The `eventauth` binary: parses the command line and hands over.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    eventauth::cli::main().await
}
