//! Facts about the other packages of the module: what a call into another package of the same
//! module (a test helper that never returns, a method that blocks) does, as that package's own
//! summaries tell it.
//!
//! A package's [`PackageExports`] are read from its merged [`PackageModel`] (its own summaries
//! and their composition over its calls) and keep only what callers in other packages can use:
//! facts of exported functions and methods that say something. [`ModuleSummaries`] holds them by
//! import path; a front end builds it from the module's packages (dependencies first, so an
//! exported function that calls into a third package already carries that package's facts) and
//! lays it on the model of the package it analyses ([`PackageModel::set_module`]). Summaries,
//! never trees or declarations: memory grows with the module's exported API.

use std::sync::Arc;

use goconc_syntax::{method_call, text, unparen, NodeExt};
use tree_sitter::Node;

use super::summary::Blocking;
use super::types::{SyncKind, Ty};
use super::{FileModel, PackageModel};
use crate::HashMap;

/// What one exported function or method of another package of the module does, for its callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExportedFacts {
    /// Every path ends in `panic`, `os.Exit`, `log.Fatal…`, `runtime.Goexit` or `t.Fatal…`.
    pub never_returns: bool,
    /// A call in its body that can end the goroutine it runs on (`t.Fatalf` on a testing handle
    /// it is given, `runtime.Goexit`), as written.
    pub ends_goroutine: Option<String>,
    /// The first blocking operation it reaches, and the calls it is reached through (in its
    /// package, named as written there).
    pub blocks: Option<(Blocking, Vec<String>)>,
}

/// The exported facts of one package, by summary key (`Wait`, `Store.Put`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageExports {
    facts: HashMap<String, ExportedFacts>,
    /// Its exported interface types that are locks (see [`PackageModel::locker_kind`]).
    lockers: HashMap<String, SyncKind>,
}

impl PackageExports {
    /// The facts its exported functions and methods carry (an exported method of an unexported
    /// type counts: a value of it can reach another package through an exported constructor).
    pub fn of(model: &PackageModel) -> PackageExports {
        let mut facts: HashMap<String, ExportedFacts> = HashMap::default();
        let closure = model.lock_closure();
        let exported = |key: &str| {
            let name = key.rsplit('.').next().unwrap_or(key);
            name.chars().next().is_some_and(char::is_uppercase)
        };
        let mut keys: Vec<&String> = model.summaries().map(|(k, _)| k).collect();
        keys.extend(model.go_facts_keys());
        keys.sort();
        keys.dedup();
        for key in keys.into_iter().filter(|k| exported(k)) {
            let summary = model.summary(key);
            let fact = ExportedFacts {
                never_returns: summary.is_some_and(|s| s.never_returns),
                ends_goroutine: model.go_facts(key).and_then(|f| f.ends_goroutine.clone()),
                blocks: closure.effects(key).and_then(|e| e.blocks.clone()),
            };
            if fact != ExportedFacts::default() {
                facts.insert(key.clone(), fact);
            }
        }
        let lockers = model
            .lockers()
            .filter(|(name, _)| exported(name))
            .map(|(name, kind)| (name.clone(), *kind))
            .collect();
        PackageExports { facts, lockers }
    }

    /// The lock a value of its exported type `name` is, when that is a lock interface.
    pub fn locker_kind(&self, name: &str) -> Option<SyncKind> {
        self.lockers.get(name).copied()
    }

    pub fn facts(&self, key: &str) -> Option<&ExportedFacts> {
        self.facts.get(key)
    }

    /// A key of the content: equal exports, equal keys.
    pub fn content_key(&self) -> u64 {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash_into(&mut hasher);
        hasher.finish()
    }

    fn hash_into(&self, hasher: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let mut keys: Vec<&String> = self.facts.keys().collect();
        keys.sort_unstable();
        for key in keys {
            key.hash(hasher);
            self.facts[key].hash(hasher);
        }
        let mut lockers: Vec<(&String, &SyncKind)> = self.lockers.iter().collect();
        lockers.sort_unstable_by_key(|(name, _)| *name);
        lockers.hash(hasher);
    }

    pub fn len(&self) -> usize {
        self.facts.len() + self.lockers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty() && self.lockers.is_empty()
    }
}

