//! Per-function summaries that package-wide rules read: which mutexes a function or method takes,
//! whether it expects a lock held by its caller, and whether it blocks.
//!
//! Collected from syntax alone while a file's declarations are read ([`super::FileDecls`]), so a
//! server can keep them per file and refresh one file's summaries when it changes. Mutex-ness of
//! what a summary names is checked by the reader against the package's types.

use crate::HashMap;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use super::blocking::blocking_call;
use super::imports::Imports;
use goconc_syntax::{
    comment_may_end_above, doc_comment, method_call, named_children, path_root, text, walk,
    walk_calls,
};

/// Where a function takes a lock: a path below its receiver (`mu` for `s.mu.Lock()`, "" for a
/// promoted `s.Lock()`), or a package-level variable path (`registryMu`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acquire {
    pub from_receiver: bool,
    pub path: String,
    pub read: bool,
    /// Byte offset of the call in its file, for related locations.
    pub offset: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FuncSummary {
    /// Locks taken directly in the body (not in function literals or `go` statements).
    pub acquires: Vec<Acquire>,
    /// Named `…Locked` or documented as needing the caller to hold a lock.
    pub expects_held: bool,
    /// The first blocking operation in the body, described (`time.Sleep`).
    pub blocks: Option<String>,
    /// Pairs (held, then taken): the second lock is taken while the first is held, in the same
    /// block or one nested in it, with no unlock of the first in between.
    pub orders: Vec<(Acquire, Acquire)>,
    /// The body loads a value atomically (`atomic.LoadUint32(&t.state)`, `t.state.Load()`): a
    /// condition that calls it reads published state (double-checked locking).
    pub loads_atomically: bool,
}

/// The summary key of a method (`Service.flush`) or function (`flush`).
pub fn summary_key(receiver_type: Option<&str>, name: &str) -> String {
    match receiver_type {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    }
}

/// Summaries of some of a file's top-level declarations (an incremental analysis asks for the
/// ones that changed).
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> HashMap<String, FuncSummary> {
    let mut out = HashMap::default();
    // `time.`, `os.`, … : the local names of packages with blocking functions this file imports.
    // `time.Sleep(`, `os.ReadFile(`, … as this file spells them: a body without any of them
    // cannot call a blocking package function.
    let blocking_needles: Vec<String> = super::blocking::blocking_functions()
        .filter_map(|(path, name)| {
            imports
                .local_names_of(path)
                .map(|local| format!("{local}.{name}("))
        })
        .collect();
    // `atomic.Load` as this file spells it: a body without it nor `.Load()` loads nothing.
    let atomic_load = imports
        .local_names_of("sync/atomic")
        .map(|name| format!("{name}.Load"));
    for (i, &decl) in items.iter().enumerate() {
        if !matches!(
            decl.kind_str(),
            "function_declaration" | "method_declaration"
        ) {
            continue;
        }
        let (Some(name), Some(body)) = (decl.field("name"), decl.field("body")) else {
            continue;
        };
        let (receiver_name, receiver_type) = receiver_of(decl, src);
        // Most functions neither lock nor call a blocking package: skip their bodies unread.
        let body_text = text(body, src);
        let may_lock = body_text.contains("ock(");
        let may_block = blocking_needles
            .iter()
            .any(|p| body_text.contains(p.as_str()));
        let name_text = text(name, src);
        // The doc comment lies between the previous declaration and this one: read that text
        // before asking tree-sitter for the comment (`prev_sibling` is linear in the file's
        // declarations).
        let gap = i.checked_sub(1).map_or(0, |p| items[p].end_byte())..decl.start_byte();
        let doc_may_matter = comment_may_end_above(decl, src)
            && src
                .get(gap)
                .is_some_and(|gap| may_say_caller_holds(&gap.to_ascii_lowercase()));
        let may_expect_held = crate::words::LOCKED.ends_identifier(name_text) || doc_may_matter;
        let loads_atomically = (body_text.contains(".Load()")
            || atomic_load
                .as_ref()
                .is_some_and(|l| body_text.contains(l.as_str())))
            && loads_atomically(body, src, imports);
        if !may_lock && !may_block && !may_expect_held && !loads_atomically {
            continue;
        }
        let doc = match doc_may_matter {
            true => doc_comment(decl, src),
            false => String::new(),
        };
        let mut summary = summarize(
            decl,
            body,
            src,
            imports,
            receiver_name,
            may_lock,
            may_block,
            &doc,
        );
        summary.loads_atomically = loads_atomically;
        if summary != FuncSummary::default() {
            out.insert(summary_key(receiver_type, text(name, src)), summary);
        }
    }
    out
}

