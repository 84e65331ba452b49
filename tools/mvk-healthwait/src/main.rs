fn main() -> std::process::ExitCode {
    mvk_healthwait::main()
}
