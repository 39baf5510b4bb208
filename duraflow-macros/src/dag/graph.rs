//! The checks over the whole node set of `durable_dag!` and the order nodes are emitted in.

use super::check;
use super::parse::{Dep, Node};
use crate::errors::Errors;
use crate::key_rules;
use std::collections::hash_map::{Entry, HashMap};
use syn::Ident;

/// Nodes in an order where each comes after the nodes it depends on (otherwise in the order
/// written), after recording every repeated name, repeated or invalid literal key, misused
/// family (see [`check::families`]), self-dependency and cycle in `errors`.
pub(crate) fn emission_order(nodes: &[Node], errors: &mut Errors) -> Vec<usize> {
    let index = unique_names(nodes, errors);
    check_literal_keys(nodes, errors);
    check::families(nodes, &index, errors);
    let edges = edges(nodes, &index, errors);
    topological_order(nodes, &edges, errors)
}

/// A dependency of one node on another: the target's index and the token naming it.
struct Edge<'a> {
    target: usize,
    token: &'a Ident,
}

/// Maps each name to the first node that has it; a later node with that name is an error.
fn unique_names(nodes: &[Node], errors: &mut Errors) -> HashMap<String, usize> {
    let mut index = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        match index.entry(node.name.to_string()) {
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
            Entry::Occupied(slot) => errors.spanned(
                &node.name,
                format!(
                    "node `{}` is already defined in this durable_dag!: \
                     give this node another name",
                    slot.key()
                ),
            ),
        }
    }
    index
}

/// The keys of single nodes and reductions; a family's key is a template (see
/// [`check::families`]).
fn check_literal_keys(nodes: &[Node], errors: &mut Errors) {
    let mut owners: HashMap<String, &Ident> = HashMap::new();
    for node in nodes.iter().filter(|node| node.over.is_none()) {
        let Some(key) = &node.key else { continue };
        let value = key.value();
        if let Err(message) = key_rules::check_literal(&value, false) {
            errors.spanned(key, message);
        } else if let Some(owner) = owners.get(&value) {
            errors.spanned(
                key,
                format!(
                    "node `{owner}` already has the key {value:?}: two nodes with one key would \
                     share one stored record, so give this node another key"
                ),
            );
        } else {
            owners.insert(value, &node.name);
        }
    }
}

/// Each node's dependencies on other nodes (`a`, `a[i]` and `a[..]` are edges to `a`);
/// dependencies on outside handles are not edges.
fn edges<'a>(
    nodes: &'a [Node],
    index: &HashMap<String, usize>,
    errors: &mut Errors,
) -> Vec<Vec<Edge<'a>>> {
    nodes
        .iter()
        .map(|node| {
            let Some(deps) = &node.deps else {
                return Vec::new();
            };
            let named = deps.list.iter().filter_map(|dep| Dep::of(dep).name());
            named
                .filter_map(|token| {
                    let target = *index.get(&token.to_string())?;
                    if token == &node.name {
                        errors.spanned(token, self_dependency(node));
                        return None;
                    }
                    Some(Edge { target, token })
                })
                .collect()
        })
        .collect()
}

fn self_dependency(node: &Node) -> String {
    let name = &node.name;
    match node.over {
        None => format!(
            "node `{name}` depends on itself: remove `{name}` from its `<-` list (a node \
             cannot take its own output)"
        ),
        Some(_) => format!(
            "family `{name}` depends on itself: remove `{name}` from its `<-` list (its \
             members are added together, so one cannot take another's output)"
        ),
    }
}

/// Emits every node whose dependencies are emitted, lowest index first; what is left over
/// is on or behind a cycle, which is reported with its path.
fn topological_order(nodes: &[Node], edges: &[Vec<Edge>], errors: &mut Errors) -> Vec<usize> {
    let mut emitted = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(next) =
        (0..nodes.len()).find(|&i| !emitted[i] && edges[i].iter().all(|e| emitted[e.target]))
    {
        emitted[next] = true;
        order.push(next);
    }
    if let Some(start) = emitted.iter().position(|done| !done) {
        report_cycle(nodes, edges, &cycle_from(start, edges, &emitted), errors);
    }
    order
}

