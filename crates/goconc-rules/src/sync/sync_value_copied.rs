//! `sync-value-copied`: a value holding a lock (or another sync value that must not move) is
//! copied. Follows go vet's copylocks: composite literals and call results are fresh values, not
//! copies, and pointers never copy what they point to.

use crate::{HashMap, HashSet};
use goconc_syntax::NodeExt;
use std::cell::RefCell;

use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::package::LockReach;
use goconc_model::types::names_of;
use goconc_model::{DeclKind, FileModel, Ty};
use goconc_syntax::{is_whole_word, named_children, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "sync-value-copied",
    family: Family::Sync,
    severity: Severity::Error,
    summary: "A value containing a `sync.Mutex`, `RWMutex`, `WaitGroup`, `Once`, `Cond`, `sync/atomic` typed value or `noCopy` is copied.",
    fix: Some("pointer receiver, where the method only selects through the receiver"),
    doc: r#"
## Why it matters
A mutex, a WaitGroup, a `sync.Once` or an atomic counter is a small piece of shared state: all the
goroutines that coordinate through it must use the *same* one. Copying a struct that holds one
makes a second, independent lock. A method with a value receiver locks its private copy and
protects nothing; a copied WaitGroup is waited on while the goroutines signal the original; a
copied `Once` runs its function again. Copying a mutex while another goroutine holds it even
copies the locked state.

Struct types are followed across the files of the package and through embedded fields, so
`Config` embedding a `guard` that holds an `RWMutex` counts as holding a lock. Types of the
package whose pointer has `Lock` and `Unlock` methods (the `noCopy` convention) count too.

## Example
```go
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c Counter) Get(key string) int { // c is a copy: c.mu guards nothing
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}
```
```go
func (c *Counter) Get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}
```

## Fix
For a value receiver whose method uses the receiver only to select fields and call methods
(`c.mu`, `c.counts[key]`), the quick fix makes it a pointer receiver. Elsewhere — parameters,
arguments, `range` values, assignments and returns — the right change depends on the callers, so
no fix is offered: pass and store a pointer (`*Config`), range by index (`for i := range shards`
and `shards[i]`), or copy only the fields you need.

## When it stays silent
Composite literals (`Counter{}`, `&Counter{}`) and call results (`newCounter()`) are fresh values,
not copies, as in go vet. Pointers, slices, maps and channels of such values share them and are
never reported. A struct that holds only a *pointer* to a mutex may be copied freely. Types that
cannot be resolved from the package's own source (types of other packages besides `sync` and
`sync/atomic`) are not reported.

Types are resolved per build configuration: a file sees the declarations of the files it can be
compiled with (file names such as `x_windows.go`, `x_linux_arm64.go`, and `//go:build` lines), so
the Linux `Allocator` is never taken for the Windows one that holds a mutex. A file compiled in
several configurations whose declarations of a type differ (an unconstrained file using a type
declared per GOOS) sees only the fields they all share: a lock that only one configuration's type
holds is not reported there, only in the files of that configuration.
"#,
};

/// Lock descriptions by type, computed once per file, and the names through which a lock-holding
/// value can be reached — a cheap filter before resolving an expression's type.
struct Locks<'a> {
    model: &'a FileModel<'a>,
    cache: RefCell<HashMap<Ty, Option<String>>>,
    /// Locals, parameters and package variables whose type holds, points to or collects a lock,
    /// with how ([`LockReach`] bits).
    names: HashMap<&'a str, u8>,
    /// Struct fields (of the package's structs and of the file's anonymous structs) likewise.
    fields: HashMap<&'a str, u8>,
}

