//! Fields holding a value that locks for itself, replaced at run time.
//!
//! `p.all.Get(h)`, where `all` is a `*lookup` whose methods take its own lock, needs no lock of
//! `p` for what `lookup` holds, but it still reads `p.all`, the pointer. While nothing replaces
//! the pointer once the value is shared, that read races with nothing, and such calls are no
//! access (see [`guards::FieldAccess::pointer_only`]). Once a method of the type replaces the
//! field on a shared value (`p.all = newLookup()` in `Clear`), each such call reads the field
//! and is judged like any other read of it: geth's `LegacyPool.Get` calling `pool.all.Get`
//! without `pool.mu` while `Clear` swaps `pool.all` under it.

use super::{Entries, Entry, Facts};
use crate::finding::LineOf;
use crate::{Context, HashMap};
use goconc_model::guards::{self, CallReceiver, FieldAccess};
use goconc_model::summary::summary_key;
use goconc_model::types::Ty;
use goconc_syntax::NodeExt;

/// By (type, field): the write that replaces a field holding a self-locking value after the
/// value is shared, for each such field that has one.
pub(super) type Replacements<'a> = HashMap<(&'a str, &'a str), &'a FieldAccess>;

impl<'a> Facts<'a> {
    /// The fields read through a method of a self-locking value they point to that a method of
    /// their type replaces at run time (see [`runs_on_shared_value`]), with that replacement;
    /// the reads of every other such field are dropped from the evidence.
    pub(super) fn keep_reads_of_replaced_pointers(
        &mut self,
        cx: &Context,
        entries: &mut Entries,
    ) -> Replacements<'a> {
        let mut replaced = Replacements::default();
        for (&key, accesses) in &self.by_field {
            if !accesses.iter().any(|a| a.pointer_only) {
                continue;
            }
            let replacements = accesses.iter().filter(|a| is_replacement(a));
            let mut at_run_time = Vec::new();
            for &write in replacements {
                if runs_on_shared_value(cx, self, entries, write) {
                    at_run_time.push(write);
                }
            }
            if let Some(&first) = at_run_time.first() {
                replaced.insert(key, first);
                // Where several replace the field, the ones holding the lock come first in the
                // message: pick one that holds a lock.
                if let Some(&locked) = at_run_time.iter().find(|w| !w.guards.is_empty()) {
                    replaced.insert(key, locked);
                }
            }
        }
        for (key, accesses) in self.by_field.iter_mut() {
            if !replaced.contains_key(key) {
                accesses.retain(|a| !a.pointer_only);
            }
        }
        replaced
    }
}

/// A write of the field itself (`p.all = newLookup()`), not of what it holds nor a lazy
/// first set (`if p.all == nil { p.all = … }`, which a replacement is not).
fn is_replacement(access: &FieldAccess) -> bool {
    access.replaces_field() && !access.outside && !access.lazy_init
}

/// Does the write run on a value already shared? Not in a whole-value method (a decoder or a
/// copy) or a decoder, not in a method every call of which in the package is on a value its
/// caller has just made (an `Init` called on a new value, exported or not), and not before
/// the method starts goroutines of its own when nothing in the package calls it on a shared
/// value (a `Start` setting the value up).
fn runs_on_shared_value(
    cx: &Context,
    facts: &Facts,
    entries: &mut Entries,
    write: &FieldAccess,
) -> bool {
    let method = write.function.rsplit('.').next().unwrap_or("");
    if guards::DECODING_METHODS.contains(&method)
        || facts.whole_value(cx, &write.type_name, &write.function)
        || entries.of(cx, facts, &write.type_name, &write.function) == Entry::Fresh
    {
        return false;
    }
    let only_fresh_calls = facts
        .sites(&write.type_name, &write.function)
        .iter()
        .all(|s| s.receiver == CallReceiver::Fresh);
    !(write.set_up && only_fresh_calls)
}

