#[test]
fn committed_man_pages_and_completions_are_current() {
    let stale = xtask::stale();
    assert!(
        stale.is_empty(),
        "out of date (run `cargo run -p xtask -- docs`): {stale:?}"
    );
}

#[test]
fn every_tool_and_script_has_a_man_page_and_three_completions() {
    let files: Vec<String> = xtask::render()
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let names: Vec<String> = xtask::commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect();
    for script in ["mvk-deploy", "mvk-undo", "mvk-canary", "mvk-rollout"] {
        assert!(names.iter().any(|n| n == script), "{script} has no Command");
    }
    for name in &names {
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

/// Every file of the repository's own text below `dir` (no build output, no VCS data).
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
                sources(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Comments cite the contract as "DESIGN.md §N": each such section must exist in
/// docs/DESIGN.md, and nothing may point at a copy outside the repository.
#[test]
fn every_cited_design_section_exists_in_the_repository() {
    let root = xtask::root();
    let design = std::fs::read_to_string(root.join("docs/DESIGN.md")).unwrap();
    let mut files = vec![root.join("README.md")];
    for dir in ["tools", "scripts", "tests", "xtask"] {
        sources(&root.join(dir), &mut files);
    }
    let (mut cited, mut missing, mut outside) = (0, Vec::new(), Vec::new());
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // not text
        };
        for (i, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), i + 1);
            for (pos, _) in line.match_indices("DESIGN.md §") {
                let n: String = line[pos + "DESIGN.md §".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if n.is_empty() {
                    continue; // "§N" in prose about citations, as in this file
                }
                cited += 1;
                if !design.contains(&format!("\n## {n}. ")) {
                    missing.push(format!("{at}: §{n}"));
                }
            }
            // The contract's old home, beside the repository (spelt in two pieces so that this
            // line does not find itself).
            if line.contains(concat!("../", "shared/"))
                || line.contains(concat!("shared/", "DESIGN"))
            {
                outside.push(at);
            }
        }
    }
    assert!(cited >= 10, "expected the code's citations, found {cited}");
    assert!(
        missing.is_empty(),
        "cited sections docs/DESIGN.md lacks: {missing:?}"
    );
    assert!(
        outside.is_empty(),
        "pointers outside the repository: {outside:?}"
    );
}
