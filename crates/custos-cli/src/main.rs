//! The `custos` binary; everything is in the library (`custos_cli::main`).

/// mimalloc rather than glibc's malloc: a rebuild frees on the fold's thread what the
/// replay readers allocated, which glibc's arenas make a third of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    custos_cli::main()
}
