//! The functions of one file and the declarations inside them: parameters, receivers, named
//! results and locals, each with the part of the text where it is visible and its type as far as
//! the declaration tells. Resolving an identifier finds the innermost visible declaration.

use crate::{HashMap, HashSet};
use goconc_syntax::NodeExt;
use std::ops::Range;

use tree_sitter::Node;

use super::imports::Imports;
use super::index::NodeIndex;
use super::package::PackageModel;
use super::types::{names_of, results_of, Ty, MAX_TYPE_DEPTH};
use goconc_syntax::kinds;
use goconc_syntax::{call_args, named_children, text, unparen, Step};

/// What declared a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    Receiver,
    Param,
    Result,
    Local,
    /// Declared by a `for` statement (a range variable or a three-clause loop variable).
    LoopVar,
}

#[derive(Debug, Clone)]
pub struct Decl<'t> {
    pub name: &'t str,
    pub ident: Node<'t>,
    /// Where the name refers to this declaration.
    pub visible: Range<usize>,
    pub ty: Ty,
    pub kind: DeclKind,
    /// Index of the function that declares it.
    pub function: usize,
    /// The statement that declares it (for locals; the `for` statement for loop variables), or
    /// the parameter declaration.
    pub stmt: Node<'t>,
    /// The initialising expression when it is the only one of its declaration (`x := expr`).
    pub init: Option<Node<'t>>,
}

impl<'t> Decl<'t> {
    /// The `for` statement of a loop variable (its `stmt`: a field of its own was 40 bytes of
    /// every declaration, 8 MB of a file of 200,000 one-parameter functions).
    pub fn loop_stmt(&self) -> Option<Node<'t>> {
        (self.kind == DeclKind::LoopVar).then_some(self.stmt)
    }
}

/// Top-level function and method declarations: the parts of a file an incremental analysis
/// can reuse one by one.
pub fn is_function_item(node: Node) -> bool {
    matches!(
        node.kind_str(),
        "function_declaration" | "method_declaration"
    )
}

/// The top-level functions and methods among `items` that have a name and a body, each as
/// (declaration, name, body) with its index in `items`: what the collectors of a file's facts
/// walk.
pub fn named_bodies<'a, 't>(
    items: &'a [Node<'t>],
) -> impl Iterator<Item = (usize, Node<'t>, Node<'t>, Node<'t>)> + 'a {
    items.iter().enumerate().filter_map(|(i, &decl)| {
        if !is_function_item(decl) {
            return None;
        }
        Some((i, decl, decl.field("name")?, decl.field("body")?))
    })
}

/// What [`FileModel::build_partial`] leaves out and is given.
struct Partial<'a, 't> {
    skip: &'a HashSet<usize>,
    imports: Imports,
    items: &'a [Node<'t>],
}

/// How deep brackets may nest in a top-level declaration the engine reads. Real code stays
/// far below (the standard library's deepest is under 40); past it, the declaration is left
/// out whole ([`too_deep_items`]), so that no walk of the model or a rule can overflow a stack
/// on generated or hostile code.
pub const MAX_NESTING: usize = 500;

/// The file's top-level declarations, comments left out (ERROR nodes of broken code kept: the
/// walk reads them too), less those nested too deep to read ([`too_deep_items`]).
pub fn top_level_items<'t>(root: Node<'t>, src: &str) -> Vec<Node<'t>> {
    named_children(root)
        .filter(|item| !nests_too_deep(*item, src))
        .collect()
}

/// The top-level declarations [`top_level_items`] leaves out: their brackets nest deeper than
/// [`MAX_NESTING`]. Front ends tell the user these were skipped.
pub fn too_deep_items(root: Node, src: &str) -> Vec<Range<usize>> {
    named_children(root)
        .filter(|item| nests_too_deep(*item, src))
        .map(|item| item.byte_span())
        .collect()
}

fn nests_too_deep(item: Node, src: &str) -> bool {
    goconc_syntax::brackets_nest_deeper_than(text(item, src), MAX_NESTING)
}

/// Top-level imports, type and constant declarations, and variable declarations without a call
/// or a function literal (no `(` in their text): the model records nothing inside them
/// (declarations are recorded inside functions only, and the index holds calls and what only
/// function bodies contain), so generated tables of megabytes are passed over unread.
fn holds_nothing_to_record(node: Node, src: &str) -> bool {
    match node.kind_str() {
        "const_declaration" | "type_declaration" | "import_declaration" => true,
        "var_declaration" => !text(node, src).contains('('),
        _ => false,
    }
}

