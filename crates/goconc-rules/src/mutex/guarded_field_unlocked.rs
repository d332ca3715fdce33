//! `guarded-field-unlocked`: a field read or written under its mutex in most places, but without
//! it here.

use crate::{HashMap, HashSet};
use std::collections::BTreeMap;

use crate::finding::{Finding, LineOf, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::is_no_return_call;
use goconc_model::guards::{self, CallHow, CallReceiver, FieldAccess, MethodCall};
use goconc_model::summary::{is_atomic_load, summary_key};
use goconc_syntax::{method_call, statement_call, statements, text, walk, NodeExt};
use tree_sitter::Node;

mod replaced;
mod value_receiver;

pub static META: RuleMeta = RuleMeta {
    id: "guarded-field-unlocked",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary:
        "A struct field read or written under its mutex in most places, but without it elsewhere.",
    fix: Some("pointer receiver, for a value receiver copied before its lock (unsafe)"),
    doc: r#"
## Why it matters
A mutex protects data only if every access takes it. One method that reads a field without the
lock — usually a "cheap" getter or a log line — races with every writer: torn values, stale
reads, and maps that crash with "concurrent map read and map write".

## Example
```go
type Cache struct {
	mu    sync.Mutex
	items map[string]string
}

func (c *Cache) Set(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[k] = v
}

func (c *Cache) Len() int {
	return len(c.items) // races with Set
}
```
```go
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
```

## How the guard is found
From the package's own code: for each field, the receiver's mutex held on every path at its
accesses in the type's methods, across all files of the package, counting the lock a method's
every caller holds (see below). A mutex that is held at two or more accesses including a write,
in two or more methods (or in one method that both reads and writes the field under it), and
at more than half of the accesses, is the field's guard. So is one held at fewer than half when
every write holds it, a method that only reads the field takes it too, and every write and every
access without it is in an exported method, which any goroutine may enter (a `Seal` that copies
the key under the read lock while `Prepare` and `Difficulty` read it bare and `Authorize`
replaces it at run time). Not when a write is in a decoder (`UnmarshalJSON`, `UnmarshalText`,
`UnmarshalBinary`, `UnmarshalXML`, `UnmarshalXMLAttr`, `GobDecode`: it fills a value its decoder
has not shared) or in an unexported method (a loop that owns the field writes it under the lock
for its readers and reads it bare itself). And so is one every write holds when every access
without it is in an exported method that takes that lock itself, for other fields, and does not
write the field: the method knows the value is shared and touches the field outside its
critical section (an `AccountRLP` that checks the filter under the read lock and falls through
to `dl.origin` just after `RUnlock`, while a `rebloom` replaces `origin` under the lock at run
time), however few the locked accesses. A loop that owns the field reads it bare in methods of
its own, unexported, and stays silent. A `// guarded by mu` comment on the
field (or the line above it) names the guard outright. Methods named `…Locked` or documented
"caller must hold the lock" count as holding it.

What counts as an access of a field `f`:
- a channel field's send, receive, close or `range`, each a read of the field; replacing the
  channel (`s.stopped = make(chan struct{})`) is its only write, and races with them all;
- accesses in a deferred literal under a lock the literal takes itself (`defer func() {
  s.mu.Lock(); close(s.stopped); s.mu.Unlock() }()`): the method's, as evidence of the guard;
- `c.f`, `c.f[k]`, `len(c.f)`, `range c.f`; a write when it is assigned, incremented or
  deleted from, or a part of it is (`c.stats.dropped++`, `c.cfg.addr = a`: a write of what it
  holds; reading a part, `c.cfg.name`, reads the field);
- a call of a method of the field's value, `c.f.m(…)`, when `f`'s type is a type of the
  package without a mutex of its own and `m` takes no lock: it reads what `f` holds, and
  writes it when `m` changes its pointer receiver (assigns, increments or deletes from one of
  its fields). A field changed only through its own methods under the lock
  (`s.config.loadMirrors(…)`) and read through them without it (`s.config.isSecure(h)`) is
  judged like any other. Methods of another package and of sync types are no access. One of a
  type of the package that locks for itself (`dl.origin.AccountRLP(h)`, `diskLayer` having a
  mutex of its own; `pool.all.Get(h)`, `all` a `*lookup` whose methods take `t.lock`) needs no
  lock of the receiver for what the value holds, but it reads the field itself, the pointer:
  a read that races only with a write that replaces the field. It counts as a read of the
  field in two cases. First, for the guard found from the methods that take the lock (above),
  where it races with the write that replaces the field (`dl.origin = origin`). Second, when a
  method of the type replaces the field on a value already shared (`pool.all = newLookup()` in
  `Clear`, under `pool.mu`): then the call races with the replacement, whatever lock the value
  takes inside (geth's `LegacyPool.Get` calling `pool.all.Get` bare). A write counts as that
  replacement unless it sets the field lazily (`if p.all == nil`), or runs only before the
  value is shared: in a decoder or whole-value method, in a method every call of which in the
  package is on a value just made (an `Init` the package calls on a new value, exported or
  not), or before the method starts goroutines of its own with nothing in the package calling
  it on a shared value (`Start`). Such a read, and any other read of the field without the
  lock (`pool.priced.stales.Load()`), is reported naming the method that replaces the field,
  whether it holds the lock, and where, when it is in the same file;
- `x.g` where the local `x` is an element the method took from one of its receiver's maps or
  slices of pointers (`x, ok := c.nodes[id]`, `for _, x := range c.list`), never set to
  anything else, and `x`'s struct type has no mutex of its own: the receiver's lock guards
  the elements' fields as it guards the container (`n.leaving` set under `c.mu` in one method,
  read after `c.mu.RUnlock()` in another). The field is named by the element's type
  (`node.leaving`), whichever container the element came from. A copy (`map[string]node`) is
  the method's own and is no access.

## Fields of another type's value
A type with a lock of its own (`lookup`, whose methods guard `txs` with `t.mu`) is used from
many goroutines: that is what the lock is for. A method of another type with a lock of its own
that reaches such a field through its receiver (`p.all.txs`, `all` being a `*lookup`) without
holding that lock through the same field (`p.all.mu.Lock()`) races with the value's methods,
and is reported (`warning`) with the guard the value's own methods keep (every locked access
counts there; the accesses from outside are judged, not counted). Silent:
- from a type with no mutex of its own: a view or helper around the value (`bodyLocked{b}`,
  an indenting writer) is how code that already holds the value's lock reaches its fields;
- in a function the value's own methods reach while holding the guard: one they call under it
  (`b.audit.check()` under `b.mu`), or call at all when they are entered locked (`…Locked`),
  and everything those call in turn through the package. That code runs with the lock held.
  Where they do call out under the guard, also in a function the package shows no way into:
  every chain of its callers (counting `go` statements) starts at an unexported function or
  method that nothing in the package calls by name (an interface method, a method reached
  through a type assertion's result, a method value handed on), which the calls made under
  the lock may be. An access in any other function is reported, however much else the
  value's methods call under the lock (`s.weight += weightOf(item)` silences nothing outside
  `weightOf`'s calls);
- when the method stored the value in that field itself before the access (`p.all =
  newLookup()`), or runs only on values not yet published; when no method of the value writes
  the field once the value is shared; and behind a check of state the value publishes
  atomically (`if n.http.wsAllowed() { … n.http.wsConfig … }`).

## How a method is entered
From every call of the type's methods in the package, with the locks held at the call:
- every call holds the lock (directly, inside a `go func(){…}()` or `defer func(){…}()` that
  takes it, or in a method itself entered so): the method is judged as locked;
- most calls hold it and some do not: the calls that do not are reported instead, at the call,
  once per calling function (`warning` on the method's own receiver inside the type's methods; `hint` from elsewhere, such
  as a test driving the value step by step, where whether the value is shared is not shown);
- every call is on a value its caller has just made and not yet published (`c := &T{}`, before
  it is stored, sent, returned, passed on or captured by a goroutine): the method's accesses are
  no evidence, and fields written only there are frozen once the value is shared. For the
  guard found from the methods that take it (see "How the guard is found") they count, and
  freeze nothing, when the package makes more calls of the method's name (`x.rebloom(…)`, on
  anything) than the calls seen: a file's facts do not type a value whose type a sibling file
  declares (`diff.rebloom(d)` in `snapshot.go`, on a `*diffLayer` from
  `t.layers[root].(*diffLayer)`), and such a call may run the method on a shared value. The
  count is by name, so the guard found by majority keeps to the calls seen (a `repair` of
  another type's elsewhere says nothing of this one's);
- a call started by `go` (`go c.loop()`, or inside a `go func(){…}()` without the lock), or the
  method handed to `time.AfterFunc` (`time.AfterFunc(d, c.flush)`), stored in a field or
  global or returned as a value or inside a function literal: the method runs unguarded
  elsewhere and is judged like an exported one;
- a method with `net/http`'s handler signature (`func (s *T) status(w http.ResponseWriter, r
  *http.Request)`) handed on as a value while none of its receiver's locks is held
  (`mux.HandleFunc("/status", s.status)`, `http.HandlerFunc(s.status)`, or a package's own
  registrar that keeps it): it is there to be served, and `net/http` serves each request on a
  goroutine of its own, so it runs unguarded elsewhere too. Handed on under the lock, or only
  called in place (`ServeHTTP` calling it with the lock held), it is judged by those calls;
- `String`, `Error`, `GoString`, `Format`, `MarshalJSON`, `MarshalText` are also entered from
  each place that hands the value to another package (`fmt.Sprint(c)`, `json.Marshal(c)`).
A function literal or method value handed to a call as a callback (`node.forEach(func(c) {
db.drop(c) })`, `inWritableDir(s.create, path)`), or a literal held in a new local
(`stop := func() bool { … }`), is taken to run there, with the locks held at that statement.

Exported methods are the API's: other packages call them where the package cannot see, so the
package's own calls speak for them only when they are whole-value methods (four or more fields
and two thirds of the type's data fields: serializers, copies) or the `fmt`/`json` methods
above.

## Value receivers copied before the lock
A method with a value receiver copies the whole receiver at every call, before its body runs:
`func (h tracker) getBucket() string { h.mu.RLock(); defer h.mu.RUnlock(); return h.bucket }`
reads `bucket` (and every other field) unlocked, then locks a mutex the copy still points to.
When the body takes a lock that a method of `*T` holds while writing a field of `T` — a mutex
the receiver points to (`mu *sync.RWMutex`) or a package-level one (`ConfigLock`) — the copy
races with that write. Reported once per type and file, at the receiver's type of its first
such method (`warning`), naming a field the copy reads (those the body reads under the lock
first) and its writer; the type's other such methods are named and pointed at, and the one
fix makes every receiver a pointer: they share one cause and one change. Silent:
- a lock that guards nothing of the type (a package mutex for a package map): no method of
  `*T` writes a field of `T` holding it;
- fields written under the lock only by methods every call of which in the package is on a
  value its caller has just made (a constructor's `l.setLimit(n)`), or only outside the type's
  methods;
- a mutex held by value (`mu sync.Mutex`): the copy copies the lock, `sync-value-copied`'s
  finding;
- pointer receivers; function literals in the body; generated files.
A writer of a package-level lock is looked for in the method's own file; a writer holding a
mutex the receiver points to, in every file of the package. The unsafe fix makes it a pointer
receiver (`*T`): values of `T` lose the method, and the interfaces it satisfied.

## Severity
- `warning`: an access without the guard in an exported method, or in a method that runs on a
  goroutine or as a callback, of a field that is written after the value is shared; a call, in
  a method of the type on its own receiver, of a helper that touches a guarded field without
  taking the guard while the helper's other callers hold it.
- `hint`: a read whose every write is in the same function (it races only if that function
  runs twice at once, and the function does not read the field under the lock itself other
  than to write it, as in `c.f = append(c.f, x)`); a
  read of a field whose every write sets it once under `if x.f == nil`; an unlocked call of a
  locked helper from outside the type's methods; a read made, like every write of the field,
  on a test's own goroutine, where every write takes the lock (the lock is for readers
  elsewhere, such as a suite's timeout watchdog: the test's own reads race with none of its
  writes). A function runs on a test's goroutine when it takes the test's handle (`*testing.T`,
  `*testing.B`, `*testing.F`, `testing.TB`) and every call of it in the package is made in
  place (not under `go`, not inside a function literal, which may be a callback run
  concurrently as `errgroup`'s are) and before any `t.Parallel()`, by a method of the same type
  judged the same way or by a `TestX`/`BenchmarkX`/`FuzzX` function; a method of the type that
  nothing in the package calls is a step the test framework runs (a suite's `TestX`,
  `TearDownTest`). The same reads from a method a `go` statement, a callback or a parallel test
  reaches stay warnings; a read of a field written only by a start that can run again
  (something sets the state back, as `Stop` clearing `running`; see "fields written only at
  start" under "When it stays silent"): it races only with a second start.
- Never `error`: the race needs a second goroutine the finding cannot name.

One finding per function and lock: a function that reads or writes several fields of one lock
without it (`IndexProgress` reading two indexers without `db.lock`) is one defect, fixed by
taking the lock once, so the first access carries the finding, names the others with their own
evidence and points at them. Fields of another lock in the same function are another finding.

## Fix
None: take the lock, or document why this access is safe. For a value receiver copied before
its lock, an unsafe pointer-receiver fix (see above).

## When it stays silent
- Fields that hold mutexes, atomics or funcs; fields only ever read (a channel field only
  ever sent on, received from or closed); accesses inside function literals (they may run
  while the caller holds the lock), but for the locked ones of a deferred literal; accesses
  while any mutex of the receiver is held.
- A channel field read where every write of it is ordered with the read: made after the
  goroutine serving the channel answered a request sent on it (`m.quit <- errc; <-errc;
  m.quit = nil`, a `Close`'s quit handshake, also through a local copied from the field), or
  made before the writing method starts the reading method with `go` (`m.quit = make(…); go
  m.loop()`). A job that replaces the channel its goroutine reads (`go a.run(job)`, where `run`
  makes the next one) stays reported.
- Methods named or documented as entered locked; unexported methods every caller calls with the
  lock held (see above); unexported methods that nothing in the package calls or only calls on
  unpublished values, or whose direct callers take no lock and do not run them on a goroutine
  (not yet judged through those callers: an exported method calling such a helper bare is a
  known gap); whole-value methods (serializers) with no caller in the package.
- The field itself (set up, `p.store = newStore()`, or checked, `p.store != nil`) when every
  locked access of it is a use of its value — a call of its methods (`p.store.put(…)`) or an
  access of its fields (`p.store.index[k]`): the lock is seen serialising those uses, not
  guarding the field. A use of the value without the lock (`p.store.bytes`) is still judged.
- Calls of the methods of a value that locks for itself through a field that nothing
  replaces once the value is shared: set in a constructor, in a method run only on a value
  not yet published or before its own goroutines start (see "What counts as an access"), or
  emptied in place through the value's own locked method (`pool.all.Clear()`): the pointer
  never changes under a reader.
- Reads of the field itself (the map or slice header, not what it holds) when nothing assigns
  the field after the value is made (`&T{m: r.m}` shares a map the lock guards the contents
  of). Returning it (`return c.items`) is reported: the guarded contents leave the type.
- Reads of a field whose every write is in a whole-value method (a decoder) or on a value not
  yet published: made in the caller (`v := &T{}`), or returned by a constructor that hands back
  what it just made and showed nobody (`v := NewVault()`; one that registers the value before
  returning it is no constructor of an unpublished value), in any file of the package. The
  calls counted on such a value are those of the statements right after it is made, up to
  the first that passes, stores, returns or captures it, starts a goroutine, or calls a method
  that may start one on it (`p.Init()` running `go p.loop()`); and only for a method all of
  whose calls in the package are accounted for (a call on a value whose type a sibling file
  declares is not typed by its file's facts: a method with such a call gets no fresh sites). An exported method run this way
  in the package (a test's `p := New(); p.Load()`) stays the API's: its own unlocked calls of a
  helper still count as unlocked.
- Methods that take no lock at all on a type that hands its lock to its users (an exported type
  embedding its mutex, or an exported mutex field): they are written for callers that hold it.
  A method returning the guarded field itself (`return s.commands`) is still reported.
- Methods that assign the guard itself (`t.mu = new(sync.Mutex)`): nobody can hold it yet.
- An access through another type's field (`o.tally.counts`) in a function the value's own
  methods call, directly or through other calls of the package, while holding the guard, or
  in one the package shows no way into while they call out under it (see "Fields of another
  type's value").
- Accesses in a method before it starts goroutines of its own (`go c.loop()`, `go func(){…}()`)
  when it starts none before them, and nothing in the package calls it on a value already
  shared: the value's set-up before its goroutines run (`Start`). A write after such a `go`,
  or in a method the package calls after publishing the value (`global = s; s.Init()`), is
  reported.
- Reads of fields written only at start. A start transition is a method that takes a lock of
  its receiver, checks a state field of it and returns on some values (`if s.running { return
  errRunning }`, or a `switch s.state` whose cases for those values return), and right after
  the check sets the state to one of those values (`s.running = true`), with no release in
  between: once it has run, no other run passes the check. When every write of the field is
  made after that change and before the lock (which must be the field's guard) is let go —
  in the method itself, or in unexported methods of the type called only there (or only from
  such methods), in place and on the same receiver — and nothing in the package sets the state
  to a value the check lets through (writes on a value not yet published aside), the field is
  frozen once the start has returned (geth's `Node`: idle → running → closed, never back).
  When something does set it back (`Stop` clearing `running`), the read is a `hint` (see
  Severity). A field also written elsewhere (a `SetRoute` at run time, a helper also called
  from `Reload`), or a start whose state change is a value its check lets through, stays
  reported. A read made while the start is still running is not told apart: it is the
  value's set-up, as for a constructor.
- Reads behind double-checked locking (in the `then` branch of an `if` whose condition loads
  state atomically, itself or through a method of the same value whose body does:
  `if t.ready.Load() { return t.result }`, or after such an `if` that runs the slow path).
- Guards seen in one method's critical section only, where that method does not read and write
  the field under it (it locks for other fields).
- Generated files (`// Code generated … DO NOT EDIT.`): their callers are judged instead.
- A call whose `bool` argument makes the helper take the guard itself (`r.state(false)` where
  `state(locked bool)` locks only `if !locked`); the same helper called with `true` without the
  lock is still reported.
