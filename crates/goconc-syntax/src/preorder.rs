//! A tree's nodes laid out once in document order, so that the many walks of the model and the
//! rules read an array instead of stepping a tree-sitter cursor. Stepping the cursor (its sibling
//! and child moves recompute positions and visibility at every node) was about half of a check's
//! time on deeply nested code.
//!
//! A layout is installed for one tree on one thread by [`install`], for as long as the returned
//! guard lives; [`crate::walk`] and its relatives use it for any node of that tree and fall back
//! to the cursor for any other. Nothing else changes: the walks visit the same nodes in the same
//! order either way.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::rc::Rc;

use tree_sitter::{ffi, Node};

/// One node in 20 bytes (32 with its raw context and id as they are): what rebuilds it and where
/// its subtree ends. The layout of a deep tree is a third of what the check holds besides the tree
/// itself, so each field is narrowed: the id as a distance from the root's, the column as the
/// start's distance from its line's start (kept once per row), the alias beside the row.
#[derive(Clone, Copy)]
struct Entry {
    /// The node's id (the address of its subtree slot, 8-byte aligned) less the root's, in 8-byte
    /// steps.
    id: i32,
    /// Its start byte (`context[0]`).
    start: u32,
    /// Its end byte: tree-sitter reads it from the node's subtree.
    end_byte: u32,
    /// The index one past the node's last descendant.
    end: u32,
    /// The index of its parent; `NO_PARENT` for the layout's root.
    parent: u32,
    /// Its row (`context[1]`) in the high 24 bits, its alias symbol (`context[3]`) in the low 8.
    row_alias: u32,
}

const NO_PARENT: u32 = u32::MAX;
const ALIAS_BITS: u32 = 8;
const ALIAS_MASK: u32 = (1 << ALIAS_BITS) - 1;
/// A row whose line start no node has given yet.
const UNKNOWN: u32 = u32::MAX;

pub(crate) struct Layout {
    tree: *const ffi::TSTree,
    /// The id of the layout's root, which the entries' ids are counted from.
    root_id: *const c_void,
    entries: Vec<Entry>,
    /// Each entry's kind number, or [`UNCACHED`] for one past 254 (`ERROR`): read once here, it
    /// spares the walks' visitors tree-sitter's lookup through the node's subtree, a cache miss
    /// per node in a large tree (see [`cached_kind`]).
    kinds: Vec<u8>,
    /// Each entry's field in its parent (tree-sitter's field id, 0 for none), as the cursor
    /// names it: a field of a laid-out node is found among the entries (see [`laid_out_field`]).
    fields: Vec<u8>,
    /// This layout among those made on this thread, for the kind cache.
    serial: u32,
    /// Whether the layout holds every node below its root: true when the tree there has no
    /// error. (The walks leave out zero-width tokens after the last token of their parent, the
    /// `MISSING` tokens of broken code.)
    complete: bool,
    /// The start byte of each row that a node starts on (`UNKNOWN` for the others): a node's
    /// column is its start less its row's.
    line_starts: Vec<u32>,
    /// Whether the layout's root is the tree's root: then every node's ancestors are in it.
    whole_tree: bool,
}

/// How many nodes that start at the same byte a lookup compares before it gives up (and the walk
/// uses the cursor): a long left-nested chain (`a + b + c + …`) puts thousands there.
const SAME_START_SCAN: usize = 64;

/// A node's entry with its links still unset, or None when a field does not fit: a row past 2^24
/// (a file of 16 million lines), an alias symbol past 255, a subtree more than 16 GB away from
/// the root's, or a column that disagrees with its row's line start.
fn narrow(raw: &ffi::TSNode, root_id: *const c_void, line_starts: &mut Vec<u32>) -> Option<Entry> {
    let [start, row, column, alias] = raw.context;
    let distance = (raw.id as isize).wrapping_sub(root_id as isize);
    let id = i32::try_from(distance / 8)
        .ok()
        .filter(|_| distance % 8 == 0)?;
    if row >> (32 - ALIAS_BITS) != 0 || alias > ALIAS_MASK {
        return None;
    }
    let line_start = start.checked_sub(column)?;
    let row_index = row as usize;
    if line_starts.len() <= row_index {
        line_starts.resize(row_index + 1, UNKNOWN);
    }
    match line_starts[row_index] {
        UNKNOWN => line_starts[row_index] = line_start,
        known if known != line_start => return None,
        _ => {}
    }
    Some(Entry {
        id,
        start,
        end_byte: 0,
        end: 0,
        parent: NO_PARENT,
        row_alias: row << ALIAS_BITS | alias,
    })
}

