//! scripts/lib/sandbox.bash (shared by scripts/demo and scripts/bench.d/deploy): its cleanup
//! removes only what belongs to its app.

use mvk_e2e::demo::repo_root;
use mvk_e2e::{docker, DemoImage};
use std::process::Command;

/// Removes what the test made under the app's name, also when it fails.
struct Leftovers(Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for r in &self.0 {
            let _ = docker(&["rm", "-f", r]);
            let _ = docker(&["rmi", r]);
        }
    }
}

#[test]
fn removing_an_app_leaves_another_repositorys_tag_on_the_same_image() {
    let mine = format!("e2e-sandbox-mine-{}", std::process::id());
    let theirs = format!("e2e-sandbox-theirs-{}", std::process::id());
    let image = DemoImage::build(&format!("{theirs}:v1"), &[("DEMO_VERSION", &theirs)]);
    docker(&["tag", &image.tag, &format!("{mine}:v1")]).unwrap();
    docker(&["tag", &image.tag, &format!("{mine}:v2")]).unwrap();
    let name = format!("{mine}-blue");
    let _leftovers = Leftovers(vec![
        name.clone(),
        format!("{mine}:v1"),
        format!("{mine}:v2"),
    ]);
    docker(&["create", "--name", &name, &format!("{mine}:v1")]).unwrap();
    let out = Command::new("bash")
        .current_dir(repo_root())
        .args([
            "-c",
            "source scripts/lib/sandbox.bash && sandbox_remove_app \"$1\"",
            "-",
            &mine,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        docker(&["inspect", &name]).is_err(),
        "the app's container is removed"
    );
    assert!(
        docker(&["image", "inspect", &format!("{mine}:v1")]).is_err(),
        "the app's tags are removed"
    );
    assert!(docker(&["image", "inspect", &format!("{mine}:v2")]).is_err());
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Id}}", &image.tag]).unwrap(),
        image.id,
        "the other repository's tag still names the image"
    );
}