/// The declarations of one name, for [`FileModel::resolve_name`]: a file may declare the same
/// name hundreds of thousands of times (`func fN(mu *sync.Mutex)`, the receiver of every method),
/// so a lookup must not read them all. Kept sorted by (start, end descending, declaration
/// order), the innermost declaration visible at a byte is the last one that starts at or before
/// it and ends after it; the greatest end of each run of [`RUN`] entries lets the backward
/// search pass over runs that all end before the byte.
#[derive(Default)]
struct NameDecls {
    /// (start, end, effective end, declaration id); the effective end is at least start + 1.
    entries: Vec<(usize, usize, usize, usize)>,
    /// The greatest effective end of each run of `RUN` entries.
    run_ends: Vec<usize>,
}

const RUN: usize = 32;

impl NameDecls {
    fn insert(&mut self, start: usize, end: usize, id: usize) {
        let key = (start, std::cmp::Reverse(end), id);
        // Declarations come mostly in document order: the place is nearly always the end.
        let at = self
            .entries
            .partition_point(|&(s, e, _, i)| (s, std::cmp::Reverse(e), i) <= key);
        self.entries
            .insert(at, (start, end, end.max(start + 1), id));
        self.run_ends.resize(self.entries.len().div_ceil(RUN), 0);
        for run in at / RUN..self.run_ends.len() {
            let entries = &self.entries[run * RUN..self.entries.len().min((run + 1) * RUN)];
            self.run_ends[run] = entries.iter().map(|e| e.2).max().unwrap_or(0);
        }
    }

    /// The declarations whose visible range starts in `from..=to`, by a binary search: a name
    /// declared in every function of a file (`v, ok := …`) was scanned whole per declaration.
    fn starting_within(
        &self,
        from: usize,
        to: usize,
    ) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let first = self.entries.partition_point(|e| e.0 < from);
        self.entries[first..]
            .iter()
            .take_while(move |e| e.0 <= to)
            .map(|&(start, end, _, id)| (start, end, id))
    }

    fn innermost_at(&self, at: usize) -> Option<usize> {
        let mut i = self.entries.partition_point(|e| e.0 <= at);
        while i > 0 {
            if i % RUN == 0 && self.run_ends[i / RUN - 1] <= at {
                i -= RUN;
                continue;
            }
            i -= 1;
            let (_, _, effective_end, id) = self.entries[i];
            if at < effective_end {
                return Some(id);
            }
        }
        None
    }
}

/// A function declaration, method declaration or function literal.
#[derive(Debug, Clone)]
pub struct Function<'t> {
    pub node: Node<'t>,
    pub body: Option<Node<'t>>,
    /// The enclosing function of a literal.
    pub parent: Option<usize>,
    /// The receiver's type name of a method (`Service` for `func (s *Service) …`).
    pub receiver_type: Option<String>,
    /// For a function literal, the nearest ancestors of the node, parent first (up to four):
    /// what tells how a literal is run (`go func(){…}()`, `wg.Go(func(){…})`, `f := func(){…}`)
    /// without tree-sitter's `parent()`, which descends from the root on every call. None for
    /// declarations (boxed: 160 bytes that every declaration of a file of 200,000 functions
    /// carried unread). [`Function::outer`] reads it.
    pub literal_outer: Option<Box<[Option<Node<'t>>; 4]>>,
    /// The node's end byte, kept: [`FileModel::function_of`] compares it for every node it is
    /// asked about, and tree-sitter reads it from the node's subtree (a cache miss in a large
    /// tree).
    pub end_byte: usize,
}

impl<'t> Function<'t> {
    /// The nearest ancestors of a function literal, parent first (up to four); none for a
    /// declaration.
    pub fn outer(&self) -> [Option<Node<'t>>; 4] {
        self.literal_outer.as_deref().copied().unwrap_or([None; 4])
    }
}