impl<'a> Locks<'a> {
    fn new(model: &'a FileModel<'a>) -> Locks<'a> {
        let package: &'a goconc_model::PackageModel = model.package;
        let reach = package.lock_reach();
        let mut fields: HashMap<&'a str, u8> =
            reach.fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut names: HashMap<&'a str, u8> =
            reach.vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut memo = HashMap::default();
        for decl in model.decls() {
            let how = package.lock_reach_of(&decl.ty, &mut memo);
            if how != 0 {
                *names.entry(decl.name).or_default() |= how;
            }
            if let Ty::Struct(anonymous) = decl.ty.deref() {
                for field in anonymous {
                    let how = package.lock_reach_of(&field.ty, &mut memo);
                    if how != 0 {
                        *fields.entry(field.name.as_str()).or_default() |= how;
                    }
                }
            }
        }
        Locks {
            model,
            cache: RefCell::new(HashMap::default()),
            names,
            fields,
        }
    }

    /// The cheap filter: could this expression's value hold a lock?
    fn may_hold_lock(&self, expr: Node) -> bool {
        let expr = unparen(expr);
        match expr.kind_str() {
            "identifier" => {
                let name = text(expr, self.model.src);
                self.names.contains_key(name)
            }
            "selector_expression" => expr
                .field("field")
                .is_some_and(|f| self.fields.contains_key(text(f, self.model.src))),
            "index_expression" | "unary_expression" => {
                expr.field("operand").is_some_and(|o| self.may_hold_lock(o))
            }
            "type_assertion_expression" => true,
            _ => false,
        }
    }

    /// "Counter contains sync.Mutex", or "sync.Mutex" for a lock itself; None when copying a value
    /// of `ty` copies no lock.
    fn describe(&self, ty: &Ty) -> Option<String> {
        if ty.is_unknown() || ty.is_pointer() {
            return None;
        }
        let lock = self.lock_in(ty, 0)?;
        if self.model.package.sync_kind(ty).is_some() {
            Some(lock)
        } else {
            Some(format!("{} contains {}", ty.display(), lock))
        }
    }

    /// The lock a value of `ty` holds (`sync.Mutex`), through struct fields (embedded or not) and
    /// arrays but not pointers, slices, maps or channels — `PackageModel::contained_lock`, with
    /// every type's answer remembered so that large packages stay linear.
    fn lock_in(&self, ty: &Ty, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        if let Some(known) = self.cache.borrow().get(ty) {
            return known.clone();
        }
        let package = self.model.package;
        let found = if package.sync_kind(ty).is_some() {
            Some(ty.display())
        } else {
            match ty {
                Ty::Array(inner) => self.lock_in(inner, depth + 1),
                Ty::Named { pkg, .. } if pkg.is_empty() => {
                    // A placeholder guards against cycles in broken code.
                    self.cache.borrow_mut().insert(ty.clone(), None);
                    package.fields_of(ty).and_then(|fields| {
                        fields.iter().find_map(|f| self.lock_in(&f.ty, depth + 1))
                    })
                }
                Ty::Struct(fields) => fields.iter().find_map(|f| self.lock_in(&f.ty, depth + 1)),
                _ => None,
            }
        };
        self.cache.borrow_mut().insert(ty.clone(), found.clone());
        found
    }

    /// go vet's `lockPathRhs`: the lock an expression's value would copy, unless the expression
    /// makes a fresh value (composite literal, call result, `*f()`).
    fn copied_by(&self, expr: Node) -> Option<String> {
        let expr = unparen(expr);
        match expr.kind_str() {
            "composite_literal" | "call_expression" | "func_literal" => return None,
            "unary_expression" => {
                let op = expr.field("operator").map(|o| text(o, self.model.src));
                if op != Some("*") {
                    return None;
                }
                let operand = expr.field("operand").map(unparen)?;
                if operand.kind_str() == "call_expression" {
                    return None;
                }
            }
            "identifier"
            | "selector_expression"
            | "index_expression"
            | "type_assertion_expression" => {}
            _ => return None,
        }
        if !self.may_hold_lock(expr) {
            return None;
        }
        self.describe(&self.model.type_of(expr))
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    // A lock-holding value has a sync or sync/atomic type, or a type of the package that holds
    // one: without either, nothing in the file can copy a lock.
    let imports = &cx.model.imports;
    if !imports.imports("sync")
        && !imports.imports("sync/atomic")
        && !cx.model.package.lock_reach().any_type
    {
        return;
    }
    let locks = Locks::new(cx.model);
    for function in &cx.model.functions {
        check_signature(cx, &locks, function.node, out);
    }
    for &for_stmt in &cx.index.for_statements {
        if let Some(clause) = named_children(for_stmt).find(|n| n.kind_str() == "range_clause") {
            check_range(cx, &locks, clause, out);
        }
    }
    // A copied lock-holding value is named through a variable or a field that reaches a lock:
    // start from where the text names one and look at the expression around it, instead of
    // typing every argument, operand and result of the file.
    let mut seen = HashSet::default();
    if locks.names.is_empty() && locks.fields.is_empty() {
        return;
    }
    let mut paths = PathFinder::new(cx.model.root);
    let mut seen_in = usize::MAX;
    words_naming(cx, &locks, |region, at, word| {
        // An expression lies in one top-level declaration: what was seen in the ones before
        // is never met again (a set over the whole file was, with the list of words it
        // replaced, the peak of a file of 200,000 small functions).
        if region != seen_in {
            seen.clear();
            seen_in = region;
        }
        let as_name = locks.names.get(word).map(|how| (*how, false));
        let as_field = locks.fields.get(word).map(|how| (*how, true));
        for (how, is_field) in as_name.into_iter().chain(as_field) {
            if !worth_a_look(cx.src, at, word.len(), how, is_field) {
                continue;
            }
            let path = paths.path_to(at, at + word.len());
            let Some(&leaf) = path.last() else { continue };
            let mut i = path.len() - 1;
            match leaf.kind_str() {
                "identifier" => {}
                "field_identifier" if i > 0 => {
                    let selector = path[i - 1];
                    if selector.kind_str() != "selector_expression"
                        || selector.field("field") != Some(leaf)
                    {
                        continue;
                    }
                    i -= 1;
                }
                _ => continue,
            }
            // Up through `x.f`, `x[i]`, `*x` and `(x)` to the whole operand.
            while i > 0 {
                let (expr, parent) = (path[i], path[i - 1]);
                let operand = || parent.field("operand") == Some(expr);
                let climb = match parent.kind_str() {
                    "selector_expression" | "index_expression" => operand(),
                    "unary_expression" => {
                        operand()
                            && parent
                                .field("operator")
                                .is_some_and(|o| text(o, cx.src) == "*")
                    }
                    "parenthesized_expression" => true,
                    _ => false,
                };
                if !climb {
                    break;
                }
                i -= 1;
            }
            if i >= 2 && seen.insert(path[i].id()) {
                check_site(cx, &locks, path[i], path[i - 1], path[i - 2], out);
            }
        }
    });
}