- Helpers whose calls mostly take no lock (one locked call among bare ones is no sign which
  side is the mistake), where the helper is not itself judged (see above).
- Types without a clear guard. One finding per function and lock (see "Severity"). A field
  that fewer than half of its accesses lock has a guard only between exported methods: a write
  in a decoder or in an unexported method (the loop that owns the field) leaves it without one,
  unless every access without the lock is in an exported method that takes the lock itself and
  does not write the field. A bare access in an unexported method (the owning loop's own
  reads), in a method that takes no lock, or in one that writes the field leaves it without
  one too.
- `_test.go` files are judged the same way; a test calling a locked helper bare is a `hint`
  because whether another goroutine has the value at that point is not shown, and so is a read
  on a test's own goroutine of a field every write of which is made there under the lock (see
  Severity).
- The function holds more than 64 mutexes at once on some path: its locks are not followed, as
  in a function with `goto` (no function of the pinned projects or the standard library holds
  more than three).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    // Generated code runs on the values its callers hand it: those calls are judged instead.
    if goconc_model::package::is_generated(cx.src) {
        return;
    }
    let fresh = cx.guard_facts();
    // Value receivers copied before their lock is taken, a package-level lock included.
    value_receiver::check(cx, fresh, out);
    if fresh.accesses.is_empty() && fresh.calls.is_empty() {
        return;
    }
    let mut facts = Facts::gather(cx, fresh);
    let mut entries = Entries::default();
    let replaced = facts.keep_reads_of_replaced_pointers(cx, &mut entries);
    // One finding per field per function.
    let mut reported: HashSet<(&str, &str, &str)> = HashSet::default();
    let mut guards_of: HashMap<(&str, &str, bool), Option<Guard>> = HashMap::default();
    // Which functions may run with another type's lock held (see [`HeldReach`]).
    let mut held_reach = HeldReach::default();
    let mut unlocked = OnePerFunction::default();
    for access in &fresh.accesses {
        let key = (access.type_name.as_str(), access.field.as_str());
        let replacement = replaced.get(&key).copied();
        let guard = guards_of
            .entry((key.0, key.1, access.outside))
            .or_insert_with(|| facts.guard_of(cx, &mut entries, key.0, key.1, access.outside))
            .clone();
        let Some(guard) = guard else { continue };
        // A call on the field's self-locking value reads the pointer only: judged where a
        // method replaces the field at run time, or where the guard is found with such calls
        // (see `Facts::guard_of`).
        if access.pointer_only && replacement.is_none() && !guard.locked_around {
            continue;
        }
        if reported.contains(&(key.0, key.1, access.function.as_str())) {
            continue;
        }
        let judged = match access.outside {
            false => judge(cx, &facts, &mut entries, access, &guard),
            true => judge_outside(cx, &facts, &mut entries, &mut held_reach, access, &guard),
        };
        let Some((severity, why_hint)) = judged else {
            continue;
        };
        reported.insert((key.0, key.1, access.function.as_str()));
        let what = if access.write { "written" } else { "read" };
        let accessed = cx
            .src
            .get(access.offset..access.offset + access.len)
            .unwrap_or(&access.field);
        // `c` of `c.items` (and of `n.leaving`, `n` an element of `c.nodes`); `p.all` of
        // `p.all.txs`: the value whose lock it is.
        let receiver = match access.outside {
            true => outside_holder(cx, access),
            false => access_receiver(cx, access),
        };
        // The accesses counted besides this one (a bare read through a method of the field,
        // and an access from outside the type's methods, are not counted).
        let counted = !access.outside && (!access.method || access.write);
        let others = guard.total - usize::from(counted && guard.total > 0);
        // Fewer than half the accesses hold the guard: the evidence is that every write does
        // (and, for a guard found by `locked_around`, that this method takes it itself).
        let writes_only = guard.every_write && guard.guarded * 2 <= others;
        let evidence = match (guard.total > 0, guard.locked_around, writes_only) {
            (true, true, _) => format!(
                "which every write of it holds and this method takes ({} of its {} other accesses)",
                guard.guarded, others
            ),
            (true, false, false) => format!(
                "which guards it at {} of its {} other accesses",
                guard.guarded, others
            ),
            (true, false, true) => format!(
                "which every write of it holds ({} of its {} other accesses)",
                guard.guarded, others
            ),
            (false, _, _) => "which its declaration says guards it".to_string(),
        };
        let lock = format!("{receiver}.{}", guard.name);
        let range = access.offset..access.offset + access.len;
        let more = UnlockedAccess {
            range: range.clone(),
            accessed: accessed.to_string(),
            verb: if access.write { "writes" } else { "reads" },
            evidence: match (guard.total > 0, guard.locked_around, writes_only) {
                (true, true, _) => format!(
                    "guarded at every write and taken here ({} of its {} other accesses)",
                    guard.guarded, others
                ),
                (true, false, false) => format!(
                    "guarded at {} of its {} other accesses",
                    guard.guarded, others
                ),
                (true, false, true) => format!(
                    "guarded at every write ({} of its {} other accesses)",
                    guard.guarded, others
                ),
                (false, _, _) => "guarded by its declaration".to_string(),
            },
        };
        let group = (
            access.function.clone(),
            lock.clone(),
            severity,
            why_hint.clone(),
        );
        if unlocked.join(&group, more) {
            continue;
        }
        // A read of a field replaced at run time names the replacement it races with.
        let read_of_replaced = replacement.filter(|_| !access.write).map(|replacement| {
            let locked = holds_guard(cx, &facts, &mut entries, replacement, &guard.name);
            replaced::read_of_replaced(cx, access, replacement, locked, &lock, &evidence)
        });
        let message = match &read_of_replaced {
            Some(read) => format!("{}{why_hint}", read.message),
            None => format!(
                "`{accessed}` is {what} without holding `{lock}`, {evidence}: this races with the locked accesses{why_hint}"
            ),
        };
        let mut finding = META.finding(range, message);
        if let Some((place, note)) = read_of_replaced.and_then(|read| read.replacement) {
            finding = finding.with_related(place, note);
        }
        finding.severity = severity;
        unlocked.open(group, finding);
    }
    out.extend(unlocked.findings());
    report_unlocked_calls(cx, &facts, &mut entries, fresh, &mut guards_of, out);
}