/// The model of one file: imports, functions, declarations, and the package around it.
pub struct FileModel<'t> {
    pub src: &'t str,
    pub root: Node<'t>,
    pub imports: Imports,
    pub package: &'t PackageModel,
    pub functions: Vec<Function<'t>>,
    /// The file's top-level declarations (comments left out), in order. Listing the root's
    /// children costs tens of microseconds on a long file (tree-sitter nests them in hidden
    /// nodes): the model lists them once (or is given them) for its walk and every rule.
    pub items: Vec<Node<'t>>,
    decls: Vec<Decl<'t>>,
    by_name: HashMap<&'t str, NameDecls>,
    function_at: HashMap<usize, usize>,
    /// While collecting: the ancestors of the node being visited (tree-sitter's `parent()`
    /// searches from the root, so the walk keeps its own chain).
    ancestors: Vec<Node<'t>>,
    /// Computed on first use by [`crate::locks::released_elsewhere`]: per (outermost function,
    /// mutex key), the functions under it whose own first use of the key is a release.
    pub(crate) releases_first: std::sync::OnceLock<crate::locks::ReleasesFirst>,
    /// What [`crate::sync_calls::mutex_kind`] said of each expression asked about, by node id:
    /// a lock call is asked about by a dozen passes (guards, lock traces, each mutex rule), and
    /// typing its receiver again each time was a tenth of a check of many small methods.
    pub(crate) mutex_kinds: std::sync::Mutex<HashMap<usize, crate::sync_calls::KeptMutexKind>>,
    /// What [`crate::panics`] found of each body asked about, by its start: where its first
    /// deferred closure that calls `recover` starts. Asked for each send or close in a body,
    /// walking the body each time cost the square of one with thousands of them.
    pub(crate) first_recovering_defer: std::sync::Mutex<HashMap<usize, Option<usize>>>,
    /// The names the file's `go` statements call (`f` of `go f(…)`), gathered by the model's
    /// walk: a function literal bound to a local is looked for among a function's `go`
    /// statements only when one calls its name (walking the function for each of thousands of
    /// locals cost the square of its length).
    go_callees: HashSet<&'t str>,
    /// The index in `items` of each top-level function by its summary key, the first of a key,
    /// found on first use (see [`FileModel::item_declared_as`]).
    items_by_key: std::sync::OnceLock<HashMap<String, usize>>,
}

impl<'t> FileModel<'t> {
    pub fn build(root: Node<'t>, src: &'t str, package: &'t PackageModel) -> FileModel<'t> {
        Self::build_inner(root, src, package, None, None)
    }

    /// Builds the model of part of a file: the top-level function and method declarations that
    /// start at a byte in `skip` are left out, with everything inside them (an incremental
    /// analysis reuses what it knew of them). Type, variable and constant declarations are
    /// always in. `items` are the file's top-level declarations (see [`top_level_items`]): the
    /// caller has them, and listing them again costs more than the part being built.
    pub fn build_partial(
        root: Node<'t>,
        src: &'t str,
        package: &'t PackageModel,
        skip: &HashSet<usize>,
        imports: Imports,
        items: &[Node<'t>],
    ) -> (FileModel<'t>, NodeIndex<'t>) {
        let mut index = NodeIndex::default();
        let partial = Partial {
            skip,
            imports,
            items,
        };
        let model = Self::build_inner(root, src, package, Some(&mut index), Some(partial));
        (model, index)
    }

    /// Builds the model and, in the same walk, the index of nodes rules start from.
    pub fn build_with_index(
        root: Node<'t>,
        src: &'t str,
        package: &'t PackageModel,
    ) -> (FileModel<'t>, NodeIndex<'t>) {
        let mut index = NodeIndex::default();
        let model = Self::build_inner(root, src, package, Some(&mut index), None);
        (model, index)
    }

    fn build_inner(
        root: Node<'t>,
        src: &'t str,
        package: &'t PackageModel,
        index: Option<&mut NodeIndex<'t>>,
        partial: Option<Partial<'_, 't>>,
    ) -> FileModel<'t> {
        let (skip, imports, items) = match partial {
            Some(p) => (Some(p.skip), p.imports, p.items.to_vec()),
            None => (
                None,
                Imports::from_tree(root, src),
                top_level_items(root, src),
            ),
        };
        let mut model = FileModel {
            src,
            root,
            imports,
            package,
            functions: Vec::new(),
            items,
            decls: Vec::new(),
            by_name: HashMap::default(),
            function_at: HashMap::default(),
            ancestors: Vec::new(),
            releases_first: std::sync::OnceLock::new(),
            mutex_kinds: Default::default(),
            first_recovering_defer: Default::default(),
            go_callees: HashSet::default(),
            items_by_key: Default::default(),
        };
        model.collect(index, skip);
        model.ancestors = Vec::new();
        // Kept until the rules are done: without the room doubling left (up to half).
        model.functions.shrink_to_fit();
        model.decls.shrink_to_fit();
        model
    }

    /// One walk over each top-level declaration that is not skipped, keeping the chain of
    /// ancestors.
    fn collect(&mut self, mut index: Option<&mut NodeIndex<'t>>, skip: Option<&HashSet<usize>>) {
        let mut stack: Vec<(usize, usize)> = Vec::new(); // (function index, end byte)
        self.ancestors.push(self.root);
        for i in 0..self.items.len() {
            let item = self.items[i];
            let skipped = skip
                .is_some_and(|s| s.contains(&item.start_byte()) && is_function_item(item))
                || holds_nothing_to_record(item, self.src);
            if !skipped {
                self.walk(item, index.as_deref_mut(), &mut stack);
            }
        }
    }

    fn walk(
        &mut self,
        item: Node<'t>,
        mut index: Option<&mut NodeIndex<'t>>,
        stack: &mut Vec<(usize, usize)>,
    ) {
        // `depth`: the item's number of ancestors, to which each step back restores the chain.
        let depth = self.ancestors.len();
        let src = self.src;
        goconc_syntax::walk_entering(item, |step| match step {
            Step::Visit(node) => {
                let flags = kinds::flags(node.kind_number());
                if flags & kinds::INDEX != 0 {
                    if let Some(index) = index.as_deref_mut() {
                        index.add(node, src);
                    }
                    if let Some(callee) = go_callee(node) {
                        self.go_callees.insert(text(callee, src));
                    }
                }
                if flags & kinds::DECLARES != 0 {
                    self.visit(node, stack);
                }
                !kinds::holds_nothing_to_record(node, flags, src)
            }
            Step::Enter(node) => {
                self.ancestors.push(node);
                true
            }
            Step::Leave(entered) => {
                self.ancestors.truncate(depth + entered);
                true
            }
        });
    }

    /// The file's top-level function or method whose summary key is `key` (`Type.method`), the
    /// first if several. From the file's items, not the model's functions: an incremental
    /// analysis leaves out of the model the functions it did not analyse again. Found by a map
    /// made once: asked for each channel operation of the package, going through the items each
    /// time cost the square of a file of thousands of methods.
    pub fn item_declared_as(&self, key: &str) -> Option<Node<'t>> {
        let by_key = self.items_by_key.get_or_init(|| {
            let mut by_key = HashMap::default();
            for (i, item) in self.items.iter().enumerate() {
                if is_function_item(*item) {
                    if let Some(key) = crate::summary::declaration_key(*item, self.src) {
                        by_key.entry(key).or_insert(i);
                    }
                }
            }
            by_key
        });
        by_key.get(key).map(|&i| self.items[i])
    }

