#[test]
fn committed_man_pages_and_completions_are_current() {
    let stale = xtask::stale();
    assert!(
        stale.is_empty(),
        "out of date (run `cargo run -p xtask -- docs`): {stale:?}"
    );
}

#[test]
fn every_tool_has_a_man_page_and_three_completions() {
    let files: Vec<String> = xtask::render()
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    for tool in xtask::tools() {
        let name = tool.get_name();
        for expected in [
            format!("man/{name}.1"),
            format!("completions/{name}.bash"),
            format!("completions/_{name}"),
            format!("completions/{name}.fish"),
        ] {
            assert!(files.contains(&expected), "{expected} is not generated");
        }
    }
}
