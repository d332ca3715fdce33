//! The table of standard-library calls that block: network, HTTP, database, file and process I/O,
//! sleeping. Rules use it to tell what must not run under a lock. Method calls on values whose
//! type is unknown are not in it: without a type checker, `x.Read()` could be anything.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::imports::Imports;
use goconc_syntax::{text, unparen};

/// Package-level functions that block, by import path.
const BLOCKING_FUNCS: &[(&str, &[&str])] = &[
    ("time", &["Sleep"]),
    (
        "net",
        &[
            // `Listen`, `ListenPacket`, `DialUDP` and `DialIP` only bind or connect a local socket:
            // no remote party is awaited.
            "Dial",
            "DialTimeout",
            "DialTCP",
            "DialUnix",
            "LookupHost",
            "LookupIP",
            "LookupAddr",
            "LookupCNAME",
            "LookupMX",
            "LookupTXT",
            "LookupSRV",
            "LookupNS",
        ],
    ),
    (
        "net/http",
        &[
            "Get",
            "Head",
            "Post",
            "PostForm",
            "ListenAndServe",
            "ListenAndServeTLS",
            "Serve",
            "ServeTLS",
        ],
    ),
    (
        "os",
        &[
            "ReadFile",
            "WriteFile",
            "ReadDir",
            "Open",
            "OpenFile",
            "Create",
            "Remove",
            "RemoveAll",
            "Rename",
            "MkdirAll",
            "Stat",
            "Lstat",
        ],
    ),
    // io.Copy, io.ReadFull… block only as much as their reader or writer, which is unknown here.
    ("io/ioutil", &["ReadFile", "WriteFile", "ReadDir"]),
    ("crypto/tls", &["Dial", "DialWithDialer"]),
];

/// Methods that block on any receiver of these types (by import path and type name). Used with
/// a receiver whose type the model knows.
pub const BLOCKING_METHODS: &[(&str, &str, &[&str])] = &[
    (
        "net/http",
        "Client",
        &["Do", "Get", "Head", "Post", "PostForm"],
    ),
    (
        "os/exec",
        "Cmd",
        &["Run", "Output", "CombinedOutput", "Wait", "Start"],
    ),
    (
        "database/sql",
        "DB",
        &[
            "Query",
            "QueryContext",
            "QueryRow",
            "QueryRowContext",
            "Exec",
            "ExecContext",
            "Ping",
            "PingContext",
            "Begin",
            "BeginTx",
            "Prepare",
            "PrepareContext",
            "Conn",
        ],
    ),
    (
        "database/sql",
        "Tx",
        &[
            "Query",
            "QueryContext",
            "QueryRow",
            "QueryRowContext",
            "Exec",
            "ExecContext",
            "Commit",
            "Rollback",
        ],
    ),
    (
        "database/sql",
        "Stmt",
        &[
            "Query",
            "QueryContext",
            "QueryRow",
            "QueryRowContext",
            "Exec",
            "ExecContext",
        ],
    ),
    (
        "database/sql",
        "Conn",
        &[
            "QueryContext",
            "ExecContext",
            "QueryRowContext",
            "PingContext",
            "BeginTx",
        ],
    ),
    (
        "os",
        "File",
        &[
            "Read",
            "ReadAt",
            "Write",
            "WriteAt",
            "WriteString",
            "Sync",
            "ReadDir",
            "Readdir",
            "Readdirnames",
            "ReadFrom",
        ],
    ),
    ("net", "Conn", &["Read", "Write"]),
    ("net", "TCPConn", &["Read", "Write", "ReadFrom"]),
    (
        "net",
        "UDPConn",
        &[
            "Read",
            "Write",
            "ReadFrom",
            "WriteTo",
            "ReadFromUDP",
            "WriteToUDP",
        ],
    ),
    ("net", "Listener", &["Accept"]),
    ("net", "Dialer", &["Dial", "DialContext"]),
    ("sync", "WaitGroup", &["Wait"]),
    ("golang.org/x/sync/errgroup", "Group", &["Wait"]),
];

/// What a blocking call waits for: it decides how much a lock held across it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// `time.Sleep`: latency, never a wait on another goroutine.
    Sleep,
    /// One local file-system operation (open, read, write, stat, rename, one remove): bounded
    /// by the disk.
    File,
    /// A wait with no bound the program controls: a network round trip, a query, a process,
    /// a recursive delete of whatever a directory holds.
    Unbounded,
    /// A wait on other goroutines (`WaitGroup.Wait`, errgroup's `Wait`).
    Wait,
}

/// What a blocking package function (by import path and name) waits for.
pub fn function_kind(path: &str, name: &str) -> BlockKind {
    match (path, name) {
        ("time", "Sleep") => BlockKind::Sleep,
        ("os", "RemoveAll") => BlockKind::Unbounded,
        ("os" | "io/ioutil", _) => BlockKind::File,
        _ => BlockKind::Unbounded,
    }
}

/// What a blocking method of `pkg.type_name` waits for.
pub fn method_kind(pkg: &str, type_name: &str) -> BlockKind {
    match (pkg, type_name) {
        ("sync", "WaitGroup") | ("golang.org/x/sync/errgroup", "Group") => BlockKind::Wait,
        ("os", "File") => BlockKind::File,
        _ => BlockKind::Unbounded,
    }
}

/// A call of a blocking package-level function, described for messages (`time.Sleep`), with
/// what it waits for.
pub fn blocking_call_kind(call: Node, src: &str, imports: &Imports) -> Option<(String, BlockKind)> {
    let function = unparen(call.field("function")?);
    let operand = function.field("operand")?;
    let path = imports.path_of(text(operand, src))?;
    let name = text(function.field("field")?, src);
    let what = blocking_call(call, src, imports)?;
    Some((what, function_kind(path, name)))
}

/// A call of a blocking package-level function, described for messages (`time.Sleep`).
pub fn blocking_call(call: Node, src: &str, imports: &Imports) -> Option<String> {
    let function = unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    if operand.kind_str() != "identifier" {
        return None;
    }
    let local = text(operand, src);
    let path = imports.path_of(local)?;
    let name = text(function.field("field")?, src);
    let blocking = BLOCKING_FUNCS
        .iter()
        .any(|(p, names)| *p == path && names.contains(&name));
    blocking.then(|| format!("{local}.{name}"))
}

/// Whether `method` on a value of type `pkg.type_name` blocks.
pub fn blocking_method(pkg: &str, type_name: &str, method: &str) -> bool {
    BLOCKING_METHODS
        .iter()
        .any(|(p, t, methods)| *p == pkg && *t == type_name && methods.contains(&method))
}

/// Import paths whose package-level functions the table lists.
pub fn blocking_packages() -> impl Iterator<Item = &'static str> {
    BLOCKING_FUNCS.iter().map(|(path, _)| *path)
}

/// Every (import path, function) of the table.
pub fn blocking_functions() -> impl Iterator<Item = (&'static str, &'static str)> {
    BLOCKING_FUNCS
        .iter()
        .flat_map(|(path, names)| names.iter().map(move |name| (*path, *name)))
}