/// (function, lock, severity, the hint's reason): the accesses reported together.
type UnlockedGroup = (String, String, Severity, String);

/// An unlocked access of another field under the same lock in a function already reported.
struct UnlockedAccess {
    range: std::ops::Range<usize>,
    accessed: String,
    verb: &'static str,
    evidence: String,
}

/// One finding per function and lock: fields of one lock that a function reads or writes without
/// it are one defect (the function does not take the lock), fixed by one change, so the first
/// access carries the finding and names the others.
#[derive(Default)]
struct OnePerFunction {
    /// (function, lock, severity, the hint's reason) → the finding and the other accesses, in
    /// the order the groups were opened.
    open: Vec<(UnlockedGroup, Finding, Vec<UnlockedAccess>)>,
    /// Where each group sits in `open`: a file may hold thousands of findings.
    index: HashMap<UnlockedGroup, usize>,
}

impl OnePerFunction {
    /// Adds `access` to the finding already open for `group`; false when there is none.
    fn join(&mut self, group: &UnlockedGroup, access: UnlockedAccess) -> bool {
        match self.index.get(group).and_then(|&i| self.open.get_mut(i)) {
            Some((_, _, more)) => {
                more.push(access);
                true
            }
            None => false,
        }
    }

    fn open(&mut self, group: UnlockedGroup, finding: Finding) {
        self.index.insert(group.clone(), self.open.len());
        self.open.push((group, finding, Vec::new()));
    }

    fn findings(self) -> impl Iterator<Item = Finding> {
        self.open
            .into_iter()
            .map(|((_, lock, _, _), mut finding, more)| {
                for access in more {
                    finding.message.push_str(&format!(
                        "; this function also {} `{}` without it at line {} ({})",
                        access.verb,
                        access.accessed,
                        LineOf(access.range.start),
                        access.evidence
                    ));
                    let what = if access.verb == "writes" {
                        "written"
                    } else {
                        "read"
                    };
                    finding = finding.with_related(
                        access.range,
                        format!("`{}` is {what} here without `{lock}`", access.accessed),
                    );
                }
                finding
            })
    }
}

/// Where one mutex is held at a field's accesses.
#[derive(Default)]
struct HeldAt<'a> {
    /// The functions holding it at an access.
    functions: HashSet<&'a str>,
    /// The accesses holding it.
    accesses: usize,
    /// The writes among them.
    writes: usize,
    /// The functions reading the field under it.
    readers: HashSet<&'a str>,
}

/// A field's guard, and the evidence for it.
#[derive(Debug, Clone)]
struct Guard {
    name: String,
    guarded: usize,
    total: usize,
    /// Whether every write of the field holds the guard (the evidence when fewer than half the
    /// accesses do).
    every_write: bool,
    /// Whether the guard is found only because every access without it is in an exported
    /// method that takes it itself (see `Facts::guard_of`).
    locked_around: bool,
}

/// What the package knows, gathered once per file: every field access and method call, this
/// file's (judged with the package's types) and the other files'.
struct Facts<'a> {
    /// By (type, field).
    by_field: BTreeMap<(&'a str, &'a str), Vec<&'a FieldAccess>>,
    /// Calls of a method of a field's self-locking value (`dl.origin.AccountRLP(h)`), by (type,
    /// field): reads of the pointer only, kept out of `by_field` and its counts, and judged only
    /// where every access without the guard is in a method that takes it (see `guard_of`).
    pointer_reads: BTreeMap<(&'a str, &'a str), Vec<&'a FieldAccess>>,
    /// The fields each method of a type touches: (type, function) → fields.
    fields_of: HashMap<(&'a str, &'a str), HashSet<&'a str>>,
    /// By callee (`Type.method`); implicit calls under `Type.`.
    calls: HashMap<&'a str, Vec<&'a MethodCall>>,
    /// The receiver's locks each method of a type holds at one of its own accesses of the
    /// type's fields, that is takes itself: (type, function) → locks.
    locks_taken: HashMap<(&'a str, &'a str), HashSet<&'a str>>,
    /// By type: how many of its declared fields hold data, and its channel fields (see
    /// [`Facts::whole_value`], asked for each method: counting a type's fields each time cost
    /// the square of a type with thousands of fields and methods).
    data_fields: std::cell::RefCell<HashMap<String, std::rc::Rc<DataFields>>>,
}

/// What [`Facts::whole_value`] reads of a type's declared fields.
struct DataFields {
    count: usize,
    channels: HashSet<String>,
}

