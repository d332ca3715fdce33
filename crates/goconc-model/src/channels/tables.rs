//! Channels held in a field of every element of a local slice — a table of test cases or jobs:
//! `cases[i].done = make(chan error)` in `for i := range cases`, one goroutine per element that
//! sends on its element's channel (`for _, tc := range cases { tc := tc; go func() { tc.done <-
//! run(tc) }() }`), and one loop that receives from each element in turn (`for i := range cases
//! { err := <-cases[i].done; … }`).
//!
//! Built only when every use of the field, of the slice and of the element copies the loops make
//! is one of those (or reads another field): a slice or element handed to a call, stored,
//! reassigned or used by another closure may let someone else receive, and nothing is built.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{made_channel, Capacity};
use crate::goroutines::goroutine_start;
use crate::FileModel;
use goconc_syntax::{is_within, named_children, text, unparen, walk};

/// The channels of one field of a local slice's elements.
#[derive(Debug, Clone)]
pub struct TableChannel<'t> {
    /// The slice variable (`cases`).
    pub table: &'t str,
    /// The field holding each element's channel (`done`).
    pub field: &'t str,
    /// The function holding the slice (an index into [`FileModel::functions`]).
    pub function: usize,
    /// The `make(…)` call that gives every element its channel.
    pub make_call: Node<'t>,
    /// What it is assigned to (`cases[i].done`).
    pub target: Node<'t>,
    pub chan_type: Node<'t>,
    pub capacity: Capacity,
    pub capacity_expr: Option<Node<'t>>,
    /// The `for … range` loop of the function that starts one goroutine per element.
    pub send_loop: Node<'t>,
    /// The `go` statement in that loop.
    pub go: Node<'t>,
    /// The goroutine's `func_literal`.
    pub goroutine: Node<'t>,
    /// The `send_statement`s of that goroutine on its element's channel, in document order.
    pub sends: Vec<Node<'t>>,
    /// The `for … range` loop of the function that receives from each element in turn.
    pub receive_loop: Node<'t>,
    /// The receives (`<-x.done` expressions) in that loop, in document order.
    pub receives: Vec<Node<'t>>,
}

/// A `for` loop ranging over the slice, and the names it gives an element.
struct ElementLoop<'t> {
    stmt: Node<'t>,
    /// The index variable's declaring identifier (`i` of `cases[i]`).
    key: Option<Node<'t>>,
    /// The value variable's declaring identifier, and copies of it declared in the loop's body
    /// (`tc := tc`).
    values: Vec<Node<'t>>,
}

/// What a use of `<element>.field` does.
enum FieldUse<'t> {
    /// The `make` assignment to this target.
    Make(Node<'t>),
    Send(Node<'t>),
    Receive(Node<'t>),
}

/// A `table[i].field = make(chan T)` statement, before the table's uses are read.
struct MakeSite<'t> {
    call: Node<'t>,
    chan_type: Node<'t>,
    capacity: Capacity,
    capacity_expr: Option<Node<'t>>,
    assignment: Node<'t>,
    target: Node<'t>,
    field: &'t str,
    index: Node<'t>,
    table_decl: Node<'t>,
    table: &'t str,
    function: usize,
}

/// What the uses of one table show, field by field.
#[derive(Default)]
struct TableUses<'t> {
    by_field: crate::HashMap<&'t str, Vec<(Node<'t>, FieldUse<'t>)>>,
    /// Fields used some other way (handed on, stored, assigned anything but the `make`).
    escaped: crate::HashSet<&'t str>,
    /// The slice or an element is used as a whole (handed on, stored, reassigned).
    whole: bool,
}

/// One use of the slice or of an element's copy.
enum Use<'t> {
    /// Ranged over, measured, copied into a loop's element copy.
    Fine,
    /// A use of a field: what it does, None for anything but a `make`, send or receive (or
    /// through an index that is no loop's).
    Field(&'t str, Option<(Node<'t>, FieldUse<'t>)>),
    /// Anything else.
    Escape,
}