/// What a read of a replaced field says: the message, and in this file the replacement, as the
/// other side of the race.
pub(super) struct ReadOfReplaced {
    pub message: String,
    pub replacement: Option<(std::ops::Range<usize>, String)>,
}

/// The finding for a read of a field the package replaces at run time (`pool.all` of
/// `pool.all.Get(h)`, or of `pool.priced.stales`): what was shown is the replacement, and the
/// read that skips the lock, through a method of the value or not.
pub(super) fn read_of_replaced(
    cx: &Context,
    access: &FieldAccess,
    replacement: &FieldAccess,
    replacement_locked: bool,
    lock: &str,
    evidence: &str,
) -> ReadOfReplaced {
    let accessed = cx
        .src
        .get(access.offset..access.offset + access.len)
        .unwrap_or(&access.field);
    let replacer = replacement
        .function
        .rsplit('.')
        .next()
        .unwrap_or(&replacement.function);
    let under = match replacement_locked {
        true => format!(" under `{lock}`"),
        false => String::new(),
    };
    // A line number and a place only for a replacement in this file: offsets are the file's.
    let here = in_this_file(cx, replacement);
    let at = match here {
        true => format!(" at line {}", LineOf(replacement.offset)),
        false => String::new(),
    };
    let call = match access.pointer_only {
        true => called_on_value(cx, access),
        false => String::new(),
    };
    ReadOfReplaced {
        message: format!(
            "`{accessed}` is read without holding `{lock}`, {evidence}{call}: `{replacer}` replaces `{accessed}`{under}{at}, and this read races with the replacement"
        ),
        replacement: here.then(|| {
            let range = replacement.offset..replacement.offset + replacement.len;
            (range, format!("`{replacer}` replaces `{accessed}` here"))
        }),
    }
}

/// `, to call `get` on the value it points to` (`pool.all.get(h)`), and when that method takes
/// a lock of its own, that it is the value's lock, not the field's.
fn called_on_value(cx: &Context, access: &FieldAccess) -> String {
    // `Get` of `pool.all.Get(h)`: the selector above the field's.
    let called = cx
        .model
        .root
        .descendant_for_byte_range(access.offset, access.offset + access.len)
        .and_then(|field| field.parent_node())
        .filter(|p| p.kind_str() == "selector_expression")
        .and_then(|p| p.field("field"))
        .map_or("", |method| goconc_syntax::text(method, cx.src));
    let value_type = cx
        .model
        .package
        .field_type(&Ty::named("", &access.type_name), &access.field)
        .and_then(|ty| match ty.deref() {
            Ty::Named { name, .. } => Some(name.clone()),
            _ => None,
        });
    let locks_itself = value_type.is_some_and(|name| {
        cx.model
            .package
            .summary(&summary_key(Some(&name), called))
            .is_some_and(|s| !s.acquires.is_empty())
    });
    match locks_itself {
        true => format!(
            ", to call `{called}` on the value it points to (which takes that value's own lock, not this field's)"
        ),
        false => format!(", to call `{called}` on the value it points to"),
    }
}

/// Is the access one of this file's (its function is declared here)? Its function may be in
/// the model, or left out of it by an incremental analysis that kept its findings: it is in
/// this file all the same, and a fresh analysis names the place.
fn in_this_file(cx: &Context, access: &FieldAccess) -> bool {
    let (receiver, name) = match access.function.split_once('.') {
        Some((receiver, name)) => (Some(receiver), name),
        None => (None, access.function.as_str()),
    };
    let declares = |node: tree_sitter::Node| {
        node.field("name")
            .is_some_and(|n| goconc_syntax::text(n, cx.src) == name)
            && node.start_byte() <= access.offset
            && access.offset < node.end_offset()
    };
    let in_model =
        cx.model.functions.iter().any(|f| {
            f.parent.is_none() && f.receiver_type.as_deref() == receiver && declares(f.node)
        });
    in_model
        || cx
            .skipped_function_at(access.offset)
            .is_some_and(|f| declares(f) && cx.model.receiver_type_of(f).as_deref() == receiver)
}
