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
use std::ops::Range;
use std::rc::Rc;

use tree_sitter::{ffi, Node};

/// One node in 12 bytes (32 with its raw context and id as they are), 17 with its length, alias,
/// kind and field beside it: what rebuilds it and where its subtree ends. The layout of a deep tree
/// is a fifth of what the check holds at its peak, tree-sitter's tree most of the rest, so each
/// field is narrowed: the id as a distance from the root's, the row found from the start among
/// the rows' line starts and the column as the start's distance from its row's, the links to the
/// subtree's end and to the parent as distances from the node (the few past [`FAR`] kept apart).
#[derive(Clone, Copy)]
struct Entry {
    /// The node's id (the address of its subtree slot, 8-byte aligned) less the root's, in 8-byte
    /// steps; [`FAR_ID`] for one in `Layout::far_ids`.
    id: i32,
    /// Its start byte (`context[0]`).
    start: u32,
    /// How many entries its subtree holds, itself included (so at least 1); [`FAR`] for
    /// `Layout::far_ends`.
    end: u16,
    /// How many entries back its parent is; 0 for the layout's root, [`FAR`] for
    /// `Layout::far_parents`.
    parent: u16,
}

/// A distance that does not fit an entry: the link is looked up among the layout's far links.
const FAR: u16 = u16::MAX;
/// An id more than 16 GB from the root's (the allocator put part of the tree in another
/// mapping): it is looked up among the layout's far ids.
const FAR_ID: i32 = i32::MIN;
/// A row whose line start no node has given yet.
const UNKNOWN: u32 = u32::MAX;

pub(crate) struct Layout {
    tree: *const ffi::TSTree,
    /// The id of the layout's root, which the entries' ids are counted from.
    root_id: *const c_void,
    entries: Vec<Entry>,
    /// Each entry's alias symbol (`context[3]`).
    aliases: Vec<u8>,
    /// Each entry's length in bytes (its end byte less its start: tree-sitter reads the end
    /// from the node's subtree), [`FAR`] for one in `far_lengths`.
    lengths: Vec<u16>,
    /// The end bytes of the entries [`FAR`] bytes long or longer, as (the entry's index, its end
    /// byte), in the order of the entries.
    far_lengths: Vec<(u32, u32)>,
    /// The links of the entries whose subtree's end or parent is [`FAR`] or more away, as (the
    /// entry's index, the index linked to), in the order of the entries.
    far_ends: Vec<(u32, u32)>,
    far_parents: Vec<(u32, u32)>,
    /// The ids of the entries too far from the root's to fit ([`FAR_ID`]), as (the entry's
    /// index, its id), in the order of the entries.
    far_ids: Vec<(u32, usize)>,
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
    /// Whether top-level declarations were left out with their subtrees ([`install_skipping`]):
    /// then the root's children and walks are not the layout's to answer.
    holes: bool,
    /// The start byte of each row that a node starts on; a row that none starts on has the
    /// next such row's start (`UNKNOWN` past the last), so that the starts never decrease and a
    /// node's row is the last one starting at or before it. Its column is its start less its
    /// row's.
    line_starts: Vec<u32>,
    /// The row last found, where the next node of a walk usually starts too.
    last_row: Cell<u32>,
    /// Whether the layout's root is the tree's root: then every node's ancestors are in it.
    whole_tree: bool,
    /// For every [`START_BUCKET`] bytes from the layout's first start, the index of the first
    /// entry that starts there or later: a node is looked up among the entries of its bucket,
    /// not bisected over the whole layout (a cache miss per step in a large file).
    bucket_firsts: Vec<u32>,
}

/// The bytes of source per [`Layout::bucket_firsts`] entry: 4 bytes of index per 256 of Go.
const START_BUCKET: u32 = 256;

/// The first entry of each bucket of [`START_BUCKET`] bytes from the first entry's start.
fn bucket_firsts(entries: &[Entry]) -> Vec<u32> {
    let Some(first) = entries.first().map(|e| e.start) else {
        return Vec::new();
    };
    // Document order never lowers the start byte: the last entry starts last.
    let last = entries.last().map_or(first, |e| e.start);
    let buckets = ((last - first) / START_BUCKET) as usize + 1;
    let mut firsts = Vec::with_capacity(buckets + 1);
    let mut i = 0;
    for bucket in 0..=buckets as u32 {
        let from = first.saturating_add(bucket.saturating_mul(START_BUCKET));
        while i < entries.len() && entries[i].start < from {
            i += 1;
        }
        firsts.push(index(i));
    }
    firsts
}