    /// Whether a `go` statement of the model calls `name` (`go name(…)`).
    pub fn is_started_by_name(&self, name: &str) -> bool {
        self.go_callees.contains(name)
    }

    fn parent(&self) -> Option<Node<'t>> {
        self.ancestors.last().copied()
    }

    fn grandparent(&self) -> Option<Node<'t>> {
        self.ancestors
            .len()
            .checked_sub(2)
            .map(|i| self.ancestors[i])
    }

    /// The innermost ancestor that bounds a local declaration's scope.
    fn scope(&self) -> Option<Node<'t>> {
        self.ancestors
            .iter()
            .rev()
            .copied()
            .find(|n| kinds::flags(n.kind_number()) & kinds::SCOPE != 0)
    }

    fn visit(&mut self, node: Node<'t>, stack: &mut Vec<(usize, usize)>) {
        {
            while stack
                .last()
                .is_some_and(|&(_, end)| node.start_byte() >= end)
            {
                stack.pop();
            }
            let current = stack.last().map(|&(i, _)| i);
            match node.kind_str() {
                "function_declaration" | "method_declaration" | "func_literal" => {
                    let index = self.add_function(node, current);
                    stack.push((index, node.end_offset()));
                }
                "short_var_declaration" => {
                    if let Some(f) = current {
                        self.add_short_var(node, f);
                    }
                }
                "var_declaration" => {
                    if let Some(f) = current {
                        self.add_var_decl(node, f);
                    }
                }
                "receive_statement" => {
                    if let Some(f) = current {
                        self.add_receive(node, f);
                    }
                }
                "type_switch_statement" => {
                    if let (Some(f), Some(alias)) = (current, node.field("alias")) {
                        for ident in named_children(alias).filter(|n| n.kind_str() == "identifier")
                        {
                            self.push_decl(
                                ident,
                                node.byte_span(),
                                Ty::Unknown,
                                DeclKind::Local,
                                f,
                                node,
                                None,
                            );
                        }
                        if alias.kind_str() == "identifier" {
                            self.push_decl(
                                alias,
                                node.byte_span(),
                                Ty::Unknown,
                                DeclKind::Local,
                                f,
                                node,
                                None,
                            );
                        }
                    }
                }
                "range_clause" => {
                    if let Some(f) = current {
                        self.add_range(node, f);
                    }
                }
                _ => {}
            }
        }
    }

    /// The type name of a method's receiver (`Cache` for `func (c *Cache) …`), as
    /// [`Function::receiver_type`] holds it; None for a function.
    pub fn receiver_type_of(&self, method: Node) -> Option<String> {
        let param = named_children(method.field("receiver")?).next()?;
        match Ty::from_node(param.field("type")?, self.src, &self.imports).deref() {
            Ty::Named { name, .. } => Some(name.clone()),
            _ => None,
        }
    }

    fn add_function(&mut self, node: Node<'t>, parent: Option<usize>) -> usize {
        let index = self.functions.len();
        let receiver_type = self.receiver_type_of(node);
        let literal_outer = (node.kind_str() == "func_literal").then(|| {
            let mut outer = [None; 4];
            for (slot, ancestor) in outer.iter_mut().zip(self.ancestors.iter().rev()) {
                *slot = Some(*ancestor);
            }
            Box::new(outer)
        });
        self.functions.push(Function {
            node,
            body: node.field("body"),
            parent,
            receiver_type,
            literal_outer,
            end_byte: node.end_offset(),
        });
        self.function_at.insert(node.start_byte(), index);
        let scope = node.byte_span();
        for (field, kind) in [
            ("receiver", DeclKind::Receiver),
            ("parameters", DeclKind::Param),
            ("result", DeclKind::Result),
        ] {
            let Some(list) = node.field(field) else {
                continue;
            };
            if list.kind_str() != "parameter_list" {
                continue;
            }
            for param in named_children(list) {
                let Some(type_node) = param.field("type") else {
                    continue;
                };
                let mut ty = Ty::from_node(type_node, self.src, &self.imports);
                if param.kind_str() == "variadic_parameter_declaration" {
                    ty = Ty::Slice(Box::new(ty));
                }
                for name in names_of(param) {
                    self.push_decl(name, scope.clone(), ty.clone(), kind, index, param, None);
                }
            }
        }
        index
    }

    #[allow(clippy::too_many_arguments)]
    fn push_decl(
        &mut self,
        ident: Node<'t>,
        visible: Range<usize>,
        ty: Ty,
        kind: DeclKind,
        function: usize,
        stmt: Node<'t>,
        init: Option<Node<'t>>,
    ) {
        let name = text(ident, self.src);
        if name == "_" || name.is_empty() {
            return;
        }
        let id = self.decls.len();
        self.by_name
            .entry(name)
            .or_default()
            .insert(visible.start, visible.end, id);
        self.decls.push(Decl {
            name,
            ident,
            visible,
            ty,
            kind,
            function,
            stmt,
            init,
        });
    }

    /// `a, b := f()` and friends. The scope runs from the end of the statement to the end of the
    /// enclosing block, case clause, or `if`/`for`/`switch` statement (for their init statements).
    fn add_short_var(&mut self, node: Node<'t>, function: usize) {
        let (Some(left), Some(right)) = (node.field("left"), node.field("right")) else {
            return;
        };
        let Some(scope) = self.scope() else { return };
        let mut kind = DeclKind::Local;
        let mut stmt = node;
        if let Some(parent) = self.parent() {
            if parent.kind_str() == "for_clause" {
                kind = DeclKind::LoopVar;
                stmt = self.grandparent().unwrap_or(parent);
            }
        }
        let names: Vec<Node> = named_children(left).collect();
        let values: Vec<Node> = named_children(right).collect();
        let visible = node.end_offset()..scope.end_offset();
        for (i, name) in names.iter().enumerate() {
            // `x, err := …` redeclares `err` when it is already in this scope: keep the old one.
            if names.len() > 1
                && self.declared_in_scope(text(*name, self.src), scope, node.start_byte())
            {
                continue;
            }
            let (ty, init) = if values.len() == names.len() {
                (self.type_of(values[i]), Some(values[i]))
            } else if values.len() == 1 {
                (self.type_of(values[0]).result(i), None)
            } else {
                (Ty::Unknown, None)
            };
            self.push_decl(*name, visible.clone(), ty, kind, function, stmt, init);
        }
    }

    fn declared_in_scope(&self, name: &str, scope: Node, before: usize) -> bool {
        self.by_name.get(name).is_some_and(|decls| {
            decls
                .starting_within(scope.start_byte(), before)
                .any(|(_, end, _)| end == scope.end_offset())
        })
    }

    fn add_var_decl(&mut self, node: Node<'t>, function: usize) {
        let Some(scope) = self.scope() else { return };
        let mut specs = Vec::new();
        for child in named_children(node) {
            match child.kind_str() {
                "var_spec" => specs.push(child),
                "var_spec_list" => {
                    specs.extend(named_children(child).filter(|n| n.kind_str() == "var_spec"))
                }
                _ => {}
            }
        }
        for spec in specs {
            let declared = spec
                .field("type")
                .map(|t| Ty::from_node(t, self.src, &self.imports));
            let values: Vec<Node> = spec
                .field("value")
                .map(|v| named_children(v).collect())
                .unwrap_or_default();
            let names = names_of(spec);
            for (i, name) in names.iter().enumerate() {
                let init = (values.len() == names.len()).then(|| values[i]);
                let ty = match (&declared, init) {
                    (Some(t), _) => t.clone(),
                    (None, Some(v)) => self.type_of(v),
                    (None, None) if values.len() == 1 => self.type_of(values[0]).result(i),
                    _ => Ty::Unknown,
                };
                self.push_decl(
                    *name,
                    spec.end_offset()..scope.end_offset(),
                    ty,
                    DeclKind::Local,
                    function,
                    node,
                    init,
                );
            }
        }
    }

    fn add_receive(&mut self, node: Node<'t>, function: usize) {
        // `case v, ok := <-ch:` declares; `case v = <-ch:` assigns.
        let declares = (0..node.child_count())
            .filter_map(|i| node.child(i))
            .any(|c| !c.is_named() && text(c, self.src) == ":=");
        if !declares {
            return;
        }
        let (Some(left), Some(right), Some(scope)) =
            (node.field("left"), node.field("right"), self.parent())
        else {
            return;
        };
        let elem = match unparen(right).kind_str() {
            "unary_expression" => unparen(right)
                .field("operand")
                .map(|ch| self.type_of(ch).element().cloned().unwrap_or_default())
                .unwrap_or_default(),
            _ => Ty::Unknown,
        };
        for (i, name) in named_children(left).enumerate() {
            let ty = if i == 0 {
                elem.clone()
            } else {
                Ty::named("", "bool")
            };
            self.push_decl(
                name,
                node.end_offset()..scope.end_offset(),
                ty,
                DeclKind::Local,
                function,
                node,
                None,
            );
        }
    }

    fn add_range(&mut self, clause: Node<'t>, function: usize) {
        let Some(left) = clause.field("left") else {
            return;
        };
        let declares = (0..clause.child_count())
            .filter_map(|i| clause.child(i))
            .any(|c| !c.is_named() && text(c, self.src) == ":=");
        if !declares {
            return;
        }
        let Some(for_stmt) = self.parent() else {
            return;
        };
        let ranged = clause
            .field("right")
            .map(|r| self.type_of(r))
            .unwrap_or_default();
        let (key, value) = match ranged.deref() {
            Ty::Slice(e) | Ty::Array(e) => (Ty::named("", "int"), (**e).clone()),
            Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
            Ty::Chan(e) => ((**e).clone(), Ty::Unknown),
            Ty::Named { pkg, name } if pkg.is_empty() && name == "string" => {
                (Ty::named("", "int"), Ty::named("", "rune"))
            }
            _ => (Ty::Unknown, Ty::Unknown),
        };
        for (i, name) in named_children(left).enumerate() {
            let ty = if i == 0 { key.clone() } else { value.clone() };
            self.push_decl(
                name,
                clause.end_offset()..for_stmt.end_offset(),
                ty,
                DeclKind::LoopVar,
                function,
                for_stmt,
                None,
            );
        }
    }

    /// The declaration an identifier refers to, if it is a local, parameter, receiver or result.
    pub fn resolve(&self, ident: Node) -> Option<&Decl<'t>> {
        self.resolve_name(text(ident, self.src), ident.start_byte())
    }

    /// The declaration `name` refers to at byte `at`.
    /// The innermost: the visible range that starts last (the shorter of two that start
    /// together, and the later declared of equal ones). An empty range counts as one byte.
    /// Whether code inside `node` writes the variable: `v = …`, `v++`, `&v`, `v, err = …`,
    /// `v = <-ch`, `for v = range …` (its function literals included).
    pub fn written_within(&self, decl: &Decl, node: Node) -> bool {
        let mut written = false;
        goconc_syntax::walk(node, |n| {
            if written {
                return false;
            }
            if n.kind_str() == "identifier"
                && text(n, self.src) == decl.name
                && self.resolve(n).is_some_and(|d| d.ident == decl.ident)
            {
                if let Some(parent) = n.parent_node() {
                    written = match parent.kind_str() {
                        "inc_statement" | "dec_statement" => true,
                        "unary_expression" => parent
                            .field("operator")
                            .is_some_and(|o| text(o, self.src) == "&"),
                        "expression_list" => parent.parent_node().is_some_and(|s| {
                            matches!(
                                s.kind_str(),
                                "assignment_statement" | "receive_statement" | "range_clause"
                            ) && s.field("left") == Some(parent)
                        }),
                        _ => false,
                    };
                }
            }
            true
        });
        written
    }

    pub fn resolve_name(&self, name: &str, at: usize) -> Option<&Decl<'t>> {
        let id = self.by_name.get(name)?.innermost_at(at)?;
        Some(&self.decls[id])
    }

    /// All declarations, in document order of their functions.
    pub fn decls(&self) -> &[Decl<'t>] {
        &self.decls
    }

    /// The function index of a function node.
    pub fn function_index(&self, node: Node) -> Option<usize> {
        self.function_at
            .get(&node.start_byte())
            .copied()
            .filter(|&i| self.functions[i].node == node)
    }

    /// The innermost function containing a node (not the function node itself).
    pub fn function_of(&self, node: Node) -> Option<usize> {
        // Functions are in document order and nest: the innermost one around the node is the
        // last one that starts before it or one of that one's enclosing functions, found
        // without tree-sitter's `parent()` (scanning back over the siblings instead was
        // quadratic in a function of 4,000 goroutine literals).
        let before = self
            .functions
            .partition_point(|f| f.node.start_byte() <= node.start_byte());
        let mut at = before.checked_sub(1);
        let end = node.end_offset();
        while let Some(i) = at {
            let f = &self.functions[i];
            if f.end_byte >= end && f.node != node {
                return Some(i);
            }
            at = f.parent;
        }
        None
    }

    /// Is `name` the local name of import `path` at `at` (and not shadowed by a local)?
    pub fn is_package(&self, ident: Node, path: &str) -> bool {
        ident.kind_str() == "identifier"
            && self.imports.is(text(ident, self.src), path)
            && self.resolve(ident).is_none()
    }

    /// `pkg.Name` where `pkg` names import `path`: returns `Name`.
    pub fn qualified_name(&self, node: Node, path: &str) -> Option<&'t str> {
        let node = unparen(node);
        if node.kind_str() != "selector_expression" {
            return None;
        }
        let operand = node.field("operand")?;
        if !self.is_package(operand, path) {
            return None;
        }
        Some(text(node.field("field")?, self.src))
    }

    /// The type of an expression as far as declarations tell; `Ty::Unknown` otherwise (and past
    /// [`MAX_TYPE_DEPTH`] operands, as in a generated chain `a.b.c…` thousands long).
    pub fn type_of(&self, node: Node) -> Ty {
        self.type_at(node, 0)
    }

    fn type_at(&self, node: Node, depth: usize) -> Ty {
        if depth > MAX_TYPE_DEPTH {
            return Ty::Unknown;
        }
        let type_of = |node: Node| self.type_at(node, depth + 1);
        let node = unparen(node);
        match node.kind_str() {
            "identifier" => match self.resolve(node) {
                Some(decl) => decl.ty.clone(),
                None => self
                    .package
                    .var(text(node, self.src))
                    .cloned()
                    .unwrap_or_default(),
            },
            "selector_expression" => {
                let (Some(operand), Some(field)) = (node.field("operand"), node.field("field"))
                else {
                    return Ty::Unknown;
                };
                if operand.kind_str() == "identifier"
                    && self.resolve(operand).is_none()
                    && self.imports.path_of(text(operand, self.src)).is_some()
                {
                    return Ty::Unknown;
                }
                let base = type_of(operand);
                self.package
                    .field_type(&base, text(field, self.src))
                    .unwrap_or_default()
            }
            "composite_literal" => node
                .field("type")
                .map_or(Ty::Unknown, |t| Ty::from_node(t, self.src, &self.imports)),
            "unary_expression" => {
                let op = node
                    .field("operator")
                    .map(|o| text(o, self.src))
                    .unwrap_or("");
                let inner = node.field("operand").map(type_of).unwrap_or_default();
                match op {
                    "&" if !inner.is_unknown() => Ty::pointer(inner),
                    "*" => match inner {
                        Ty::Pointer(t) => *t,
                        _ => Ty::Unknown,
                    },
                    "<-" => inner.element().cloned().unwrap_or_default(),
                    _ => Ty::Unknown,
                }
            }
            "index_expression" => node
                .field("operand")
                .and_then(|o| type_of(o).element().cloned())
                .unwrap_or_default(),
            "type_assertion_expression" => node
                .field("type")
                .map_or(Ty::Unknown, |t| Ty::from_node(t, self.src, &self.imports)),
            "func_literal" => Ty::Func {
                results: results_of(node.field("result"), self.src, &self.imports),
            },
            "call_expression" => self.call_type(node, depth),
            _ => Ty::Unknown,
        }
    }

    fn call_type(&self, call: Node, depth: usize) -> Ty {
        let type_of = |node: Node| self.type_at(node, depth + 1);
        let Some(function) = call.field("function").map(unparen) else {
            return Ty::Unknown;
        };
        let from_results = |results: &[Ty]| match results.len() {
            0 => Ty::Unknown,
            1 => results[0].clone(),
            _ => Ty::Tuple(results.to_vec()),
        };
        match function.kind_str() {
            "identifier" => {
                let name = text(function, self.src);
                if self.resolve(function).is_some() {
                    return match type_of(function) {
                        Ty::Func { results } => from_results(&results),
                        _ => Ty::Unknown,
                    };
                }
                let args = call_args(call);
                match name {
                    "new" => args.first().map_or(Ty::Unknown, |t| {
                        Ty::pointer(Ty::from_node(*t, self.src, &self.imports))
                    }),
                    "make" => args
                        .first()
                        .map_or(Ty::Unknown, |t| Ty::from_node(*t, self.src, &self.imports)),
                    _ => self
                        .package
                        .func(name)
                        .map_or(Ty::Unknown, |sig| from_results(&sig.results)),
                }
            }
            "selector_expression" => {
                let (Some(operand), Some(field)) =
                    (function.field("operand"), function.field("field"))
                else {
                    return Ty::Unknown;
                };
                let method = text(field, self.src);
                if operand.kind_str() == "identifier" && self.resolve(operand).is_none() {
                    if let Some(path) = self.imports.path_of(text(operand, self.src)) {
                        return known_call_result(path, method).unwrap_or_default();
                    }
                }
                match type_of(operand).deref() {
                    Ty::Named { pkg, name } if pkg.is_empty() => self
                        .package
                        .method(name, method)
                        .map_or(Ty::Unknown, |sig| from_results(&sig.results)),
                    _ => Ty::Unknown,
                }
            }
            _ => Ty::Unknown,
        }
    }
}