/// Where the code names a lock holder, in order. Only functions the model holds and
/// top-level variable declarations can copy a value: comments, imports, constants and types
/// between them are not read (most of a file's text outside its bodies, which a server would
/// search again on every keystroke). A few names are found in one multi-pattern pass; many (or
/// short ones, which match everywhere), by reading every identifier and ruling most out by
/// length and first byte before hashing them.
fn words_naming<'t>(
    cx: &Context<'_, 't>,
    locks: &Locks,
    mut each: impl FnMut(usize, usize, &'t str),
) {
    let mut names: Vec<&str> = locks
        .names
        .keys()
        .chain(locks.fields.keys())
        .copied()
        .filter(|n| !n.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    let regions = cx.model.items.iter().copied().filter(|item| {
        !matches!(
            item.kind_str(),
            "comment"
                | "package_clause"
                | "import_declaration"
                | "const_declaration"
                | "type_declaration"
        ) && !cx.is_skipped(item.start_byte())
    });
    let bytes = cx.src.as_bytes();
    // Leftmost-longest: of two names starting at one place, at most the longer can be a whole
    // word there, and a whole word never starts inside a match (a word byte precedes it).
    let search = (names.len() <= 16 && names.iter().all(|n| n.len() >= 3))
        .then(|| {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&names)
                .ok()
        })
        .flatten();
    let mut maybe = [0u64; 256];
    for word in &names {
        maybe[word.as_bytes()[0] as usize] |= 1 << word.len().min(63);
    }
    let names: HashSet<&str> = names.into_iter().collect();
    for region in regions.map(|item| item.byte_span()) {
        let Some(text) = cx.src.get(region.clone()) else {
            continue;
        };
        match &search {
            Some(search) => {
                for m in search.find_iter(text) {
                    let (at, end) = (region.start + m.start(), region.start + m.end());
                    if is_whole_word(bytes, at, end) {
                        each(region.start, at, &cx.src[at..end]);
                    }
                }
            }
            None => {
                for (at, word) in goconc_syntax::identifiers(text) {
                    let first = word.as_bytes().first().copied().unwrap_or(0) as usize;
                    if maybe[first] & (1 << word.len().min(63)) != 0 && names.contains(word) {
                        let at = region.start + at;
                        each(region.start, at, &cx.src[at..at + word.len()]);
                    }
                }
            }
        }
    }
}

/// The nodes from the root down to the leaf that spans a range, for ranges asked in document
/// order: each search starts from the deepest node of the previous path that still contains the
/// range, so a file is descended about once (from the root each time, 3,000 names in an
/// `else if` chain 3,000 deep cost a second).
struct PathFinder<'t> {
    path: Vec<Node<'t>>,
}

