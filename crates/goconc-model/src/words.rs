//! Names and comments, where they are the only evidence a rule has.
//!
//! Rules derive intent from the code first (who calls a function holding the lock, where a value
//! is published, what the goroutine on the other end does). Where only a name or a comment
//! speaks, it is read here and nowhere else, by whole words: an identifier is split at
//! camelCase, PascalCase, acronym, digit and `_` boundaries (`GetBlockHashes` → get, block,
//! hashes; `HTTPServer` → http, server; `stop_ch` → stop, ch), and a comment at every character
//! that is not a letter or digit. So `trace` is not `race`, `GetBlock` does not say `lock`, and
//! `pending` does not say `end`.
//!
//! Each concept is one documented [`WordList`] below; the rule pages list the words they read,
//! and each word has a look-alike fixture that must stay reported.

/// A concept spelled by a documented list of whole words (lower case, inflections listed).
#[derive(Debug, Clone, Copy)]
pub struct WordList {
    pub words: &'static [&'static str],
}

impl WordList {
    /// Is one of the identifier's words in the list?
    pub fn in_identifier(&self, ident: &str) -> bool {
        identifier_words(ident).any(|w| self.contains(&w))
    }

    /// Is the identifier's first word in the list (`acquireSlot`, `lockShared`)?
    pub fn starts_identifier(&self, ident: &str) -> bool {
        identifier_words(ident)
            .next()
            .is_some_and(|w| self.contains(&w))
    }

    /// Is the identifier's last word in the list (`flushLocked`, `stop_locked`)?
    pub fn ends_identifier(&self, ident: &str) -> bool {
        identifier_words(ident)
            .last()
            .is_some_and(|w| self.contains(&w))
    }

    /// Is one of the words of a comment (or any prose) in the list?
    pub fn in_text(&self, text: &str) -> bool {
        text_words(text).any(|w| self.contains(&w))
    }

    fn contains(&self, word: &str) -> bool {
        self.words.contains(&word)
    }
}

