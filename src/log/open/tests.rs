//! Opening logs in a directory we control: links followed and refused.

use super::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

#[test]
fn hard_links_are_refused_and_our_own_symlinks_followed() {
    let dir = std::env::temp_dir().join(format!("moltd-logopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let real = dir.join("real.log");
    let o = open_log(&real).expect("create");
    assert!(o.created);
    let mut f = o.file;
    f.write_all(b"one\n").expect("write");
    assert!(!open_log(&real).expect("again").created);
    // A link made by this process's user, in a directory only it can
    // write, is followed.
    std::os::unix::fs::symlink("real.log", dir.join("via-link.log")).expect("link");
    let mut g = open_append(&dir.join("via-link.log")).expect("own link followed");
    g.write_all(b"two\n").expect("write");
    assert_eq!(std::fs::read_to_string(&real).expect("read"), "one\ntwo\n");
    // Missing directories are created on the way.
    assert!(open_log(&dir.join("a/b/c.log")).expect("nested").created);
    // A second name of the file is refused.
    std::fs::hard_link(&real, dir.join("hard.log")).expect("hard link");
    let e = open_append(&dir.join("hard.log")).expect_err("refused");
    assert!(e.to_string().contains("hard links"), "{e}");
    assert!(
        matches!(Refused::of(&e), Some(Refused::HardLinks(2))),
        "{e:?}"
    );
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    // In a directory others can write, even our own link is not
    // trusted (someone else could have renamed it there).
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let e = open_append(&dir.join("via-link.log")).expect_err("refused");
    assert!(e.to_string().contains("others can write"), "{e}");
    assert!(
        matches!(
            Refused::of(&e),
            Some(Refused::UntrustedLink {
                dir_safe: false,
                ..
            })
        ),
        "{e:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
