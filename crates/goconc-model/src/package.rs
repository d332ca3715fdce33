//! What the files of one package declare at the top level: struct types, named types, functions,
//! methods and variables. Each file is summarised on its own ([`FileDecls`], owned data that a
//! server can keep per file and refresh when that file changes); a [`PackageModel`] merges the
//! summaries of every file of the directory so types resolve across files.

use crate::HashMap;
use goconc_syntax::NodeExt;
use std::borrow::Cow;
use std::sync::Arc;

use tree_sitter::Node;

use super::build::Build;
use super::imports::Imports;
use super::summary::FuncSummary;
use super::types::{names_of, results_of, struct_fields, Field, SyncKind, Ty};
use goconc_syntax::{named_children, text};

/// A function or method signature, reduced to what the rules ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSig {
    pub results: Vec<Ty>,
    pub pointer_receiver: bool,
    /// Whether it takes parameters (`Unlock(set bool)` is no `sync.Locker` method).
    pub takes_params: bool,
    /// The parameters' types, one per parameter (`a, b int` is two); a variadic one as its
    /// element type.
    pub params: Vec<Ty>,
}

/// Facts by function, each put behind an [`Arc`] once made, equal facts behind the same one:
/// most functions of a file have the same (often empty) goroutine facts, and generated methods
/// the same summary (an `Arc` each was 400 bytes a function of a file of 200,000 functions).
pub fn shared<T: Eq + std::hash::Hash>(facts: HashMap<String, T>) -> HashMap<String, Arc<T>> {
    let mut made: crate::HashSet<Arc<T>> = Default::default();
    facts
        .into_iter()
        .map(|(k, v)| {
            let arc = match made.get(&v) {
                Some(same) => same.clone(),
                None => {
                    let arc = Arc::new(v);
                    made.insert(arc.clone());
                    arc
                }
            };
            (k, arc)
        })
        .collect()
}

/// The top-level declarations of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDecls {
    pub package_name: String,
    /// Struct types by name.
    pub structs: HashMap<String, Vec<Field>>,
    /// Other named types by name, with their underlying type (`type Lock sync.Mutex`).
    pub named: HashMap<String, Ty>,
    /// Interface types whose method set has `sync.Locker`'s (`type Mutex interface { Lock();
    /// Unlock() }`, a project's own lock wrapper): a value of one is a lock, a `RWMutex` when
    /// it also has `RLock()` and `RUnlock()`.
    pub lockers: HashMap<String, SyncKind>,
    pub funcs: HashMap<String, FuncSig>,
    /// Methods by receiver type name, then method name.
    pub methods: HashMap<String, HashMap<String, FuncSig>>,
    pub vars: HashMap<String, Ty>,
    /// What each function and method locks, expects held, and blocks on. Shared: a file's
    /// summaries and goroutine facts are in the model of its package and in that of the
    /// external test package (and of each build configuration) without a copy each.
    pub summaries: HashMap<String, Arc<FuncSummary>>,
    /// What each function and method starts with `go` by name, and whether it can end the
    /// goroutine it runs on (see [`super::goroutines::GoFacts`]).
    pub goroutines: HashMap<String, Arc<super::goroutines::GoFacts>>,
    /// Fields and package variables accessed through `sync/atomic` functions.
    pub atomics: Vec<super::atomics::AtomicAccess>,
    /// Method calls on paths, and paths handed to functions (see
    /// [`super::atomics::CallSite`]).
    pub call_sites: Vec<super::atomics::CallSite>,
    /// The field accesses of the file's methods with the locks held at them, judged with the
    /// file's own types (see [`super::guards`]): the same facts whether the CLI reads the whole
    /// package at once or a server refreshes one file.
    pub field_accesses: Vec<super::guards::FieldAccess>,
    /// The calls of methods of the file's types that hold a mutex (see [`super::guards`]).
    pub method_calls: Vec<super::guards::MethodCall>,
    /// Methods called on values package functions have just returned (see
    /// [`super::guards::constructed_calls_and_counts`]).
    pub constructed_calls: Vec<super::guards::ConstructedCall>,
    /// How many calls `x.m(…)` the file makes of each method name, sorted by name (see
    /// [`super::guards::constructed_calls_and_counts`]).
    pub method_call_counts: Vec<(String, u32)>,
    /// Where the declarations after the package clause and imports start, and whether the file
    /// spells sync and sync/atomic by their own names: what tells a quiet file from its text
    /// ([`super::quiet::is_quiet_file`]). Left at 0 and false, the file is never quiet.
    pub declarations_start: usize,
    pub sync_spelled_plainly: bool,
    /// Which fields the file reads or sets to nil, which callees it hands a detached or a
    /// caller's context (see [`super::usage`]).
    pub usage: super::usage::Usage,
    /// The build constraint of the file's `//go:build` line; its name adds to it
    /// ([`Build::with_file_name`]).
    pub build: Build,
    /// The file says it is generated (see [`is_generated`]).
    pub generated: bool,
    /// The import paths of the file, sorted: which packages of the module it needs the
    /// exports of (see [`super::module`]).
    pub imports: Vec<String>,
}

/// Does the text carry Go's generated-code line (`// Code generated … DO NOT EDIT.`, before the
/// package clause; golang.org/s/generatedcode)? Such code runs on whatever values its callers
/// hand it, and a change made there is overwritten.
pub fn is_generated(src: &str) -> bool {
    const PREFIX: &str = "// Code generated ";
    const SUFFIX: &str = " DO NOT EDIT.";
    for line in src.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() >= PREFIX.len() + SUFFIX.len()
            && line.starts_with(PREFIX)
            && line.ends_with(SUFFIX)
        {
            return true;
        }
        if line.starts_with("package ") || line.starts_with("package\t") {
            return false;
        }
    }
    false
}

impl FileDecls {
    pub fn collect(root: Node, src: &str) -> FileDecls {
        // The walks below read this layout of the tree (shared when the caller installed one).
        let _layout = goconc_syntax::preorder::install(root);
        let imports = Imports::from_tree(root, src);
        let items = super::scope::top_level_items(root, src);
        let mut decls = FileDecls::signatures(&items, src, &imports);
        let functions: Vec<Node> = items
            .iter()
            .copied()
            .filter(|i| super::scope::is_function_item(*i))
            .collect();
        decls
            .usage
            .merge(&super::usage::collect_in(&functions, src, &imports));
        decls.usage.normalize();
        // The goroutine facts resolve calls against the names the summaries built.
        let names = super::summary::NamesByFunction::default();
        decls.summaries = shared(super::summary::collect_in(&items, src, &imports, &names));
        let chan_fields = super::channels::fields::chan_fields_of(&decls);
        decls.goroutines = shared(super::goroutines::collect_in(
            &items,
            src,
            &imports,
            &chan_fields,
            &names,
        ));
        drop(names);
        decls.atomics = super::atomics::collect_in(&items, src, &imports);
        // A method that broken code nests in an ERROR item keeps its accesses: the incremental
        // analysis keeps them too (see `goconc-analysis`'s incremental tests).
        decls.call_sites = super::atomics::call_sites_in(&items, src, &imports);
        let (mut decls, facts) = decls.field_accesses_in(root, &items, src);
        decls.field_accesses = facts.accesses;
        decls.method_calls = facts.calls;
        decls
    }

    /// What another package's analysis reads of this file, through its package's exports
    /// (`module::PackageExports`): the signatures, the summaries, and of the goroutine facts
    /// only whether a function ends its goroutine. The rest of [`FileDecls::collect`] (usage,
    /// atomics, field accesses, the other goroutine facts) is for the file's own package, and
    /// was most of the time an index of a whole module took.
    pub fn collect_for_exports(root: Node, src: &str) -> FileDecls {
        let _layout = goconc_syntax::preorder::install(root);
        let imports = Imports::from_tree(root, src);
        let items = super::scope::top_level_items(root, src);
        let mut decls = FileDecls::signatures(&items, src, &imports);
        decls.usage = Default::default();
        decls.summaries = shared(super::summary::collect_in(
            &items,
            src,
            &imports,
            &Default::default(),
        ));
        decls.goroutines = shared(super::goroutines::goroutine_ends_in(&items, src, &imports));
        decls
    }

    /// The package name and imports of a file (and whatever else its top-level declarations
    /// say outside function bodies): what an index of a module reads to find the folders a
    /// folder imports. `root` may be the tree of the file's header alone.
    pub fn collect_header(root: Node, src: &str) -> FileDecls {
        let imports = Imports::from_tree(root, src);
        let items = super::scope::top_level_items(root, src);
        FileDecls::signatures(&items, src, &imports)
    }

    /// The package name, types, function and method signatures and variables of a file: what
    /// its top-level declarations say outside function bodies (and the usage facts of its
    /// variable declarations). Summaries, atomics, field accesses and the usage facts of
    /// functions are left empty.
    pub fn signatures(items: &[Node], src: &str, imports: &Imports) -> FileDecls {
        // Without a `(`, a variable declaration holds no call and no function literal: the
        // model passes over it (generated tables), and so do its usage facts.
        let vars: Vec<Node> = items
            .iter()
            .copied()
            .filter(|i| i.kind_str() == "var_declaration" && text(*i, src).contains('('))
            .collect();
        let mut decls = FileDecls {
            declarations_start: super::quiet::declarations_start(items, src),
            sync_spelled_plainly: super::quiet::spells_sync_plainly(imports),
            usage: super::usage::collect_in(&vars, src, imports),
            build: Build::of_text(src),
            generated: is_generated(src),
            imports: imports.paths(),
            ..FileDecls::default()
        };
        for &item in items {
            match item.kind_str() {
                "package_clause" => {
                    if let Some(name) = named_children(item).next() {
                        decls.package_name = text(name, src).to_string();
                    }
                }
                "type_declaration" => decls.add_types(item, src, imports),
                "function_declaration" => {
                    if let Some(name) = item.field("name") {
                        let results = results_of(item.field("result"), src, imports);
                        decls.funcs.insert(
                            text(name, src).to_string(),
                            FuncSig {
                                results,
                                pointer_receiver: false,
                                takes_params: takes_params(item),
                                params: param_types(item, src, imports),
                            },
                        );
                    }
                }
                "method_declaration" => decls.add_method(item, src, imports),
                "var_declaration" => decls.add_vars(item, src, imports),
                _ => {}
            }
        }
        decls
    }