/// Whether `within` calls an atomic load: a `sync/atomic` `Load…` function, or a `Load()`
/// method (of an atomic type, or a `sync.Map`).
pub fn loads_atomically(within: Node, src: &str, imports: &Imports) -> bool {
    let mut found = false;
    walk_calls(within, src, |n| {
        found = found || (n.kind_str() == "call_expression" && is_atomic_load(n, src, imports));
        !found
    });
    found
}

/// `atomic.LoadInt64(&x)` (sync/atomic under whatever name the file gives it) or `x.Load()`.
pub fn is_atomic_load(call: Node, src: &str, imports: &Imports) -> bool {
    let atomic_op = super::atomics::atomic_func(call, src, imports)
        .and_then(super::atomics::split_func)
        .map(|(op, _)| op);
    atomic_op == Some("Load")
        || (atomic_op.is_none()
            && method_call(call).is_some_and(|mc| text(mc.method, src) == "Load")
            && goconc_syntax::call_args(call).is_empty())
}

fn receiver_of<'s>(decl: Node, src: &'s str) -> (Option<&'s str>, Option<&'s str>) {
    let Some(param) = decl
        .field("receiver")
        .and_then(|r| named_children(r).next())
    else {
        return (None, None);
    };
    let name = param.field("name").map(|n| text(n, src));
    let mut ty = param.field("type");
    while let Some(t) = ty {
        match t.kind_str() {
            "pointer_type" | "parenthesized_type" => ty = named_children(t).next(),
            "generic_type" => ty = t.field("type"),
            _ => break,
        }
    }
    (
        name,
        ty.filter(|t| t.kind_str() == "type_identifier")
            .map(|t| text(t, src)),
    )
}