impl<'t> PathFinder<'t> {
    fn new(root: Node<'t>) -> Self {
        PathFinder { path: vec![root] }
    }

    /// The path from the root to the leaf that spans `start..end` (or as far as one does).
    fn path_to(&mut self, start: usize, end: usize) -> &[Node<'t>] {
        while self.path.len() > 1
            && self.path.last().is_some_and(|n| {
                n.start_byte() > start || n.end_offset() < end || n.end_offset() <= start
            })
        {
            self.path.pop();
        }
        let Some(&from) = self.path.last() else {
            return &self.path;
        };
        if from.start_byte() == start && from.end_offset() == end && from.child_count() == 0 {
            return &self.path;
        }
        let mut cursor = from.walk();
        while cursor.goto_first_child_for_byte(start).is_some() {
            let node = cursor.node();
            if node.start_byte() > start {
                break;
            }
            self.path.push(node);
            if node.start_byte() == start && node.end_offset() == end && node.child_count() == 0 {
                break;
            }
        }
        &self.path
    }
}

/// Reports `expr` when it stands where its value is copied — a call argument, a returned value,
/// the value of an assignment or declaration, an element of a composite literal — and holds a
/// lock.
fn check_site(
    cx: &Context,
    locks: &Locks,
    expr: Node,
    parent: Node,
    grandparent: Node,
    out: &mut Vec<Finding>,
) {
    let what = text(expr, cx.src);
    let message = match parent.kind_str() {
        "argument_list" => {
            if grandparent.kind_str() != "call_expression" {
                return;
            }
            let call = grandparent;
            let Some(function) = call.field("function").map(unparen) else {
                return;
            };
            if is_exempt_call(cx, function) {
                return;
            }
            format!(
                "call of `{}` copies lock value: `{what}` of type ",
                text(function, cx.src)
            )
        }
        "literal_element" => {
            let is_key = grandparent.kind_str() == "keyed_element"
                && grandparent.field("key") == Some(parent);
            if is_key {
                return;
            }
            format!("literal copies lock value from `{what}`: ")
        }
        "expression_list" => {
            let holder = grandparent;
            let values: Vec<Node> = named_children(parent).collect();
            let Some(i) = values.iter().position(|v| *v == expr) else {
                return;
            };
            let targets: Vec<Node> = match holder.kind_str() {
                "return_statement" => Vec::new(),
                "assignment_statement" | "short_var_declaration" => {
                    if holder.field("right") != Some(parent) {
                        return;
                    }
                    if holder.kind_str() == "assignment_statement"
                        && holder.field("operator").map(|o| text(o, cx.src)) != Some("=")
                    {
                        return;
                    }
                    holder
                        .field("left")
                        .map(|l| named_children(l).collect())
                        .unwrap_or_default()
                }
                "var_spec" => {
                    if holder.field("value") != Some(parent) {
                        return;
                    }
                    names_of(holder)
                }
                _ => return,
            };
            if holder.kind_str() == "return_statement" {
                format!("return copies lock value: `{what}` of type ")
            } else {
                // `a, b := x, y` pairs values with names; `v, ok := m[k]` copies too but is left to
                // the type checker.
                if targets.len() != values.len() {
                    return;
                }
                let verb = if holder.kind_str() == "var_spec" {
                    "variable declaration"
                } else {
                    "assignment"
                };
                format!(
                    "{verb} copies lock value to `{}`: ",
                    text(targets[i], cx.src)
                )
            }
        }
        _ => return,
    };
    if let Some(lock) = locks.copied_by(expr) {
        out.push(META.finding(expr.byte_span(), message + &lock));
    }
}

/// Builtins and `unsafe` functions whose arguments are not copied values.
fn is_exempt_call(cx: &Context, function: Node) -> bool {
    match function.kind_str() {
        "identifier" => {
            matches!(text(function, cx.src), "len" | "cap" | "new" | "make")
                && cx.model.resolve(function).is_none()
        }
        "selector_expression" => function
            .field("operand")
            .is_some_and(|o| cx.model.is_package(o, "unsafe")),
        _ => false,
    }
}

/// Whether an occurrence of a name can be a copy, from the text around it: a value holding a
/// lock always can; a pointer only dereferenced (`*p`), a slice, array or map only indexed.
fn worth_a_look(src: &str, at: usize, len: usize, how: u8, is_field: bool) -> bool {
    if how & LockReach::VALUE != 0 {
        return true;
    }
    if how & LockReach::CONTAINER != 0
        && src[at + len..]
            .trim_start_matches([' ', '\t', ')'])
            .starts_with('[')
    {
        return true;
    }
    if how & LockReach::POINTER != 0 {
        let before = &src[goconc_syntax::line_start(src, at)..at];
        if is_field {
            // `*s.next`: the star stands before the whole selector.
            return before.contains('*');
        }
        return before.trim_end_matches([' ', '\t', '(']).ends_with('*');
    }
    false
}