/// Result types of standard-library (and errgroup) functions that the rules care about.
pub fn known_call_result(path: &str, name: &str) -> Option<Ty> {
    let context = || Ty::named("context", "Context");
    Some(match (path, name) {
        ("context", "WithCancel" | "WithTimeout" | "WithDeadline") => {
            Ty::Tuple(vec![context(), Ty::named("context", "CancelFunc")])
        }
        ("context", "WithCancelCause" | "WithTimeoutCause" | "WithDeadlineCause") => {
            Ty::Tuple(vec![context(), Ty::named("context", "CancelCauseFunc")])
        }
        ("context", "Background" | "TODO" | "WithValue" | "WithoutCancel") => context(),
        ("golang.org/x/sync/errgroup", "WithContext") => {
            Ty::Tuple(vec![Ty::pointer(Ty::named(path, "Group")), context()])
        }
        ("sync", "NewCond") => Ty::pointer(Ty::named("sync", "Cond")),
        ("time", "NewTicker") => Ty::pointer(Ty::named("time", "Ticker")),
        ("time", "NewTimer" | "AfterFunc") => Ty::pointer(Ty::named("time", "Timer")),
        ("time", "After" | "Tick") => Ty::Chan(Box::new(Ty::named("time", "Time"))),
        _ => return None,
    })
}

