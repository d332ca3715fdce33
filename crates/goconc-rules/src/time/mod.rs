//! Time rules (`time.NewTicker`, `time.Tick`, `time.After`), one file each, and the helpers they
//! share. Before Go 1.23 a timer or ticker is freed only once it is stopped (or, for a timer,
//! fired); from 1.23 on the garbage collector reclaims unreferenced ones, so most of these rules
//! apply only to older modules.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::Rule;

pub mod after_in_loop;
pub mod tick_leak;
pub mod ticker_not_stopped;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &ticker_not_stopped::META,
            check: ticker_not_stopped::check,
        },
        Rule {
            meta: &tick_leak::META,
            check: tick_leak::check,
        },
        Rule {
            meta: &after_in_loop::META,
            check: after_in_loop::check,
        },
    ]
}

/// Does the identifier `name` appear anywhere in `node`?
pub(crate) fn mentions(src: &str, node: Node, name: &str) -> bool {
    let mut found = false;
    goconc_syntax::walk(node, |n| {
        if matches!(n.kind_str(), "identifier" | "field_identifier")
            && goconc_syntax::text(n, src) == name
        {
            found = true;
        }
        !found
    });
    found
}
