//! The rules of families and reductions in `durable_dag!`, one function each: where a
//! family may stand, what a reduction needs, which member indices exist, and what a
//! family's key must mention.

use super::parse::{Dep, Node, Over};
use crate::errors::Errors;
use crate::key_rules;
use std::collections::HashMap;
use syn::{Expr, Ident, Lit, RangeLimits};

/// Records every misuse of a family or a reduction in `errors`; `index` maps each node name
/// to its node. Dependencies of a node on itself are left to the graph's own check.
pub(crate) fn families(nodes: &[Node], index: &HashMap<String, usize>, errors: &mut Errors) {
    let other_node = |node: &Node, name: &Ident| {
        let target = &nodes[*index.get(&name.to_string())?];
        (target.name != node.name).then_some(target)
    };
    for node in nodes {
        family_key_mentions_its_variable(node, errors);
        reduction_is_alone_and_keyed(node, errors);
        for dep in node.deps.iter().flat_map(|deps| &deps.list) {
            let dep = Dep::of(dep);
            let Some((name, target)) = dep
                .name()
                .and_then(|name| Some((name, other_node(node, name)?)))
            else {
                continue;
            };
            match dep {
                Dep::Name(_) => family_as_one_task(name, target, errors),
                Dep::Member { .. } | Dep::All { .. } if target.over.is_none() => {
                    single_node_indexed(name, errors)
                }
                Dep::Member { index, .. } => {
                    member_index_in_range(node, name, index, target, errors)
                }
                Dep::All { .. } | Dep::Other => {}
            }
        }
    }
}

/// `<- doc` where `doc` is a family: a task takes one value per input.
fn family_as_one_task(name: &Ident, target: &Node, errors: &mut Errors) {
    if target.over.is_some() {
        errors.spanned(
            name,
            format!(
                "`{name}` is a family of nodes, not one task: reduce it with `<- {name}[..]` in \
                 a node of its own (`all @ \"all\" = merge <- {name}[..];`), or depend on one \
                 member, `{name}[i]`"
            ),
        );
    }
}

/// `x[i]` or `x[..]` where `x` is a single node.
fn single_node_indexed(name: &Ident, errors: &mut Errors) {
    errors.spanned(
        name,
        format!(
            "`{name}` is a single node, not a family: depend on it as `{name}` (only a node \
             declared over a range, as in `{name}[i in 0..n] = ...`, has members to index or \
             reduce)"
        ),
    );
}

/// `FAMILY[..]` must be the only dependency of a single node that has a key: the reduction
/// is one `DurableDag::reduce`, stored under that key.
fn reduction_is_alone_and_keyed(node: &Node, errors: &mut Errors) {
    let Some(deps) = &node.deps else { return };
    for dep in &deps.list {
        let Dep::All { family } = Dep::of(dep) else {
            continue;
        };
        let family = quote::quote!(#family).to_string();
        let own_node = format!("`all @ \"all\" = merge <- {family}[..];`");
        if deps.list.len() > 1 {
            errors.spanned(
                dep,
                format!(
                    "`{family}[..]` reduces a family to one value, so it is a node's only \
                     dependency: reduce it in a node of its own ({own_node}) and depend on that \
                     node"
                ),
            );
        } else if node.over.is_some() {
            errors.spanned(
                dep,
                format!(
                    "a family cannot reduce: reduce `{family}` in a single node ({own_node}) \
                     and depend on that node"
                ),
            );
        } else if node.key.is_none() {
            let name = &node.name;
            errors.spanned(
                name,
                format!(
                    "reduction `{name}` needs a key for its merges to be stored under: write \
                     `{name} @ \"{name}\" = ... <- {family}[..];`"
                ),
            );
        }
    }
}

/// A family's key is a `format!` string over its variable; without the variable every
/// member would have the same key.
fn family_key_mentions_its_variable(node: &Node, errors: &mut Errors) {
    let (Some(Over { var, .. }), Some(key)) = (&node.over, &node.key) else {
        return;
    };
    let value = key.value();
    let (literal, arguments) = format_pieces(&value);
    if let Err(message) = key_rules::check_literal(&literal, true) {
        errors.spanned(key, message);
    }
    if !arguments.iter().any(|argument| var == argument) {
        let name = &node.name;
        errors.spanned(
            key,
            format!(
                "the key {value:?} of family `{name}` does not mention its variable `{var}`, \
                 so all its members would share one key (and one stored record): put `{{{var}}}` \
                 in it, e.g. \"{name}-{{{var}}}\""
            ),
        );
    }
}

/// The literal text of a `format!` string (escaped braces resolved) and the argument of
/// each placeholder (`i` in `{i}` and `{i:>3}`).
fn format_pieces(format: &str) -> (String, Vec<String>) {
    let mut literal = String::new();
    let mut arguments = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' if chars.peek() == Some(&c) => {
                chars.next();
                literal.push(c);
            }
            '{' => {
                let placeholder: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let argument = placeholder.split(':').next().unwrap_or_default();
                arguments.push(argument.trim().to_owned());
            }
            c => literal.push(c),
        }
    }
    (literal, arguments)
}

