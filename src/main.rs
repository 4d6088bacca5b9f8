//! The `eventauth` binary: parses the command line and hands over.

/// mimalloc rather than glibc's allocator: a request allocates and frees
/// many small buffers across threads, where glibc's malloc and free took
/// ~18% of a token check's CPU (perf, `docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    eventauth::cli::main().await
}
