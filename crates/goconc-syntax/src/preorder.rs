//! A tree's nodes laid out once in document order, so that the many walks of the model and the
//! rules read an array instead of stepping a tree-sitter cursor. Stepping the cursor (its sibling
//! and child moves recompute positions and visibility at every node) was about half of a check's
//! time on deeply nested code.
//!
//! A layout is installed for one tree on one thread by [`install`], for as long as the returned
//! guard lives; [`crate::walk`] and its relatives use it for any node of that tree and fall back
//! to the cursor for any other. Nothing else changes: the walks visit the same nodes in the same
//! order either way.

use std::cell::RefCell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::rc::Rc;

use tree_sitter::{ffi, Node};

/// One node: what rebuilds it (its raw position context and id; the tree is the layout's) and
/// where its subtree ends.
struct Entry {
    context: [u32; 4],
    id: *const c_void,
    /// The index one past the node's last descendant.
    end: u32,
    /// The index of its parent; `NO_PARENT` for the layout's root. (It fills what would be
    /// padding.)
    parent: u32,
}

const NO_PARENT: u32 = u32::MAX;

pub(crate) struct Layout {
    tree: *const ffi::TSTree,
    entries: Vec<Entry>,
    /// Whether the layout's root is the tree's root: then every node's ancestors are in it.
    whole_tree: bool,
}

/// How many nodes that start at the same byte a lookup compares before it gives up (and the walk
/// uses the cursor): a long left-nested chain (`a + b + c + …`) puts thousands there.
const SAME_START_SCAN: usize = 64;

impl Layout {
    /// The nodes under `root` (included) in the order [`crate::walk`]'s cursor visits them.
    fn of(root: Node) -> Layout {
        // tree-sitter keeps the count of visible nodes: the walk visits at most that many.
        let mut entries: Vec<Entry> = Vec::with_capacity(root.descendant_count());
        let mut open: Vec<usize> = Vec::new();
        let mut cursor = root.walk();
        let mut ends: Vec<usize> = Vec::new();
        loop {
            let node = cursor.node();
            let at = entries.len();
            let raw = node.into_raw();
            entries.push(Entry {
                context: raw.context,
                id: raw.id,
                end: 0,
                parent: open.last().map_or(NO_PARENT, |&p| index(p)),
            });
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
        Layout {
            tree: root.into_raw().tree,
            entries,
            whole_tree: crate::root_of(root) == root,
        }
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
        let first = self.entries.partition_point(|e| e.context[0] < start);
        self.entries[first..]
            .iter()
            .take(SAME_START_SCAN)
            .take_while(|e| e.context[0] == start)
            .position(|e| e.id == raw.id)
            .map(|i| first + i)
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
        let e = &self.entries[i];
        let raw = ffi::TSNode {
            context: e.context,
            id: e.id,
            tree: self.tree,
        };
        // SAFETY: the entry was read from a live node of `self.tree`, the tree `_of` belongs to
        // (checked by `position` before any index reaches here); the tree lives for `'t`, and an
        // installed layout is removed before its tree can be dropped (`Installed` borrows it).
        unsafe { Node::from_raw(raw) }
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

thread_local! {
    /// The layouts installed on this thread, the latest last.
    static INSTALLED: RefCell<Vec<Rc<Layout>>> = const { RefCell::new(Vec::new()) };
}

/// While this lives, walks over nodes of the tree it was made for read its layout. It borrows the
/// tree (through the root's lifetime) and stays on the thread that made it.
pub struct Installed<'t> {
    layout: Rc<Layout>,
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
            .find(|l| {
                l.tree == tree
                    && l.entries
                        .first()
                        .is_some_and(|e| e.id == root.into_raw().id)
            })
            .cloned()
    });
    let layout = existing.unwrap_or_else(|| Rc::new(Layout::of(root)));
    INSTALLED.with(|installed| installed.borrow_mut().push(layout.clone()));
    Installed {
        layout,
        _tree: PhantomData,
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        INSTALLED.with(|installed| {
            let mut installed = installed.borrow_mut();
            if let Some(i) = installed.iter().rposition(|l| Rc::ptr_eq(l, &self.layout)) {
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
