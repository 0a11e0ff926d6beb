//! The checks of a pipeline's graph: inputs exist and are sources or operators, names are unique, no
//! cycles, and every node accepts what its inputs emit.

use std::collections::{BTreeMap, BTreeSet};

use tickstream_model::EventKind;

use super::{ConfigError, Node, OperatorSpec, Pipeline};

/// Inputs exist and are sources or operators, names are unique, no cycles, and each node accepts at least
/// one kind of event from each of its inputs.
pub(super) fn check_graph(p: &Pipeline, errors: &mut Vec<ConfigError>) {
    let mut emits: BTreeMap<&str, (String, BTreeSet<EventKind>)> = BTreeMap::new();
    for n in &p.sources {
        emits.insert(
            &n.name,
            (
                format!("sources.{}", n.name),
                n.spec.emits().into_iter().collect(),
            ),
        );
    }
    for n in &p.operators {
        if let Some((other, _)) = emits.get(n.name.as_str()) {
            errors.push(ConfigError::node(
                &p.file,
                format!("operators.{}", n.name),
                None,
                format!("the name is already used by {other}"),
            ));
        }
        emits.insert(
            &n.name,
            (
                format!("operators.{}", n.name),
                n.spec.emits().into_iter().collect(),
            ),
        );
    }
    for n in &p.sinks {
        if let Some((other, _)) = emits.get(n.name.as_str()) {
            errors.push(ConfigError::node(
                &p.file,
                format!("sinks.{}", n.name),
                None,
                format!("the name is already used by {other}"),
            ));
        }
    }
    let sink_names: BTreeSet<&str> = p.sinks.iter().map(|s| s.name.as_str()).collect();
    let mut check_inputs =
        |node: String, inputs: &[String], accepts: Vec<EventKind>, kind: &str| {
            for input in inputs {
                match emits.get(input.as_str()) {
                    None if sink_names.contains(input.as_str()) => errors.push(ConfigError::node(
                        &p.file,
                        node.clone(),
                        Some("inputs"),
                        format!("'{input}' is a sink; sinks cannot be inputs"),
                    )),
                    None => errors.push(ConfigError::node(
                        &p.file,
                        node.clone(),
                        Some("inputs"),
                        format!(
                            "unknown input '{input}'; expected one of: {}",
                            emits.keys().copied().collect::<Vec<_>>().join(", ")
                        ),
                    )),
                    Some((input_node, kinds)) if !kinds.iter().any(|k| accepts.contains(k)) => {
                        errors.push(ConfigError::node(
                            &p.file,
                            node.clone(),
                            Some("inputs"),
                            format!(
                                "{input_node} emits {} but a '{kind}' node accepts {}",
                                join_kinds(kinds.iter().copied()),
                                join_kinds(accepts.iter().copied())
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        };
    for n in &p.operators {
        check_inputs(
            format!("operators.{}", n.name),
            &n.inputs,
            n.spec.accepts(),
            n.spec.kind(),
        );
    }
    for n in &p.sinks {
        check_inputs(
            format!("sinks.{}", n.name),
            &n.inputs,
            n.spec.accepts(),
            n.spec.kind(),
        );
    }
    if let Some(cycle) = find_cycle(&p.operators) {
        errors.push(ConfigError::file(
            &p.file,
            format!("operators form a cycle: {}", cycle.join(" -> ")),
        ));
    }
}

fn join_kinds(kinds: impl Iterator<Item = EventKind>) -> String {
    let names: Vec<&str> = kinds.map(EventKind::as_str).collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// A cycle among operators, as the names along it, if there is one.
fn find_cycle(operators: &[Node<OperatorSpec>]) -> Option<Vec<String>> {
    let index: BTreeMap<&str, usize> = operators
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; operators.len()];
    fn visit(
        i: usize,
        ops: &[Node<OperatorSpec>],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        path.push(i);
        for input in &ops[i].inputs {
            if let Some(&j) = index.get(input.as_str()) {
                if state[j] == 1 {
                    let from = path.iter().position(|&k| k == j).unwrap_or(0);
                    let mut names: Vec<String> =
                        path[from..].iter().map(|&k| ops[k].name.clone()).collect();
                    names.push(ops[j].name.clone());
                    return Some(names);
                }
                if state[j] == 0
                    && let Some(cycle) = visit(j, ops, index, state, path)
                {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    (0..operators.len()).find_map(|i| {
        if state[i] == 0 {
            visit(i, operators, &index, &mut state, &mut Vec::new())
        } else {
            None
        }
    })
}
