//! The `custos` binary; everything is in the library (`custos_cli::main`).

fn main() -> std::process::ExitCode {
    custos_cli::main()
}