impl<'a> Facts<'a> {
    fn gather(cx: &'a Context, fresh: &'a guards::GuardFacts) -> Facts<'a> {
        let mut facts = Facts {
            by_field: BTreeMap::new(),
            pointer_reads: BTreeMap::new(),
            fields_of: HashMap::default(),
            calls: HashMap::default(),
            locks_taken: HashMap::default(),
            data_fields: Default::default(),
        };
        let touched: HashSet<&str> = fresh
            .accesses
            .iter()
            .map(|a| a.type_name.as_str())
            .chain(
                fresh
                    .calls
                    .iter()
                    .map(|c| c.callee.split('.').next().unwrap_or("")),
            )
            .collect();
        let mut seen: HashSet<(&str, usize, &str)> = HashSet::default();
        for access in fresh
            .accesses
            .iter()
            .chain(cx.model.package.field_accesses())
        {
            if !touched.contains(access.type_name.as_str())
                || !seen.insert((
                    access.function.as_str(),
                    access.offset,
                    access.field.as_str(),
                ))
            {
                continue;
            }
            let key = (access.type_name.as_str(), access.field.as_str());
            // Calls on a field's self-locking value stay in `by_field` only for a field
            // replaced at run time (`keep_reads_of_replaced_pointers`).
            facts.by_field.entry(key).or_default().push(access);
            if access.pointer_only && !access.outside {
                facts.pointer_reads.entry(key).or_default().push(access);
            }
            // The type's own fields only: accesses outside its methods, and fields of the
            // elements it holds (`node.next`), say nothing of how much of it a method touches
            // or of which of its locks the method takes.
            if access.outside || access.field.contains('.') {
                continue;
            }
            if !access.guards.is_empty() {
                facts
                    .locks_taken
                    .entry((access.type_name.as_str(), access.function.as_str()))
                    .or_default()
                    .extend(access.guards.iter().map(String::as_str));
            }
            if access.pointer_only {
                continue;
            }
            facts
                .fields_of
                .entry((access.type_name.as_str(), access.function.as_str()))
                .or_default()
                .insert(access.field.as_str());
        }
        let mut seen: HashSet<(&str, usize, CallHow)> = HashSet::default();
        let package = cx.model.package;
        let calls = (fresh.calls.iter().chain(package.method_calls()))
            .chain(package.constructed_method_calls());
        for call in calls {
            if !touched.contains(call.callee.split('.').next().unwrap_or(""))
                || !seen.insert((call.caller.as_str(), call.offset, call.how))
            {
                continue;
            }
            facts
                .calls
                .entry(call.callee.as_str())
                .or_default()
                .push(call);
        }
        facts
    }

    /// The call sites of a method: its own, and for the methods `fmt` and `encoding/json` call,
    /// the places that hand the value to another package.
    fn sites(&self, type_name: &str, function: &str) -> Vec<&'a MethodCall> {
        let mut sites: Vec<&MethodCall> = self.calls.get(function).cloned().unwrap_or_default();
        let method = function.rsplit('.').next().unwrap_or("");
        if guards::IMPLICIT_METHODS.contains(&method) {
            let implicit = format!("{type_name}.");
            sites.extend(self.calls.get(implicit.as_str()).into_iter().flatten());
        }
        sites
    }

    /// Do the package's own calls of a method tell how it is entered? An exported method is the
    /// API's: other packages, and interfaces, call it where the package cannot see, so its
    /// callers here speak for it only when it is a whole-value method (a serializer, a copy)
    /// or one that `fmt` and `encoding/json` run on the values the package hands them. A
    /// method documented or named as entered locked is taken at its word (see [`Entry`]).
    fn callers_speak_for(&self, cx: &Context, type_name: &str, function: &str) -> bool {
        let method = function.rsplit('.').next().unwrap_or("");
        !is_exported(method)
            || guards::IMPLICIT_METHODS.contains(&method)
            || self.whole_value(cx, type_name, function)
    }

    /// Does the method run only on the goroutine of a test whose handle it receives? Each of its
    /// calls in the package is made in place (not under `go`, not in a function literal: a
    /// callback may run anywhere) by a function taking the test's handle, before any
    /// `t.Parallel()` there, and that function runs there too: a method of the same type (whose
    /// calls the package shows) judged the same way, or a test `go test` runs (`TestX`). A
    /// method with no call in the package is entered by the test framework as a step of the test
    /// whose handle it takes (a suite's `TestX`, `TearDownTest`). The caller checks that the
    /// method itself takes the handle (`test_step` on its accesses).
    fn on_test_goroutine<'s>(
        &self,
        type_name: &str,
        function: &'s str,
        seen: &mut HashSet<&'s str>,
    ) -> bool
    where
        'a: 's,
    {
        if !seen.insert(function) {
            // A method calling itself adds nothing.
            return true;
        }
        self.sites(type_name, function).into_iter().all(|site| {
            if site.receiver == CallReceiver::Fresh {
                return true;
            }
            if site.how != CallHow::Direct || !site.test_step {
                return false;
            }
            match site.caller.split_once('.') {
                Some((caller_type, _)) => {
                    caller_type == type_name
                        && self.on_test_goroutine(type_name, &site.caller, seen)
                }
                None => is_test_function(&site.caller),
            }
        })
    }

    /// Is the method started on a goroutine or handed on to run later?
    fn runs_elsewhere(&self, type_name: &str, function: &str) -> bool {
        self.sites(type_name, function)
            .iter()
            .any(|s| matches!(s.how, CallHow::Goroutine | CallHow::Later))
    }

    /// The locks held at an access: its own, and those every caller holds where the package's
    /// calls speak for the method (as `judge` reads them). `None` when the method runs only on
    /// values not yet published.
    fn held_at(
        &self,
        cx: &Context,
        entries: &mut Entries,
        type_name: &str,
        access: &FieldAccess,
    ) -> Option<Vec<String>> {
        let entry = match self.callers_speak_for(cx, type_name, &access.function) {
            true => entries.of(cx, self, type_name, &access.function),
            false => Entry::Unlocked,
        };
        let mut held = access.guards.clone();
        match entry {
            Entry::Fresh => return None,
            Entry::Locked(guards) => held.extend(guards),
            _ => {}
        }
        Some(held)
    }

    /// Does the method take the receiver's lock itself: its summary acquires it, or it holds it
    /// at an access of a field of its own type (the lock a caller holds is not counted: it is
    /// in neither)?
    fn takes(&self, cx: &Context, type_name: &str, function: &str, lock: &str) -> bool {
        let acquired = cx.model.package.summary(function).is_some_and(|s| {
            s.acquires
                .iter()
                .any(|a| a.from_receiver && a.path == lock && a.only_if.is_none())
        });
        acquired
            || self
                .locks_taken
                .get(&(type_name, function))
                .is_some_and(|locks| locks.contains(lock))
    }

    /// Does the method read or write the whole value: two thirds of the type's data fields or
    /// more, and four or more (a serializer, a copy, a decoder)? Such a method takes no lock of
    /// its own for one field: its callers decide.
    fn whole_value(&self, cx: &Context, type_name: &str, function: &str) -> bool {
        let Some(fields) = self.fields_of.get(&(type_name, function)) else {
            return false;
        };
        let declared = self
            .data_fields
            .borrow_mut()
            .entry(type_name.to_string())
            .or_insert_with(|| {
                let fields = cx.model.package.struct_fields(type_name).unwrap_or(&[]);
                std::rc::Rc::new(DataFields {
                    count: fields
                        .iter()
                        .filter(|f| guards::holds_data(cx.model.package, &f.ty))
                        .count(),
                    channels: fields
                        .iter()
                        .filter(|f| matches!(f.ty, goconc_model::types::Ty::Chan(_)))
                        .map(|f| f.name.clone())
                        .collect(),
                })
            })
            .clone();
        // Channel fields are accessed too (their replacement races), but a loop that selects
        // on them is no serializer: only the data fields count.
        let touched = fields
            .iter()
            .filter(|f| !declared.channels.contains(**f))
            .count();
        touched >= 4 && touched * 3 >= declared.count * 2
    }

    /// The guard of a field: declared (`// guarded by mu`), or the mutex most accesses hold,
    /// counting the locks a method's every caller holds and leaving out methods that run on
    /// values not yet published.
    fn guard_of(
        &self,
        cx: &Context,
        entries: &mut Entries,
        type_name: &str,
        field: &str,
        outside: bool,
    ) -> Option<Guard> {
        if let Some(declared) = cx
            .model
            .package
            .field(type_name, field)
            .and_then(|f| f.guard.clone())
        {
            return Some(Guard {
                name: declared,
                guarded: 0,
                total: 0,
                every_write: false,
                locked_around: false,
            });
        }
        let accesses = self.by_field.get(&(type_name, field))?;
        let mut counts: BTreeMap<String, HeldAt> = BTreeMap::new();
        let mut total = 0;
        let mut writes = 0;
        let mut writers: HashSet<&str> = HashSet::default();
        let mut bare: HashSet<&str> = HashSet::default();
        let mut unguarded = 0;
        let mut maybe_shared: Vec<&FieldAccess> = Vec::new();
        for access in accesses {
            // The type's own methods tell what guards a field; code outside them is judged by
            // that guard.
            if access.expects_held || access.outside {
                continue;
            }
            // Run only on values not yet published: no evidence either way. Unless the package
            // makes calls of the method's name its facts do not type: those are kept for the
            // guard found from the methods that take it (below).
            let Some(mut held) = self.held_at(cx, entries, type_name, access) else {
                if calls_unaccounted(cx, &access.function) {
                    maybe_shared.push(access);
                }
                continue;
            };
            // A bare call that only reads through the field's method is judged by the guard,
            // not counted against it: code that reads a field bare through its methods tends
            // to do so in several places, each a race of its own.
            if held.is_empty() {
                bare.insert(access.function.as_str());
            }
            if held.is_empty() && access.method && !access.write {
                unguarded += 1;
                continue;
            }
            total += 1;
            if access.write {
                writes += 1;
                writers.insert(access.function.as_str());
            }
            if held.is_empty() {
                unguarded += 1;
            }
            held.sort_unstable();
            held.dedup();
            for guard in held {
                let count = counts.entry(guard).or_default();
                count.functions.insert(access.function.as_str());
                count.accesses += 1;
                if access.write {
                    count.writes += 1;
                } else {
                    count.readers.insert(access.function.as_str());
                }
            }
        }
        let (
            name,
            HeldAt {
                functions,
                accesses: guarded,
                writes: guarded_writes,
                readers: locked_readers,
            },
        ) = match counts.into_iter().max_by_key(|(_, held)| held.accesses) {
            Some(most) => most,
            // No access counted: only those of methods the package may also call on a shared
            // value it cannot type, which only the guard found from the methods that take it
            // counts (below), with the lock one of their writes holds.
            None => {
                let lock = maybe_shared
                    .iter()
                    .filter(|a| a.write)
                    .find_map(|a| a.guards.first())?;
                (lock.clone(), HeldAt::default())
            }
        };
        let has_write = guarded_writes > 0;
        // Locked accesses in one method only are that method's business (it locks for another
        // field), not evidence of a guard, unless that method both reads and writes the field
        // under the lock (in two critical sections: it locks for this field).
        let one_method_locks_for_it = functions.len() == 1
            && functions.iter().all(|f| {
                let locked = |write: bool| {
                    accesses
                        .iter()
                        .any(|a| a.function == *f && a.write == write && a.guards.contains(&name))
                };
                locked(true) && locked(false)
            });
        // Every write holds it, and a function that only reads the field takes it to do so:
        // the lock is meant for the field even where most reads forgot it. Where fewer than
        // half the accesses hold it, that is evidence only between methods any goroutine may
        // enter: every write and every bare access in an exported method (a decoder aside,
        // which fills a value not yet shared). A writer of the package's own (a loop that
        // owns the field, writes it under the lock for others and reads it bare) is not.
        let every_write = guarded_writes == writes;
        let entered_anywhere = |function: &&str| {
            let method = function.rsplit('.').next().unwrap_or(function);
            is_exported(method) && !guards::DECODING_METHODS.contains(&method)
        };
        let api_race = every_write
            && locked_readers.iter().any(|f| !writers.contains(f))
            && writers.iter().all(entered_anywhere)
            && bare.iter().all(entered_anywhere);
        let by_count = guarded >= 2
            && (functions.len() >= 2 || one_method_locks_for_it)
            && has_write
            // Every access in the type's own methods holding it is a guard for the code
            // outside them to take.
            && (unguarded > 0 || outside)
            && (guarded * 2 > total || api_race);
        // The calls on the field's self-locking value made without the guard read the pointer
        // (`dl.origin.AccountRLP(h)`): they race with a write that replaces it.
        let mut bare_pointer_reads = false;
        for read in self
            .pointer_reads
            .get(&(type_name, field))
            .into_iter()
            .flatten()
        {
            if read.expects_held {
                continue;
            }
            if self
                .held_at(cx, entries, type_name, read)
                .is_some_and(|held| held.is_empty())
            {
                bare.insert(read.function.as_str());
                bare_pointer_reads = true;
            }
        }
        let replaced_under_guard = accesses
            .iter()
            .any(|a| a.replaces_field() && a.guards.contains(&name));
        // Every write holds it, and every access without it is in an exported method that takes
        // it itself, to touch other fields: that method knows the value is shared and reaches
        // the field outside its critical section (a read just after `RUnlock`), however few the
        // locked accesses. A loop that owns the field reads it bare in methods of its own, not
        // in the API's, and a method that writes the field is judged by the count above. Only
        // for the type's own methods: "takes it here" says nothing of another type's.
        // Accesses in a method every call seen of which is on a new value, where the package
        // makes calls of its name it does not type (`diff.rebloom(d)` in a sibling file of
        // `diffLayer`'s): the method may run on a shared value too.
        let mut late_writes = 0;
        let mut late_guarded_writes = 0;
        for access in &maybe_shared {
            if access.guards.is_empty() {
                bare.insert(access.function.as_str());
            }
            if access.write {
                late_writes += 1;
                writers.insert(access.function.as_str());
                if access.guards.contains(&name) {
                    late_guarded_writes += 1;
                }
            }
        }
        let locked_around = !by_count
            && !outside
            && guarded_writes + late_guarded_writes > 0
            && guarded_writes + late_guarded_writes == writes + late_writes
            && (replaced_under_guard || !bare_pointer_reads)
            && !bare.is_empty()
            && bare.iter().all(|function| {
                entered_anywhere(function)
                    && !writers.contains(function)
                    && self.takes(cx, type_name, function, &name)
            });
        // The evidence a finding names counts those accesses too.
        let (guarded, total) = match locked_around {
            true => {
                let counted = || maybe_shared.iter().filter(|a| a.write || !a.method);
                let late_guarded = counted().filter(|a| a.guards.contains(&name)).count();
                (guarded + late_guarded, total + counted().count())
            }
            false => (guarded, total),
        };
        (by_count || locked_around).then_some(Guard {
            name,
            guarded,
            total,
            every_write,
            locked_around,
        })
    }
}