/// `doc[7]` of a family over a literal range of 5 members, or `raw[i]` in a family whose
/// literal range takes `i` past the members of `raw`.
fn member_index_in_range(
    node: &Node,
    family: &Ident,
    at: &Expr,
    target: &Node,
    errors: &mut Errors,
) {
    let Some(Over {
        var: target_var,
        iter,
    }) = &target.over
    else {
        return;
    };
    let Some(members) = LiteralRange::of(iter) else {
        return;
    };
    let (reach, what) = if let Some(index) = literal_index(at) {
        (index, format!("`{family}[{index}]` is not a member"))
    } else {
        let Some(Over { var, iter }) = &node.over else {
            return;
        };
        let range = LiteralRange::of(iter).filter(|_| is_variable(at, var));
        let Some((last, range)) = range.and_then(|range| Some((range.last()?, range.text))) else {
            return;
        };
        let what = format!(
            "`{family}[{var}]` reaches past the members of `{family}`: `{var}` goes up to {last} \
             (`{var} in {range}`)"
        );
        (last, what)
    };
    if reach < members.len {
        return;
    }
    let declared = format!("`{family}[{target_var} in {}]`", members.text);
    let members = match members.len {
        0 => format!("family {declared} has no members"),
        len => format!(
            "family {declared} has {len} members, `{family}[0]` to `{family}[{}]` (a member's \
             index is its position, from 0)",
            len - 1
        ),
    };
    errors.spanned(at, format!("{what}: {members}"));
}

fn is_variable(expr: &Expr, var: &Ident) -> bool {
    matches!(expr, Expr::Path(path) if path.path.is_ident(var))
}

fn literal_index(expr: &Expr) -> Option<u128> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => int.base10_parse().ok(),
            _ => None,
        },
        Expr::Paren(paren) => literal_index(&paren.expr),
        _ => None,
    }
}

/// A family's range written with integer literals: `0..5`, `1..=3`.
struct LiteralRange {
    start: u128,
    len: u128,
    /// As written, without the literals' suffixes: `0..5`.
    text: String,
}

impl LiteralRange {
    fn of(iter: &Expr) -> Option<Self> {
        let range = match iter {
            Expr::Range(range) => range,
            Expr::Paren(paren) => return Self::of(&paren.expr),
            _ => return None,
        };
        let start = literal_index(range.start.as_deref()?)?;
        let end = literal_index(range.end.as_deref()?)?;
        let (len, dots) = match range.limits {
            RangeLimits::HalfOpen(_) => (end.saturating_sub(start), ".."),
            RangeLimits::Closed(_) => (end.saturating_add(1).saturating_sub(start), "..="),
        };
        Some(LiteralRange {
            start,
            len,
            text: format!("{start}{dots}{end}"),
        })
    }

