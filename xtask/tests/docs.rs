#[test]
fn committed_man_pages_and_completions_are_current() {
    let stale = xtask::stale();
    assert!(stale.is_empty(), "out of date (run `cargo run -p xtask -- docs`): {stale:?}");
}

#[test]
fn every_tool_has_a_man_page_and_three_completions() {
    let tools = xtask::tools();
    assert_eq!(xtask::render().len(), tools.len() * 4);
}