/// Does the package make calls of the function's method name (`x.rebloom(…)`, on anything) that
/// its facts do not account for: calls on a value whose type a sibling file declares, which may
/// run the method on a shared value (see `PackageModel::calls_unaccounted`)?
fn calls_unaccounted(cx: &Context, function: &str) -> bool {
    function.contains('.')
        && cx
            .model
            .package
            .calls_unaccounted(function.rsplit('.').next().unwrap_or(function))
}

/// How a method is entered, from its call sites in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Named or documented as running with the lock held (`…Locked`).
    Expected,
    /// Every call site holds a lock of the receiver (those it names all hold), or runs on a
    /// value not yet published, or is in a method entered so.
    Locked(Vec<String>),
    /// Every call site is on a value its caller has just made and not published.
    Fresh,
    /// Some call sites hold the lock, others do not: the ones that do not are reported.
    Mixed,
    /// No call site holds a lock (or one runs it on a goroutine or later).
    Unlocked,
    /// No call site in the package.
    NoCallers,
}

/// How each method is entered, computed once per method.
#[derive(Default)]
struct Entries {
    known: HashMap<String, Entry>,
}

impl Entries {
    fn of(&mut self, cx: &Context, facts: &Facts, type_name: &str, function: &str) -> Entry {
        if let Some(known) = self.known.get(function) {
            return known.clone();
        }
        // A method calling itself (or a cycle) adds nothing: neutral while it is worked out.
        self.known.insert(function.to_string(), Entry::Fresh);
        let entry = self.compute(cx, facts, type_name, function);
        self.known.insert(function.to_string(), entry.clone());
        entry
    }

    fn compute(&mut self, cx: &Context, facts: &Facts, type_name: &str, function: &str) -> Entry {
        if cx
            .model
            .package
            .summary(function)
            .is_some_and(|s| s.expects_held)
        {
            return Entry::Expected;
        }
        let sites = facts.sites(type_name, function);
        if sites.is_empty() {
            return Entry::NoCallers;
        }
        let mut locked: Option<Vec<String>> = None;
        let mut any_locked = false;
        let mut unlocked = false;
        let mut elsewhere = false;
        for site in &sites {
            let held: Option<Vec<String>> = match (site.how, site.receiver) {
                (CallHow::Goroutine | CallHow::Later, _) => {
                    elsewhere = true;
                    None
                }
                (_, CallReceiver::Fresh) => continue,
                _ if !site.guards.is_empty() => Some(site.guards.clone()),
                (_, CallReceiver::Same) => {
                    let caller_type = site.caller.split('.').next().unwrap_or("");
                    match self.of(cx, facts, caller_type, &site.caller) {
                        Entry::Expected => Some(vec![String::new()]),
                        Entry::Locked(guards) => Some(guards),
                        // An API method run here only on new values is still the API's to
                        // call on shared ones.
                        Entry::Fresh if !facts.callers_speak_for(cx, caller_type, &site.caller) => {
                            None
                        }
                        Entry::Fresh => continue,
                        _ => None,
                    }
                }
                _ => None,
            };
            match held {
                Some(guards) => {
                    any_locked = true;
                    locked = Some(match locked {
                        None => guards,
                        Some(mut known) => {
                            known.retain(|g| guards.contains(g));
                            known
                        }
                    });
                }
                None => unlocked = true,
            }
        }
        match (any_locked, unlocked || elsewhere) {
            (false, false) => Entry::Fresh,
            (true, false) => Entry::Locked(locked.unwrap_or_default()),
            (true, true) if !elsewhere => Entry::Mixed,
            _ => Entry::Unlocked,
        }
    }
}