/// How many nodes that start at the same byte a lookup compares before it gives up (and the walk
/// uses the cursor): a long left-nested chain (`a + b + c + …`) puts thousands there.
const SAME_START_SCAN: usize = 64;

/// A node's entry with its links still unset, and its alias; None when a field does not fit: an
/// alias symbol past 255 or a column that disagrees with its row's line start. An id too far from
/// the root's to fit is [`FAR_ID`], for the caller to keep apart.
fn narrow(
    raw: &ffi::TSNode,
    root_id: *const c_void,
    line_starts: &mut Vec<u32>,
) -> Option<(Entry, u8)> {
    let [start, row, column, alias] = raw.context;
    let id = near_id(raw.id, root_id).unwrap_or(FAR_ID);
    let alias = u8::try_from(alias).ok()?;
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
    let entry = Entry {
        id,
        start,
        end: 0,
        parent: 0,
    };
    Some((entry, alias))
}

/// Fills the rows no node starts on with the next known row's start, and checks that the starts
/// never decrease: then the last row starting at or before a node's start is its row (a row
/// after it starts after its line ends). None when two known rows are out of order.
fn fill_rows(line_starts: &mut [u32]) -> Option<()> {
    let mut next = UNKNOWN;
    for start in line_starts.iter_mut().rev() {
        match *start {
            UNKNOWN => *start = next,
            known if known >= next => return None,
            known => next = known,
        }
    }
    Some(())
}

/// Closes the open entries deeper than `depth`: their subtrees end at the next entry.
fn close(
    open: &mut Vec<usize>,
    depth: usize,
    entries: &mut [Entry],
    far_ends: &mut Vec<(u32, u32)>,
) {
    while open.len() > depth {
        if let Some(i) = open.pop() {
            let end = entries.len();
            entries[i].end = near(i, end);
            if entries[i].end == FAR {
                far_ends.push((index(i), index(end)));
            }
        }
    }
}

/// How many entries separate `from` and `to` (`from` < `to`), when it fits an entry's link;
/// [`FAR`] otherwise.
fn near(from: usize, to: usize) -> u16 {
    u16::try_from(to - from)
        .ok()
        .filter(|&d| d < FAR)
        .unwrap_or(FAR)
}

/// A node's length when it fits an entry's; [`FAR`] otherwise.
fn near_length(start: u32, end: u32) -> u16 {
    u16::try_from(end.saturating_sub(start))
        .ok()
        .filter(|&d| d < FAR)
        .unwrap_or(FAR)
}

/// `id`'s distance from `root_id` in 8-byte steps, when it is a whole number of them that fits
/// an entry.
fn near_id(id: *const c_void, root_id: *const c_void) -> Option<i32> {
    let distance = (id as isize).wrapping_sub(root_id as isize);
    i32::try_from(distance / 8)
        .ok()
        .filter(|&steps| distance % 8 == 0 && steps != FAR_ID)
}

/// The link of entry `i` among far links (sorted by entry).
fn far_link(links: &[(u32, u32)], i: usize) -> Option<usize> {
    let i = u32::try_from(i).ok()?;
    let at = links.binary_search_by_key(&i, |&(entry, _)| entry).ok()?;
    Some(links[at].1 as usize)
}

