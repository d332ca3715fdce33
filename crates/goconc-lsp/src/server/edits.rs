//! A document's text as edits arrive: the edits kept for the worker, the one edit a whole-text
//! change amounts to, and the tree brought up to date with them.

use super::*;

impl Pending {
    pub(super) fn nothing() -> Pending {
        Pending::Edits {
            edits: Vec::new(),
            bytes: 0,
        }
    }

    pub(super) fn push(&mut self, range: Range<usize>, text: String) {
        if let Pending::Edits { edits, bytes } = self {
            if edits.len() < MAX_PENDING_EDITS && *bytes + text.len() <= MAX_PENDING_BYTES {
                *bytes += text.len();
                edits.push((range, text));
                return;
            }
        }
        *self = Pending::Whole;
    }
}

pub(super) fn count_nuls(text: &str) -> usize {
    text.bytes().filter(|&b| b == 0).count()
}

/// The length of the longest common prefix of two byte strings.
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Whole blocks first (a memcmp each), then bytes.
    while i + 4096 <= n && a[i..i + 4096] == b[i..i + 4096] {
        i += 4096;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

pub(super) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + 4096 <= n && a[n - i - 4096..n - i] == b[n - i - 4096..n - i] {
        i += 4096;
    }
    while i < n && a[n - i - 1] == b[n - i - 1] {
        i += 1;
    }
    i
}

/// The one edit that turns `old` into `new`: the range of `old` between their common prefix and
/// suffix (on character boundaries), and what replaces it.
pub(super) fn difference<'n>(old: &str, new: &'n str) -> (Range<usize>, &'n str) {
    let mut prefix = common_prefix(old.as_bytes(), new.as_bytes());
    while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
        prefix -= 1;
    }
    let mut suffix = common_suffix(&old.as_bytes()[prefix..], &new.as_bytes()[prefix..]);
    while !(old.is_char_boundary(old.len() - suffix) && new.is_char_boundary(new.len() - suffix)) {
        suffix -= 1;
    }
    (prefix..old.len() - suffix, &new[prefix..new.len() - suffix])
}

/// Waiting edits as one edit of `old` (the text before the first), when they lie within
/// [`MERGE_EDITS_WITHIN`] bytes of each other.
pub(super) fn merged(
    old: &str,
    edits: &[(Range<usize>, String)],
) -> Option<(Range<usize>, String)> {
    // Every edit leaves the first `keep_start` and the last `keep_end` bytes as they were.
    let (mut keep_start, mut keep_end, mut len) = (old.len(), old.len(), old.len());
    for (range, text) in edits {
        if range.start > range.end || range.end > len {
            return None;
        }
        keep_start = keep_start.min(range.start);
        keep_end = keep_end.min(len - range.end);
        len = len - range.len() + text.len();
    }
    let keep_end = keep_end.min(old.len().min(len) - keep_start);
    let replaced = keep_start..old.len() - keep_end;
    if replaced.len() > MERGE_EDITS_WITHIN {
        return None;
    }
    let mut middle = old.get(replaced.clone())?.to_string();
    for (range, text) in edits {
        let range = range.start - keep_start..range.end - keep_start;
        if range.end > middle.len()
            || !middle.is_char_boundary(range.start)
            || !middle.is_char_boundary(range.end)
        {
            return None;
        }
        middle.replace_range(range, text);
    }
    Some((replaced, middle))
}