impl Layout {
    /// The nodes under `root` (included) in the order [`crate::walk`]'s cursor visits them; None
    /// when one of them does not fit an entry ([`narrow`]): then the walks use the cursor.
    fn of(root: Node) -> Option<Layout> {
        let root_id = root.into_raw().id;
        // tree-sitter keeps the count of visible nodes: the walk visits at most that many.
        let mut entries: Vec<Entry> = Vec::with_capacity(root.descendant_count());
        let mut kinds: Vec<u8> = Vec::with_capacity(entries.capacity());
        let mut fields: Vec<u8> = Vec::with_capacity(entries.capacity());
        let mut line_starts: Vec<u32> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut cursor = root.walk();
        let mut ends: Vec<usize> = Vec::new();
        loop {
            let node = cursor.node();
            let at = entries.len();
            let mut entry = narrow(&node.into_raw(), root_id, &mut line_starts)?;
            entry.end_byte = u32::try_from(node.end_byte()).ok()?;
            entry.parent = open.last().map_or(NO_PARENT, |&p| index(p));
            entries.push(entry);
            kinds.push(u8::try_from(node.kind_id()).unwrap_or(UNCACHED));
            // Field ids are small (tree-sitter-go has 35); one past a byte is read as none,
            // and its lookups go to tree-sitter.
            fields.push(
                cursor
                    .field_id()
                    .and_then(|f| u8::try_from(f.get()).ok())
                    .unwrap_or(0),
            );
            if cursor.goto_first_child() {
                open.push(at);
                ends.push(node.end_byte());
                continue;
            }
            entries[at].end = index(at + 1);
            let more = crate::climb(&mut cursor, node.end_byte(), &mut ends, |depth| {
                while open.len() > depth {
                    if let Some(i) = open.pop() {
                        entries[i].end = index(entries.len());
                    }
                }
            });
            if !more {
                break;
            }
        }
        line_starts.shrink_to_fit();
        Some(Layout {
            tree: root.into_raw().tree,
            root_id,
            entries,
            kinds,
            fields,
            serial: SERIALS.with(|next| {
                let serial = next.get();
                next.set(serial.wrapping_add(1));
                serial
            }),
            complete: !root.has_error(),
            line_starts,
            whole_tree: crate::root_of(root) == root,
        })
    }

    /// The id of the entry at `i`.
    fn id(&self, i: usize) -> *const c_void {
        (self.root_id as isize).wrapping_add(self.entries[i].id as isize * 8) as *const c_void
    }

    /// The position of `node`, when it is one of this layout's.
    fn position(&self, node: Node) -> Option<usize> {
        let raw = node.into_raw();
        if raw.tree != self.tree {
            return None;
        }
        // Document order never lowers the start byte: the nodes that start where `node` starts
        // are one run, found by bisection.
        let start = raw.context[0];
        let first = self.entries.partition_point(|e| e.start < start);
        (first..self.entries.len())
            .take(SAME_START_SCAN)
            .take_while(|&i| self.entries[i].start == start)
            .find(|&i| self.id(i) == raw.id)
    }

    /// The index one past the last descendant of the node at `i`.
    pub(crate) fn end(&self, i: usize) -> usize {
        self.entries[i].end as usize
    }

    /// The index of the parent of the node at `i`, if the layout holds it.
    pub(crate) fn parent(&self, i: usize) -> Option<usize> {
        let parent = self.entries[i].parent;
        (parent != NO_PARENT).then_some(parent as usize)
    }

    pub(crate) fn is_whole_tree(&self) -> bool {
        self.whole_tree
    }