/// Should this unlocked access be reported, and at which severity (with, for a hint, why the
/// race is unlikely, for the message)?
fn judge(
    cx: &Context,
    facts: &Facts,
    entries: &mut Entries,
    access: &FieldAccess,
    guard: &Guard,
) -> Option<(Severity, String)> {
    if access.expects_held || !access.guards.is_empty() {
        return None;
    }
    let method = access.function.rsplit('.').next().unwrap_or("");
    let exported = is_exported(method);
    let whole_value = facts.whole_value(cx, &access.type_name, &access.function);
    let entry = entries.of(cx, facts, &access.type_name, &access.function);
    let entry = match entry {
        Entry::Locked(_) | Entry::Fresh | Entry::Mixed
            if !facts.callers_speak_for(cx, &access.type_name, &access.function) =>
        {
            Entry::Unlocked
        }
        entry => entry,
    };
    match entry {
        // Held by every caller, on a value not yet published, or reported at the call sites
        // that skip the lock.
        Entry::Expected | Entry::Locked(_) | Entry::Fresh | Entry::Mixed => return None,
        // Nothing in the package runs it: an exported method is the API's to call any time; an
        // unexported one is reached some way the package does not show. A whole-value method
        // (a serializer) is its callers' to lock.
        Entry::NoCallers => {
            if !exported || whole_value {
                return None;
            }
        }
        // Called without the lock: an exported method is the API's to call any time; an
        // unexported one races the same way when a goroutine runs it or it is handed on as a
        // callback (its direct callers are judged where they are).
        Entry::Unlocked => {
            if !exported && !facts.runs_elsewhere(&access.type_name, &access.function) {
                return None;
            }
        }
    }
    if on_published_fast_path(cx, access)
        || creates_guard(cx, access, &guard.name)
        || (before_own_goroutines(cx, access)
            && facts
                .sites(&access.type_name, &access.function)
                .iter()
                .all(|s| s.receiver == CallReceiver::Fresh))
    {
        return None;
    }
    let accesses = facts
        .by_field
        .get(&(access.type_name.as_str(), access.field.as_str()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    if reads_the_field_as_made(cx, access, accesses) {
        return None;
    }
    // A write of one part of the field (`c.stats.sent++`) is none of a read of another
    // (`c.stats.name`).
    // The lock is seen serialising only uses of the value — calls of its methods
    // (`p.store.put(…)`) or accesses of its fields (`p.store.index[k]`) under it, never
    // `p.store` itself: setting the field up (`p.store = newStore()` in `Init`) or checking it
    // (`p.store != nil`) is no access that evidence speaks for. A use of the value without the
    // lock (`p.store.bytes`) is still judged.
    let locked_only_through_the_value = accesses
        .iter()
        .filter(|a| a.guards.contains(&guard.name))
        .all(|a| a.method || a.part.is_some());
    if locked_only_through_the_value
        && !access.element
        && !access.method
        && access.part.is_none()
        && !returned(cx, access)
    {
        return None;
    }
    let writes: Vec<&&FieldAccess> = accesses
        .iter()
        .filter(|a| a.write && (a.part.is_none() || access.part.is_none() || a.part == access.part))
        .collect();
    // Every write decodes or builds the whole value (`UnmarshalJSON`), or runs on a value not
    // yet published: the field does not change once the value is shared.
    // A guard found from the methods that take it counts writes in methods the package also
    // calls where it cannot type the value (see `Facts::guard_of`): those do not freeze it.
    let frozen = !access.write
        && writes.iter().all(|w| {
            facts.whole_value(cx, &w.type_name, &w.function)
                || (entries.of(cx, facts, &w.type_name, &w.function) == Entry::Fresh
                    && facts.callers_speak_for(cx, &w.type_name, &w.function)
                    && !(guard.locked_around && calls_unaccounted(cx, &w.function)))
        });
    if frozen {
        return None;
    }
    // A channel field replaced only where the goroutines reading it cannot be: after the one
    // serving it answered its last request, or before the write's function starts this
    // method on its own goroutine.
    let handed_over = !access.write
        && !writes.is_empty()
        && writes
            .iter()
            .all(|w| w.handover.answered || w.handover.started_after.iter().any(|m| m == method));
    if handed_over {
        return None;
    }
    // Every write is made by a start transition's one run (see `written_at_start`).
    if !access.write {
        match written_at_start(cx, facts, entries, &access.type_name, &writes, guard) {
            Some(AtStart::Once) => return None,
            Some(AtStart::Again {
                start,
                state,
                reset,
            }) => {
                let method = |key: &str| key.rsplit('.').next().unwrap_or(key).to_string();
                return Some((
                    Severity::Hint,
                    format!(
                        " only if `{}` runs again while it is read (every write follows `{}`'s change of `{state}` under the lock, and `{}` sets `{state}` back)",
                        method(start),
                        method(start),
                        method(reset)
                    ),
                ));
            }
            None => {}
        }
    }
    // The type hands its lock to its users (an exported type embedding its mutex, or an
    // exported mutex field): a method that takes no lock at all is written for callers that
    // hold it. Not one that returns the guarded field itself: the caller's lock ends before
    // its use of what it got.
    if lock_is_callers(cx, &access.type_name, &guard.name)
        && !returned(cx, access)
        && cx
            .model
            .package
            .summary(&access.function)
            .is_none_or(|s| s.acquires.is_empty())
    {
        return None;
    }
    // Set once under the lock when unset (`if c.x == nil { c.x = … }`), and read after: the
    // race is on that first write only.
    let lazy = !access.write && !writes.is_empty() && writes.iter().all(|w| w.lazy_init);
    // Every write is in this function: a read here races only with another run of it.
    // Unless the function also reads it under the lock: then it expects another run of
    // itself to write it meanwhile.
    let confined = !access.write
        && !writes.is_empty()
        && writes.iter().all(|w| w.function == access.function)
        && !accesses.iter().any(|a| {
            a.function == access.function
                && !a.write
                && a.guards.contains(&guard.name)
                && !in_write_of_field(cx, a, &writes)
        });
    if lazy || confined {
        return Some((Severity::Hint, guard_hint(facts, access)));
    }
    // Every write takes the guard and, like this read, is made on a test's own goroutine (see
    // `Facts::on_test_goroutine`): the lock is for readers elsewhere (a watchdog), and the
    // test's own reads race with none of its writes.
    let test_confined = !access.write
        && !writes.is_empty()
        && writes
            .iter()
            .all(|w| w.test_step && holds_guard(cx, facts, entries, w, &guard.name))
        && [&access.function]
            .into_iter()
            .chain(writes.iter().map(|w| &w.function))
            .all(|f| facts.on_test_goroutine(&access.type_name, f, &mut HashSet::default()))
        && access.test_step;
    if test_confined {
        return Some((
            Severity::Hint,
            " only if two tests of the value run at once (every write takes the lock, and like this read runs on a test's own goroutine: nothing in the package starts it on another, hands it on as a callback or runs it after `t.Parallel()`)".to_string(),
        ));
    }
    Some((Severity::Warning, String::new()))
}

/// How a field's writes stand to a start transition of its type.
enum AtStart<'a> {
    /// The transition runs once: nothing sets the state back to a value its check lets
    /// through, so the field is frozen once the start has returned.
    Once,
    /// `reset` sets the state back (`Stop` clearing `running`): the start can run again.
    Again {
        start: &'a str,
        state: &'a str,
        reset: &'a str,
    },
}

/// Is every write of the field made inside one start transition of its type (see
/// [`goconc_model::transition`]): in the method that checks and sets the state, after the
/// change and before the lock guarding the field is let go, or in an unexported method of the
/// type called only there (or only from such methods), in place and on the same receiver?
/// Such writes are made by one run of the start at a time, and by none once the state has
/// been set, until something sets it back.
fn written_at_start<'a>(
    cx: &Context,
    facts: &Facts<'a>,
    entries: &mut Entries,
    type_name: &str,
    writes: &[&&'a FieldAccess],
    guard: &Guard,
) -> Option<AtStart<'a>> {
    let mut start: Option<&'a str> = None;
    let mut helpers: HashMap<&'a str, Option<&'a str>> = HashMap::default();
    for write in writes {
        let found = start_covering(
            cx,
            facts,
            &mut helpers,
            type_name,
            &write.function,
            write.offset,
            0,
        )?;
        if start.is_some_and(|s| s != found) {
            return None;
        }
        start = Some(found);
    }
    let start = start?;
    let transition = cx.model.package.summary(start)?.start.as_ref()?;
    if transition.lock != guard.name {
        return None;
    }
    // Whatever sets the state to a value the check lets through opens the start again. Values
    // set on a value not yet published are its initial state.
    let state_writes = facts
        .by_field
        .get(&(type_name, transition.state.as_str()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    for set in state_writes.iter().filter(|a| a.write) {
        let the_change = set.function == start && set.offset == transition.advance;
        let turned_back = set
            .value
            .as_deref()
            .is_some_and(|v| transition.turned_back.contains(v));
        let initial = !set.outside
            && entries.of(cx, facts, &set.type_name, &set.function) == Entry::Fresh
            && facts.callers_speak_for(cx, &set.type_name, &set.function);
        if !(the_change || turned_back || initial) {
            return Some(AtStart::Again {
                start,
                state: set.field.as_str(),
                reset: set.function.as_str(),
            });
        }
    }
    Some(AtStart::Once)
}

/// The method whose start transition covers `offset` in `function`: `function`'s own, or,
/// for an unexported method of the type, the one covering every call of it (each made in
/// place on the same receiver). `helpers` remembers the answer for each helper (it does not
/// depend on the offset), so a chain of helpers each called many times is walked once.
fn start_covering<'a>(
    cx: &Context,
    facts: &Facts<'a>,
    helpers: &mut HashMap<&'a str, Option<&'a str>>,
    type_name: &str,
    function: &'a str,
    offset: usize,
    depth: usize,
) -> Option<&'a str> {
    // Helpers of helpers, a few deep, are all a start calls in practice.
    const MAX_DEPTH: usize = 6;
    let summary = cx.model.package.summary(function);
    if summary
        .and_then(|s| s.start.as_ref())
        .is_some_and(|t| t.covers(offset))
    {
        return Some(function);
    }
    if let Some(known) = helpers.get(function) {
        return *known;
    }
    // A helper that reaches itself through its callers is entered some other way: no.
    helpers.insert(function, None);
    let (owner, method) = function.split_once('.')?;
    if owner != type_name || is_exported(method) || depth >= MAX_DEPTH {
        return None;
    }
    let mut start: Option<&'a str> = None;
    for site in facts.sites(type_name, function) {
        if site.how != CallHow::Direct || site.receiver != CallReceiver::Same {
            return None;
        }
        let found = start_covering(
            cx,
            facts,
            helpers,
            type_name,
            &site.caller,
            site.offset,
            depth + 1,
        )?;
        if start.is_some_and(|s| s != found) {
            return None;
        }
        start = Some(found);
    }
    helpers.insert(function, start);
    start
}

/// Reading the field itself (the map or slice, not what it holds) when nothing ever assigns the
/// field: it is as it was made; the lock guards what it holds.
fn reads_the_field_as_made(cx: &Context, access: &FieldAccess, accesses: &[&FieldAccess]) -> bool {
    let assigned = |a: &&FieldAccess| a.write && !a.element;
    !access.write && !access.element && !accesses.iter().any(assigned) && !returned(cx, access)
}