/// The cheap test before [`crate::words::says_caller_holds`]: every phrase it looks for says one
/// of these.
fn may_say_caller_holds(text: &str) -> bool {
    text.contains("hold") || text.contains("held") || text.contains("lock")
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    decl: Node,
    body: Node,
    src: &str,
    imports: &Imports,
    receiver: Option<&str>,
    may_lock: bool,
    may_block: bool,
    doc: &str,
) -> FuncSummary {
    let name = decl.field("name").map_or("", |n| text(n, src));
    let expects_held =
        crate::words::LOCKED.ends_identifier(name) || crate::words::says_caller_holds(doc);
    let mut summary = FuncSummary {
        expects_held,
        ..FuncSummary::default()
    };
    if !may_lock && !may_block {
        return FuncSummary {
            expects_held,
            ..FuncSummary::default()
        };
    }
    // Declared names are only needed to tell a package-level mutex from a local one.
    let mut locals: Option<Vec<&str>> = None;
    // Lock and unlock calls in source order, for the lock-order pairs.
    let mut events: Vec<(Node, Acquire, bool)> = Vec::new();
    walk_calls(body, src, |node| {
        match node.kind_str() {
            "func_literal" | "go_statement" | "defer_statement" => return false,
            "call_expression" => {
                if may_block && summary.blocks.is_none() {
                    summary.blocks = blocking_call(node, src, imports);
                }
                if let Some(call) = method_call(node) {
                    let method = text(call.method, src);
                    let acquiring = matches!(method, "Lock" | "RLock");
                    if acquiring || matches!(method, "Unlock" | "RUnlock") {
                        let locals = locals.get_or_insert_with(|| declared_names(decl, src, true));
                        if let Some(acquire) = acquire_of(
                            call.receiver,
                            src,
                            receiver,
                            locals,
                            method.starts_with('R'),
                            node.start_byte(),
                        ) {
                            // `mu.RUnlock(); mu.Lock()`: a temporary release and re-take of a lock the
                            // caller holds is no new acquisition.
                            let released_before = events.iter().any(|(_, e, acq)| {
                                !acq && e.path == acquire.path
                                    && e.from_receiver == acquire.from_receiver
                            });
                            if acquiring && !released_before {
                                summary.acquires.push(acquire.clone());
                            }
                            events.push((node, acquire, acquiring));
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    summary.orders = lock_orders(&events);
    summary
}

/// (held, taken) pairs from lock events in source order. The later lock counts only when its
/// statement sits in the block of the earlier lock's statement (or deeper), so locks taken in two
/// exclusive branches never pair up.
fn lock_orders(events: &[(Node, Acquire, bool)]) -> Vec<(Acquire, Acquire)> {
    let mut pairs = Vec::new();
    for (i, (first_node, first, acquiring)) in events.iter().enumerate() {
        if !acquiring {
            continue;
        }
        let Some(block) = first_node.parent().and_then(|stmt| stmt.parent()) else {
            continue;
        };
        for (node, next, next_acquiring) in &events[i + 1..] {
            let same_lock = next.path == first.path && next.from_receiver == first.from_receiver;
            if !next_acquiring {
                if same_lock {
                    break;
                }
                continue;
            }
            if same_lock {
                break;
            }
            if goconc_syntax::is_within(*node, block) {
                pairs.push((first.clone(), next.clone()));
            }
        }
    }
    pairs
}

/// `recv.mu` → (receiver, "mu"); `recv` → (receiver, ""); `pkgMu` → (package var, "pkgMu").
fn acquire_of(
    receiver_expr: Node,
    src: &str,
    receiver: Option<&str>,
    locals: &[&str],
    read: bool,
    offset: usize,
) -> Option<Acquire> {
    let path = goconc_syntax::access_path(receiver_expr, src)?;
    let root = text(path_root(receiver_expr)?, src);
    if Some(root) == receiver {
        let rest = path
            .strip_prefix(root)
            .unwrap_or("")
            .trim_start_matches('.')
            .to_string();
        return Some(Acquire {
            from_receiver: true,
            path: rest,
            read,
            offset,
        });
    }
    if locals.contains(&root) {
        return None;
    }
    Some(Acquire {
        from_receiver: false,
        path,
        read,
        offset,
    })
}

/// Every name a function declares anywhere (parameters, results, locals, those of its function
/// literals). `own_parameters: false` leaves out the function's own receiver, parameters and
/// results.
pub(crate) fn declared_names<'s>(decl: Node, src: &'s str, own_parameters: bool) -> Vec<&'s str> {
    let mut names = Vec::new();
    walk(decl, |n| {
        match n.kind_str() {
            "parameter_declaration" | "variadic_parameter_declaration"
                if !own_parameters && n.parent().and_then(|p| p.parent()) == Some(decl) => {}
            "parameter_declaration"
            | "variadic_parameter_declaration"
            | "var_spec"
            | "const_spec" => {
                names.extend(super::types::names_of(n).into_iter().map(|i| text(i, src)));
            }
            "short_var_declaration" | "range_clause" | "receive_statement" => {
                if let Some(left) = n.field("left") {
                    names.extend(
                        named_children(left)
                            .filter(|i| i.kind_str() == "identifier")
                            .map(|i| text(i, src)),
                    );
                }
            }
            _ => {}
        }
        true
    });
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summaries(src: &str) -> HashMap<String, FuncSummary> {
        let file = goconc_syntax::SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let items = super::super::scope::top_level_items(root, src);
        collect_in(&items, src, &Imports::from_tree(root, src))
    }

    /// A function that takes no lock is summarised when its doc comment (and only its own)
    /// says the caller holds one.
    #[test]
    fn doc_comments_saying_the_caller_holds_a_lock() {
        let src = "package p\n\n// Lock order: mu before other.\nvar x int\n\n\
                   // flush writes the buffer.\n// The caller must hold s.mu.\n\
                   func (s *S) flush() {}\n\n// Reset clears the buffer.\nfunc (s *S) reset() {}\n\n\
                   func (s *S) drop() {}\n";
        let found = summaries(src);
        assert!(found["S.flush"].expects_held);
        assert!(!found.contains_key("S.reset"), "{:?}", found.keys());
        assert!(!found.contains_key("S.drop"));
    }

    /// Every phrase that makes a doc comment count passes the cheap test first.
    #[test]
    fn the_cheap_test_lets_every_phrase_through() {
        for doc in [
            "must hold mu",
            "mu must be held",
            "the caller holds mu",
            "called with mu held",
            "requires mu held",
            "assumes the lock is taken",
            "must be locked",
            "the lock must be held",
            "call with s locked",
            "while holding mu",
        ] {
            assert!(crate::words::says_caller_holds(doc), "{doc}");
            assert!(may_say_caller_holds(doc), "{doc}");
        }
    }
}