/// The words of an identifier, lower-cased, in order.
pub fn identifier_words(ident: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = ident.chars().collect();
    let mut cuts = vec![0];
    for i in 1..chars.len() {
        let (prev, c) = (chars[i - 1], chars[i]);
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let boundary = c == '_'
            || prev == '_'
            || (prev.is_lowercase() && c.is_uppercase())
            || (prev.is_alphabetic() && c.is_ascii_digit())
            || (prev.is_ascii_digit() && c.is_alphabetic())
            // The last capital of an acronym starts the next word: HTTPServer → HTTP, Server.
            || (prev.is_uppercase() && c.is_uppercase() && next_lower);
        if boundary {
            cuts.push(i);
        }
    }
    cuts.push(chars.len());
    let words: Vec<String> = cuts
        .windows(2)
        .map(|w| chars[w[0]..w[1]].iter().collect::<String>())
        .filter(|w| w != "_" && !w.is_empty())
        .map(|w| w.trim_matches('_').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    words.into_iter()
}

/// The words of prose, lower-cased, in order: runs of letters and digits.
pub fn text_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Does the text hold the phrase's words in a row (`"must be held"` in "mu must be held.")?
pub fn text_has_phrase(text: &str, phrase: &str) -> bool {
    let phrase: Vec<String> = text_words(phrase).collect();
    if phrase.is_empty() {
        return false;
    }
    let words: Vec<String> = text_words(text).collect();
    words.windows(phrase.len()).any(|w| w == phrase.as_slice())
}

// ---- Channels and goroutines ----------------------------------------------------------------

/// Channels that say "stop waiting": a receive from one is a way out of a blocking operation
/// (`done`, `stopCh`, `quit`, `closing`, `shutdownC`, `ctx`).
pub const STOP_CHANNEL: WordList = WordList {
    words: &[
        "done",
        "stop",
        "stopped",
        "stopping",
        "quit",
        "quitting",
        "close",
        "closed",
        "closing",
        "cancel",
        "canceled",
        "cancelled",
        "exit",
        "exiting",
        "shutdown",
        "die",
        "dying",
        "dead",
        "abort",
        "aborted",
        "finish",
        "finished",
        "timeout",
        "ctx",
        "kill",
        "term",
        "halt",
    ],
};

/// Channels closed to broadcast an event rather than to end a stream: the stop channels, and
/// `ready`, `wake`, `notify`, `signal`, `complete`, `end`.
pub const BROADCAST_CHANNEL: WordList = WordList {
    words: &[
        "done",
        "stop",
        "stopped",
        "stopping",
        "quit",
        "quitting",
        "close",
        "closed",
        "closing",
        "cancel",
        "canceled",
        "cancelled",
        "exit",
        "exiting",
        "shutdown",
        "die",
        "dying",
        "dead",
        "abort",
        "aborted",
        "finish",
        "finished",
        "timeout",
        "ctx",
        "kill",
        "term",
        "halt",
        "ready",
        "wake",
        "wakeup",
        "notify",
        "signal",
        "complete",
        "completed",
        "end",
        "ended",
    ],
};

/// Channels used as locks or semaphores: a receive takes the token back.
pub const TOKEN_CHANNEL: WordList = WordList {
    words: &[
        "lock",
        "locks",
        "sem",
        "sema",
        "semaphore",
        "token",
        "tokens",
        "mutex",
        "mu",
        "gate",
        "slot",
        "slots",
    ],
};

/// Functions whose first or last word says they start something long-lived in the background
/// (`StartWorkers`, `runLoop`, `serve`, `NewPool`: the first word `new` only).
pub const BACKGROUND_STARTER: WordList = WordList {
    words: &[
        "start",
        "run",
        "serve",
        "listen",
        "loop",
        "spawn",
        "launch",
        "watch",
        "init",
        "background",
        "async",
        "daemon",
        "go",
    ],
};

/// Calls through which a goroutine reports what it did: callbacks and notifications anywhere
/// in the name (`onDoneCallback`, `notifyAll`), and setters, loggers and handlers by their first
/// word (`setErr`, `logf`, `Errorf`, `handleResult`).
pub const REPORTING_CALL: WordList = WordList {
    words: &["cancel", "notify", "callback"],
};

/// See [`REPORTING_CALL`]: the first words.
pub const REPORTING_CALL_FIRST: WordList = WordList {
    words: &[
        "set", "log", "logf", "logln", "print", "printf", "println", "fatal", "fatalf", "fatalln",
        "error", "errorf", "warn", "warnf", "warning", "warningf", "report", "handle",
    ],
};

/// Calls that wait for or read what another goroutine did (`LoadInt64`, `waitForIt`, `Wait`),
/// by their first word.
pub const WAIT_CALL_FIRST: WordList = WordList {
    words: &["load", "wait"],
};

// ---- Locks ----------------------------------------------------------------------------------

/// Functions named for releasing a lock or resource (`unlock`, `releaseConn`, `RUnlock`).
pub const RELEASE: WordList = WordList {
    words: &[
        "unlock", "unlocks", "runlock", "unlocker", "release", "releases", "releaser",
    ],
};

/// Functions named for taking a lock for their caller (`lockShared`, `acquireSlot`, `rlock`).
pub const ACQUIRE: WordList = WordList {
    words: &["lock", "locks", "rlock", "acquire", "acquires"],
};

/// The last word of a function that expects its caller to hold the lock (`flushLocked`,
/// `stop_locked`).
pub const LOCKED: WordList = WordList { words: &["locked"] };

/// Doc-comment phrases that say the caller holds a lock when the function runs.
pub const CALLER_HOLDS_PHRASES: &[&str] = &[
    "must hold",
    "must be held",
    "caller holds",
    "callers hold",
    "must be locked",
    "lock must be held",
    "with the lock held",
    "while holding",
    "holding the lock",
];

/// Does a doc comment say the caller holds a lock ([`CALLER_HOLDS_PHRASES`], or "called with" /
/// "requires" … "held", "assumes" … "lock", "with" … "locked")?
pub fn says_caller_holds(doc: &str) -> bool {
    let has = |w: &str| text_words(doc).any(|x| x == w);
    CALLER_HOLDS_PHRASES.iter().any(|p| text_has_phrase(doc, p))
        || text_has_phrase(doc, "called with") && has("held")
        || has("requires") && has("held")
        || has("assumes") && (has("lock") || has("locked"))
        || has("with") && has("locked")
        || has("holding")
}

/// Doc-comment words that say the caller releases the lock the function takes ("the caller must
/// unlock", "callers release"), or phrases such as "must be unlocked", "locked on return".
pub fn says_caller_unlocks(doc: &str) -> bool {
    let caller = WordList {
        words: &["caller", "callers"],
    };
    caller.in_text(doc) && RELEASE.in_text(doc)
        || text_has_phrase(doc, "must be unlocked")
        || text_has_phrase(doc, "locked on return")
}

// ---- Contexts ---------------------------------------------------------------------------------

/// Variables that hold an error, by their last word (`err`, `closeErr`, `write_error`), for a
/// failure path tested with `x != nil` where the declaration does not say `error`.
pub const ERROR_VALUE: WordList = WordList {
    words: &["err", "error", "errs", "errors"],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        identifier_words(s).collect()
    }

    #[test]
    fn identifiers_split_at_case_digits_and_underscores() {
        assert_eq!(split("GetBlockHashes"), ["get", "block", "hashes"]);
        assert_eq!(split("HTTPServer"), ["http", "server"]);
        assert_eq!(split("stop_ch"), ["stop", "ch"]);
        assert_eq!(split("closeCh"), ["close", "ch"]);
        assert_eq!(split("done2"), ["done", "2"]);
        assert_eq!(split("_private__x"), ["private", "x"]);
        assert_eq!(split("ID"), ["id"]);
        assert_eq!(split("mu"), ["mu"]);
        assert_eq!(split(""), Vec::<String>::new());
    }

    #[test]
    fn whole_words_only() {
        let lock = WordList { words: &["lock"] };
        assert!(lock.in_identifier("lockShared"));
        assert!(lock.starts_identifier("lockShared"));
        assert!(!lock.in_identifier("GetBlock"));
        assert!(!lock.in_identifier("clock"));
        let race = WordList { words: &["race"] };
        assert!(!race.in_text("// trace the request"));
        assert!(race.in_text("// FIXME: data race here"));
        assert!(!STOP_CHANNEL.in_identifier("pending"));
        assert!(!STOP_CHANNEL.in_identifier("undone"));
        assert!(STOP_CHANNEL.in_identifier("stopCh"));
        assert!(STOP_CHANNEL.in_identifier("shutdownC"));
        assert!(STOP_CHANNEL.ends_identifier("isClosed"));
    }

    #[test]
    fn lock_names_and_doc_phrases_read_whole_words() {
        assert!(ACQUIRE.in_identifier("lockShared"));
        assert!(!ACQUIRE.in_identifier("GetBlock"));
        assert!(!ACQUIRE.in_identifier("unlockAll"));
        assert!(RELEASE.in_identifier("releaseConn"));
        assert!(!RELEASE.in_identifier("prerelease"));
        assert!(LOCKED.ends_identifier("flushLocked"));
        assert!(!LOCKED.ends_identifier("Unlocked2"));
        assert!(says_caller_holds("// s.mu must be held."));
        assert!(says_caller_holds("// Called with c.mu held."));
        assert!(!says_caller_holds("// Works without locking anything."));
        assert!(!says_caller_holds("// Threshold for the household."));
        assert!(says_caller_unlocks("// The caller must unlock s.mu."));
        assert!(!says_caller_unlocks(
            "// Called by the caller after prerelease checks."
        ));
    }

    #[test]
    fn phrases_match_words_in_a_row() {
        assert!(text_has_phrase("// mu must be held.", "must be held"));
        assert!(!text_has_phrase("// mu must not be held", "must be held"));
        assert!(!text_has_phrase("// holding", "hold"));
    }

    #[test]
    fn error_values_by_last_word() {
        assert!(ERROR_VALUE.ends_identifier("err"));
        assert!(ERROR_VALUE.ends_identifier("closeErr"));
        assert!(ERROR_VALUE.ends_identifier("write_error"));
        assert!(!ERROR_VALUE.ends_identifier("errand"));
        assert!(!ERROR_VALUE.ends_identifier("ferret"));
    }
}