/// An access through a field of another type's receiver (`p.all.txs`, where `all` holds a
/// `*lookup` whose own methods guard `txs` with its lock): the value locks for itself, so its
/// methods run on any goroutine, and this access races with them unless it takes the value's
/// lock through that field (`p.all.mu.Lock()`). Silent where the value cannot be shared yet
/// (the method stored it in the field itself before the access, or runs only on values not
/// yet published), where the field does not change once the value is shared, behind a check
/// of state the value publishes atomically (`if p.all.ready() { … p.all.txs … }`), and in a
/// function the type's own methods may reach, through the package's calls, while holding the
/// guard (see [`HeldReach`]).
fn judge_outside(
    cx: &Context,
    facts: &Facts,
    entries: &mut Entries,
    held_reach: &mut HeldReach,
    access: &FieldAccess,
    guard: &Guard,
) -> Option<(Severity, String)> {
    if access.expects_held || !access.guards.is_empty() {
        return None;
    }
    let outer_type = access.function.split('.').next().unwrap_or("");
    if entries.of(cx, facts, outer_type, &access.function) == Entry::Fresh
        || stored_before(cx, access)
        || on_published_fast_path(cx, access)
    {
        return None;
    }
    if held_reach.may_run_holding(cx, &access.type_name, guard, &access.function) {
        return None;
    }
    let accesses = facts
        .by_field
        .get(&(access.type_name.as_str(), access.field.as_str()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    if reads_the_field_as_made(cx, access, accesses) {
        return None;
    }
    let frozen = !access.write
        && accesses.iter().filter(|a| a.write).all(|w| {
            !w.outside
                && (facts.whole_value(cx, &w.type_name, &w.function)
                    || (entries.of(cx, facts, &w.type_name, &w.function) == Entry::Fresh
                        && facts.callers_speak_for(cx, &w.type_name, &w.function)))
        });
    if frozen {
        return None;
    }
    Some((Severity::Warning, String::new()))
}

/// Which functions of the package may run with a type's lock held, computed once per (type,
/// guard) and per function for the file being judged.
#[derive(Default)]
struct HeldReach {
    /// By (type, guard): see [`run_holding`].
    reached: HashMap<(String, String), HashSet<String>>,
    /// By callee: the functions of the package whose calls resolve to it.
    callers: Option<HashMap<String, Vec<String>>>,
    /// By function: see [`entered_unseen`].
    unseen: HashMap<String, bool>,
}

impl HeldReach {
    /// May `function` run with `type_name`'s lock `guard` held? When the type's methods reach
    /// it through the package's calls while holding the guard; or, where they call out under
    /// the guard at all, when the package shows no way into it (see [`entered_unseen`]): the
    /// calls syntax cannot resolve, through an interface or a type assertion, may be those.
    fn may_run_holding(
        &mut self,
        cx: &Context,
        type_name: &str,
        guard: &Guard,
        function: &str,
    ) -> bool {
        let reached = self
            .reached
            .entry((type_name.to_string(), guard.name.clone()))
            .or_insert_with(|| run_holding(cx, type_name, guard));
        if reached.contains(function) {
            return true;
        }
        if reached.is_empty() {
            return false;
        }
        let callers = self.callers.get_or_insert_with(|| callers_of(cx));
        *self
            .unseen
            .entry(function.to_string())
            .or_insert_with(|| entered_unseen(callers, function))
    }
}

/// The functions of the package that may run with `type_name`'s lock `guard` held: those a
/// method of the type calls while holding it (or calls at all when the method is entered
/// locked, `…Locked`), and, transitively, everything they call in the package. An access from
/// outside the type's methods made in one of them may be the code the lock is held for.
fn run_holding(cx: &Context, type_name: &str, guard: &Guard) -> HashSet<String> {
    use goconc_model::lock_closure::{owner_of, resolve_call};
    let package = cx.model.package;
    let prefix = format!("{type_name}.");
    let mut reached: HashSet<String> = HashSet::default();
    let mut pending: Vec<String> = Vec::new();
    let reach = |key: String, reached: &mut HashSet<String>, pending: &mut Vec<String>| {
        if reached.insert(key.clone()) {
            pending.push(key);
        }
    };
    for (key, summary) in package
        .summaries()
        .filter(|(key, _)| key.starts_with(&prefix))
    {
        let calls = summary.calls.iter().filter(|call| {
            summary.expects_held
                || call
                    .held
                    .iter()
                    .any(|held| held.from_receiver && held.path == guard.name)
        });
        for call in calls {
            if let Some((callee, _)) =
                resolve_call(package, owner_of(key), &call.target, &call.name)
            {
                reach(callee, &mut reached, &mut pending);
            }
        }
    }
    // Each function is expanded once (the set bounds the walk by the package's functions).
    while let Some(key) = pending.pop() {
        let Some(summary) = package.summary(&key) else {
            continue;
        };
        for call in &summary.calls {
            if let Some((callee, _)) =
                resolve_call(package, owner_of(&key), &call.target, &call.name)
            {
                reach(callee, &mut reached, &mut pending);
            }
        }
    }
    reached
}

/// Every function of the package by callee: who calls it or starts it, as far as calls resolve.
fn callers_of(cx: &Context) -> HashMap<String, Vec<String>> {
    use goconc_model::lock_closure::{owner_of, resolve_call};
    let package = cx.model.package;
    let mut callers: HashMap<String, Vec<String>> = HashMap::default();
    for (key, summary) in package.summaries() {
        for call in &summary.calls {
            if let Some((callee, _)) =
                resolve_call(package, owner_of(key), &call.target, &call.name)
            {
                let of_callee = callers.entry(callee).or_default();
                if !of_callee.contains(key) {
                    of_callee.push(key.clone());
                }
            }
        }
    }
    // `go s.loop()` and the calls inside `go func() { … }()` are no calls of the summaries.
    for key in package.go_facts_keys() {
        let Some(facts) = package.go_facts(key) else {
            continue;
        };
        for callee in facts.starts.iter().chain(&facts.runs_in_started_literals) {
            let of_callee = callers.entry(callee.clone()).or_default();
            if !of_callee.contains(key) {
                of_callee.push(key.clone());
            }
        }
    }
    callers
}

/// Is `function` entered only in ways the package's resolved calls do not show? Every chain of
/// its callers (transitively, counting `go` statements that start a function by name or call
/// it inside the literal they start) begins at an unexported function or method that nothing
/// in the package calls by name (`diskLayer.commit`, reached only as `disk.commit(…)` on a type
/// assertion's result; an interface method; a method value handed on). One chain from an
/// exported function, `init` or `main` is a way in that the package shows.
fn entered_unseen(callers: &HashMap<String, Vec<String>>, function: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::default();
    let mut pending = vec![function];
    while let Some(key) = pending.pop() {
        if !seen.insert(key) {
            continue;
        }
        match callers
            .get(key)
            .filter(|of_key| of_key.iter().any(|caller| caller != key))
        {
            Some(of_key) => pending.extend(of_key.iter().map(String::as_str)),
            None => {
                let name = key.rsplit('.').next().unwrap_or(key);
                if is_exported(name) || key == "init" || key == "main" {
                    return false;
                }
            }
        }
    }
    true
}

/// The value an access made outside its type's methods reaches the field through (`p.all` of
/// `p.all.txs`).
fn outside_holder<'s>(cx: &Context<'_, 's>, access: &FieldAccess) -> &'s str {
    cx.src
        .get(access.offset..access.offset + access.len)
        .and_then(|accessed| accessed.rsplit_once('.'))
        .map_or("", |(holder, _)| holder)
}

/// Does the access's function store a value in the field it reaches the access through
/// (`p.all = newLookup()` before `p.all.txs[h] = tx`)? The value is then the function's own
/// until it is published.
fn stored_before(cx: &Context, access: &FieldAccess) -> bool {
    let holder = outside_holder(cx, access);
    let Some(body) = body_of(cx, access) else {
        return false;
    };
    let mut stored = false;
    walk(body, |node| {
        if stored || node.start_byte() >= access.offset {
            return false;
        }
        if node.kind_str() == "assignment_statement" {
            stored = node
                .field("left")
                .is_some_and(|left| text(left, cx.src).split(',').any(|l| l.trim() == holder));
        }
        !stored
    });
    stored
}

/// Does the access hold the guard: in its own body, or by every caller of its method?
fn holds_guard(
    cx: &Context,
    facts: &Facts,
    entries: &mut Entries,
    access: &FieldAccess,
    guard: &str,
) -> bool {
    access.guards.iter().any(|g| g == guard)
        || match entries.of(cx, facts, &access.type_name, &access.function) {
            Entry::Expected => true,
            Entry::Locked(guards) => guards.iter().any(|g| g == guard),
            _ => false,
        }
}

/// `TestX`, `BenchmarkX`, `FuzzX`: a function `go test` runs on a goroutine of its own, one
/// test after another (its `test_step` calls take its handle).
fn is_test_function(name: &str) -> bool {
    ["Test", "Benchmark", "Fuzz"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_lowercase()))
    })
}