    /// The field accesses and method calls of the file's functions (see [`super::guards`]),
    /// judged with the file's own types and summaries (set those first), with the calls of
    /// constructed values and the counts of method calls. `items` are the root's named children
    /// (the caller has them already).
    pub fn field_accesses_in(
        self,
        root: Node,
        items: &[Node],
        src: &str,
    ) -> (FileDecls, super::guards::GuardFacts) {
        let mut decls = self;
        (decls.constructed_calls, decls.method_call_counts) =
            super::guards::constructed_calls_and_counts(items, src);
        let imports = Imports::from_tree(root, src);
        decls.guard_facts_skipping(root, items, src, &crate::HashSet::default(), &imports)
    }

    /// The field accesses and method calls of the file's functions but those starting at a byte
    /// in `skip`, judged as [`FileDecls::field_accesses_in`] judges them: a function's facts
    /// depend on its own text and on the file's declarations, not on the other functions, so
    /// a caller that kept the others' facts asks for the rest (the server, per keystroke). The
    /// constructed calls and method-call counts are the caller's to set.
    pub fn guard_facts_skipping(
        self,
        root: Node,
        items: &[Node],
        src: &str,
        skip: &crate::HashSet<usize>,
        imports: &Imports,
    ) -> (FileDecls, super::guards::GuardFacts) {
        // Shared for the time of the walk so the file can be laid over an empty package
        // (nothing copied), then handed back.
        let decls = Arc::new(self);
        let accesses = Self::accesses_with_own_types(&decls, root, items, src, skip, imports);
        let decls = Arc::try_unwrap(decls).unwrap_or_else(|shared| (*shared).clone());
        (decls, accesses)
    }

    fn accesses_with_own_types(
        decls: &Arc<FileDecls>,
        root: Node,
        items: &[Node],
        src: &str,
        skip: &crate::HashSet<usize>,
        imports: &Imports,
    ) -> super::guards::GuardFacts {
        // Only files that lock can show which mutex guards a field, or hold a lock at a call.
        if !src.contains("ock(") || decls.structs.is_empty() {
            return Default::default();
        }
        // The file alone, as a package (laid over an empty one: nothing is copied).
        let own = PackageModel::over(Arc::default(), decls);
        if !own.has_struct_with_mutex() {
            return Default::default();
        }
        // Only methods of a type that holds a mutex have guarded fields, and only functions that
        // name such a type can call its methods (see guards::collect): the model leaves every
        // other function out.
        let holders: crate::HashSet<&str> = decls
            .structs
            .iter()
            .filter(|(_, fields)| fields.iter().any(|f| own.lock_kind(f.ty.deref()).is_some()))
            .map(|(name, _)| name.as_str())
            .collect();
        let mut left_out = skip.clone();
        for &item in items {
            if !super::scope::is_function_item(item) || left_out.contains(&item.start_byte()) {
                continue;
            }
            let receiver = (item.kind_str() == "method_declaration")
                .then(|| receiver_type(item, src, imports))
                .flatten();
            let names_holder = || {
                let item_text = text(item, src);
                holders.iter().any(|h| item_text.contains(h))
            };
            if !receiver.is_some_and(|t| holders.contains(t.as_str())) && !names_holder() {
                left_out.insert(item.start_byte());
            }
        }
        let model = super::scope::FileModel::build_partial(
            root,
            src,
            &own,
            &left_out,
            imports.clone(),
            items,
        )
        .0;
        super::guards::collect(&model)
    }

    fn add_types(&mut self, decl: Node, src: &str, imports: &Imports) {
        for spec in named_children(decl) {
            if !matches!(spec.kind_str(), "type_spec" | "type_alias") {
                continue;
            }
            let (Some(name), Some(type_node)) = (spec.field("name"), spec.field("type")) else {
                continue;
            };
            let name = text(name, src).to_string();
            if type_node.kind_str() == "interface_type" {
                if let Some(kind) = self.locker_kind_of(type_node, src, imports) {
                    self.lockers.insert(name.clone(), kind);
                }
            }
            if type_node.kind_str() == "struct_type" {
                self.structs
                    .insert(name, struct_fields(type_node, src, imports));
            } else {
                self.named
                    .insert(name, Ty::from_node(type_node, src, imports));
            }
        }
    }

    /// The lock an interface type is: `Lock()` and `Unlock()` among its methods, its own or
    /// those of an interface it embeds (`sync.Locker`, or one declared above in this file).
    fn locker_kind_of(&self, interface: Node, src: &str, imports: &Imports) -> Option<SyncKind> {
        let mut bare: Vec<&str> = Vec::new();
        let mut embedded_kind = None;
        for element in named_children(interface) {
            match element.kind_str() {
                "method_elem" => {
                    let takes_nothing = element
                        .field("parameters")
                        .is_some_and(|p| named_children(p).next().is_none())
                        && element.field("result").is_none();
                    if let (true, Some(name)) = (takes_nothing, element.field("name")) {
                        bare.push(text(name, src));
                    }
                }
                "type_elem" => {
                    let mut types = named_children(element);
                    let (Some(only), None) = (types.next(), types.next()) else {
                        continue;
                    };
                    let kind = match Ty::from_node(only, src, imports) {
                        ty if ty.is_named("sync", "Locker") => Some(SyncKind::Mutex),
                        Ty::Named { pkg, name } if pkg.is_empty() => {
                            self.lockers.get(&name).copied()
                        }
                        _ => None,
                    };
                    embedded_kind = stronger_lock(embedded_kind, kind);
                }
                _ => {}
            }
        }
        let has = |m: &str| bare.contains(&m);
        let locks = embedded_kind.is_some() || has("Lock") && has("Unlock");
        let read_locks = embedded_kind == Some(SyncKind::RWMutex) || has("RLock") && has("RUnlock");
        match (locks, read_locks) {
            (true, true) => Some(SyncKind::RWMutex),
            (true, false) => Some(SyncKind::Mutex),
            (false, _) => None,
        }
    }

    fn add_method(&mut self, decl: Node, src: &str, imports: &Imports) {
        let (Some(name), Some(receiver)) = (decl.field("name"), decl.field("receiver")) else {
            return;
        };
        let Some(param) = named_children(receiver).next() else {
            return;
        };
        let Some(type_node) = param.field("type") else {
            return;
        };
        let ty = Ty::from_node(type_node, src, imports);
        let Ty::Named {
            name: type_name, ..
        } = ty.deref()
        else {
            return;
        };
        let results = results_of(decl.field("result"), src, imports);
        self.methods.entry(type_name.clone()).or_default().insert(
            text(name, src).to_string(),
            FuncSig {
                results,
                pointer_receiver: ty.is_pointer(),
                takes_params: takes_params(decl),
                params: param_types(decl, src, imports),
            },
        );
    }

    fn add_vars(&mut self, decl: Node, src: &str, imports: &Imports) {
        let mut specs: Vec<Node> = Vec::new();
        for child in named_children(decl) {
            match child.kind_str() {
                "var_spec" => specs.push(child),
                "var_spec_list" => {
                    specs.extend(named_children(child).filter(|n| n.kind_str() == "var_spec"))
                }
                _ => {}
            }
        }
        for spec in specs {
            let ty = spec
                .field("type")
                .map_or(Ty::Unknown, |t| Ty::from_node(t, src, imports));
            for name in names_of(spec) {
                self.vars.insert(text(name, src).to_string(), ty.clone());
            }
        }
    }
}

/// The lock of the two that does more: a `RWMutex` over a `Mutex` over none.
fn stronger_lock(a: Option<SyncKind>, b: Option<SyncKind>) -> Option<SyncKind> {
    match (a, b) {
        (Some(SyncKind::RWMutex), _) | (_, Some(SyncKind::RWMutex)) => Some(SyncKind::RWMutex),
        (a, b) => a.or(b),
    }
}

/// The type name of a method's receiver (`Cache` for `func (c *Cache) …`).
fn receiver_type(method: Node, src: &str, imports: &Imports) -> Option<String> {
    let param = named_children(method.field("receiver")?).next()?;
    match Ty::from_node(param.field("type")?, src, imports).deref() {
        Ty::Named { name, .. } => Some(name.clone()),
        _ => None,
    }
}

/// The parts of a file's declarations that [`PackageModel::from_files`] merges.
struct Merged {
    structs: HashMap<String, Vec<Field>>,
    named: HashMap<String, Ty>,
    lockers: HashMap<String, SyncKind>,
    funcs: HashMap<String, FuncSig>,
    methods: HashMap<String, HashMap<String, FuncSig>>,
    vars: HashMap<String, Ty>,
    summaries: HashMap<String, Arc<FuncSummary>>,
    goroutines: HashMap<String, Arc<super::goroutines::GoFacts>>,
    file_atomics: Vec<super::atomics::AtomicAccess>,
    call_sites: Vec<super::atomics::CallSite>,
    field_accesses: Vec<super::guards::FieldAccess>,
    method_calls: Vec<super::guards::MethodCall>,
    constructed_calls: Vec<super::guards::ConstructedCall>,
    method_call_counts: Vec<(String, u32)>,
}

impl Merged {
    fn take(f: FileDecls) -> Merged {
        Merged {
            structs: f.structs,
            named: f.named,
            lockers: f.lockers,
            funcs: f.funcs,
            methods: f.methods,
            vars: f.vars,
            summaries: f.summaries,
            goroutines: f.goroutines,
            file_atomics: f.atomics,
            call_sites: f.call_sites,
            field_accesses: f.field_accesses,
            method_calls: f.method_calls,
            constructed_calls: f.constructed_calls,
            method_call_counts: f.method_call_counts,
        }
    }

    fn copy(f: &FileDecls) -> Merged {
        Merged {
            structs: f.structs.clone(),
            named: f.named.clone(),
            lockers: f.lockers.clone(),
            funcs: f.funcs.clone(),
            methods: f.methods.clone(),
            vars: f.vars.clone(),
            summaries: f.summaries.clone(),
            goroutines: f.goroutines.clone(),
            file_atomics: f.atomics.clone(),
            call_sites: f.call_sites.clone(),
            field_accesses: f.field_accesses.clone(),
            method_calls: f.method_calls.clone(),
            constructed_calls: f.constructed_calls.clone(),
            method_call_counts: f.method_call_counts.clone(),
        }
    }
}