/// The table channels whose `make` is one of `makes`, when the whole picture is in view (see
/// the module comment). Each table's function is walked once, whatever the number of its
/// fields.
pub fn table_channels<'t>(model: &FileModel<'t>, makes: &[Node<'t>]) -> Vec<TableChannel<'t>> {
    let mut sites: Vec<MakeSite<'t>> = makes.iter().filter_map(|&c| make_site(model, c)).collect();
    sites.sort_by_key(|s| (s.table_decl.start_byte(), s.call.start_byte()));
    let mut out = Vec::new();
    let mut at = 0;
    while at < sites.len() {
        let table_decl = sites[at].table_decl;
        let end = sites[at..]
            .iter()
            .position(|s| s.table_decl != table_decl)
            .map_or(sites.len(), |n| at + n);
        let group = &sites[at..end];
        at = end;
        let function = group[0].function;
        let Some(body) = model.functions.get(function).and_then(|f| f.body) else {
            continue;
        };
        let loops = element_loops(model, body, table_decl, function);
        let targets: Vec<Node<'t>> = group.iter().map(|s| s.target).collect();
        let uses = table_uses(model, body, table_decl, &loops, &targets);
        if uses.whole {
            continue;
        }
        for site in group {
            out.extend(finish(model, site, &loops, &uses));
        }
    }
    out.sort_by_key(|t| t.make_call.start_byte());
    out
}

/// `table[i].field = make(chan T)`, one target and one value, `table` a local of the function.
fn make_site<'t>(model: &FileModel<'t>, call: Node<'t>) -> Option<MakeSite<'t>> {
    let list = call
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let assignment = list
        .parent_node()
        .filter(|a| a.kind_str() == "assignment_statement" && a.field("right") == Some(list))?;
    if list.named_child_count() != 1
        || assignment
            .field("operator")
            .is_none_or(|op| text(op, model.src) != "=")
    {
        return None;
    }
    let target_list = assignment.field("left")?;
    let target = named_children(target_list).next().map(unparen)?;
    if target_list.named_child_count() != 1 || target.kind_str() != "selector_expression" {
        return None;
    }
    let field = text(target.field("field")?, model.src);
    let element = unparen(target.field("operand")?);
    if element.kind_str() != "index_expression" {
        return None;
    }
    let (table_ident, index) = (
        unparen(element.field("operand")?),
        unparen(element.field("index")?),
    );
    if table_ident.kind_str() != "identifier" || index.kind_str() != "identifier" {
        return None;
    }
    let (chan_type, capacity, capacity_expr) = made_channel(model, call)?;
    let table = model.resolve(table_ident)?;
    if table.kind != crate::DeclKind::Local || model.function_of(call) != Some(table.function) {
        return None;
    }
    Some(MakeSite {
        call,
        chan_type,
        capacity,
        capacity_expr,
        assignment,
        target,
        field,
        index,
        table_decl: table.ident,
        table: table.name,
        function: table.function,
    })
}

/// Every use of the slice and of its elements' copies in the function, in one walk.
fn table_uses<'t>(
    model: &FileModel<'t>,
    body: Node<'t>,
    table_decl: Node<'t>,
    loops: &[ElementLoop<'t>],
    make_targets: &[Node<'t>],
) -> TableUses<'t> {
    let mut uses = TableUses::default();
    walk(body, |node| {
        if uses.whole {
            return false;
        }
        if node.kind_str() != "identifier" {
            return true;
        }
        let Some(decl) = model.resolve(node).map(|d| d.ident) else {
            return true;
        };
        let found = if decl == table_decl {
            (node != table_decl).then(|| table_use(model, node, loops, make_targets))
        } else if let Some(lp) = loops.iter().find(|l| l.values.contains(&decl)) {
            (node != decl).then(|| element_use(model, node, lp, make_targets))
        } else {
            None
        };
        match found {
            None | Some(Use::Fine) => {}
            Some(Use::Escape) => uses.whole = true,
            Some(Use::Field(field, None)) => {
                uses.escaped.insert(field);
            }
            Some(Use::Field(field, Some(found))) => {
                uses.by_field.entry(field).or_default().push(found);
            }
        }
        true
    });
    uses
}

/// The table channel of one `make`, from its table's uses.
fn finish<'t>(
    model: &FileModel<'t>,
    site: &MakeSite<'t>,
    loops: &[ElementLoop<'t>],
    uses: &TableUses<'t>,
) -> Option<TableChannel<'t>> {
    let function = site.function;
    // The `make` is a statement of its own in the body of a loop over every index.
    let make_loop = loops.iter().find(|l| {
        l.stmt.field("body") == goconc_syntax::parent_block(site.assignment)
            && l.key.is_some()
            && model.resolve(site.index).map(|d| d.ident) == l.key
    })?;
    if uses.escaped.contains(site.field) {
        return None;
    }
    let found = uses.by_field.get(site.field)?;
    let mut sends: Vec<(Node<'t>, Node<'t>)> = Vec::new();
    let mut receives: Vec<(Node<'t>, Node<'t>)> = Vec::new();
    for (lp, found) in found {
        match found {
            // Another `make` of the same field: two channels per element.
            FieldUse::Make(t) if *t != site.target => return None,
            FieldUse::Make(_) => {}
            FieldUse::Send(s) => sends.push((*lp, *s)),
            FieldUse::Receive(r) => receives.push((*lp, *r)),
        }
    }
    // Every send runs on the goroutine one loop starts per element; every receive on the
    // function's own goroutine, in one later loop.
    let send_loop = sends.first()?.0;
    let goroutine = model.functions.get(model.function_of(sends[0].1)?)?.node;
    let go = goroutine_start(model, goroutine)
        .filter(|g| g.kind_str() == "go_statement" && model.function_of(*g) == Some(function))?;
    let one_goroutine = sends.iter().all(|(lp, s)| {
        *lp == send_loop
            && model.functions[model.function_of(*s).unwrap_or(function)].node == goroutine
    });
    let receive_loop = receives.first()?.0;
    let own_receives = receives
        .iter()
        .all(|(lp, r)| *lp == receive_loop && model.function_of(*r) == Some(function));
    let in_order = make_loop.stmt.end_offset() <= send_loop.start_byte()
        && send_loop.end_offset() <= receive_loop.start_byte()
        && is_within(go, send_loop)
        && goconc_syntax::enclosing_loop(go) == Some(send_loop);
    if !one_goroutine || !own_receives || !in_order {
        return None;
    }
    Some(TableChannel {
        table: site.table,
        field: site.field,
        function,
        make_call: site.call,
        target: site.target,
        chan_type: site.chan_type,
        capacity: site.capacity,
        capacity_expr: site.capacity_expr,
        send_loop,
        go,
        goroutine,
        sends: sends.into_iter().map(|(_, s)| s).collect(),
        receive_loop,
        receives: receives.into_iter().map(|(_, r)| r).collect(),
    })
}