/// Walks from `start` along dependencies that are not emitted (each such node has one) until
/// a node repeats; returns the cycle, its first node repeated at the end.
fn cycle_from(start: usize, edges: &[Vec<Edge>], emitted: &[bool]) -> Vec<usize> {
    let mut path = vec![start];
    let mut current = start;
    loop {
        let Some(next) = edges[current]
            .iter()
            .map(|e| e.target)
            .find(|&target| !emitted[target])
        else {
            return Vec::new(); // unreachable: a node left over has a dependency left over
        };
        if let Some(seen) = path.iter().position(|&node| node == next) {
            let mut cycle = path.split_off(seen);
            cycle.push(next);
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

fn report_cycle(nodes: &[Node], edges: &[Vec<Edge>], cycle: &[usize], errors: &mut Errors) {
    let [first, second, ..] = cycle else { return };
    let path: Vec<String> = cycle.iter().map(|&i| nodes[i].name.to_string()).collect();
    let token = edges[*first]
        .iter()
        .find(|e| e.target == *second)
        .map_or(&nodes[*first].name, |e| e.token);
    errors.spanned(
        token,
        format!(
            "dependency cycle: {}, where `x -> y` means x depends on y; a DAG cannot contain a \
             cycle, so remove one of these dependencies",
            path.join(" -> ")
        ),
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dag::parse::DagInput;
    use crate::errors::test_support::messages;

    /// The errors of a `durable_dag!` body, or its emission order by name.
    pub(crate) fn order(body: &str) -> Result<Vec<String>, Vec<String>> {
        let input: DagInput = syn::parse_str(&format!("dag: d; {body}")).unwrap();
        let mut errors = Errors::new();
        let order = emission_order(&input.nodes, &mut errors);
        errors.finish().map_err(messages)?;
        Ok(order
            .into_iter()
            .map(|i| input.nodes[i].name.to_string())
            .collect())
    }

    #[test]
    fn dependencies_come_first_otherwise_written_order() {
        assert_eq!(
            order("sum = Add <- (five, ten); five = Load(5); ten = Mul(2) <- five; x = X;")
                .unwrap(),
            ["five", "ten", "sum", "x"]
        );
    }

    #[test]
    fn outside_handles_are_not_edges() {
        assert_eq!(order("b = B <- (a, outside); a = A;").unwrap(), ["a", "b"]);
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        assert_eq!(
            order("a = A <- b; b = B <- a;").unwrap_err(),
            [
                "dependency cycle: a -> b -> a, where `x -> y` means x depends on y; a DAG cannot \
              contain a cycle, so remove one of these dependencies"
            ]
        );
    }

    #[test]
    fn cycle_behind_a_node_starts_at_the_cycle() {
        let errors =
            order("top = T <- x; x = X <- (ok, y); y = Y <- z; z = Z <- x; ok = O;").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("dependency cycle: x -> y -> z -> x,"),
            "{errors:?}"
        );
    }

    #[test]
    fn self_dependency() {
        assert_eq!(
            order("a = A <- (a, b); b = B;").unwrap_err(),
            ["node `a` depends on itself: remove `a` from its `<-` list (a node cannot take its own output)"]
        );
    }

    #[test]
    fn families_in_cycles_and_on_themselves() {
        let error =
            order("a[i in 0..2] = A <- b[i]; b[i in 0..2] = B <- (x, a[i]); x = X;").unwrap_err();
        assert!(
            error[0].starts_with("dependency cycle: a -> b -> a,"),
            "{error:?}"
        );
        let error = order(r#"r @ "r" = m <- a[..]; a[i in 0..2] = A <- r;"#).unwrap_err();
        assert!(
            error[0].starts_with("dependency cycle: r -> a -> r,"),
            "{error:?}"
        );
        assert_eq!(
            order("doc[i in 1..3] = Step <- doc[i - 1];").unwrap_err(),
            [
                "family `doc` depends on itself: remove `doc` from its `<-` list (its members are \
              added together, so one cannot take another's output)"
            ]
        );
        assert_eq!(
            order(r#"a[i in 0..2] = A(i); a @ "a" = T;"#).unwrap_err(),
            ["node `a` is already defined in this durable_dag!: give this node another name"]
        );
    }

    #[test]
    fn repeated_name() {
        assert_eq!(
            order("a = A; b = B; a = C;").unwrap_err(),
            ["node `a` is already defined in this durable_dag!: give this node another name"]
        );
    }

    #[test]
    fn a_family_key_is_a_template_and_a_reduction_key_is_literal() {
        let body = r#"a[i in 0..2] @ "k-{i}" = A(i); b[i in 0..2] @ "k-{i}" = B(i);
                      r @ "k-{i}" = m <- a[..]; s @ "r" = m <- b[..]; t @ "r" = T;"#;
        assert_eq!(
            order(body).unwrap_err(),
            [
                "node `s` already has the key \"r\": two nodes with one key would share one \
              stored record, so give this node another key"
            ]
        );
    }

    #[test]
    fn literal_keys() {
        assert_eq!(
            order(r#"a @ "k" = A; b @ "k" = B; c @ "" = C; d @ "x\0" = D;"#).unwrap_err(),
            [
                "node `a` already has the key \"k\": two nodes with one key would share one \
                 stored record, so give this node another key",
                "a durable key cannot be empty: write a name, e.g. \"load-{0}\"",
                "a durable key cannot contain a NUL character (`\\0`): remove it",
            ]
        );
    }

    #[test]
    fn all_errors_together() {
        let errors = order("a = A <- a; a = B; x = X <- y; y = Y <- x;").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