/// Brings the worker's tree to the document's text: parses it afresh when there is no tree,
/// else applies what is pending as incremental edits. None when the edits do not fit the tree.
pub(super) fn updated_tree(
    source: Option<SourceFile>,
    pending: Pending,
    text: Option<&str>,
    len: usize,
) -> Option<SourceFile> {
    let Some(mut source) = source else {
        return Some(SourceFile::new(text?.to_string()));
    };
    match pending {
        Pending::Whole => {
            let (range, new) = difference(source.text(), text?);
            if !range.is_empty() || !new.is_empty() {
                source.edit(range, new).ok()?;
            }
        }
        Pending::Edits { edits, .. } => match edits.len() {
            0 => {}
            1 => {
                let (range, new) = &edits[0];
                source.edit(range.clone(), new).ok()?;
            }
            _ => match merged(source.text(), &edits) {
                Some((range, new)) => source.edit(range, &new).ok()?,
                None => {
                    for (range, new) in edits {
                        source.edit(range, &new).ok()?;
                    }
                }
            },
        },
    }
    (source.text().len() == len).then_some(source)
}

impl Inner {
    /// Applies the changes of one notification in order: string edits only (see the module
    /// doc), then wakes the document's worker.
    pub(super) fn apply_changes(self: &Arc<Self>, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let changes = params.content_changes;
        let encoding = self.encoding();
        {
            let Some(mut entry) = self.docs.get_mut(&uri) else {
                warn!(
                    uri = uri.as_str(),
                    version, "didChange for a document that is not open: ignored"
                );
                return;
            };
            let doc = &mut *entry;
            if version <= doc.version {
                let repeated = doc
                    .last_changes
                    .as_ref()
                    .is_some_and(|(v, c)| *v == version && *c == changes);
                if repeated {
                    self.warn_client(format!(
                        "didChange of {} repeats the previous one (version {version}, same changes): taken for a duplicate and ignored",
                        uri.as_str()
                    ));
                    return;
                }
                self.warn_client(format!(
                    "didChange of {} has version {version}, not above {}: applied in the order it came, but the editor's text and goconc's may differ; quick fixes are withheld until the file is saved or reopened",
                    uri.as_str(),
                    doc.version
                ));
                doc.diverged = true;
            }
            let small =
                changes.iter().map(|c| c.text.len()).sum::<usize>() <= REMEMBER_CHANGES_UP_TO;
            doc.last_changes = small.then(|| (version, changes.clone()));
            for change in changes {
                match change.range {
                    None => {
                        // The whole text: in step with the editor again.
                        doc.diverged = false;
                        doc.index = Arc::new(LineIndex::new_lsp(&change.text));
                        doc.nuls = count_nuls(&change.text);
                        doc.text = Arc::new(change.text);
                        doc.pending = Pending::Whole;
                    }
                    Some(range) => {
                        let bytes =
                            Positions::new(&doc.text, &doc.index, encoding).byte_range(range);
                        doc.nuls = doc.nuls - count_nuls(&doc.text[bytes.clone()])
                            + count_nuls(&change.text);
                        let text = Arc::make_mut(&mut doc.text);
                        text.replace_range(bytes.clone(), &change.text);
                        Arc::make_mut(&mut doc.index).edit(bytes.clone(), &change.text, text);
                        doc.pending.push(bytes, change.text);
                    }
                }
            }
            doc.version = version;
            doc.revision += 1;
        }
        trace!(uri = uri.as_str(), version, "change applied");
        self.schedule(&uri);
    }

    /// After a save of a document that may be out of step: the file on disk is what the editor
    /// had, so it becomes the text (unless the document changed since the save).
    pub(super) fn resync_from_disk(self: &Arc<Self>, uri: &Uri, revision: u64, text: String) {
        {
            let Some(mut doc) = self.docs.get_mut(uri) else {
                return;
            };
            if doc.revision != revision {
                return;
            }
            doc.diverged = false;
            if *doc.text == text {
                info!(uri = uri.as_str(), "the saved file matches goconc's text");
                return;
            }
            doc.index = Arc::new(LineIndex::new_lsp(&text));
            doc.nuls = count_nuls(&text);
            doc.text = Arc::new(text);
            doc.pending = Pending::Whole;
            doc.revision += 1;
        }
        self.warn_client(format!(
            "{} differed from the saved file: goconc now checks the saved text",
            uri.as_str()
        ));
        self.schedule(uri);
    }
}