    /// The node at `i`, with the lifetime of `of`, a node of the same tree.
    pub(crate) fn node<'t>(&self, i: usize, _of: Node<'t>) -> Node<'t> {
        let e = self.entries[i];
        let row = e.row_alias >> ALIAS_BITS;
        let column = e.start - self.line_starts[row as usize];
        let raw = ffi::TSNode {
            context: [e.start, row, column, e.row_alias & ALIAS_MASK],
            id: self.id(i),
            tree: self.tree,
        };
        remember(raw.id, i, self.serial, self.kinds[i], e.end_byte);
        // SAFETY: the entry was read from a live node of `self.tree`, the tree `_of` belongs to
        // (checked by `position` before any index reaches here), and rebuilds its context and id
        // exactly (`narrow` kept only what fits); the tree lives for `'t`, and an installed
        // layout is removed before its tree can be dropped (`Installed` borrows it).
        unsafe { Node::from_raw(raw) }
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// A kind number the layout does not keep.
const UNCACHED: u8 = u8::MAX;

/// Slots of the kind cache: a power of two.
const KIND_SLOTS: usize = 256;

/// A slot of the kind cache: a node id, its layout's serial and its index there, its kind.
#[derive(Clone, Copy)]
struct Remembered {
    id: usize,
    serial: u32,
    index: u32,
    end_byte: u32,
    kind: u8,
}

const FORGOTTEN: Remembered = Remembered {
    id: 0,
    serial: 0,
    index: 0,
    end_byte: 0,
    kind: UNCACHED,
};

thread_local! {
    /// The layouts installed on this thread, the latest last.
    static INSTALLED: RefCell<Vec<Rc<Layout>>> = const { RefCell::new(Vec::new()) };
    /// The kinds of the nodes the layouts handed out lately, by node id, one per slot (the id's
    /// 8-byte step modulo the slot count). A visitor asks the kind of the node it is handed, and
    /// often again in the helpers it calls: this answers from a few kilobytes that stay in the
    /// processor's cache instead of the node's subtree. Only nodes of installed layouts enter,
    /// and dropping any layout's guard empties it: an id is a node of a live tree.
    static KINDS: [Cell<Remembered>; KIND_SLOTS] =
        const { [const { Cell::new(FORGOTTEN) }; KIND_SLOTS] };
    /// The serial of the next layout made on this thread.
    static SERIALS: Cell<u32> = const { Cell::new(0) };
}

#[inline]
fn kind_slot(id: usize) -> usize {
    (id >> 3) & (KIND_SLOTS - 1)
}

fn remember(id: *const c_void, index: usize, serial: u32, kind: u8, end_byte: u32) {
    let id = id as usize;
    let index = index as u32;
    KINDS.with(|slots| {
        slots[kind_slot(id)].set(Remembered {
            id,
            serial,
            index,
            end_byte,
            kind,
        })
    });
}

/// The end byte of `node` if a layout handed it out lately; None otherwise.
#[inline]
pub(crate) fn cached_end_byte(node: Node) -> Option<usize> {
    remembered(node).map(|r| r.end_byte as usize)
}

// Inlined: asked for every node a visitor is handed (a tenth of the time on nested parentheses
// when it was a call).
#[inline]
fn remembered(node: Node) -> Option<Remembered> {
    let id = node.id();
    let slot = KINDS.with(|slots| slots[kind_slot(id)].get());
    (slot.id == id).then_some(slot)
}

/// The kind number of `node` if a layout handed it out lately; None otherwise.
#[inline]
pub(crate) fn cached_kind(node: Node) -> Option<u16> {
    remembered(node)
        .filter(|r| r.kind != UNCACHED)
        .map(|r| u16::from(r.kind))
}

/// The first child of `node` in field `field`, when a layout handed `node` out lately and one
/// of its entries is that child; None otherwise (then ask tree-sitter: the layout leaves out
/// the zero-width tokens that end broken code, and an absent field is not told apart from one
/// the layout does not hold). The entries below `node` are read in place of the node's
/// children and their subtrees, a cache miss each in a large tree.
pub(crate) fn laid_out_field<'t>(node: Node<'t>, field: u16) -> Option<Node<'t>> {
    let field = u8::try_from(field).ok().filter(|&f| f != 0)?;
    // An `ERROR` node (its kind past a byte) has no fields, though the cursor names the
    // fields of what it wrapped.
    let at = remembered(node).filter(|r| r.kind != UNCACHED)?;
    INSTALLED.with(|installed| {
        let installed = installed.borrow();
        let layout = installed.iter().rev().find(|l| l.serial == at.serial)?;
        let i = at.index as usize;
        let end = layout.end(i);
        let mut child = i + 1;
        while child < end {
            if layout.fields[child] == field {
                return Some(layout.node(child, node));
            }
            child = layout.end(child);
        }
        None
    })
}