/// The merged declarations of every file of one package.
///
/// A model can also be one file laid [`over`](PackageModel::over) a model of the package's
/// other files: every lookup asks the file's own declarations first, then the base. A server
/// builds it per keystroke without copying any declarations.
#[derive(Debug, Clone, Default)]
pub struct PackageModel {
    /// When this model is one file laid over the others: that file (the maps below are then
    /// empty but for `atomics`, resolved over the file's and the base's accesses)…
    own: Option<Arc<FileDecls>>,
    /// …and the model of the other files.
    base: Option<Arc<PackageModel>>,
    /// The atomic accesses of the files merged by [`PackageModel::from_files`], before
    /// [`super::atomics::resolve`] (which needs the whole package's types: an overlay resolves
    /// its base's accesses again).
    raw_atomics: Vec<super::atomics::AtomicAccess>,
    structs: HashMap<String, Vec<Field>>,
    named: HashMap<String, Ty>,
    lockers: HashMap<String, SyncKind>,
    funcs: HashMap<String, FuncSig>,
    methods: HashMap<String, HashMap<String, FuncSig>>,
    vars: HashMap<String, Ty>,
    summaries: HashMap<String, Arc<FuncSummary>>,
    goroutines: HashMap<String, Arc<super::goroutines::GoFacts>>,
    /// Computed on first use by [`PackageModel::is_started_by_name`].
    started_by_name: std::sync::OnceLock<Arc<crate::HashSet<String>>>,
    /// Computed on first use by [`PackageModel::pending_send_returners`].
    pending_send_returners: std::sync::OnceLock<Arc<Vec<String>>>,
    /// Computed on first use by [`PackageModel::is_result_read_until_stop`].
    read_until_stop: std::sync::OnceLock<Arc<crate::HashSet<String>>>,
    /// Computed on first use by [`PackageModel::field_channel_ops`].
    field_channels: std::sync::OnceLock<Arc<FieldChannels>>,
    /// Computed on first use by [`PackageModel::self_sends`].
    self_sends: std::sync::OnceLock<Arc<Vec<super::channels::own_goroutine::SelfSend>>>,
    /// The usage facts of the files merged by [`PackageModel::from_files`].
    usage: super::usage::Usage,
    /// Atomically accessed fields (`Owner.field`) and package variables, package-wide, and
    /// the places they touch.
    atomics: super::atomics::Resolved,
    /// The call sites of the files merged by [`PackageModel::from_files`], before resolution.
    raw_calls: Vec<super::atomics::CallSite>,
    /// Methods declared in generated files (`Type.method`).
    generated_methods: crate::HashSet<String>,
    field_accesses: Vec<super::guards::FieldAccess>,
    method_calls: Vec<super::guards::MethodCall>,
    constructed_calls: Vec<super::guards::ConstructedCall>,
    method_call_counts: Vec<(String, u32)>,
    /// Computed on first use by [`PackageModel::constructed_method_calls`].
    fresh_constructed: std::sync::OnceLock<Arc<Vec<super::guards::MethodCall>>>,
    /// Computed on first use by [`PackageModel::calls_unaccounted`].
    unaccounted: std::sync::OnceLock<Arc<crate::HashSet<String>>>,
    /// Computed on first use by [`PackageModel::lock_reach`].
    lock_reach: std::sync::OnceLock<Arc<LockReach>>,
    /// Computed on first use by [`PackageModel::holds_mutex`].
    mutex_holders: std::sync::OnceLock<Arc<crate::HashSet<String>>>,
    /// Computed on first use by [`PackageModel::find_field`]: for each struct type of
    /// [`WIDE_STRUCT`] fields or more, the position of each field by name (the first of a name).
    wide_structs: std::sync::OnceLock<Arc<HashMap<String, HashMap<String, usize>>>>,
    /// Computed on first use by [`PackageModel::triggers`].
    triggers: std::sync::OnceLock<Arc<super::quiet::Triggers>>,
    /// Computed on first use by [`PackageModel::lock_closure`].
    lock_closure: std::sync::OnceLock<Arc<super::lock_closure::LockClosure>>,
    /// Computed on first use by [`PackageModel::copied_while_written`].
    copied_while_written: std::sync::OnceLock<Arc<Vec<super::captured_calls::CopiedWhileWritten>>>,
    /// What the module's other packages that this one imports export (see [`super::module`]);
    /// an overlay asks its base's.
    module: Option<Arc<super::module::ModuleSummaries>>,
}

/// How many fields make a struct wide enough to look its fields up through a map (see
/// [`PackageModel::find_field`]).
const WIDE_STRUCT: usize = 32;

/// Every use of each channel field of the package (`Owner.field`), from every function's facts.
pub type FieldChannels = HashMap<String, FieldChannel>;

/// The uses of one channel field, and what they say together: rules ask this for each of the
/// field's operations, and reading every other operation again for each would be quadratic in
/// a function that uses the field thousands of times.
#[derive(Debug, Default)]
pub struct FieldChannel {
    /// Every use, in the order of the functions' keys and offsets.
    pub ops: Vec<super::channels::fields::FieldChanOp>,
    /// The package makes the channel, and every `make` is unbuffered.
    pub only_unbuffered: bool,
    /// Some use hands the channel elsewhere ([`FieldOpKind::Escape`]).
    pub escapes: bool,
    /// Some use other than `close`.
    pub used_but_closed: bool,
    /// The indices in `ops` of the receives and ranges over it.
    receivers: Vec<usize>,
    /// The indices in `ops` of the sends on it.
    senders: Vec<usize>,
}

impl FieldChannel {
    fn of(ops: Vec<super::channels::fields::FieldChanOp>) -> FieldChannel {
        use super::channels::fields::FieldOpKind;
        use super::channels::Capacity;
        let mut makes = ops.iter().filter_map(|o| match o.kind {
            FieldOpKind::Make(c) => Some(c),
            _ => None,
        });
        let only_unbuffered =
            makes.next() == Some(Capacity::Unbuffered) && makes.all(|c| c == Capacity::Unbuffered);
        let of_kind = |kinds: &[FieldOpKind]| -> Vec<usize> {
            (0..ops.len())
                .filter(|i| kinds.contains(&ops[*i].kind))
                .collect()
        };
        FieldChannel {
            only_unbuffered,
            escapes: ops.iter().any(|o| o.kind == FieldOpKind::Escape),
            receivers: of_kind(&[FieldOpKind::Receive, FieldOpKind::Range]),
            senders: of_kind(&[FieldOpKind::Send]),
            used_but_closed: ops.iter().any(|o| o.kind != FieldOpKind::Close),
            ops,
        }
    }

    /// The receives and ranges over the channel.
    pub fn receivers(&self) -> Vec<&super::channels::fields::FieldChanOp> {
        self.receivers.iter().map(|i| &self.ops[*i]).collect()
    }

    /// The sends on the channel.
    pub fn senders(&self) -> Vec<&super::channels::fields::FieldChanOp> {
        self.senders.iter().map(|i| &self.ops[*i]).collect()
    }
}

/// The struct fields and package variables through which a value holding a lock can be reached,
/// each with how it reaches it (a bit set of [`LockReach::VALUE`], [`LockReach::POINTER`],
/// [`LockReach::CONTAINER`]).
#[derive(Debug, Clone, Default)]
pub struct LockReach {
    pub fields: HashMap<String, u8>,
    pub vars: HashMap<String, u8>,
    /// Whether some type of the package holds a lock (without one, only a file importing sync
    /// or sync/atomic can hold a lock-holding value).
    pub any_type: bool,
}

impl LockReach {
    /// The value itself holds a lock.
    pub const VALUE: u8 = 1;
    /// It points to a value that does (`*p` copies it).
    pub const POINTER: u8 = 2;
    /// A slice, array or map of such values (`xs[i]` copies one).
    pub const CONTAINER: u8 = 4;
}