/// `f` of `go f(…)`: the identifier a `go` statement calls.
fn go_callee(node: Node) -> Option<Node> {
    if node.kind_str() != "go_statement" {
        return None;
    }
    goconc_syntax::statement_call(node)?
        .field("function")
        .filter(|f| f.kind_str() == "identifier")
}

#[cfg(test)]
mod tests {
    use super::NameDecls;

    /// The definition the index must agree with: the containing range with the greatest
    /// (start, shorter end, later id).
    fn innermost_by_scan(ranges: &[(usize, usize)], at: usize) -> Option<usize> {
        ranges
            .iter()
            .enumerate()
            .filter(|(_, &(s, e))| s <= at && at < e.max(s + 1))
            .max_by_key(|(_, &(s, e))| (s, std::cmp::Reverse(e)))
            .map(|(id, _)| id)
    }

    #[test]
    fn name_index_finds_what_a_scan_of_every_declaration_finds() {
        // A small deterministic generator: nested, disjoint, overlapping, empty and equal
        // ranges, inserted out of order, across several runs of entries.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        for round in 0..200 {
            let count = 1 + next(if round % 2 == 0 { 8 } else { 150 } as u64);
            let mut ranges = Vec::new();
            let mut index = NameDecls::default();
            for id in 0..count {
                let start = next(200);
                let end = start + next(60) * (next(4).min(1));
                ranges.push((start, end));
                index.insert(start, end, id);
                if id % 7 != 0 && id + 1 != count {
                    continue;
                }
                for at in 0..262 {
                    assert_eq!(
                        index.innermost_at(at),
                        innermost_by_scan(&ranges, at),
                        "round {round}, {ranges:?} at {at}"
                    );
                }
            }
        }
    }
}