    /// The last value of the range, if it has one.
    fn last(&self) -> Option<u128> {
        (self.len > 0).then(|| self.start + self.len - 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::dag::graph::tests::order as check;

    fn one_error(body: &str) -> String {
        let errors = check(body).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn members_and_reductions_are_edges_to_their_family() {
        let order = check(
            r#"index @ "index" = merge <- parsed[..];
               parsed[i in 0..n] = Tokenize(i) <- raw[i];
               third = Double <- (parsed[3], outside[0]);
               raw[i in 0..n] @ "raw-{i}" = Load(i);"#,
        );
        assert_eq!(order.unwrap(), ["raw", "parsed", "index", "third"]);
    }

    #[test]
    fn a_family_where_one_task_is_expected() {
        for body in [
            "doc[i in 0..3] = D(i); one = T <- doc;",
            "doc[i in 0..3] = D(i); one = T <- (x, doc);",
        ] {
            assert_eq!(
                one_error(body),
                "`doc` is a family of nodes, not one task: reduce it with `<- doc[..]` in a node \
                 of its own (`all @ \"all\" = merge <- doc[..];`), or depend on one member, `doc[i]`"
            );
        }
        let error = one_error("doc[i in 0..3] = D(i); many[j in 0..3] = T(j) <- doc;");
        assert!(error.starts_with("`doc` is a family of nodes"), "{error}");
    }

    #[test]
    fn a_single_node_indexed_or_reduced() {
        let expected = "`x` is a single node, not a family: depend on it as `x` (only a node \
                        declared over a range, as in `x[i in 0..n] = ...`, has members to \
                        index or reduce)";
        assert_eq!(one_error("x = X; y = Y <- x[0];"), expected);
        assert_eq!(one_error(r#"x = X; y @ "y" = m <- x[..];"#), expected);
        assert_eq!(one_error("x = X; f[i in 0..2] = F(i) <- x[i];"), expected);
    }

    #[test]
    fn a_reduction_alone_with_a_key_in_a_single_node() {
        let family = "doc[i in 0..3] = D(i);";
        assert_eq!(
            one_error(&format!(r#"{family} y @ "y" = m <- (doc[..], z);"#)),
            "`doc[..]` reduces a family to one value, so it is a node's only dependency: reduce \
             it in a node of its own (`all @ \"all\" = merge <- doc[..];`) and depend on that node"
        );
        assert_eq!(
            one_error(&format!("{family} index = m <- doc[..];")),
            "reduction `index` needs a key for its merges to be stored under: write \
             `index @ \"index\" = ... <- doc[..];`"
        );
        assert_eq!(
            one_error(&format!(
                r#"{family} f[j in 0..2] @ "f-{{j}}" = m <- doc[..];"#
            )),
            "a family cannot reduce: reduce `doc` in a single node (`all @ \"all\" = merge <- \
             doc[..];`) and depend on that node"
        );
        // A `Family` from outside the macro follows the same rules.
        let error = one_error("y = m <- self.docs[..];");
        assert!(error.starts_with("reduction `y` needs a key"), "{error}");
        assert!(error.ends_with("<- self . docs[..];`"), "{error}");
    }

    #[test]
    fn literal_indices_beyond_a_literal_range() {
        assert_eq!(
            one_error("doc[i in 0..5] = D(i); x = X <- doc[7];"),
            "`doc[7]` is not a member: family `doc[i in 0..5]` has 5 members, `doc[0]` to \
             `doc[4]` (a member's index is its position, from 0)"
        );
        let error = one_error("doc[i in 5..=9] = D(i); x = X <- (doc[5], doc[4]);");
        assert!(
            error.starts_with("`doc[5]` is not a member: family `doc[i in 5..=9]` has 5 members")
        );
        assert_eq!(
            one_error("doc[i in 3..3] = D(i); x = X <- doc[0];"),
            "`doc[0]` is not a member: family `doc[i in 3..3]` has no members"
        );
        assert_eq!(
            one_error("raw[i in 0..5usize] = R(i); p[j in 0..=5] = P <- raw[j];"),
            "`raw[j]` reaches past the members of `raw`: `j` goes up to 5 (`j in 0..=5`): family \
             `raw[i in 0..5]` has 5 members, `raw[0]` to `raw[4]` (a member's index is its \
             position, from 0)"
        );
        // The largest literals do not overflow the count.
        check(&format!(
            "doc[i in 0..={}] = D(i); x = X <- doc[7];",
            u128::MAX
        ))
        .unwrap();
        // What the macro cannot evaluate is left to `Family`'s index, which panics naming both.
        check(
            "doc[i in 0..n] = D(i); raw[i in 0..5] = R(i); x = X <- (doc[7], raw[i + 9]);
             p[i in 0..9] = P <- raw[i + 1]; q[j in 0..5] = Q <- (raw[j], doc[j]); y = Y <- raw[4];",
        )
        .unwrap();
    }

    #[test]
    fn a_family_key_mentions_its_variable() {
        assert_eq!(
            one_error(r#"doc[i in 0..n] @ "doc" = Load(i);"#),
            "the key \"doc\" of family `doc` does not mention its variable `i`, so all its members \
             would share one key (and one stored record): put `{i}` in it, e.g. \"doc-{i}\""
        );
        for key in ["{n}-{}", "{{i}}", "{ii}", "{0}"] {
            let error = one_error(&format!(r#"doc[i in 0..n] @ "{key}" = Load(i);"#));
            assert!(
                error.contains("does not mention its variable `i`"),
                "{key}: {error}"
            );
        }
        let error = one_error(r#"doc[i in 0..n] @ "a\0{i}" = Load(i);"#);
        assert!(error.contains("NUL"), "{error}");
        // Any placeholder naming the variable counts, with or without a format spec, and two
        // families may use the same template (the runtime checks the keys it makes).
        check(r#"a[i in 0..n] @ "{i}" = L(i); b[j in 0..n] @ "{p}/{j:>4}/{{x}}" = L(j);"#).unwrap();
    }
}