impl PackageModel {
    /// Merges file summaries. Files of another package name (a `foo_test` external test package)
    /// are the caller's business: pass only the files that belong together.
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a FileDecls>) -> PackageModel {
        PackageModel::merge(files.into_iter().map(Cow::Borrowed).collect())
    }

    /// [`PackageModel::from_files`] of files given or lent: a given file's declarations are moved
    /// into the model, a lent file's copied. (A folder of 12 MB of Go holds 100 MB of summaries:
    /// copied, they were held twice while the model was built.)
    pub fn from_files_given(files: Vec<Cow<'_, FileDecls>>) -> PackageModel {
        PackageModel::merge(files)
    }

    fn merge(files: Vec<Cow<'_, FileDecls>>) -> PackageModel {
        let total = |size: fn(&FileDecls) -> usize| files.iter().map(|f| size(f)).sum::<usize>();
        // Sized once: a server merges a package on keystrokes that move this file's offsets.
        let mut model = PackageModel {
            structs: HashMap::with_capacity_and_hasher(
                total(|f| f.structs.len()),
                Default::default(),
            ),
            named: HashMap::with_capacity_and_hasher(total(|f| f.named.len()), Default::default()),
            funcs: HashMap::with_capacity_and_hasher(total(|f| f.funcs.len()), Default::default()),
            methods: HashMap::with_capacity_and_hasher(
                total(|f| f.methods.len()),
                Default::default(),
            ),
            vars: HashMap::with_capacity_and_hasher(total(|f| f.vars.len()), Default::default()),
            summaries: HashMap::with_capacity_and_hasher(
                total(|f| f.summaries.len()),
                Default::default(),
            ),
            goroutines: HashMap::with_capacity_and_hasher(
                total(|f| f.goroutines.len()),
                Default::default(),
            ),
            field_accesses: Vec::with_capacity(total(|f| f.field_accesses.len())),
            ..PackageModel::default()
        };
        let mut atomics = Vec::new();
        let mut calls = Vec::new();
        for file in files {
            model.usage.merge(&file.usage);
            let generated = file.generated;
            // The parts the model keeps: moved out of a given file, copied from a lent one.
            let Merged {
                structs,
                named,
                lockers,
                funcs,
                methods,
                vars,
                summaries,
                goroutines,
                file_atomics,
                call_sites,
                field_accesses,
                method_calls,
                constructed_calls,
                method_call_counts,
            } = match file {
                Cow::Owned(f) => Merged::take(f),
                Cow::Borrowed(f) => Merged::copy(f),
            };
            atomics.extend(file_atomics);
            model.structs.extend(structs);
            model.named.extend(named);
            model.lockers.extend(lockers);
            model.funcs.extend(funcs);
            model.vars.extend(vars);
            model.summaries.extend(summaries);
            model.goroutines.extend(goroutines);
            model.field_accesses.extend(field_accesses);
            model.method_calls.extend(method_calls);
            model.constructed_calls.extend(constructed_calls);
            model.method_call_counts.extend(method_call_counts);
            calls.extend(call_sites);
            for (ty, methods) in methods {
                if generated {
                    model
                        .generated_methods
                        .extend(methods.keys().map(|m| format!("{ty}.{m}")));
                }
                model.methods.entry(ty).or_default().extend(methods);
            }
        }
        model.usage.normalize();
        model.atomics = super::atomics::resolve(&model, &atomics, &calls);
        model.raw_atomics = atomics;
        model.raw_calls = calls;
        model
    }

    /// Merges the files of one package given with their build configurations (constraint line
    /// and file name). Where files that cannot be compiled together declare the same name
    /// differently (a type per GOOS), the merged model says only what holds in each: a struct
    /// keeps the fields all its declarations share, a function's summary what all of them do,
    /// any other declaration is left out (unknown, so silent). Pass only files that can be compiled with the file the model is for (see
    /// [`PackageViews`]).
    pub fn from_configured(files: &[(&FileDecls, &Build)]) -> PackageModel {
        let plain = files.iter().map(|(f, _)| *f);
        if files.iter().all(|(_, b)| b.is_unconstrained()) {
            return PackageModel::from_files(plain);
        }
        let mut model = PackageModel::from_files(plain);
        let mut settled = false;
        let apart = |i: usize, j: usize| !files[i].1.compatible(files[j].1);
        // Who declares each name, when more than one file does.
        fn declarers<'a, V: 'a>(
            files: &[(&'a FileDecls, &Build)],
            map: impl Fn(&'a FileDecls) -> &'a HashMap<String, V>,
        ) -> Vec<(&'a String, Vec<usize>)> {
            let mut by_name: HashMap<&String, Vec<usize>> = HashMap::default();
            for (i, (f, _)) in files.iter().enumerate() {
                for name in map(f).keys() {
                    by_name.entry(name).or_default().push(i);
                }
            }
            let mut shared: Vec<(&String, Vec<usize>)> =
                by_name.into_iter().filter(|(_, d)| d.len() > 1).collect();
            shared.sort();
            shared
        }
        let variants = |d: &[usize]| {
            d.iter()
                .enumerate()
                .any(|(k, &i)| d[k + 1..].iter().any(|&j| apart(i, j)))
        };
        for (name, d) in declarers(files, |f| &f.structs) {
            if !variants(&d) {
                continue;
            }
            let all: Vec<&Vec<Field>> = d.iter().map(|&i| &files[i].0.structs[name]).collect();
            let common: Vec<Field> = all[0]
                .iter()
                .filter(|f| all[1..].iter().all(|other| other.contains(f)))
                .cloned()
                .collect();
            model.structs.insert(name.clone(), common);
            settled = true;
        }
        macro_rules! drop_differing {
            ($map:ident) => {
                for (name, d) in declarers(files, |f| &f.$map) {
                    let first = &files[d[0]].0.$map[name];
                    if variants(&d) && d[1..].iter().any(|&i| &files[i].0.$map[name] != first) {
                        model.$map.remove(name.as_str());
                        settled = true;
                    }
                }
            };
        }
        drop_differing!(named);
        drop_differing!(funcs);
        drop_differing!(vars);
        // A function per configuration (`unlink` in file_unix.go and file_windows.go): what every
        // one of them does holds wherever it is called from.
        for (name, d) in declarers(files, |f| &f.summaries) {
            let all: Vec<&FuncSummary> = d.iter().map(|&i| &*files[i].0.summaries[name]).collect();
            if variants(&d) && all[1..].iter().any(|s| *s != all[0]) {
                model
                    .summaries
                    .insert(name.clone(), Arc::new(common_summary(&all)));
                settled = true;
            }
        }
        for (type_name, d) in declarers(files, |f| &f.methods) {
            let mut by_method: HashMap<&String, Vec<usize>> = HashMap::default();
            for &i in &d {
                for method in files[i].0.methods[type_name].keys() {
                    by_method.entry(method).or_default().push(i);
                }
            }
            for (method, m) in by_method {
                let first = &files[m[0]].0.methods[type_name][method];
                if m.len() > 1
                    && variants(&m)
                    && m[1..]
                        .iter()
                        .any(|&i| &files[i].0.methods[type_name][method] != first)
                {
                    if let Some(methods) = model.methods.get_mut(type_name.as_str()) {
                        methods.remove(method.as_str());
                        settled = true;
                    }
                }
            }
        }
        if settled {
            // The atomic accesses were resolved against the types before they were settled.
            model.atomics = super::atomics::resolve(&model, &model.raw_atomics, &model.raw_calls);
        }
        model
    }

    /// One file's declarations laid over a model of the package's other files (built by
    /// [`PackageModel::from_files`]). Equal to merging all files, the file's own declarations
    /// winning where two files declare the same name (code that does not compile yet).
    pub fn over(base: Arc<PackageModel>, file: &Arc<FileDecls>) -> PackageModel {
        let mut model = PackageModel {
            own: Some(file.clone()),
            base: Some(base),
            ..PackageModel::default()
        };
        let base_accesses = model.base.iter().flat_map(|b| b.raw_atomics.iter());
        let base_calls = model.base.iter().flat_map(|b| b.raw_calls.iter());
        model.atomics = super::atomics::resolve(
            &model,
            file.atomics.iter().chain(base_accesses),
            file.call_sites.iter().chain(base_calls),
        );
        model
    }

    /// Takes over what `previous` (the model of an earlier version of the same file over the
    /// same base) computed from the package's types, when the file's types did not change: a
    /// keystroke inside a function body does not walk every struct of the package again.
    pub fn reuse_type_facts(&self, previous: &PackageModel) {
        let same_base = match (&self.base, &previous.base) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let same_types = match (&self.own, &previous.own) {
            (Some(a), Some(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.structs == b.structs
                        && a.named == b.named
                        && a.vars == b.vars
                        && a.methods == b.methods)
            }
            _ => false,
        };
        if same_base && same_types {
            if let Some(reach) = previous.lock_reach.get() {
                let _ = self.lock_reach.set(reach.clone());
            }
        }
    }

    /// Looks a name up in this model's maps, then the overlaid file's, then the base's.
    fn lookup<'a, T: ?Sized + 'a>(
        &'a self,
        merged: impl Fn(&'a PackageModel) -> Option<&'a T>,
        own: impl FnOnce(&'a FileDecls) -> Option<&'a T>,
    ) -> Option<&'a T> {
        merged(self)
            .or_else(|| own(self.own.as_deref()?))
            .or_else(|| merged(self.base.as_deref()?))
    }

    /// Every entry of one map of the package, each name once: this model's, the overlaid
    /// file's, then the base's that the file does not declare.
    fn entries<'a, V: 'a>(
        &'a self,
        merged: impl Fn(&'a PackageModel) -> &'a HashMap<String, V>,
        own: impl Fn(&'a FileDecls) -> &'a HashMap<String, V>,
    ) -> impl Iterator<Item = (&'a String, &'a V)> {
        let own_map = self.own.as_deref().map(&own);
        let base = self.base.as_deref().map(&merged).into_iter().flatten();
        merged(self)
            .iter()
            .chain(own_map.into_iter().flatten())
            .chain(base.filter(move |(name, _)| !own_map.is_some_and(|m| m.contains_key(*name))))
    }

    /// Each struct type of the package once (own declarations before the base's).
    fn all_structs(&self) -> impl Iterator<Item = (&String, &Vec<Field>)> {
        self.entries(|m| &m.structs, |f| &f.structs)
    }

    fn named_type(&self, name: &str) -> Option<&Ty> {
        self.lookup(|m| m.named.get(name), |f| f.named.get(name))
    }

    /// The lock a value of `ty` is when its type is an interface with `sync.Locker`'s methods,
    /// declared in this package or exported by another package of the module.
    pub fn locker_kind(&self, ty: &Ty) -> Option<SyncKind> {
        let Ty::Named { pkg, name } = ty else {
            return None;
        };
        match pkg.is_empty() {
            true => self
                .lookup(|m| m.lockers.get(name), |f| f.lockers.get(name))
                .copied(),
            false => self.module()?.locker_kind(pkg, name),
        }
    }

    /// The lock interfaces the package declares, by name.
    pub fn lockers(&self) -> impl Iterator<Item = (&String, &SyncKind)> {
        self.entries(|m| &m.lockers, |f| &f.lockers)
    }

    pub fn shared(self) -> Arc<PackageModel> {
        Arc::new(self)
    }

    pub fn struct_fields(&self, name: &str) -> Option<&[Field]> {
        self.lookup(|m| m.structs.get(name), |f| f.structs.get(name))
            .map(Vec::as_slice)
    }

    /// Which fields and package variables can reach a lock-holding value, computed once per
    /// package (`sync-value-copied` looks only at expressions that name one of them).
    pub fn lock_reach(&self) -> &LockReach {
        self.lock_reach.get_or_init(|| {
            let mut memo = HashMap::default();
            let mut reach = LockReach::default();
            for field in self.all_structs().flat_map(|(_, fields)| fields) {
                let how = self.lock_reach_of(&field.ty, &mut memo);
                if how != 0 {
                    *reach.fields.entry(field.name.clone()).or_default() |= how;
                }
            }
            for (name, ty) in self.entries(|m| &m.vars, |f| &f.vars) {
                let how = self.lock_reach_of(ty, &mut memo);
                if how != 0 {
                    reach.vars.insert(name.clone(), how);
                }
            }
            let mut type_names = self.type_names();
            reach.any_type =
                type_names.any(|name| self.holds_lock(&Ty::named("", name), &mut memo, 0));
            Arc::new(reach)
        })
    }

    /// Is `type_name` a struct type of the package with a field that is a mutex? Found for every
    /// struct at once: it is asked for each method and access, and going through the fields
    /// each time cost the square of a type with thousands of fields and methods.
    pub fn holds_mutex(&self, type_name: &str) -> bool {
        self.mutex_holders
            .get_or_init(|| {
                let mut seen = crate::HashSet::default();
                let mut holders = crate::HashSet::default();
                for (name, fields) in self.all_structs() {
                    // The first of a name is the one `struct_fields` finds.
                    if seen.insert(name.as_str())
                        && fields
                            .iter()
                            .any(|f| self.lock_kind(f.ty.deref()).is_some())
                    {
                        holders.insert(name.clone());
                    }
                }
                Arc::new(holders)
            })
            .contains(type_name)
    }

    /// The names of the package's types: structs, other named types, and receivers of methods
    /// (a name may come more than once).
    fn type_names(&self) -> impl Iterator<Item = &String> {
        self.all_structs()
            .map(|(name, _)| name)
            .chain(
                self.entries(|m| &m.named, |f| &f.named)
                    .map(|(name, _)| name),
            )
            .chain(
                self.entries(|m| &m.methods, |f| &f.methods)
                    .map(|(name, _)| name),
            )
    }

    /// What makes a top-level function of the package worth the rules' look (see
    /// [`super::quiet`]), computed once per package.
    pub fn triggers(&self) -> &super::quiet::Triggers {
        self.triggers
            .get_or_init(|| Arc::new(super::quiet::Triggers::of(self)))
    }

    /// The package's names through which code can come to hold a lock-holding value: types
    /// that lead to one, and fields, variables, functions and methods whose type or results do
    /// — by any route, channels and function results included (wider than [`Self::lock_reach`],
    /// which follows only what a copy can reach).
    pub fn names_leading_to_locks(&self) -> Vec<String> {
        let mut holds = HashMap::default();
        let leading = self.types_leading_to_locks(&mut holds);
        let mut leads_to = |ty: &Ty| self.mentions_lock(ty, &leading, &mut holds, 0);
        let mut names: Vec<String> = leading.iter().cloned().collect();
        for field in self.all_structs().flat_map(|(_, fields)| fields) {
            if leads_to(&field.ty) {
                names.push(field.name.clone());
            }
        }
        for (name, ty) in self.entries(|m| &m.vars, |f| &f.vars) {
            if leads_to(ty) {
                names.push(name.clone());
            }
        }
        for (name, sig) in self.entries(|m| &m.funcs, |f| &f.funcs) {
            if sig.results.iter().any(&mut leads_to) {
                names.push(name.clone());
            }
        }
        for (_, methods) in self.entries(|m| &m.methods, |f| &f.methods) {
            for (name, sig) in methods {
                if sig.results.iter().any(&mut leads_to) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The package's named types whose values hold a lock or lead to one through pointers,
    /// slices, arrays, maps, channels, function results or struct fields: those that hold one,
    /// then, until nothing changes, those whose fields or underlying type mention one. A
    /// fixpoint gives exact answers on long chains and cycles of types (`Block` → `Func` →
    /// `[]*Block`), where a depth-first search must cut somewhere.
    fn types_leading_to_locks(&self, holds: &mut HashMap<String, bool>) -> crate::HashSet<String> {
        let mut leading: crate::HashSet<String> = self
            .type_names()
            .filter(|name| self.holds_lock(&Ty::named("", name.as_str()), holds, 0))
            .cloned()
            .collect();
        loop {
            let known = leading.len();
            for name in self.type_names() {
                if leading.contains(name) {
                    continue;
                }
                let leads = match (self.struct_fields(name), self.named_type(name)) {
                    (Some(fields), _) => fields
                        .iter()
                        .any(|f| self.mentions_lock(&f.ty, &leading, holds, 0)),
                    (None, Some(underlying)) => self.mentions_lock(underlying, &leading, holds, 0),
                    (None, None) => false,
                };
                if leads {
                    leading.insert(name.clone());
                }
            }
            if leading.len() == known {
                return leading;
            }
        }
    }

    /// Whether the type expression `ty` holds a lock or names one of the `leading` types, by
    /// any route. Past a nesting no real code reaches it answers yes: a wrong yes only costs a
    /// function its skip.
    fn mentions_lock(
        &self,
        ty: &Ty,
        leading: &crate::HashSet<String>,
        holds: &mut HashMap<String, bool>,
        depth: usize,
    ) -> bool {
        if depth > 64 {
            return true;
        }
        if self.holds_lock(ty, holds, 0) {
            return true;
        }
        let mut mentions = |t: &Ty| self.mentions_lock(t, leading, holds, depth + 1);
        match ty {
            Ty::Pointer(inner) | Ty::Slice(inner) | Ty::Array(inner) | Ty::Chan(inner) => {
                mentions(inner)
            }
            Ty::Map(key, value) => mentions(key) || mentions(value),
            Ty::Func { results } | Ty::Tuple(results) => results.iter().any(mentions),
            Ty::Struct(fields) => fields.iter().any(|f| mentions(&f.ty)),
            Ty::Named { pkg, name } if pkg.is_empty() => leading.contains(name),
            _ => false,
        }
    }

    /// How a value of `ty` reaches a lock-holding value (a [`LockReach`] bit set; 0 when it does
    /// not). `memo` remembers the answer for the package's named types.
    pub fn lock_reach_of(&self, ty: &Ty, memo: &mut HashMap<String, bool>) -> u8 {
        if self.holds_lock(ty, memo, 0) {
            return LockReach::VALUE;
        }
        match ty {
            Ty::Pointer(inner) if self.reaches_lock(inner, memo) => LockReach::POINTER,
            Ty::Slice(inner) | Ty::Array(inner) | Ty::Map(_, inner)
                if self.reaches_lock(inner, memo) =>
            {
                LockReach::CONTAINER
            }
            _ => 0,
        }
    }

    fn reaches_lock(&self, ty: &Ty, memo: &mut HashMap<String, bool>) -> bool {
        match ty {
            Ty::Pointer(inner) | Ty::Slice(inner) | Ty::Array(inner) | Ty::Map(_, inner) => {
                self.reaches_lock(inner, memo)
            }
            _ => self.holds_lock(ty, memo, 0),
        }
    }

    fn holds_lock(&self, ty: &Ty, memo: &mut HashMap<String, bool>, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        if self.sync_kind(ty).is_some() {
            return true;
        }
        match ty {
            Ty::Array(inner) => self.holds_lock(inner, memo, depth + 1),
            Ty::Struct(fields) => fields
                .iter()
                .any(|f| self.holds_lock(&f.ty, memo, depth + 1)),
            Ty::Named { pkg, name } if pkg.is_empty() => {
                if let Some(&known) = memo.get(name) {
                    return known;
                }
                memo.insert(name.clone(), false);
                let holds = self.fields_of(ty).is_some_and(|fields| {
                    fields
                        .iter()
                        .any(|f| self.holds_lock(&f.ty, memo, depth + 1))
                });
                memo.insert(name.clone(), holds);
                holds
            }
            _ => false,
        }
    }

    /// Does any struct of the package hold a mutex (directly)? Guard facts are only needed then.
    pub fn has_struct_with_mutex(&self) -> bool {
        self.all_structs()
            .flat_map(|(_, fields)| fields)
            .any(|f| self.lock_kind(f.ty.deref()).is_some())
    }

    /// The lock a value of `ty` is: `sync`'s `Mutex` or `RWMutex` (or a type defined as one),
    /// a project's own sync package's, or a lock interface (see [`Self::locker_kind`]).
    pub fn lock_kind(&self, ty: &Ty) -> Option<SyncKind> {
        self.sync_kind(ty)
            .filter(|k| matches!(k, SyncKind::Mutex | SyncKind::RWMutex))
            .or_else(|| super::sync_calls::wrapped_sync_lock(ty))
            .or_else(|| self.locker_kind(ty))
    }

    /// A field declared directly in a local struct type.
    pub fn field(&self, type_name: &str, field: &str) -> Option<&Field> {
        let fields = self.struct_fields(type_name)?;
        self.find_field(type_name, fields, field)
    }

    /// The field `name` among `fields`, the fields of the type named `type_name` when they are
    /// that struct's declared fields. A struct of thousands of fields is searched through a map
    /// made once (it is asked for each access of a field), a narrow one in place.
    pub(crate) fn find_field<'a>(
        &self,
        type_name: &str,
        fields: &'a [Field],
        name: &str,
    ) -> Option<&'a Field> {
        let declared = || {
            self.struct_fields(type_name).is_some_and(|d| {
                std::ptr::eq(d.as_ptr(), fields.as_ptr()) && d.len() == fields.len()
            })
        };
        if fields.len() >= WIDE_STRUCT && declared() {
            let wide = self.wide_structs.get_or_init(|| {
                let mut wide = HashMap::default();
                let mut seen = crate::HashSet::default();
                for (type_name, fields) in self.all_structs() {
                    // The first of a name is the one `struct_fields` finds.
                    if seen.insert(type_name.as_str()) && fields.len() >= WIDE_STRUCT {
                        let mut at: HashMap<String, usize> = HashMap::default();
                        for (i, f) in fields.iter().enumerate() {
                            at.entry(f.name.clone()).or_insert(i);
                        }
                        wide.insert(type_name.clone(), at);
                    }
                }
                Arc::new(wide)
            });
            if let Some(at) = wide.get(type_name) {
                return at.get(name).and_then(|&i| fields.get(i));
            }
        }
        fields.iter().find(|f| f.name == name)
    }

    pub fn func(&self, name: &str) -> Option<&FuncSig> {
        self.lookup(|m| m.funcs.get(name), |f| f.funcs.get(name))
    }

    pub fn method(&self, type_name: &str, method: &str) -> Option<&FuncSig> {
        self.lookup(
            |m| m.methods.get(type_name)?.get(method),
            |f| f.methods.get(type_name)?.get(method),
        )
    }

    /// Adds the field accesses of one file (see [`super::guards::collect`]).
    pub fn add_field_accesses(
        &mut self,
        accesses: impl IntoIterator<Item = super::guards::FieldAccess>,
    ) {
        self.field_accesses.extend(accesses);
    }

    /// Adds method calls (those of functions an incremental analysis left out).
    pub fn add_method_calls(&mut self, calls: impl IntoIterator<Item = super::guards::MethodCall>) {
        self.method_calls.extend(calls);
    }

    /// The field accesses of the files added so far.
    pub fn field_accesses(&self) -> impl Iterator<Item = &super::guards::FieldAccess> {
        let own = self.own.iter().flat_map(|f| f.field_accesses.iter());
        let base = self.base.iter().flat_map(|b| b.field_accesses.iter());
        self.field_accesses.iter().chain(own).chain(base)
    }

    /// Whether a usage fact holds in the merged files, the overlaid file or the base.
    fn used(&self, name: &str, list: impl Fn(&super::usage::Usage) -> &Vec<String>) -> bool {
        let has =
            |u: &super::usage::Usage| list(u).binary_search_by(|n| n.as_str().cmp(name)).is_ok();
        has(&self.usage)
            || self.own.as_deref().is_some_and(|f| has(&f.usage))
            || self.base.as_deref().is_some_and(|b| has(&b.usage))
    }

    /// Whether some code of the package reads or calls a field (or method) named `name`.
    pub fn field_is_read(&self, name: &str) -> bool {
        self.used(name, |u| &u.fields_read)
    }

    /// Whether some call of the package hands `context.WithoutCancel(…)` to a callee named
    /// `name`: the package means that work to survive its caller's cancellation.
    pub fn callee_is_detached(&self, name: &str) -> bool {
        self.used(name, |u| &u.detached_callees)
    }

    /// Whether some call of the package hands the plain function `name` a `context.Context`
    /// parameter of the function the call is in.
    pub fn callee_given_context(&self, name: &str) -> bool {
        self.used(name, |u| &u.callees_given_context)
    }

    /// Whether some code of the package hands on the value of a field named `name` (see
    /// [`super::usage::Usage::fields_taken`]).
    pub fn field_is_taken(&self, name: &str) -> bool {
        self.used(name, |u| &u.fields_taken)
    }

    /// Whether some code of the package sets a field named `name` back to `nil`.
    pub fn field_set_to_nil(&self, name: &str) -> bool {
        self.used(name, |u| &u.nil_assigned)
    }

    /// The calls of methods of types holding a mutex, of the files added so far.
    pub fn method_calls(&self) -> impl Iterator<Item = &super::guards::MethodCall> {
        let own = self.own.iter().flat_map(|f| f.method_calls.iter());
        let base = self.base.iter().flat_map(|b| b.method_calls.iter());
        self.method_calls.iter().chain(own).chain(base)
    }

    /// The calls `x.m(…)` of each method name `m` the package's files make, on anything, and
    /// those its method calls and `constructed` account for.
    fn calls_made_and_accounted<'s>(
        &'s self,
        constructed: &[&'s super::guards::ConstructedCall],
    ) -> (HashMap<&'s str, u64>, HashMap<&'s str, u64>) {
        let mut made: HashMap<&str, u64> = HashMap::default();
        let own_counts = self.own.iter().flat_map(|f| f.method_call_counts.iter());
        let base_counts = self.base.iter().flat_map(|b| b.method_call_counts.iter());
        for (name, n) in self
            .method_call_counts
            .iter()
            .chain(own_counts)
            .chain(base_counts)
        {
            *made.entry(name.as_str()).or_default() += u64::from(*n);
        }
        let mut accounted: HashMap<&str, u64> = HashMap::default();
        for call in self.method_calls() {
            if call.how != super::guards::CallHow::Implicit {
                let method = call.callee.rsplit('.').next().unwrap_or("");
                *accounted.entry(method).or_default() += 1;
            }
        }
        for call in constructed {
            *accounted.entry(call.method.as_str()).or_default() += 1;
        }
        (made, accounted)
    }

    /// Does the package make calls of the method name `m` (`x.m(…)`) that its method calls do
    /// not account for: calls on a value whose type a sibling file declares, which that file's
    /// facts cannot type (`diff.rebloom(d)` in `snapshot.go`, `diffLayer` being declared in
    /// `difflayer.go`)? Such a call may be anywhere, on a shared value: the calls seen do not
    /// tell how the method is entered.
    pub fn calls_unaccounted(&self, method: &str) -> bool {
        self.unaccounted
            .get_or_init(|| {
                let own = self.own.iter().flat_map(|f| f.constructed_calls.iter());
                let base = self.base.iter().flat_map(|b| b.constructed_calls.iter());
                let constructed: Vec<&super::guards::ConstructedCall> = self
                    .constructed_calls
                    .iter()
                    .chain(own)
                    .chain(base)
                    .collect();
                let (made, accounted) = self.calls_made_and_accounted(&constructed);
                Arc::new(
                    made.into_iter()
                        .filter(|(name, n)| *n > accounted.get(name).copied().unwrap_or(0))
                        .map(|(name, _)| name.to_string())
                        .collect(),
                )
            })
            .contains(method)
    }

    /// The [`super::guards::ConstructedCall`]s of the package whose constructor returns what it
    /// has just made (its summary's `returns_fresh`) and is declared to return a package type:
    /// calls of that type's methods on a value nobody else can see yet. A value's calls count
    /// up to the first whose method may hand the receiver to a goroutine (see
    /// [`PackageModel::may_start_goroutines`]): `p.Init()` that runs `go p.loop()` publishes it.
    /// A method some of whose calls neither these nor the files' method calls account for (a
    /// call on a value whose type a sibling file declares) gets none: its fresh sites alone
    /// would make it look entered only on new values.
    pub fn constructed_method_calls(&self) -> &[super::guards::MethodCall] {
        self.fresh_constructed.get_or_init(|| {
            let own = self.own.iter().flat_map(|f| f.constructed_calls.iter());
            let base = self.base.iter().flat_map(|b| b.constructed_calls.iter());
            let mut calls: Vec<&super::guards::ConstructedCall> = self
                .constructed_calls
                .iter()
                .chain(own)
                .chain(base)
                .collect();
            if calls.is_empty() {
                return Arc::default();
            }
            let (made, accounted) = self.calls_made_and_accounted(&calls);
            calls.retain(|call| {
                let method = call.method.as_str();
                made.get(method).copied().unwrap_or(0)
                    <= accounted.get(method).copied().unwrap_or(0)
            });
            calls.sort_by(|a, b| {
                (&a.caller, a.declaration, a.offset).cmp(&(&b.caller, b.declaration, b.offset))
            });
            let mut resolved = Vec::new();
            let mut published: Option<(&str, usize)> = None;
            for call in calls {
                let value = (call.caller.as_str(), call.declaration);
                if published == Some(value) {
                    continue;
                }
                let made_fresh = self
                    .summary(&call.constructor)
                    .is_some_and(|s| s.returns_fresh);
                let Some(Ty::Named { pkg, name }) = self
                    .func(&call.constructor)
                    .and_then(|f| f.results.first())
                    .map(Ty::deref)
                else {
                    continue;
                };
                if !made_fresh || !pkg.is_empty() {
                    continue;
                }
                let callee = format!("{name}.{}", call.method);
                if self.may_start_goroutines(&callee) {
                    published = Some(value);
                }
                resolved.push(super::guards::MethodCall {
                    callee,
                    caller: call.caller.clone(),
                    guards: Vec::new(),
                    receiver: super::guards::CallReceiver::Fresh,
                    how: super::guards::CallHow::Direct,
                    test_step: false,
                    offset: call.offset,
                    len: call.len,
                });
            }
            Arc::new(resolved)
        })
    }

    /// Does the method (or a method it calls on its receiver, however deep) start a goroutine?
    fn may_start_goroutines(&self, method: &str) -> bool {
        let mut seen: crate::HashSet<String> = crate::HashSet::default();
        let mut queue = vec![method.to_string()];
        while let Some(key) = queue.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            if self
                .go_facts(&key)
                .is_some_and(|g| !g.starts.is_empty() || !g.runs_in_started_literals.is_empty())
            {
                return true;
            }
            let type_name = key.split('.').next().unwrap_or("");
            let callees = self.summary(&key).into_iter().flat_map(|s| &s.calls);
            queue.extend(
                callees
                    .filter(|c| c.target == super::summary::CallTarget::Receiver(String::new()))
                    .map(|c| format!("{type_name}.{}", c.name)),
            );
        }
        false
    }

    /// Every function summary of the package, by key.
    pub fn summaries(&self) -> impl Iterator<Item = (&String, &FuncSummary)> {
        self.entries(|m| &m.summaries, |f| &f.summaries)
            .map(|(k, s)| (k, &**s))
    }

    /// The summary of a function (`name`) or method (`Type.name`).
    pub fn summary(&self, key: &str) -> Option<&FuncSummary> {
        self.lookup(
            |m| m.summaries.get(key).map(Arc::as_ref),
            |f| f.summaries.get(key).map(Arc::as_ref),
        )
    }

    /// What each function locks, blocks on and releases with its calls followed through the
    /// package, computed once (see [`super::lock_closure::LockClosure`]).
    pub fn lock_closure(&self) -> &super::lock_closure::LockClosure {
        self.lock_closure
            .get_or_init(|| Arc::new(super::lock_closure::LockClosure::compute(self)))
    }

    /// The value-receiver methods a goroutine's call reaches on a value whose field the
    /// function that started it writes, unordered (see [`super::captured_calls`]), computed once.
    pub fn copied_while_written(&self) -> &[super::captured_calls::CopiedWhileWritten] {
        self.copied_while_written
            .get_or_init(|| Arc::new(super::captured_calls::copied_while_written(self)))
    }

    /// The keys of every function and method with goroutine facts.
    pub fn go_facts_keys(&self) -> impl Iterator<Item = &String> {
        self.entries(|m| &m.goroutines, |f| &f.goroutines)
            .map(|(k, _)| k)
    }

    /// Lays the exports of the module's other packages over the model, for calls into them.
    pub fn set_module(&mut self, module: Arc<super::module::ModuleSummaries>) {
        self.module = (!module.is_empty()).then_some(module);
    }

    /// The exports of the module's other packages this package sees, if any were laid on it
    /// (or on the model it is laid over).
    pub fn module(&self) -> Option<&super::module::ModuleSummaries> {
        match &self.module {
            Some(module) => Some(module),
            None => self.base.as_ref().and_then(|b| b.module()),
        }
    }

    /// The goroutine facts of a function (`name`) or method (`Type.name`).
    pub fn go_facts(&self, key: &str) -> Option<&super::goroutines::GoFacts> {
        self.lookup(
            |m| m.goroutines.get(key).map(Arc::as_ref),
            |f| f.goroutines.get(key).map(Arc::as_ref),
        )
    }

    /// Whether some function of the package starts the function or method `key` (`worker`,
    /// `Server.loop`) by name with `go`: its body is goroutine code.
    pub fn is_started_by_name(&self, key: &str) -> bool {
        self.started_by_name
            .get_or_init(|| {
                Arc::new(
                    self.entries(|m| &m.goroutines, |f| &f.goroutines)
                        .flat_map(|(_, facts)| facts.starts.iter().cloned())
                        .collect(),
                )
            })
            .contains(key)
    }

    /// The goroutines of the package that send to themselves (see
    /// [`super::channels::own_goroutine::SelfSend`]), computed once.
    pub fn self_sends(&self) -> &[super::channels::own_goroutine::SelfSend] {
        self.self_sends
            .get_or_init(|| Arc::new(super::channels::own_goroutine::self_sends(self)))
    }

    /// Every use of the channel field `owner.field` in the package (empty when none is known).
    pub fn field_channel_ops(
        &self,
        owner: &str,
        field: &str,
    ) -> &[super::channels::fields::FieldChanOp] {
        self.field_channel(owner, field)
            .map_or(&[], |channel| channel.ops.as_slice())
    }

    /// The uses of the channel field `owner.field` in the package and what they say together
    /// (None when none is known).
    pub fn field_channel(&self, owner: &str, field: &str) -> Option<&FieldChannel> {
        let all = self.field_channels.get_or_init(|| {
            let mut all: HashMap<String, Vec<_>> = HashMap::default();
            for (_, facts) in self.entries(|m| &m.goroutines, |f| &f.goroutines) {
                for op in &facts.field_ops {
                    all.entry(format!("{}.{}", op.owner, op.field))
                        .or_default()
                        .push(op.clone());
                }
            }
            // The package's maps have no order: findings must not depend on it.
            let all = all
                .into_iter()
                .map(|(key, mut ops)| {
                    ops.sort_by(|a, b| (&a.function, a.offset).cmp(&(&b.function, b.offset)));
                    (key, FieldChannel::of(ops))
                })
                .collect();
            Arc::new(all)
        });
        all.get(&format!("{owner}.{field}"))
    }

    /// Every use of the channels kept in map or slice fields of the package's types (see
    /// [`super::channels::registries`]), in the order of the functions' keys.
    pub fn channel_registry_ops(&self) -> Vec<&super::channels::registries::RegistryOp> {
        let mut ops: Vec<&super::channels::registries::RegistryOp> = self
            .entries(|m| &m.goroutines, |f| &f.goroutines)
            .flat_map(|(_, facts)| facts.registry_ops.iter())
            .collect();
        // The package's maps have no order: findings must not depend on it.
        ops.sort_by(|a, b| (&a.function, a.offset).cmp(&(&b.function, b.offset)));
        ops
    }

    /// The functions and methods (by summary key, sorted) that return a channel a goroutine
    /// they started is blocked sending on until someone receives (see
    /// [`super::goroutines::GoFacts::returns_pending_send`]).
    pub fn pending_send_returners(&self) -> &[String] {
        self.pending_send_returners.get_or_init(|| {
            let mut keys: Vec<String> = self
                .entries(|m| &m.goroutines, |f| &f.goroutines)
                .filter(|(_, facts)| facts.returns_pending_send)
                .map(|(key, _)| key.clone())
                .collect();
            keys.sort();
            keys.dedup();
            Arc::new(keys)
        })
    }

    /// Whether some function of the package reads the channel that `key` returns in a loop that
    /// can stop reading.
    pub fn is_result_read_until_stop(&self, key: &str) -> bool {
        self.read_until_stop
            .get_or_init(|| {
                Arc::new(
                    self.entries(|m| &m.goroutines, |f| &f.goroutines)
                        .flat_map(|(_, facts)| facts.reads_result_until_stop.iter().cloned())
                        .collect(),
                )
            })
            .contains(key)
    }

    /// Whether the function `key` sends on its channel parameter at `position` in a `select`
    /// that gives up on cancellation — itself, or a function it hands the channel to, a few
    /// calls deep.
    pub fn abandons_param(&self, key: &str, position: usize) -> bool {
        self.abandons_param_within(key, position, 0)
    }

    fn abandons_param_within(&self, key: &str, position: usize, depth: usize) -> bool {
        let Some(facts) = self.go_facts(key) else {
            return false;
        };
        if facts.abandons_params.contains(&position) {
            return true;
        }
        depth < 3
            && facts
                .hands_params
                .iter()
                .filter(|(from, _, _)| *from == position)
                .any(|(_, callee, at)| self.abandons_param_within(callee, *at, depth + 1))
    }

    pub fn var(&self, name: &str) -> Option<&Ty> {
        self.lookup(|m| m.vars.get(name), |f| f.vars.get(name))
    }

    /// Fields (`Owner.field`) and package variables some file accesses through `sync/atomic`.
    pub fn atomics(&self) -> &HashMap<String, super::atomics::AtomicUse> {
        &self.atomics.uses
    }

    /// Every atomic access whose place ends at `key` (`Owner.field`, or a variable's name).
    pub fn atomic_places(&self, key: &str) -> &[super::atomics::AtomicPlace] {
        self.atomics.places.get(key).map_or(&[], Vec::as_slice)
    }

    /// The last keys of every atomically accessed place, sorted.
    pub fn atomic_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.atomics.places.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    /// The names code must mention to reach an atomically accessed place (see
    /// [`super::atomics::Resolved::names`]).
    pub fn atomic_names(&self) -> &[String] {
        &self.atomics.names
    }

    /// Whether the method `method` of `type_name` is declared in a generated file (see
    /// [`is_generated`]).
    pub fn is_generated_method(&self, type_name: &str, method: &str) -> bool {
        if let Some(own) = &self.own {
            if own
                .methods
                .get(type_name)
                .is_some_and(|m| m.contains_key(method))
            {
                return own.generated;
            }
        }
        let key = format!("{type_name}.{method}");
        self.generated_methods.contains(&key)
            || self
                .base
                .as_ref()
                .is_some_and(|b| b.generated_methods.contains(&key))
    }

    /// Whether every call of the method `callee` (`Type.method`) in the package whose receiver's
    /// type is known, at least one, is on a struct value the caller made itself (`var sum T;
    /// sum.add(x)`). Calls on values of unknown type (`x := f(); x.add(y)`) are not counted.
    pub fn only_called_on_private_values(&self, callee: &str) -> bool {
        let calls = &self.atomics.calls;
        calls.resolved.contains(&(
            super::atomics::holder::PRIVATE.to_string(),
            callee.to_string(),
        )) && !calls.shared_callees.contains(callee)
    }

    /// Whether some code of the package calls `callee` (`Type.method`, or a function's name) on
    /// the field `holder` (`Owner.field`, or `@var`), or hands that field to it.
    pub fn field_called(&self, holder: &str, callee: &str) -> bool {
        let calls = &self.atomics.calls;
        if calls
            .resolved
            .contains(&(holder.to_string(), callee.to_string()))
        {
            return true;
        }
        let field = holder.rsplit('.').next().unwrap_or(holder);
        let name = callee.rsplit('.').next().unwrap_or(callee);
        calls.loose.contains(&(field.to_string(), name.to_string()))
            || calls
                .resolved
                .contains(&(holder.to_string(), format!("?.{name}")))
    }

    /// The fields of a type, looking through pointers and local named types.
    pub fn fields_of<'a>(&'a self, ty: &'a Ty) -> Option<&'a [Field]> {
        match ty.deref() {
            Ty::Named { pkg, name } if pkg.is_empty() => {
                if let Some(fields) = self.struct_fields(name) {
                    return Some(fields);
                }
                // `type A B` where B is a local struct.
                match self.named_type(name) {
                    Some(Ty::Struct(fields)) => Some(fields),
                    _ => None,
                }
            }
            Ty::Struct(fields) => Some(fields),
            _ => None,
        }
    }

    /// The type of field `name` of `ty` (through pointers and embedded fields, breadth first as
    /// Go promotes them). None when unknown.
    pub fn field_type(&self, ty: &Ty, name: &str) -> Option<Ty> {
        let mut level = vec![ty.clone()];
        for _depth in 0..4 {
            let mut next = Vec::new();
            for t in &level {
                let Some(fields) = self.fields_of(t) else {
                    continue;
                };
                let found = match t.deref() {
                    Ty::Named {
                        pkg,
                        name: type_name,
                    } if pkg.is_empty() => self.find_field(type_name, fields, name),
                    _ => fields.iter().find(|f| f.name == name),
                };
                if let Some(f) = found {
                    return Some(f.ty.clone());
                }
                next.extend(fields.iter().filter(|f| f.embedded).map(|f| f.ty.clone()));
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        None
    }

    /// The sync value a type is, looking through local named types (`type guard sync.Mutex`).
    pub fn sync_kind(&self, ty: &Ty) -> Option<SyncKind> {
        if let Some(kind) = ty.sync_kind() {
            return Some(kind);
        }
        if let Ty::Named { pkg, name } = ty {
            if pkg.is_empty() {
                if let Some(underlying) = self.named_type(name) {
                    return underlying.sync_kind();
                }
                if self.has_pointer_lock_methods(name) {
                    return Some(SyncKind::NoCopy);
                }
            }
        }
        None
    }

    fn has_pointer_lock_methods(&self, type_name: &str) -> bool {
        let pointer = |m: &str| {
            self.method(type_name, m)
                .is_some_and(|s| s.pointer_receiver && !s.takes_params && s.results.is_empty())
        };
        // go vet's definition: the pointer type is a sync.Locker and the value type is not.
        pointer("Lock") && pointer("Unlock")
    }

    /// If copying a value of `ty` copies a lock, a short description of where the lock sits
    /// (`sync.Mutex`, `Config.mu sync.RWMutex`). Pointers, slices, maps and channels stop the
    /// search; arrays and struct fields (embedded or not) do not.
    pub fn contained_lock(&self, ty: &Ty) -> Option<String> {
        self.contained_lock_at(ty, 0)
    }

    fn contained_lock_at(&self, ty: &Ty, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        if self.sync_kind(ty).is_some() {
            return Some(ty.display());
        }
        match ty {
            Ty::Array(inner) => self.contained_lock_at(inner, depth + 1),
            Ty::Named { pkg, .. } if pkg.is_empty() => {
                let fields = self.fields_of(ty)?;
                fields.iter().find_map(|f| {
                    let inner = self.contained_lock_at(&f.ty, depth + 1)?;
                    Some(format!(
                        "{}.{} {}",
                        ty.display(),
                        f.name,
                        strip_owner(&inner)
                    ))
                })
            }
            Ty::Struct(fields) => fields
                .iter()
                .find_map(|f| self.contained_lock_at(&f.ty, depth + 1)),
            _ => None,
        }
    }
}

/// What several summaries of one function (one per build configuration) all say: the locks each
/// takes (where the first takes them), each order they all have, a block only when each blocks.
fn common_summary(all: &[&FuncSummary]) -> FuncSummary {
    let same = |a: &super::summary::Acquire, b: &super::summary::Acquire| {
        a.path == b.path && a.read == b.read && a.from_receiver == b.from_receiver
    };
    let first = all[0];
    FuncSummary {
        acquires: first
            .acquires
            .iter()
            .filter(|a| {
                all[1..]
                    .iter()
                    .all(|s| s.acquires.iter().any(|b| same(a, b)))
            })
            .cloned()
            .collect(),
        expects_held: all.iter().all(|s| s.expects_held),
        blocks: all
            .iter()
            .all(|s| s.blocks.is_some())
            .then(|| first.blocks.clone())
            .flatten(),
        orders: first
            .orders
            .iter()
            .filter(|(a, b)| {
                all[1..]
                    .iter()
                    .all(|s| s.orders.iter().any(|(c, d)| same(a, c) && same(b, d)))
            })
            .cloned()
            .collect(),
        loads_atomically: all.iter().all(|s| s.loads_atomically),
        writes_receiver: all.iter().all(|s| s.writes_receiver),
        blocks_released: all
            .iter()
            .all(|s| s.blocks_released.is_some())
            .then(|| first.blocks_released.clone())
            .flatten(),
        entered_held: first
            .entered_held
            .iter()
            .filter(|p| all[1..].iter().all(|s| s.entered_held.contains(p)))
            .cloned()
            .collect(),
        releases: first
            .releases
            .iter()
            .filter(|(p, _)| {
                all[1..]
                    .iter()
                    .all(|s| s.releases.iter().any(|(q, _)| q == p))
            })
            .cloned()
            .collect(),
        // The calls every variant makes (by callee): what each of them composes over.
        calls: first
            .calls
            .iter()
            .filter(|c| {
                all[1..].iter().all(|s| {
                    s.calls
                        .iter()
                        .any(|d| d.target == c.target && d.name == c.name)
                })
            })
            .cloned()
            .collect(),
        never_returns: all.iter().all(|s| s.never_returns),
        returns_fresh: all.iter().all(|s| s.returns_fresh),
        keeps: first
            .keeps
            .iter()
            .filter(|a| all[1..].iter().all(|s| s.keeps.iter().any(|b| same(a, b))))
            .cloned()
            .collect(),
        // Offsets of one file say nothing of another's: a function declared per build
        // configuration has no start transition the silences may lean on.
        start: None,
        // A writer in any variant is a writer.
        // A silence: only what every configuration says.
        errors_only_on_receive: match all
            .iter()
            .all(|s| s.errors_only_on_receive == first.errors_only_on_receive)
        {
            true => first.errors_only_on_receive.clone(),
            false => Vec::new(),
        },
        write_locks_aside: all.iter().fold(Vec::new(), |mut union, s| {
            for lock in &s.write_locks_aside {
                if !union.contains(lock) {
                    union.push(lock.clone());
                }
            }
            union
        }),
        dones: first
            .dones
            .iter()
            .filter(|p| all[1..].iter().all(|s| s.dones.contains(p)))
            .cloned()
            .collect(),
    }
}

/// The model each file of one package sees: the merged declarations of the files it can be
/// compiled with ([`PackageModel::from_configured`]). Files with the same view share one model;
/// a package without build constraints has one.
#[derive(Debug, Default)]
pub struct PackageViews {
    models: Vec<PackageModel>,
    /// Per file, the index of its model.
    of_file: Vec<usize>,
}

/// The most build configurations a package is given a model each for (see [`PackageViews::new`]).
pub const MAX_CONFIGURATION_VIEWS: usize = 12;

impl PackageViews {
    /// The views of the files of one package (an external test package's files included with
    /// the package they test), each given with its build configuration.
    pub fn new(files: &[(&FileDecls, Build)]) -> PackageViews {
        PackageViews::of_files(
            files.iter().map(|(f, _)| Cow::Borrowed(*f)).collect(),
            files.iter().map(|(_, b)| b).collect(),
        )
    }

    /// [`PackageViews::new`] of files given or lent: where one model merges the whole package
    /// (no build constraints, the common case), a given file's declarations are moved into it.
    pub fn new_given(files: Vec<(Cow<'_, FileDecls>, Build)>) -> PackageViews {
        let (decls, builds): (Vec<_>, Vec<Build>) = files.into_iter().unzip();
        PackageViews::of_files(decls, builds.iter().collect())
    }

    /// The views of files given or lent (`decls`), with their configurations (`builds`).
    fn of_files(decls: Vec<Cow<'_, FileDecls>>, builds: Vec<&Build>) -> PackageViews {
        let whole = |decls: Vec<Cow<'_, FileDecls>>| PackageViews {
            of_file: vec![0; decls.len()],
            models: vec![PackageModel::merge(decls)],
        };
        if builds.iter().all(|b| b.is_unconstrained()) {
            return whole(decls);
        }
        // Compatibility is asked once per pair of distinct configurations.
        let mut distinct: Vec<&Build> = Vec::new();
        let class: Vec<usize> = builds
            .iter()
            .map(|b| match distinct.iter().position(|d| d == b) {
                Some(i) => i,
                None => {
                    distinct.push(b);
                    distinct.len() - 1
                }
            })
            .collect();
        // A package built in many configurations (the runtime, syscall: one file per GOOS and
        // GOARCH) would hold one merged model per configuration, a copy of the package each
        // (2 GB for the runtime): past a few, every file sees the whole package merged, as a
        // package without constraints does.
        if distinct.len() > MAX_CONFIGURATION_VIEWS {
            return whole(decls);
        }
        let compatible: Vec<Vec<bool>> = distinct
            .iter()
            .map(|a| distinct.iter().map(|b| a.compatible(b)).collect())
            .collect();
        // Constraints that exclude no file of the package (`//go:build !race` without a `race`
        // file): every file sees the whole package, one model (and no copy) for all.
        if compatible.iter().all(|row| row.iter().all(|&c| c)) {
            return whole(decls);
        }
        let mut views = PackageViews::default();
        // Configurations that see the same files share one model.
        let mut by_visible: HashMap<&Vec<bool>, usize> = HashMap::default();
        let mut by_class: HashMap<usize, usize> = HashMap::default();
        for (i, &c) in class.iter().enumerate() {
            let model = *by_class.entry(c).or_insert_with(|| {
                if let Some(&shared) = by_visible.get(&compatible[c]) {
                    return shared;
                }
                let visible: Vec<(&FileDecls, &Build)> = decls
                    .iter()
                    .zip(&builds)
                    .zip(&class)
                    .filter(|(_, &other)| compatible[c][other])
                    .map(|((f, b), _)| (&**f, *b))
                    .collect();
                views.models.push(PackageModel::from_configured(&visible));
                by_visible.insert(&compatible[c], views.models.len() - 1);
                views.models.len() - 1
            });
            views.of_file.push(model);
            debug_assert_eq!(views.of_file.len(), i + 1);
        }
        views
    }

    /// The model file `index` (in the order given to [`PackageViews::new`]) sees.
    pub fn of(&self, index: usize) -> &PackageModel {
        &self.models[self.of_file[index]]
    }

    /// Lays the exports of the module's other packages on every view.
    pub fn set_module(&mut self, module: &Arc<super::module::ModuleSummaries>) {
        for model in &mut self.models {
            model.set_module(module.clone());
        }
    }
}

/// Whether a function or method declaration takes parameters.
fn takes_params(decl: Node) -> bool {
    decl.field("parameters")
        .is_some_and(|list| named_children(list).next().is_some())
}

/// The types of a declaration's parameters, one per parameter name.
fn param_types(decl: Node, src: &str, imports: &Imports) -> Vec<Ty> {
    let Some(list) = decl.field("parameters") else {
        return Vec::new();
    };
    let mut types = Vec::new();
    for param in named_children(list) {
        if !matches!(
            param.kind_str(),
            "parameter_declaration" | "variadic_parameter_declaration"
        ) {
            continue;
        }
        let ty = param
            .field("type")
            .map_or(Ty::Unknown, |t| Ty::from_node(t, src, imports));
        let names = param
            .children_by_field_name("name", &mut param.walk())
            .count();
        types.extend(std::iter::repeat_n(ty, names.max(1)));
    }
    // Kept in the package's signatures: a vector's first growth makes room for four (192
    // bytes for one parameter).
    types.shrink_to_fit();
    types
}

/// `Inner.mu sync.Mutex` → `sync.Mutex`, for the innermost part of a nested description.
fn strip_owner(description: &str) -> &str {
    description.rsplit(' ').next().unwrap_or(description)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls(src: &str) -> FileDecls {
        let file = goconc_syntax::SourceFile::new(src.to_string());
        FileDecls::collect(file.tree().root_node(), file.text())
    }

    /// A type and a function declared per GOOS, seen by a file of each system and by a file
    /// built everywhere.
    #[test]
    fn each_file_sees_its_configuration_and_a_shared_file_what_all_share() {
        let linux = decls(
            "package p\n\nimport \"os\"\n\ntype A struct {\n\tn int\n}\n\nfunc unlink(p string) error { return os.Remove(p) }\n",
        );
        let windows = decls(
            "package p\n\nimport (\n\t\"os\"\n\t\"sync\"\n)\n\ntype A struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc unlink(p string) error { return os.Rename(p, p+\".old\") }\n",
        );
        let shared = decls("package p\n\nfunc use(a A) int { return a.n }\n");
        let names = ["a_linux.go", "a_windows.go", "use.go"];
        let files: Vec<(&FileDecls, Build)> = [&linux, &windows, &shared]
            .into_iter()
            .zip(names)
            .map(|(d, n)| (d, d.build.with_file_name(n)))
            .collect();
        let views = PackageViews::new(&files);
        let fields = |i: usize| -> Vec<String> {
            views
                .of(i)
                .struct_fields("A")
                .unwrap()
                .iter()
                .map(|f| f.name.clone())
                .collect()
        };
        assert_eq!(fields(0), ["n"]);
        assert_eq!(fields(1), ["mu", "n"]);
        // Built with either: only what both A's have.
        assert_eq!(fields(2), ["n"]);
        // Both unlinks block: so does the one the shared file calls, whichever it is.
        assert!(views
            .of(2)
            .summary("unlink")
            .is_some_and(|s| s.blocks.is_some()));
        assert_eq!(
            views
                .of(0)
                .summary("unlink")
                .unwrap()
                .blocks
                .as_ref()
                .map(|b| b.what.as_str()),
            Some("os.Remove")
        );
    }

    /// A call on a value whose type a sibling file declares is not typed by its file's facts:
    /// the package knows of it only by its method's name, and says so.
    #[test]
    fn a_call_a_sibling_file_cannot_type_is_unaccounted() {
        let layer = decls(
            r#"package p

import "sync"

type Layer struct {
	lock sync.Mutex
	base *int
}

func newLayer(b *int) *Layer {
	l := &Layer{}
	l.rebase(b)
	l.touch()
	return l
}

func (l *Layer) rebase(b *int) {
	l.lock.Lock()
	l.base = b
	l.lock.Unlock()
}

func (l *Layer) touch() {
	l.lock.Lock()
	l.lock.Unlock()
}
"#,
        );
        let tree = decls(
            r#"package p

import "sync"

type Tree struct {
	mu     sync.Mutex
	layers map[string]any
}

func (t *Tree) Cap(b *int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.layers["x"].(*Layer); ok {
		l.rebase(b)
	}
}
"#,
        );
        let package = PackageModel::from_files([&layer, &tree]);
        assert!(package.calls_unaccounted("rebase"));
        // Every call of `touch` is typed where it is made.
        assert!(!package.calls_unaccounted("touch"));
        // One file alone makes no call it cannot type.
        let alone = PackageModel::from_files([&layer]);
        assert!(!alone.calls_unaccounted("rebase"));
    }
}