impl Layout {
    /// The nodes under `root` (included) in the order [`crate::walk`]'s cursor visits them,
    /// less the children of the tree's root whose byte ranges are in `skip` (in document order)
    /// and their subtrees; None when one of them does not fit an entry ([`narrow`]): then the
    /// walks use the cursor.
    fn of(root: Node, skip: &[Range<usize>]) -> Option<Layout> {
        let whole_tree = crate::root_of(root) == root;
        let mut skip = skip.iter().filter(|_| whole_tree).peekable();
        let mut holes = false;
        let root_id = root.into_raw().id;
        // tree-sitter keeps the count of visible nodes: the walk visits at most that many.
        let mut entries: Vec<Entry> = Vec::with_capacity(root.descendant_count());
        let mut aliases: Vec<u8> = Vec::with_capacity(entries.capacity());
        let mut lengths: Vec<u16> = Vec::with_capacity(entries.capacity());
        let mut far_lengths: Vec<(u32, u32)> = Vec::new();
        let mut far_ends: Vec<(u32, u32)> = Vec::new();
        let mut far_parents: Vec<(u32, u32)> = Vec::new();
        let mut far_ids: Vec<(u32, usize)> = Vec::new();
        let mut kinds: Vec<u8> = Vec::with_capacity(entries.capacity());
        let mut fields: Vec<u8> = Vec::with_capacity(entries.capacity());
        let mut line_starts: Vec<u32> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut cursor = root.walk();
        let mut ends: Vec<usize> = Vec::new();
        loop {
            let node = cursor.node();
            let at = entries.len();
            // A child of the root: is it one to leave out?
            if open.len() == 1 {
                while skip.next_if(|r| r.start < node.start_byte()).is_some() {}
                if skip.next_if(|r| **r == node.byte_range()).is_some() {
                    holes = true;
                    let more = crate::climb(&mut cursor, node.end_byte(), &mut ends, |depth| {
                        close(&mut open, depth, &mut entries, &mut far_ends)
                    });
                    if !more {
                        break;
                    }
                    continue;
                }
            }
            let (mut entry, alias) = narrow(&node.into_raw(), root_id, &mut line_starts)?;
            if entry.id == FAR_ID {
                far_ids.push((u32::try_from(at).ok()?, node.id()));
            }
            let end_byte = u32::try_from(node.end_byte()).ok()?;
            let length = near_length(entry.start, end_byte);
            if length == FAR {
                far_lengths.push((u32::try_from(at).ok()?, end_byte));
            }
            if let Some(&parent) = open.last() {
                entry.parent = near(parent, at);
                if entry.parent == FAR {
                    far_parents.push((u32::try_from(at).ok()?, u32::try_from(parent).ok()?));
                }
            }
            entries.push(entry);
            aliases.push(alias);
            lengths.push(length);
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
            entries[at].end = 1;
            let more = crate::climb(&mut cursor, node.end_byte(), &mut ends, |depth| {
                close(&mut open, depth, &mut entries, &mut far_ends)
            });
            if !more {
                break;
            }
        }
        // An entry's index and its subtree's end must fit the far links.
        u32::try_from(entries.len()).ok()?;
        // Subtrees close innermost first: a node's end is known after its descendants'.
        far_ends.sort_unstable();
        fill_rows(&mut line_starts)?;
        let bucket_firsts = bucket_firsts(&entries);
        line_starts.shrink_to_fit();
        far_ends.shrink_to_fit();
        far_parents.shrink_to_fit();
        far_lengths.shrink_to_fit();
        far_ids.shrink_to_fit();
        Some(Layout {
            tree: root.into_raw().tree,
            root_id,
            entries,
            aliases,
            lengths,
            far_lengths,
            far_ends,
            far_parents,
            far_ids,
            kinds,
            fields,
            serial: SERIALS.with(|next| {
                let serial = next.get();
                next.set(serial.wrapping_add(1));
                serial
            }),
            complete: !root.has_error(),
            holes,
            line_starts,
            last_row: Cell::new(0),
            whole_tree,
            bucket_firsts,
        })
    }

    /// The id of the entry at `i`.
    fn id(&self, i: usize) -> *const c_void {
        match self.entries[i].id {
            FAR_ID => u32::try_from(i)
                .ok()
                .and_then(|i| {
                    self.far_ids
                        .binary_search_by_key(&i, |&(entry, _)| entry)
                        .ok()
                })
                // Every far id was kept when the layout was made: the fallback is never taken.
                .map_or(std::ptr::null(), |at| self.far_ids[at].1 as *const c_void),
            near => (self.root_id as isize).wrapping_add(near as isize * 8) as *const c_void,
        }
    }