/// The exports of the module's packages a package imports, by import path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleSummaries {
    packages: HashMap<String, Arc<PackageExports>>,
}

impl ModuleSummaries {
    pub fn insert(&mut self, import_path: String, exports: Arc<PackageExports>) {
        self.packages.insert(import_path, exports);
    }

    pub fn package(&self, import_path: &str) -> Option<&Arc<PackageExports>> {
        self.packages.get(import_path)
    }

    /// The lock a value of type `name` of the package imported as `import_path` is.
    pub fn locker_kind(&self, import_path: &str, name: &str) -> Option<SyncKind> {
        self.packages.get(import_path)?.locker_kind(name)
    }

    /// What the function or method `key` of the package imported as `import_path` does.
    pub fn facts(&self, import_path: &str, key: &str) -> Option<&ExportedFacts> {
        self.packages.get(import_path)?.facts(key)
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Import paths in order, for hashing and tests.
    pub fn import_paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.packages.keys().map(String::as_str).collect();
        paths.sort_unstable();
        paths
    }

    /// A key of the content: equal summaries, equal keys (a server keeps an incremental
    /// analysis while it stays the same).
    pub fn content_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for path in self.import_paths() {
            path.hash(&mut hasher);
            self.packages[path].hash_into(&mut hasher);
        }
        hasher.finish()
    }
}

/// The `module` directive of a go.mod text: the import path of the module's root folder.
pub fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.split("//").next().unwrap_or("").trim();
        let rest = line.strip_prefix("module")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let path = rest.trim().trim_matches('"');
        (!path.is_empty()).then(|| path.to_string())
    })
}

/// The folder of a module-local import path, relative to the module's root ("" for the root;
/// None when the path is outside the module).
pub fn folder_in_module<'p>(module_path: &str, import_path: &'p str) -> Option<&'p str> {
    if import_path == module_path {
        return Some("");
    }
    import_path
        .strip_prefix(module_path)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
}

/// A call into another package of the module, as the model can name it: the package's import
/// path, the callee's summary key, and its facts (None: it has none worth keeping — it returns,
/// does not block, ends no goroutine).
pub struct ImportedCallee<'m> {
    pub import_path: String,
    pub key: String,
    pub facts: Option<&'m ExportedFacts>,
}

/// What a call into another package of the module reaches: `alias.F(…)` where `alias` names an
/// import of the module, or `x.M(…)` where `x` is declared with a type `pkg.T`/`*pkg.T` of one.
pub fn imported_callee<'m>(model: &FileModel<'m>, call: Node) -> Option<ImportedCallee<'m>> {
    let module = model.package.module()?;
    let function = unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = unparen(function.field("operand")?);
    let name = text(function.field("field")?, model.src);
    if operand.kind_str() == "identifier" && model.resolve(operand).is_none() {
        if let Some(path) = model.imports.path_of(text(operand, model.src)) {
            if model.package.var(text(operand, model.src)).is_none() {
                return Some(ImportedCallee {
                    import_path: path.to_string(),
                    key: name.to_string(),
                    facts: module.package(path)?.facts(name),
                });
            }
        }
    }
    let mc = method_call(call)?;
    let Ty::Named { pkg, name: owner } = model.type_of(mc.receiver).deref().clone() else {
        return None;
    };
    if pkg.is_empty() {
        return None;
    }
    let key = super::summary::summary_key(Some(&owner), name);
    let facts = module.package(&pkg)?.facts(&key);
    Some(ImportedCallee {
        import_path: pkg,
        key,
        facts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_module_path_and_maps_imports_to_folders() {
        assert_eq!(
            module_path("// c\nmodule example.com/m // x\n\ngo 1.22\n").as_deref(),
            Some("example.com/m")
        );
        assert_eq!(module_path("modules x\n"), None);
        assert_eq!(folder_in_module("example.com/m", "example.com/m"), Some(""));
        assert_eq!(
            folder_in_module("example.com/m", "example.com/m/a/b"),
            Some("a/b")
        );
        assert_eq!(folder_in_module("example.com/m", "example.com/mx/a"), None);
        assert_eq!(folder_in_module("example.com/m", "fmt"), None);
    }
}
