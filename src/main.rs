//! The `ordergate` binary: parses the command line and hands over to [`ordergate::cli`].

fn main() -> std::process::ExitCode {
    ordergate::cli::main()
}