/// Value receivers and by-value parameters of functions, methods and function literals.
fn check_signature(cx: &Context, locks: &Locks, function: Node, out: &mut Vec<Finding>) {
    let name = || match function.kind_str() {
        "func_literal" => "function literal".to_string(),
        _ => function.field("name").map_or_else(
            || "function".to_string(),
            |n| format!("`{}`", text(n, cx.src)),
        ),
    };
    // Only these type shapes can hold a lock by value (pointers, slices, maps, … never do).
    let by_value = |type_node: &Node| {
        matches!(
            type_node.kind_str(),
            "type_identifier"
                | "qualified_type"
                | "generic_type"
                | "array_type"
                | "struct_type"
                | "parenthesized_type"
        )
    };
    if let Some(receiver) = function.field("receiver") {
        if let Some(param) =
            named_children(receiver).find(|n| n.kind_str() == "parameter_declaration")
        {
            if let Some(type_node) = param.field("type").filter(by_value) {
                let ty = Ty::from_node(type_node, cx.src, &cx.model.imports);
                if let Some(lock) = locks.describe(&ty) {
                    let names = names_of(param);
                    let who = match names.first() {
                        Some(n) => format!("receiver `{}`", text(*n, cx.src)),
                        None => "the receiver".to_string(),
                    };
                    let mut finding = META.finding(
                        param.byte_span(),
                        format!("{} passes lock by value: {who} of type {lock}", name()),
                    );
                    if receiver_only_selected(cx, function, names.first().copied()) {
                        let title =
                            format!("Use a pointer receiver `*{}`", text(type_node, cx.src));
                        finding = finding.with_unsafe_fix(
                            title,
                            vec![TextEdit {
                                range: type_node.start_byte()..type_node.start_byte(),
                                new_text: "*".into(),
                            }],
                        );
                    }
                    out.push(finding);
                }
            }
        }
    }
    let Some(params) = function.field("parameters") else {
        return;
    };
    for param in named_children(params).filter(|n| n.kind_str() == "parameter_declaration") {
        let Some(type_node) = param.field("type").filter(by_value) else {
            continue;
        };
        let ty = Ty::from_node(type_node, cx.src, &cx.model.imports);
        let Some(lock) = locks.describe(&ty) else {
            continue;
        };
        let names = names_of(param);
        let who = match names.as_slice() {
            [] => "a parameter".to_string(),
            [one] => format!("parameter `{}`", text(*one, cx.src)),
            many => format!(
                "parameters {}",
                many.iter()
                    .map(|n| format!("`{}`", text(*n, cx.src)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push(META.finding(
            param.byte_span(),
            format!("{} passes lock by value: {who} of type {lock}", name()),
        ));
    }
}

/// Whether the method body uses its receiver only as `c.x` / `c.m()`, never as a whole value and
/// never writing a field of its own (which a pointer receiver would make visible to the caller).
fn receiver_only_selected(cx: &Context, method: Node, receiver: Option<Node>) -> bool {
    let Some(receiver) = receiver else {
        return true;
    };
    if text(receiver, cx.src) == "_" {
        return true;
    }
    let Some(body) = method.field("body") else {
        return false;
    };
    let name = text(receiver, cx.src);
    let mut ok = true;
    walk(body, |node| {
        if !ok {
            return false;
        }
        if node.kind_str() != "identifier" || text(node, cx.src) != name {
            return true;
        }
        let Some(decl) = cx.model.resolve(node) else {
            return true;
        };
        if decl.kind != DeclKind::Receiver || decl.ident != receiver {
            return true;
        }
        let Some(parent) = node.parent_node() else {
            ok = false;
            return false;
        };
        if parent.kind_str() != "selector_expression" || parent.field("operand") != Some(node) {
            ok = false;
            return false;
        }
        // The outermost selector of `c.a.b`: is it written to or has its address taken?
        let mut top = parent;
        while let Some(p) = top.parent_node() {
            if p.kind_str() == "selector_expression" && p.field("operand") == Some(top) {
                top = p;
            } else {
                break;
            }
        }
        if let Some(p) = top.parent_node() {
            let written = match p.kind_str() {
                "inc_statement" | "dec_statement" => true,
                "expression_list" => p.parent_node().is_some_and(|a| {
                    a.kind_str() == "assignment_statement" && a.field("left") == Some(p)
                }),
                "unary_expression" => p.field("operator").is_some_and(|o| text(o, cx.src) == "&"),
                _ => false,
            };
            if written {
                ok = false;
            }
        }
        true
    });
    ok
}

fn check_range(cx: &Context, locks: &Locks, clause: Node, out: &mut Vec<Finding>) {
    let (Some(left), Some(right)) = (clause.field("left"), clause.field("right")) else {
        return;
    };
    if !locks.may_hold_lock(right) {
        return;
    }
    let ranged = cx.model.type_of(right);
    let (key, value) = match ranged.deref() {
        Ty::Slice(e) | Ty::Array(e) => (None, Some((**e).clone())),
        Ty::Map(k, v) => (Some((**k).clone()), Some((**v).clone())),
        Ty::Chan(e) if !ranged.is_pointer() => (Some((**e).clone()), None),
        _ => return,
    };
    for (i, var) in named_children(left).enumerate() {
        if text(var, cx.src) == "_" {
            continue;
        }
        let ty = if i == 0 { key.as_ref() } else { value.as_ref() };
        let Some(lock) = ty.and_then(|t| locks.describe(t)) else {
            continue;
        };
        out.push(META.finding(
            var.byte_span(),
            format!("range var `{}` copies lock: {}", text(var, cx.src), lock),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    fn findings(src: &str) -> Vec<(usize, String)> {
        let file = SourceFile::new(src.to_string());
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == "sync-value-copied")
            .map(|f| (src[..f.range.start].matches('\n').count() + 1, f.message))
            .collect()
    }

    #[test]
    fn copies_through_fields_arrays_and_literals() {
        let src = "package p

import \"sync\"

type T struct{ mu sync.Mutex }
type W struct {
	t   T
	arr [2]T
}

func f(w *W, ts []T, p *T) {
	x := w.t
	y := w.arr
	z := ts[0]
	_ = W{t: *p}
	var v = x
	_, _, _, _ = x, y, z, v
}
";
        let got = findings(src);
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![12, 13, 14, 15, 16, 17, 17, 17, 17], "{got:?}");
        assert!(
            got[0]
                .1
                .contains("assignment copies lock value to `x`: T contains sync.Mutex"),
            "{got:?}"
        );
    }

    #[test]
    fn pointers_literals_and_calls_are_not_copies() {
        let src = "package p

import \"sync\"

type T struct{ mu sync.Mutex }

func mk() T { return T{} }
func mkp() *T { return &T{} }

func f(p *T, ps []*T) int {
	a := T{}
	b := mk()
	c := *mkp()
	d := p
	for _, q := range ps {
		_ = q
	}
	var mu sync.Mutex
	e := &mu
	_, _, _, _ = &a, &b, &c, d
	return len(ps) + cap(ps) + len([]*T{e2(e)})
}

func e2(m *sync.Mutex) *T { _ = m; return nil }
";
        assert_eq!(findings(src), vec![]);
    }

    #[test]
    fn receiver_fix_needs_selector_only_use() {
        let src = "package p

import \"sync\"

type T struct {
	mu sync.Mutex
	n  int
}

func (t T) A() int { t.mu.Lock(); defer t.mu.Unlock(); return t.n }
func (t T) B() { t.n++ }
func (t T) C() T { return t }
";
        let file = SourceFile::new(src.to_string());
        let outcome = analyze_alone(&file, &FileOptions::default());
        let fixes: Vec<(usize, usize)> = outcome
            .findings
            .iter()
            .filter(|f| f.rule == "sync-value-copied" && f.message.contains("receiver"))
            .map(|f| {
                (
                    src[..f.range.start].matches('\n').count() + 1,
                    f.fixes.len(),
                )
            })
            .collect();
        assert_eq!(fixes, vec![(10, 1), (11, 0), (12, 0)]);
    }

    #[test]
    fn package_lock_types_and_atomics() {
        let src = "package p

import \"sync/atomic\"

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

type S struct {
	_ noCopy
	n atomic.Int64
}

func use(s S) {}
func use2(n atomic.Int64) {}
";
        let got = findings(src);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].1.contains("S contains noCopy"), "{got:?}");
        assert!(got[1].1.contains("of type atomic.Int64"), "{got:?}");
    }
}
