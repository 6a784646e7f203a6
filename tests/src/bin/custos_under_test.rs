//! The `custos` command line for the end-to-end tests: the same `custos_cli::main`.

fn main() -> std::process::ExitCode {
    custos_cli::main()
}
