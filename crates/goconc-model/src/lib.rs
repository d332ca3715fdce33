//! "Go without a type checker": what the engine derives from the package's own source.
//!
//! The model answers questions about the code; it never decides what is wrong (that is the
//! rules' job, in `goconc-rules`, which this crate must not know).
//!
//! - [`imports`]: local package names and the paths they stand for;
//! - [`types`]: types read from syntax, and which of them are sync values;
//! - [`package`]: the top-level declarations of every file of the package, merged (per build
//!   configuration: [`build`]);
//! - [`quiet`]: the top-level functions no rule can report in, by their text;
//! - [`scope`]: functions, their declarations and identifier resolution within one file;
//! - [`flow`]: forward dataflow over a function body's control flow;
//! - [`summary`], [`lock_closure`]: what each function locks and blocks on, and the same with its
//!   calls followed through the package.
//! - [`usage`]: which fields the package reads or sets to nil, which callees it gives a detached
//!   or a caller's context.

// Visitors match on node kinds and then test fields; folding those tests into match guards
// would scatter one check over several arms.
#![allow(clippy::collapsible_match)]

pub mod atomics;
pub mod blocking;
pub mod build;
pub mod captured_calls;
pub mod channels;
pub mod flow;
pub mod goroutines;
pub mod goversion;
pub mod guards;
pub mod header;
pub mod imports;
pub mod index;
pub mod lock_closure;
pub mod locks;
pub mod module;
pub mod package;
pub mod panics;
pub mod quiet;
pub mod scope;
pub mod summary;
pub mod sync_calls;
pub mod transition;
pub mod types;
pub mod usage;
pub mod words;

pub use imports::Imports;
pub use package::{FileDecls, PackageModel};
pub use scope::{Decl, DeclKind, FileModel, Function};
pub use types::{SyncKind, Ty};

pub use goconc_syntax::{HashMap, HashSet};
pub use goversion::GoVersion;