/// The `for … range table` loops of the function's own body, with the names each gives its
/// element.
fn element_loops<'t>(
    model: &FileModel<'t>,
    body: Node<'t>,
    table_decl: Node<'t>,
    function: usize,
) -> Vec<ElementLoop<'t>> {
    let mut loops = Vec::new();
    goconc_syntax::walk_body(body, |node| {
        if node.kind_str() != "for_statement" {
            return;
        }
        let Some(clause) = named_children(node).find(|n| n.kind_str() == "range_clause") else {
            return;
        };
        let Some(right) = clause.field("right").map(unparen) else {
            return;
        };
        if right.kind_str() != "identifier"
            || model.resolve(right).map(|d| d.ident) != Some(table_decl)
        {
            return;
        }
        let Some(loop_body) = node.field("body") else {
            return;
        };
        let mut names = clause.field("left").into_iter().flat_map(named_children);
        // A range variable is visible from the loop's body on.
        let declared = |n: Option<Node<'t>>| {
            let n = n.filter(|n| n.kind_str() == "identifier")?;
            model
                .resolve_name(text(n, model.src), loop_body.start_byte())
                .filter(|d| d.ident == n && d.function == function)
                .map(|d| d.ident)
        };
        let key = declared(names.next());
        let mut values: Vec<Node<'t>> = declared(names.next()).into_iter().collect();
        // `tc := tc` (or `c := tc`) among the statements of the loop's body.
        for stmt in goconc_syntax::statements(loop_body) {
            if let Some(copy) = element_copy(model, stmt, &values) {
                values.push(copy);
            }
        }
        loops.push(ElementLoop {
            stmt: node,
            key,
            values,
        });
    });
    loops
}

