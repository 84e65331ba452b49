fn main() -> std::process::ExitCode {
    mvk_alerts::main()
}
