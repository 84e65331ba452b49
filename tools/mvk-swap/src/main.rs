fn main() -> std::process::ExitCode {
    mvk_swap::main()
}