    /// The index of the first entry that starts at `start` or later.
    fn first_starting_at(&self, start: u32) -> usize {
        let Some(origin) = self.entries.first().map(|e| e.start) else {
            return 0;
        };
        if start <= origin {
            return 0;
        }
        let bucket = ((start - origin) / START_BUCKET) as usize;
        let (Some(&lo), Some(&hi)) = (
            self.bucket_firsts.get(bucket),
            self.bucket_firsts.get(bucket + 1),
        ) else {
            return self.entries.len();
        };
        let (lo, hi) = (lo as usize, hi as usize);
        lo + self.entries[lo..hi].partition_point(|e| e.start < start)
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
        let first = self.first_starting_at(start);
        let found = (first..self.entries.len())
            .take(SAME_START_SCAN)
            .take_while(|&i| self.entries[i].start == start)
            .find(|&i| self.id(i) == raw.id);
        let found = match found {
            None if self
                .entries
                .get(first + SAME_START_SCAN - 1)
                .is_some_and(|e| e.start == start) =>
            {
                self.position_in_long_run(node, first + SAME_START_SCAN)
            }
            found => found,
        };
        found.filter(|&i| self.answers_below(i))
    }

    /// The position of `node` among the entries from `from` on that start where it starts, a run
    /// longer than [`SAME_START_SCAN`] (a chain of calls `a.b().c()…` or operators `a + b + …`
    /// thousands long, each link starting at `a`). Such a run is one node inside the next, so
    /// their end bytes never grow along it: the entries ending where `node` ends are found by
    /// bisection, then compared by id. None, for the cursor to answer, when `node` is not found
    /// there: a run out of that order (zero-width nodes of broken code), or too many entries
    /// ending where it ends.
    fn position_in_long_run(&self, node: Node, from: usize) -> Option<usize> {
        let start = self.entries[from].start;
        let run_end = from + self.entries[from..].partition_point(|e| e.start == start);
        let end = u32::try_from(node.end_byte()).ok()?;
        // The first entry of the run that ends at or before `end`.
        let (mut lo, mut hi) = (from, run_end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.end_byte(mid) > end {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        let id = node.into_raw().id;
        (lo..run_end)
            .take(SAME_START_SCAN)
            .take_while(|&i| self.end_byte(i) == end)
            .find(|&i| self.id(i) == id)
    }

    /// Whether the entries below the one at `i` are all of its node's descendants (the walks
    /// use the cursor for the root of a layout with holes).
    fn answers_below(&self, i: usize) -> bool {
        !(self.holes && i == 0)
    }

    /// The index one past the last descendant of the node at `i`.
    pub(crate) fn end(&self, i: usize) -> usize {
        match self.entries[i].end {
            // Every far link was kept when the layout was made: the fallback is never taken.
            FAR => far_link(&self.far_ends, i).unwrap_or(i + 1),
            near => i + usize::from(near),
        }
    }

    /// The end byte of the node at `i`.
    fn end_byte(&self, i: usize) -> u32 {
        let start = self.entries[i].start;
        match self.lengths[i] {
            // Every far length was kept when the layout was made: the fallback is never taken.
            FAR => far_link(&self.far_lengths, i).map_or(start, index),
            near => start.saturating_add(u32::from(near)),
        }
    }

    /// The index of the parent of the node at `i`, if the layout holds it.
    pub(crate) fn parent(&self, i: usize) -> Option<usize> {
        match self.entries[i].parent {
            0 => None,
            FAR => far_link(&self.far_parents, i),
            near => Some(i - usize::from(near)),
        }
    }

    /// The row that a node starting at byte `start` starts on.
    fn row(&self, start: u32, near_row: Option<usize>) -> usize {
        let starts = &self.line_starts;
        let last = self.last_row.get() as usize;
        let holds = |row: usize| {
            starts.get(row).is_some_and(|&s| s <= start)
                && starts.get(row + 1).is_none_or(|&next| next > start)
        };
        // A walk goes down the text: the row it was on, or the next.
        if holds(last) {
            return last;
        }
        if holds(last + 1) {
            self.last_row.set(index(last + 1));
            return last + 1;
        }
        // A node looked up from another (a field's child, a parent) is mostly on its row or
        // the next; found there, the walk's row is kept for the walk.
        if let Some(near) = near_row {
            if holds(near) {
                return near;
            }
            if holds(near + 1) {
                return near + 1;
            }
        }
        let row = starts.partition_point(|&s| s <= start).saturating_sub(1);
        self.last_row.set(index(row));
        row
    }

    /// How many links did not fit their entries.
    #[cfg(test)]
    pub(crate) fn far_links(&self) -> usize {
        self.far_ends.len() + self.far_parents.len()
    }

    pub(crate) fn is_whole_tree(&self) -> bool {
        self.whole_tree
    }

    /// The node at `i`, with the lifetime of `of`, a node of the same tree.
    pub(crate) fn node<'t>(&self, i: usize, of: Node<'t>) -> Node<'t> {
        let e = self.entries[i];
        let row = self.row(e.start, Some(of.into_raw().context[1] as usize));
        let column = e.start.saturating_sub(self.line_starts[row]);
        let raw = ffi::TSNode {
            context: [e.start, index(row), column, u32::from(self.aliases[i])],
            id: self.id(i),
            tree: self.tree,
        };
        remember(raw.id, i, self.serial, self.kinds[i], self.end_byte(i));
        // SAFETY: the entry was read from a live node of `self.tree`, the tree `of` belongs to
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

/// Finds `node` in an installed layout and remembers it, as if the layout had handed it out
/// lately: a node kept from an earlier walk (a lock call a trace recorded) is then read from
/// the layout instead of through tree-sitter's subtrees.
fn recall(node: Node) -> Option<Remembered> {
    let (layout, i) = locate(node)?;
    remember(
        node.id() as *const c_void,
        i,
        layout.serial,
        layout.kinds[i],
        layout.end_byte(i),
    );
    remembered(node)
}

/// The kind number of `node` if a layout handed it out lately; None otherwise.
#[inline]
pub(crate) fn cached_kind(node: Node) -> Option<u16> {
    remembered(node)
        .filter(|r| r.kind != UNCACHED)
        .map(|r| u16::from(r.kind))
}

/// The kind number of `node` found in an installed layout, which then remembers it as if it had
/// handed it out: a node kept from an earlier walk (a lock call a body's list keeps) is asked
/// its kind and then its fields, and one lookup here answers both without reading its subtree.
pub(crate) fn recalled_kind(node: Node) -> Option<u16> {
    recall(node)
        .filter(|r| r.kind != UNCACHED)
        .map(|r| u16::from(r.kind))
}

/// The first child of `node` in field `field`, when `node` is in an installed layout (handed
/// out lately, or found there: see [`recall`]) and one of its entries is that child; None
/// otherwise (then ask tree-sitter: the layout leaves out the zero-width tokens that end broken
/// code, and an absent field is not told apart from one the layout does not hold). The entries below `node` are read in place of the node's
/// children and their subtrees, a cache miss each in a large tree.
pub(crate) fn laid_out_field<'t>(node: Node<'t>, field: u16) -> Option<Node<'t>> {
    let field = u8::try_from(field).ok().filter(|&f| f != 0)?;
    // An `ERROR` node (its kind past a byte) has no fields, though the cursor names the
    // fields of what it wrapped.
    let at = remembered(node)
        .or_else(|| recall(node))
        .filter(|r| r.kind != UNCACHED)?;
    INSTALLED.with(|installed| {
        let installed = installed.borrow();
        let layout = installed.iter().rev().find(|l| l.serial == at.serial)?;
        let i = at.index as usize;
        if !layout.answers_below(i) {
            return None;
        }
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
        if !layout.answers_below(i) {
            return None;
        }
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
    install_skipping(root, &[])
}

/// [`install`], leaving out the top-level declarations at the byte ranges `skip` (in document
/// order) and their subtrees: those nested too deep for the analysis to read, whose nodes would
/// be most of the layout of generated code. Their walks and climbs, and those from the root, use
/// the cursor. An installed layout of the tree is shared whatever it left out.
pub fn install_skipping<'t>(root: Node<'t>, skip: &[Range<usize>]) -> Installed<'t> {
    let tree = root.into_raw().tree;
    let existing = INSTALLED.with(|installed| {
        installed
            .borrow()
            .iter()
            .rev()
            .find(|l| l.tree == tree && l.root_id == root.into_raw().id)
            .cloned()
    });
    installing(existing.or_else(|| Layout::of(root, skip).map(Rc::new)))
}

