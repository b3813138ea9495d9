//! The top-level modules of `src/` import only what DESIGN.md's "Where things are" table allows,
//! every module is in that table, and the allowed imports have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// `crate::name` and `crate::{a, b}` in code (comments left out), per top-level module.
fn imports(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension() != Some(std::ffi::OsStr::new("rs")) {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or("");
                for (at, _) in code.match_indices("crate::") {
                    let rest = &code[at + "crate::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                        None => vec![rest],
                    };
                    for name in names {
                        let name: String = name
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() && name != module {
                            deps.insert(name);
                        }
                    }
                }
            }
        }
    }
    graph
}

/// The table: `| `module` | owns | `a`, `b` |`.
fn allowed(design: &str) -> Graph {
    let section = design
        .split("## Where things are")
        .nth(1)
        .expect("DESIGN.md has a \"Where things are\" section");
    let mut graph = Graph::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let module = names(cells[1]).into_iter().next().unwrap();
        graph.insert(module, names(cells[3]));
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut c = path[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_import_only_what_design_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let code = imports(&root.join("src"));
    let design = std::fs::read_to_string(root.join("DESIGN.md")).unwrap();
    let table = allowed(&design);
    let mut problems = Vec::new();
    for (module, deps) in &code {
        let Some(ok) = table.get(module) else {
            problems.push(format!("`{module}` is not in DESIGN.md's table"));
            continue;
        };
        for d in deps.difference(ok) {
            problems.push(format!(
                "`{module}` imports `{d}`, which the table does not allow"
            ));
        }
    }
    for module in table.keys() {
        if !code.contains_key(module) {
            problems.push(format!(
                "DESIGN.md's table names `{module}`, which is not in src/"
            ));
        }
    }
    if let Some(c) = cycle(&table) {
        problems.push(format!("the table has a cycle: {}", c.join(" -> ")));
    }
    if let Some(c) = cycle(&code) {
        problems.push(format!("the code has a cycle: {}", c.join(" -> ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_see_cycles_and_imports() {
    let g = |edges: &[(&str, &str)]| {
        let mut graph = Graph::new();
        for (a, b) in edges {
            graph
                .entry(a.to_string())
                .or_default()
                .insert(b.to_string());
            graph.entry(b.to_string()).or_default();
        }
        graph
    };
    assert_eq!(cycle(&g(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let table = allowed("## Where things are\n| module | owns | may import |\n| --- | --- | --- |\n| `x` | it | `y`, `z` |\n| `y` | it | |\n## Next\n| `w` | no | |\n");
    assert_eq!(table.len(), 2);
    assert_eq!(table["x"], ["y".to_string(), "z".to_string()].into());
    assert!(table["y"].is_empty());
}
