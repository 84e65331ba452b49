fn main() -> std::process::ExitCode {
    mvk_init::main()
}