/// Installs `layout` (if any) on this thread until the returned guard is dropped.
fn installing<'t>(layout: Option<Rc<Layout>>) -> Installed<'t> {
    if let Some(layout) = &layout {
        INSTALLED.with(|installed| installed.borrow_mut().push(layout.clone()));
    }
    Installed {
        layout,
        _tree: PhantomData,
    }
}

/// A tree with its layout, apart from the layouts installed on any thread: a caller that reads
/// a tree twice with other work between (the command line reads each file's declarations, then
/// analyses the file once its whole package is known) lays it out once. It owns the tree, so the
/// layout can never be installed after its tree is gone.
pub struct LaidOut {
    tree: tree_sitter::Tree,
    layout: Option<Rc<Layout>>,
}

impl LaidOut {
    /// Lays out `tree`, less the top-level declarations at the byte ranges `skip` (see
    /// [`install_skipping`]).
    pub fn new(tree: tree_sitter::Tree, skip: &[Range<usize>]) -> LaidOut {
        let layout = Layout::of(tree.root_node(), skip).map(Rc::new);
        LaidOut { tree, layout }
    }

    pub fn tree(&self) -> &tree_sitter::Tree {
        &self.tree
    }

    /// Installs the layout on this thread for as long as the guard lives, as [`install`] would
    /// (an installation of the same tree made meanwhile shares it).
    pub fn install(&self) -> Installed<'_> {
        installing(self.layout.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree kept with its layout (the command line reads a file's declarations, then
    /// analyses it) is walked from that layout each time the layout is installed, and only
    /// then: the walks see the nodes the cursor sees, and a layout of another tree installed
    /// meanwhile does not hide it.
    #[test]
    fn a_kept_layout_answers_each_time_it_is_installed() {
        let src = "package p\n\nfunc f(mu *sync.Mutex) {\n\tmu.Lock()\n\tgo func() { x++ }()\n}\n";
        let kept = LaidOut::new(crate::parse_text(src), &[]);
        let root = kept.tree().root_node();
        let ids = || {
            let mut ids = Vec::new();
            crate::walk(root, |n| {
                ids.push(n.id());
                true
            });
            ids
        };
        assert!(locate(root).is_none(), "not installed yet");
        let by_cursor = ids();
        for _ in 0..2 {
            let _installed = kept.install();
            assert!(locate(root).is_some(), "installed");
            let other = crate::SourceFile::new(src.to_string());
            let _other = install(other.tree().root_node());
            assert!(
                locate(root).is_some(),
                "another tree's layout installed after it"
            );
            assert_eq!(ids(), by_cursor);
        }
        assert!(locate(root).is_none(), "every guard dropped");
    }

    /// A tree whose nodes the allocator placed far from its root (a large children array mapped
    /// apart from the rest) is laid out all the same: each far id is kept whole, every node is
    /// found at its index and rebuilt with its own id.
    #[test]
    fn far_ids_rebuild_the_nodes_they_stand_for() {
        let file = crate::SourceFile::new(
            "package p\n\nfunc f(mu *sync.Mutex) {\n\tmu.Lock()\n\tgo func() { x++ }()\n}\n"
                .to_string(),
        );
        let root = file.tree().root_node();
        let mut layout = Layout::of(root, &[]).expect("a small tree fits a layout");
        assert!(layout.far_ids.is_empty());
        let nodes: Vec<(usize, usize)> = (0..layout.entries.len())
            .map(|i| (i, layout.node(i, root).id()))
            .collect();
        // Every second node as if it were 16 GB or more away.
        for &(i, id) in nodes.iter().step_by(2) {
            layout.entries[i].id = FAR_ID;
            layout.far_ids.push((index(i), id));
        }
        for &(i, id) in &nodes {
            let node = layout.node(i, root);
            assert_eq!(node.id(), id, "entry {i}");
            assert_eq!(layout.position(node), Some(i), "entry {i}");
        }
    }

    /// A chain of calls thousands long starts each of its links at the same byte: every link
    /// is still found at its own index (not left to tree-sitter's `parent()`, which searches
    /// down from the root, so that asking each link's parent cost the square of the chain),
    /// and so is each node of a shorter run still past the linear scan (`((…(x)…)).y`).
    #[test]
    fn every_link_of_a_long_chain_starting_at_one_byte_is_found() {
        let chain = ".M()".repeat(3000);
        let parens = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        let src = format!("package p\n\nfunc f(a A) {{\n\ta{chain}\n\t_ = {parens}.y\n}}\n");
        let file = crate::SourceFile::new(src);
        let root = file.tree().root_node();
        let layout = Layout::of(root, &[]).expect("the tree fits a layout");
        let mut longest_run = 0;
        let mut run = 0;
        for i in 0..layout.entries.len() {
            run = match i > 0 && layout.entries[i - 1].start == layout.entries[i].start {
                true => run + 1,
                false => 1,
            };
            longest_run = longest_run.max(run);
            assert_eq!(layout.position(layout.node(i, root)), Some(i), "entry {i}");
        }
        assert!(longest_run > 5000, "the chain is one run: {longest_run}");
    }

    /// Over many buckets of source, with runs of nodes starting at one byte and a bucket no
    /// node starts in (a long comment), each node is found at its own index and rebuilt at its
    /// own place, and a node of another tree is not found.
    #[test]
    fn every_node_is_found_in_its_bucket() {
        let mut src = String::from("package p\n\n");
        for i in 0..60 {
            src.push_str(&format!(
                "func f{i}(s *S) int {{\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\treturn ((s.a.b.c)) + s.n\n}}\n\n"
            ));
            if i % 20 == 0 {
                src.push_str(&format!("/* {} */\n", "x".repeat(700)));
            }
        }
        let file = crate::SourceFile::new(src);
        let root = file.tree().root_node();
        let layout = Layout::of(root, &[]).expect("the tree fits a layout");
        assert!(
            layout.bucket_firsts.len() > 20,
            "the source spans many buckets"
        );
        for i in 0..layout.entries.len() {
            assert_eq!(layout.position(layout.node(i, root)), Some(i), "entry {i}");
        }
        // Rebuilt from any node of the tree (its row a hint), each entry is the node the cursor
        // visits at its index, at the same row and column.
        let mut visited = Vec::new();
        crate::walk(root, |n| {
            visited.push(n);
            true
        });
        assert_eq!(visited.len(), layout.entries.len());
        for (i, expected) in visited.iter().enumerate() {
            for hint in [
                root,
                visited[i / 2],
                visited[i.saturating_sub(1)],
                visited[visited.len() - 1],
            ] {
                let node = layout.node(i, hint);
                assert_eq!(node, *expected, "entry {i}");
                assert_eq!(
                    node.start_position(),
                    expected.start_position(),
                    "entry {i}"
                );
            }
        }
        let other = crate::SourceFile::new("package p\n\nfunc f() {}\n".to_string());
        let stranger = other.tree().root_node().named_child(1).expect("f");
        assert_eq!(layout.position(stranger), None);
    }

    /// A node kept from an earlier walk, no longer among those the layout handed out lately,
    /// is read from the layout again: its fields are the ones tree-sitter names.
    #[test]
    fn a_forgotten_node_finds_its_fields_in_the_layout() {
        use crate::NodeExt;
        let file = crate::SourceFile::new(
            "package p\n\nfunc f(s *S) {\n\ts.mu.Lock()\n\tg((s.mu).Unlock)\n}\n".to_string(),
        );
        let root = file.tree().root_node();
        let _layout = install(root);
        let mut calls = Vec::new();
        crate::walk(root, |n| {
            if n.kind_str() == "call_expression" {
                calls.push(n);
            }
            true
        });
        assert_eq!(calls.len(), 2);
        forget_kinds();
        for call in calls {
            assert!(remembered(call).is_none());
            for field in ["function", "arguments"] {
                assert_eq!(
                    call.field(field),
                    call.child_by_field_name(field),
                    "{field}"
                );
            }
            assert!(
                remembered(call).is_some(),
                "looked up, the call is remembered"
            );
        }
    }

    #[test]
    fn ids_fit_within_16_gb_of_the_root_in_8_byte_steps() {
        let root = 0x7f00_0000_0000_usize;
        let at = |offset: isize| (root as isize + offset) as *const c_void;
        let root = root as *const c_void;
        assert_eq!(near_id(at(0), root), Some(0));
        assert_eq!(near_id(at(-80), root), Some(-10));
        assert_eq!(
            near_id(at(8 * i64::from(i32::MAX) as isize), root),
            Some(i32::MAX)
        );
        assert_eq!(
            near_id(at(8 * (i64::from(i32::MAX) + 1) as isize), root),
            None
        );
        // The most negative distance is the far marker itself.
        assert_eq!(near_id(at(8 * i64::from(i32::MIN) as isize), root), None);
        assert_eq!(near_id(at(12), root), None);
        assert_eq!(near_id(0x5555_0000_0000_usize as *const c_void, root), None);
    }
}