fn is_exported(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Is the guard part of the type's API: an exported type that embeds it (`sync.Mutex`, whose
/// `Lock` is then the type's), or an exported mutex field?
fn lock_is_callers(cx: &Context, type_name: &str, guard: &str) -> bool {
    let Some(field) = cx.model.package.field(type_name, guard) else {
        return false;
    };
    let exported = |name: &str| name.starts_with(|c: char| c.is_ascii_uppercase());
    (field.embedded && exported(type_name)) || (!field.embedded && exported(guard))
}

/// Why an unlocked read is only a hint (see [`judge`]).
fn guard_hint(facts: &Facts, access: &FieldAccess) -> String {
    let writes_here_only = facts
        .by_field
        .get(&(access.type_name.as_str(), access.field.as_str()))
        .is_some_and(|all| {
            all.iter()
                .filter(|a| a.write)
                .all(|w| w.function == access.function)
        });
    match writes_here_only {
        true => " only if this function runs twice at once (every write is in it)".to_string(),
        false => " only while it is first set (every write sets it once, when unset)".to_string(),
    }
}

/// Is the access returned as it is (`return c.items`)? What the lock guards then leaves the
/// type for callers that cannot take it.
fn returned(cx: &Context, access: &FieldAccess) -> bool {
    let Some(node) = cx
        .model
        .root
        .descendant_for_byte_range(access.offset, access.offset + access.len)
    else {
        return false;
    };
    let mut parent = node.parent_node();
    while let Some(p) =
        parent.filter(|p| matches!(p.kind_str(), "expression_list" | "parenthesized_expression"))
    {
        parent = p.parent_node();
    }
    parent.is_some_and(|p| p.kind_str() == "return_statement")
}

/// The body of the top-level function an access is in.
fn body_of<'t>(cx: &Context<'_, 't>, access: &FieldAccess) -> Option<Node<'t>> {
    let mut index = access_function(cx, access)?;
    while let Some(parent) = cx.model.functions[index].parent {
        index = parent;
    }
    cx.model.functions[index].body
}

/// The innermost function the access is in.
fn access_function(cx: &Context, access: &FieldAccess) -> Option<usize> {
    let node = cx
        .model
        .root
        .descendant_for_byte_range(access.offset, access.offset + access.len)?;
    cx.model.function_of(node)
}

/// The name of the receiver of the method an access is in (`c` of `c.items`, and of `n.f`
/// for an element `n` of `c.nodes`).
fn access_receiver<'s>(cx: &Context<'_, 's>, access: &FieldAccess) -> &'s str {
    let declared = access_function(cx, access)
        .map(|mut index| {
            while let Some(parent) = cx.model.functions[index].parent {
                index = parent;
            }
            cx.model.functions[index].node
        })
        .and_then(|function| function.field("receiver"))
        .and_then(|r| goconc_syntax::named_children(r).next())
        .and_then(|p| p.field("name"));
    if let Some(name) = declared {
        return text(name, cx.src);
    }
    let accessed = cx
        .src
        .get(access.offset..access.offset + access.len)
        .unwrap_or("");
    accessed.split('.').next().unwrap_or("")
}

/// Is the locked read part of a statement that writes the same field
/// (`c.list = append(c.list, x)`)? It reads only to write.
fn in_write_of_field(cx: &Context, read: &FieldAccess, writes: &[&&FieldAccess]) -> bool {
    let Some(mut node) = cx
        .model
        .root
        .descendant_for_byte_range(read.offset, read.offset + read.len)
    else {
        return false;
    };
    while let Some(parent) = node.parent_node() {
        if matches!(
            parent.kind_str(),
            "block" | "statement_list" | "source_file"
        ) {
            break;
        }
        node = parent;
    }
    let statement = node.start_byte()..node.end_offset();
    writes
        .iter()
        .any(|w| w.function == read.function && statement.contains(&w.offset))
}

/// Is the access in a method that starts goroutines of its own only after it (`c.state = …`,
/// then `go c.loop()` or `go func() { … }()`), and none before? That is the value's set-up
/// before its goroutines run (a constructor or `Start`).
fn before_own_goroutines(cx: &Context, access: &FieldAccess) -> bool {
    let Some(body) = body_of(cx, access) else {
        return false;
    };
    let receiver = access_receiver(cx, access);
    guards::GoStarts::of(body, receiver, cx.src).set_up_at(access.offset)
}

/// Does the method assign the guard itself (`t.mu = new(sync.Mutex)`)? It sets the value up:
/// nobody can hold that lock yet.
fn creates_guard(cx: &Context, access: &FieldAccess, guard: &str) -> bool {
    let Some(body) = access_function(cx, access).and_then(|i| cx.model.functions[i].body) else {
        return false;
    };
    let target = format!("{}.{guard}", access_receiver(cx, access));
    let mut found = false;
    walk(body, |n| {
        if n.kind_str() == "assignment_statement" {
            found = found
                || n.field("left").is_some_and(|left| {
                    goconc_syntax::named_children(left).any(|l| text(l, cx.src) == target)
                });
        }
        !found
    });
    found
}

/// Calls in this file of a method whose other callers hold the lock, made without it: the
/// method is written for the lock held, and this call skips it.
fn report_unlocked_calls<'a>(
    cx: &Context,
    facts: &Facts<'a>,
    entries: &mut Entries,
    fresh: &'a guards::GuardFacts,
    guards_of: &mut HashMap<(&'a str, &'a str, bool), Option<Guard>>,
    out: &mut Vec<Finding>,
) {
    // One finding per helper per calling function.
    let mut reported: HashSet<(&str, &str)> = HashSet::default();
    for call in &fresh.calls {
        if call.how != CallHow::Direct
            || !call.guards.is_empty()
            || call.receiver == CallReceiver::Fresh
        {
            continue;
        }
        let Some((type_name, method)) = call.callee.split_once('.') else {
            continue;
        };
        // Exported methods are judged where they are (see `judge`).
        let exported = method.starts_with(|c: char| c.is_ascii_uppercase());
        if exported || entries.of(cx, facts, type_name, &call.callee) != Entry::Mixed {
            continue;
        }
        // The caller itself may be entered with the lock held.
        if call.receiver == CallReceiver::Same {
            let caller_type = call.caller.split('.').next().unwrap_or("");
            if matches!(
                entries.of(cx, facts, caller_type, &call.caller),
                Entry::Expected | Entry::Locked(_) | Entry::Fresh
            ) {
                continue;
            }
        }
        // A guarded field the callee touches, never holding its guard itself: the method is
        // written for its caller to hold it.
        let touched = facts
            .by_field
            .iter()
            .filter(|((t, _), _)| *t == type_name)
            .find_map(|((_, field), accesses)| {
                let in_callee: Vec<&&FieldAccess> = accesses
                    .iter()
                    .filter(|a| a.function == call.callee)
                    .collect();
                let unlocked = in_callee.iter().find(|a| a.guards.is_empty())?;
                let guard = guards_of
                    .entry((unlocked.type_name.as_str(), unlocked.field.as_str(), false))
                    .or_insert_with(|| facts.guard_of(cx, entries, type_name, field, false))
                    .clone()?;
                if in_callee.iter().any(|a| a.guards.contains(&guard.name)) {
                    return None;
                }
                Some((*field, unlocked.write, guard))
            });
        let Some((field, write, guard)) = touched else {
            continue;
        };
        // `r.readErr(false)` where `readErr` locks `mu` itself `if !locked`: the argument
        // makes the callee take the guard.
        if locks_by_argument(cx, call, &guard.name) {
            continue;
        }
        let sites = facts.sites(type_name, &call.callee);
        let holding = sites
            .iter()
            .filter(|s| s.guards.contains(&guard.name))
            .count();
        // Most calls hold the guard: the helper is written for it. One locked call among many
        // bare ones says little about which side is the mistake.
        if holding * 2 <= sites.len()
            || !reported.insert((call.callee.as_str(), call.caller.as_str()))
        {
            continue;
        }
        let shown = cx
            .src
            .get(call.offset..call.offset + call.len)
            .unwrap_or(method);
        let receiver = shown
            .strip_suffix(')')
            .and_then(|s| s.rfind(&format!(".{method}(")).map(|i| &shown[..i]))
            .unwrap_or("");
        // In a method of the type on its own receiver, the value is the one the type's users
        // share; elsewhere (a test driving the value step by step, set-up code) whether another
        // goroutine has it at this point is not shown.
        let (severity, unseen) = match call.receiver {
            CallReceiver::Same => (Severity::Warning, ""),
            _ => (
                Severity::Hint,
                " (whether another goroutine uses the value meanwhile is not shown here)",
            ),
        };
        let mut finding = META.finding(
            call.offset..call.offset + call.len,
            format!(
                "`{shown}` is called without holding `{receiver}.{}`, which {holding} of its {} calls hold: `{method}` {} `{field}`, which `{}` guards, without taking it{unseen}",
                guard.name,
                sites.len(),
                if write { "writes" } else { "reads" },
                guard.name,
            ),
        );
        finding.severity = severity;
        out.push(finding);
    }
}

/// Does this call pass the `bool` argument that makes its callee take `guard` of its receiver
/// itself (`func (r *T) readErr(locked bool)` locking `r.mu` only `if !locked`, called with
/// `false`)?
fn locks_by_argument(cx: &Context, call: &guards::MethodCall, guard: &str) -> bool {
    let Some(effects) = cx.model.package.lock_closure().effects(&call.callee) else {
        return false;
    };
    let node = cx
        .model
        .root
        .descendant_for_byte_range(call.offset, call.offset + call.len);
    let Some(node) = node.filter(|n| n.kind_str() == "call_expression") else {
        return false;
    };
    let args = goconc_syntax::call_args(node);
    effects.takes.iter().any(|taken| {
        let Some((index, when)) = taken.only_if else {
            return false;
        };
        taken.lock.root == goconc_model::summary::LockRoot::Receiver
            && taken.lock.path == guard
            && args
                .get(index)
                .map(|a| text(goconc_syntax::unparen(*a), cx.src))
                .is_some_and(|value| value == if when { "true" } else { "false" })
    })
}

/// Is the access a read in the `then` branch of an `if` whose condition loads state atomically,
/// itself or through a method of the same value whose body does (`if t.stateHas(ready) {
/// return t.methods[i] }`), or after such an `if` (`if !t.stateHas(ready) { t.resolve() }`,
/// then the read)? Double-checked locking: the field was written under the lock before an
/// atomic store published it.
fn on_published_fast_path(cx: &Context, access: &FieldAccess) -> bool {
    if access.write {
        return false;
    }
    let end = access.offset + access.len;
    let Some(node) = cx.model.root.descendant_for_byte_range(access.offset, end) else {
        return false;
    };
    let receiver = match access.outside {
        true => outside_holder(cx, access),
        false => access_receiver(cx, access),
    };
    let loads_published_state = |call: Node| {
        is_atomic_load(call, cx.src, &cx.model.imports)
            || method_call(call).is_some_and(|mc| {
                let key = summary_key(Some(&access.type_name), text(mc.method, cx.src));
                text(mc.receiver, cx.src) == receiver
                    && cx
                        .model
                        .package
                        .summary(&key)
                        .is_some_and(|s| s.loads_atomically)
            })
    };
    let checks_atomically = |if_statement: Node| {
        let mut found = false;
        if let Some(condition) = if_statement.field("condition") {
            walk(condition, |n| {
                found = found || (n.kind_str() == "call_expression" && loads_published_state(n));
                !found
            });
        }
        found
    };
    let mut child = node;
    while let Some(parent) = child.parent_node() {
        if matches!(
            parent.kind_str(),
            "func_literal" | "function_declaration" | "method_declaration"
        ) {
            return false;
        }
        // `if ready() { read }`
        if parent.kind_str() == "if_statement"
            && parent.field("consequence") == Some(child)
            && checks_atomically(parent)
        {
            return true;
        }
        // `if !ready() { slow path }`, then the read.
        let mut earlier = child.prev_named_sibling();
        while let Some(statement) = earlier {
            if statement.kind_str() == "if_statement"
                && runs_slow_path(cx, statement)
                && checks_atomically(statement)
            {
                return true;
            }
            earlier = statement.prev_named_sibling();
        }
        child = parent;
    }
    false
}

/// An `if` without `else` whose branch calls something and falls through to what follows: the
/// slow path of double-checked locking (`if !t.ready() { t.resolve() }`), not a guard that
/// leaves early (`if t.closed.Load() { return }` publishes nothing).
fn runs_slow_path(cx: &Context, if_statement: Node) -> bool {
    let Some(branch) = if_statement.field("consequence") else {
        return false;
    };
    if if_statement.field("alternative").is_some() {
        return false;
    }
    let mut calls = false;
    walk(branch, |n| {
        calls = calls || n.kind_str() == "call_expression";
        !calls
    });
    let leaves = statements(branch).last().is_some_and(|last| {
        matches!(
            last.kind_str(),
            "return_statement" | "goto_statement" | "break_statement" | "continue_statement"
        ) || statement_call(*last).is_some_and(|call| is_no_return_call(cx.model, call))
    });
    calls && !leaves
}