/// `c := v` with `v` one of `values`: the declaring identifier of `c`.
fn element_copy<'t>(
    model: &FileModel<'t>,
    stmt: Node<'t>,
    values: &[Node<'t>],
) -> Option<Node<'t>> {
    if stmt.kind_str() != "short_var_declaration" {
        return None;
    }
    let (left, right) = (stmt.field("left")?, stmt.field("right")?);
    if left.named_child_count() != 1 || right.named_child_count() != 1 {
        return None;
    }
    let (name, value) = (
        named_children(left).next()?,
        unparen(named_children(right).next()?),
    );
    let source = model.resolve(value).map(|d| d.ident)?;
    if value.kind_str() != "identifier" || !values.contains(&source) {
        return None;
    }
    model
        .resolve_name(text(name, model.src), stmt.end_offset())
        .filter(|d| d.ident == name)
        .map(|d| d.ident)
}

/// A use of the slice: ranged over, measured, or indexed to reach one element's field.
fn table_use<'t>(
    model: &FileModel<'t>,
    node: Node<'t>,
    loops: &[ElementLoop<'t>],
    make_targets: &[Node<'t>],
) -> Use<'t> {
    let Some(parent) = node.parent_node() else {
        return Use::Escape;
    };
    match parent.kind_str() {
        "range_clause" if parent.field("right") == Some(node) => Use::Fine,
        "argument_list" => {
            let measured = parent.parent_node().is_some_and(|call| {
                call.field("function").is_some_and(|f| {
                    f.kind_str() == "identifier"
                        && matches!(text(f, model.src), "len" | "cap")
                        && model.resolve(f).is_none()
                })
            });
            match measured {
                true => Use::Fine,
                false => Use::Escape,
            }
        }
        "index_expression" if parent.field("operand") == Some(node) => {
            // The element of a loop over the slice: indexed by that loop's index.
            let lp = parent
                .field("index")
                .map(unparen)
                .filter(|i| i.kind_str() == "identifier")
                .and_then(|i| model.resolve(i))
                .and_then(|d| loops.iter().find(|l| l.key == Some(d.ident)));
            match selected_field(model, parent) {
                Some((selector, name)) => Use::Field(
                    name,
                    lp.and_then(|lp| field_use(selector, make_targets).map(|u| (lp.stmt, u))),
                ),
                None => Use::Escape,
            }
        }
        _ => Use::Escape,
    }
}

/// A use of an element's copy: a field's use, or the copy `c := v`.
fn element_use<'t>(
    model: &FileModel<'t>,
    node: Node<'t>,
    lp: &ElementLoop<'t>,
    make_targets: &[Node<'t>],
) -> Use<'t> {
    if let Some((selector, name)) = selected_field(model, node) {
        return Use::Field(
            name,
            field_use(selector, make_targets).map(|u| (lp.stmt, u)),
        );
    }
    // The right side of `c := v`, where `c` is one of the loop's copies.
    let statement = node.parent_node().and_then(|list| list.parent_node());
    let copied = statement.is_some_and(|s| {
        s.kind_str() == "short_var_declaration"
            && s.field("left")
                .and_then(|l| named_children(l).next())
                .is_some_and(|c| lp.values.contains(&c))
    });
    match copied {
        true => Use::Fine,
        false => Use::Escape,
    }
}

