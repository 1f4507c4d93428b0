//! The rule editor overlay: the current rules as a list to pick from, and
//! a line to type a new one in the shared rule language. A rule is checked
//! as it is typed, so the error shows before Enter does anything.

use prism_rules::{Rule, RuleSet};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleEditor {
    /// The rule being typed.
    pub input: String,
    /// Index of the selected existing rule, if any is selected.
    pub selected: Option<usize>,
    /// Why `input` is not a rule (shown under it); None while it is one or
    /// empty.
    pub error: Option<String>,
}

/// What the editor asks for when a key completes an edit.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    Add(Rule),
    Delete(Rule),
}

impl RuleEditor {
    pub fn type_char(&mut self, c: char) {
        self.input.push(c);
        self.selected = None;
        self.validate_soft();
    }

    pub fn backspace(&mut self) {
        self.input.pop();
        self.validate_soft();
    }

    /// Moves the selection among `rules` (None -> last when going up).
    pub fn select(&mut self, rules: &RuleSet, up: bool) {
        let n = rules.len();
        if n == 0 {
            self.selected = None;
            return;
        }
        self.selected = Some(match (self.selected, up) {
            (None, true) => n - 1,
            (None, false) => 0,
            (Some(i), true) => i.saturating_sub(1),
            (Some(i), false) => (i + 1).min(n - 1),
        });
    }

    /// Enter: adds the typed rule if it is valid and new; with an empty
    /// line, nothing.
    pub fn submit(&mut self, rules: &RuleSet) -> Option<Edit> {
        let text = self.input.trim();
        if text.is_empty() {
            self.error = Some("type a rule, e.g. `udp port 7777` or `dscp ef`".into());
            return None;
        }
        match text.parse::<Rule>() {
            Ok(rule) if rules.rules().contains(&rule) => {
                self.error = Some(format!("'{rule}' is already a rule"));
                None
            }
            Ok(rule) => {
                self.input.clear();
                self.error = None;
                Some(Edit::Add(rule))
            }
            Err(e) => {
                self.error = Some(e.to_string());
                None
            }
        }
    }

    /// Delete: removes the selected rule.
    pub fn delete_selected(&mut self, rules: &RuleSet) -> Option<Edit> {
        let rule = *rules.rules().get(self.selected?)?;
        self.selected = None;
        Some(Edit::Delete(rule))
    }

    /// Errors while typing are only shown once the text could be complete:
    /// a half-typed `udp po` is not worth a red line yet.
    fn validate_soft(&mut self) {
        let text = self.input.trim();
        self.error = if text.is_empty() || text.ends_with(' ') {
            None
        } else {
            text.parse::<Rule>().err().map(|e| e.to_string())
        };
    }

    /// Whether the typed text is a valid rule right now.
    pub fn is_valid(&self) -> bool {
        !self.input.trim().is_empty() && self.input.trim().parse::<Rule>().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> RuleEditor {
        let mut e = RuleEditor::default();
        for c in text.chars() {
            e.type_char(c);
        }
        e
    }

    #[test]
    fn a_valid_rule_is_added_and_the_line_cleared() {
        let mut e = typed("udp port 7777");
        assert!(e.is_valid());
        assert_eq!(e.error, None);
        let edit = e.submit(&RuleSet::default());
        assert_eq!(edit, Some(Edit::Add("udp port 7777".parse().unwrap())));
        assert!(e.input.is_empty());
    }

    #[test]
    fn an_invalid_rule_shows_an_error_and_adds_nothing() {
        let mut e = typed("udp port 99999");
        assert!(e.error.is_some(), "error shown while typing");
        assert_eq!(e.submit(&RuleSet::default()), None);
        assert!(
            e.error.as_deref().unwrap().contains("99999"),
            "{:?}",
            e.error
        );
        assert_eq!(e.input, "udp port 99999", "the text stays to be fixed");
    }

    #[test]
    fn errors_wait_for_a_word_boundary_while_typing() {
        let e = typed("udp ");
        assert_eq!(e.error, None);
        let mut e = typed("udp port 77");
        assert_eq!(e.error, None);
        e.backspace();
        e.backspace();
        e.backspace();
        assert_eq!(e.input, "udp port");
    }

    #[test]
    fn duplicates_and_empty_lines_are_refused() {
        let rules = RuleSet::parse(&["udp port 7777"]).unwrap();
        let mut e = typed("udp port 7777");
        assert_eq!(e.submit(&rules), None);
        assert!(e.error.as_deref().unwrap().contains("already"));
        let mut empty = RuleEditor::default();
        assert_eq!(empty.submit(&rules), None);
        assert!(empty.error.is_some());
    }

    #[test]
    fn the_selected_rule_is_deleted() {
        let rules = RuleSet::parse(&["udp port 7777", "dscp ef"]).unwrap();
        let mut e = RuleEditor::default();
        assert_eq!(e.delete_selected(&rules), None, "nothing selected");
        e.select(&rules, true);
        assert_eq!(e.selected, Some(1));
        e.select(&rules, true);
        e.select(&rules, true);
        assert_eq!(e.selected, Some(0), "stops at the top");
        assert_eq!(
            e.delete_selected(&rules),
            Some(Edit::Delete("udp port 7777".parse().unwrap()))
        );
    }
}
