fn main() -> std::process::ExitCode {
    mvk_rollback::main()
}
