//! `facet check`: the shipped pipelines pass; the broken ones in
//! tests/pipelines/ fail with every expected message (`# fail: <text>` lines).

use crate::common::*;

#[test]
fn shipped_pipelines_pass() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let r = ran(facet().arg("check").arg(&p).output().unwrap());
            assert_eq!(r.status, 0, "{}: {}", p.display(), r.stderr);
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn broken_pipelines_report_every_problem() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("tests/pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# fail: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# fail:` line",
            p.display()
        );
        let r = ran(facet().arg("check").arg(&p).output().unwrap());
        assert_eq!(r.status, 2, "{}: {}", p.display(), r.stderr);
        for want in expected {
            assert!(
                r.stderr.contains(want),
                "{}: expected `{want}` in:\n{}",
                p.display(),
                r.stderr
            );
        }
        n += 1;
    }
    assert!(n >= 5);
}
