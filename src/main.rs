//! The `ordergate` binary: parses the command line and hands over to [`ordergate::cli`].

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ordergate::mem::tune();
    ordergate::cli::main()
}