/// `operand.name` around `operand`: the selector and the field's name.
fn selected_field<'t>(model: &FileModel<'t>, operand: Node<'t>) -> Option<(Node<'t>, &'t str)> {
    let selector = operand
        .parent_node()
        .filter(|s| s.kind_str() == "selector_expression" && s.field("operand") == Some(operand))?;
    Some((selector, text(selector.field("field")?, model.src)))
}

/// What `element.field` is used for: a `make` assignment's target, a send's channel, or a
/// receive's operand; None for anything else.
fn field_use<'t>(selector: Node<'t>, make_targets: &[Node<'t>]) -> Option<FieldUse<'t>> {
    if make_targets.contains(&selector) {
        return Some(FieldUse::Make(selector));
    }
    let parent = goconc_syntax::outer_parens(selector).parent_node()?;
    match parent.kind_str() {
        "send_statement"
            if parent
                .field("channel")
                .is_some_and(|c| unparen(c) == selector) =>
        {
            Some(FieldUse::Send(parent))
        }
        "unary_expression"
            if parent
                .field("operand")
                .is_some_and(|o| unparen(o) == selector) =>
        {
            let receive = parent
                .child_by_field_name("operator")
                .is_some_and(|op| op.kind_str() == "<-");
            receive.then_some(FieldUse::Receive(parent))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileDecls, PackageModel};
    use goconc_syntax::SourceFile;

    /// The table channel of the file's first `make` that has one: `table.field`, how many
    /// sends and receives.
    fn table_of(src: &str) -> Option<(String, usize, usize)> {
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let decls = FileDecls::collect(root, src);
        let package = PackageModel::from_files([&decls]);
        let model = FileModel::build(root, file.text(), &package);
        let mut calls = Vec::new();
        walk(root, |n| {
            if n.kind_str() == "call_expression" {
                calls.push(n);
            }
            true
        });
        let tables = table_channels(&model, &calls);
        tables.first().map(|t| {
            let name = format!("{}.{}", t.table, t.field);
            (name, t.sends.len(), t.receives.len())
        })
    }

    const CASES: &str = "package p\n\nfunc f(cases []struct{ n int; done chan error }) {}\n\nfunc g() {\n\tcases := []struct {\n\t\tn    int\n\t\tdone chan error\n\t}{{n: 1}, {n: 2}}\n\tfor i := range cases {\n\t\tcases[i].done = make(chan error)\n\t}\n\tfor _, tc := range cases {\n\t\ttc := tc\n\t\tgo func() {\n\t\t\tif tc.n == 0 {\n\t\t\t\ttc.done <- nil\n\t\t\t\treturn\n\t\t\t}\n\t\t\ttc.done <- nil\n\t\t}()\n\t}\n\tfor i := range cases {\n\t\tif err := <-cases[i].done; err != nil {\n\t\t\treturn\n\t\t}\n\t}\n\tUSE\n}\n";

    #[test]
    fn the_whole_picture() {
        let src = CASES.replace("USE", "");
        assert_eq!(table_of(&src), Some(("cases.done".into(), 2, 1)));
    }

    #[test]
    fn a_slice_handed_on_is_not_built() {
        let src = CASES.replace("USE", "f(cases)");
        assert_eq!(table_of(&src), None);
    }

    #[test]
    fn another_use_of_the_field_is_not_built() {
        let src = CASES.replace("USE", "close(cases[0].done)");
        assert_eq!(table_of(&src), None);
    }
}
