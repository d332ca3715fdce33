//! Rules of this family, one file each.

use super::Rule;

pub fn rules() -> Vec<Rule> {
    vec![]
}