/// The children of a laid-out node read from its layout, for [`crate::named_children`].
pub struct LaidOutChildren<'t> {
    layout: Rc<Layout>,
    next: usize,
    end: usize,
    of: Node<'t>,
}

/// The children of `node` from its layout, when a complete layout handed `node` out lately.
pub(crate) fn laid_out_children<'t>(node: Node<'t>) -> Option<LaidOutChildren<'t>> {
    let at = remembered(node).filter(|r| r.kind != UNCACHED)?;
    INSTALLED.with(|installed| {
        let installed = installed.borrow();
        let layout = installed
            .iter()
            .rev()
            .find(|l| l.serial == at.serial && l.complete)?
            .clone();
        let i = at.index as usize;
        Some(LaidOutChildren {
            next: i + 1,
            end: layout.end(i),
            layout,
            of: node,
        })
    })
}

impl<'t> LaidOutChildren<'t> {
    /// The next named child that is not a comment.
    pub(crate) fn next_named(&mut self) -> Option<Node<'t>> {
        while self.next < self.end {
            let child = self.next;
            self.next = self.layout.end(child);
            let kind = self.layout.kinds[child];
            let node = self.layout.node(child, self.of);
            let wanted = match kind {
                UNCACHED => node.is_named() && node.kind() != "comment",
                kind => named_and_not_comment(kind),
            };
            if wanted {
                return Some(node);
            }
        }
        None
    }
}

/// Whether nodes of kind number `kind` are named and not comments.
fn named_and_not_comment(kind: u8) -> bool {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
        (0..language.node_kind_count() as u16)
            .map(|id| {
                language.node_kind_is_named(id) && language.node_kind_for_id(id) != Some("comment")
            })
            .collect()
    });
    table.get(usize::from(kind)).copied().unwrap_or(false)
}

fn forget_kinds() {
    KINDS.with(|slots| slots.iter().for_each(|slot| slot.set(FORGOTTEN)));
}

/// While this lives, walks over nodes of the tree it was made for read its layout. It borrows the
/// tree (through the root's lifetime) and stays on the thread that made it. (A tree that could
/// not be laid out installs nothing: its walks use the cursor.)
pub struct Installed<'t> {
    layout: Option<Rc<Layout>>,
    _tree: PhantomData<Node<'t>>,
}

/// Lays out the tree of `root` (its root node) and installs the layout on this thread. When a
/// layout of the same tree is already installed, it is shared, not built again.
pub fn install(root: Node<'_>) -> Installed<'_> {
    let tree = root.into_raw().tree;
    let existing = INSTALLED.with(|installed| {
        installed
            .borrow()
            .iter()
            .rev()
            .find(|l| l.tree == tree && l.root_id == root.into_raw().id)
            .cloned()
    });
    let layout = existing.or_else(|| Layout::of(root).map(Rc::new));
    if let Some(layout) = &layout {
        INSTALLED.with(|installed| installed.borrow_mut().push(layout.clone()));
    }
    Installed {
        layout,
        _tree: PhantomData,
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let Some(layout) = &self.layout else {
            return;
        };
        // The tree may go with the guard: no kind of its nodes may answer for a later node
        // that happens to get the same id.
        forget_kinds();
        INSTALLED.with(|installed| {
            let mut installed = installed.borrow_mut();
            if let Some(i) = installed.iter().rposition(|l| Rc::ptr_eq(l, layout)) {
                installed.remove(i);
            }
        });
    }
}

/// The installed layout holding `node`, and its position there.
pub(crate) fn locate(node: Node) -> Option<(Rc<Layout>, usize)> {
    INSTALLED.with(|installed| {
        let installed = installed.borrow();
        installed
            .iter()
            .rev()
            .find_map(|l| l.position(node).map(|i| (l.clone(), i)))
    })
}
